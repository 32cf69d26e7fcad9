"""Nothing a client sends kills the HTTP server: regressions of the crashes found by fuzzing and
by third-party clients (issue 13), on the real hypercorn protocol layer and trimcp's lean
worker on 127.0.0.1. A crash in the worker propagates out of ``running_server`` and fails the
test."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio

import trimcp
from tests.http_support import JSON_AND_SSE, Probe, envelope, modern_headers, probe_server, running_server
from trimcp import Context
from trimcp._runtime import dispatcher as runtime_dispatcher
from trimcp._server.method_table import MethodTable
from trimcp._transports.http.per_request import PerRequestEndpoint
from trimcp.protocol import jsonrpc
from trimcp.protocol.sse import SSEDecoder


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
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": envelope()},
        },
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


async def test_header_digits_that_are_not_ascii_or_too_many_are_refused_not_500() -> None:
    # "\xb2" (superscript two, from a Latin-1 header byte) passes str.isdigit() but not int().
    async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
        session_id = (await http.initialize()).encode()
        for last_event_id in (b"\xb2-1-1", b"1-1-" + b"9" * 5000):
            answer = await raw_exchange(
                http.port,
                b"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\nconnection: close\r\n"
                b"mcp-session-id: " + session_id + b"\r\nlast-event-id: " + last_event_id + b"\r\n\r\n",
            )
            assert answer.startswith(b"HTTP/1.1 404") and len(answer) < 1000, answer  # not echoed whole
        await assert_still_serving(http)


async def test_a_tools_call_name_that_is_not_a_string_is_invalid_params_not_500() -> None:
    async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
        for name in ([], {}, 3, None, True):
            reply = await http.post(
                {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                 "params": {"name": name, "arguments": {}, "_meta": envelope()}},
                modern_headers("tools/call", "add"),
            )  # fmt: skip
            assert reply.status == 400, (name, reply)
            assert reply.json()["id"] == 7 and reply.json()["error"]["code"] == -32602, reply.json()
        await assert_still_serving(http)


def _raise_on_marker(original: Any, marker: str) -> Any:
    def failing(*args: Any, **kwargs: Any) -> Any:
        if marker in repr(args):
            raise RuntimeError("injected failure")
        return original(*args, **kwargs)

    return failing


def _logged_injected_failure(caplog: pytest.LogCaptureFixture) -> bool:
    return "RuntimeError: injected failure" in caplog.text  # with its traceback


BOOM_CALL = {"jsonrpc": "2.0", "id": "boom", "method": "tools/call",
             "params": {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": envelope()}}  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "target", "attribute", "status", "answer_id"),
    [
        ("protocol core: parsing", jsonrpc, "parse", 500, None),
        ("runtime: preparing a request", runtime_dispatcher, "RequestHandle", 200, "boom"),
        ("server: routing", MethodTable, "route", 200, "boom"),
        ("transport: reading the POST", PerRequestEndpoint, "_tool_schema", 500, None),
    ],
)
async def test_a_failure_at_any_layer_is_answered_logged_and_survived(
    layer: str,
    target: Any,
    attribute: str,
    status: int,
    answer_id: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(target, attribute, _raise_on_marker(getattr(target, attribute), "boom"))
    with caplog.at_level(logging.ERROR):
        async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
            reply = await http.post(BOOM_CALL, modern_headers("tools/call", "add"))
            assert reply.status == status, (layer, reply)
            assert reply.json()["id"] == answer_id and reply.json()["error"]["code"] == -32603, (layer, reply)
            await assert_still_serving(http)
    assert _logged_injected_failure(caplog), layer


async def test_a_failure_in_the_http_protocol_layer_ends_one_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hypercorn.protocol.h11 import H11Protocol

    original = H11Protocol.handle

    async def failing(self: Any, event: Any) -> None:
        if b"boom" in getattr(event, "data", b""):
            raise RuntimeError("injected failure")
        await original(self, event)

    monkeypatch.setattr(H11Protocol, "handle", failing)
    with caplog.at_level(logging.ERROR):
        async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
            assert await raw_exchange(http.port, b"GET /boom HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n") == b""
            await assert_still_serving(http)
    assert _logged_injected_failure(caplog)


async def test_an_sse_response_is_written_apart_from_the_progress_before_it() -> None:
    # Driven at the ASGI boundary, where each chunk becomes a write of its own.
    server = trimcp.Server("split")

    @server.tool
    async def report(ctx: Context) -> str:
        for step in range(1, 4):
            await ctx.progress(step, 3)  # queued with the response: nothing yields in between
        return "done"

    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
         "params": {"name": "report", "_meta": envelope(progressToken="p")}}
    ).encode()  # fmt: skip
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"accept", JSON_AND_SSE.encode()),
               (b"mcp-protocol-version", b"2026-07-28"), (b"mcp-method", b"tools/call"), (b"mcp-name", b"report")]  # fmt: skip
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers, "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await trio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with trio.fail_after(5):
        await trimcp.asgi_app(server)(scope, receive, send)
    chunks = [message["body"] for message in sent if message["type"] == "http.response.body" and message["body"]]
    kinds = [[json.loads(e.data).get("method", "response") for e in SSEDecoder().feed(c)] for c in chunks]
    assert kinds == [["notifications/progress"] * 3, ["response"]]


async def test_a_batch_of_only_invalid_items_is_answered_not_202() -> None:
    # Found by fuzzing: no item was a Request, so the POST got 202 and id 7 was never answered.
    async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
        session_id = await http.initialize("2025-03-26")
        body = b'[{"jsonrpc":"2.0","id":7,"method":"tools/list","_meta":"\\ud800"},{"jsonrpc":"1.0","id":8}]'
        reply = await http.post(body, {"mcp-session-id": session_id, "mcp-protocol-version": "2025-03-26"})
        answers = reply.json() if reply.headers["content-type"] == "application/json" else None
        assert reply.status == 200 and answers is not None, reply
        assert sorted((answer["id"], answer["error"]["code"]) for answer in answers) == [(7, -32600), (8, -32600)]
