"""Nothing a client sends kills the HTTP server: regressions of the crashes found by fuzzing and
by third-party clients (issue 13), on the real hypercorn protocol layer and trimcp's lean
worker on 127.0.0.1. A crash in the worker propagates out of ``running_server`` and fails the
test."""

from __future__ import annotations

from typing import Any

import trio

import trimcp
from tests.http_support import JSON_AND_SSE, Probe, envelope, modern_headers, probe_server, running_server


async def raw_exchange(port: int, data: bytes, timeout: float = 5) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = b""
    with trio.fail_after(timeout):
        try:
            await stream.send_all(data)
            while chunk := await stream.receive_some(65536):
                received += chunk
        except trio.BrokenResourceError:
            pass  # reset by the server: it refused what it read
    await stream.aclose()
    return received


async def assert_still_serving(http: Any) -> None:
    reply = await http.post(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2},
                                                                        "_meta": envelope()}},
        modern_headers("tools/call", "add"),
    )
    assert reply.status == 200 and reply.json()["result"]["structuredContent"] == {"result": 3}, reply


async def test_data_after_an_http_1_0_request_never_enters_the_writer_twice() -> None:
    # hypercorn's own 400 ("Got data when expecting EOF") raced the app's answer, and the
    # connection's close entered the socket while a write was under way: BusyResourceError
    # killed the process within a few tries.
    async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
        for _ in range(40):
            answer = await raw_exchange(http.port, b"POST /mcp HTTP/1.0\r\n\r\n{}")
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
        await assert_still_serving(http)


def _accepts_json() -> dict[str, str]:
    return {"accept": JSON_AND_SSE, "content-type": "application/json"}
