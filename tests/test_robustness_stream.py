"""No exception escapes a stream connection (the stdio framing, served in-process over Trio
streams so a failure can be injected at each layer), and a response is written apart from the
notifications before it (issue 13)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import trimcp
from trimcp import Context
from trimcp._runtime import dispatcher as runtime_dispatcher
from trimcp._server.method_table import MethodTable
from trimcp.protocol import jsonrpc


class RecordingStream(trio.abc.SendStream):
    """A send stream that keeps each write apart; the first write waits for ``release``."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.release = trio.Event()
        self._written = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        self._written.set()
        self._written = trio.Event()
        if len(self.writes) == 1:
            await self.release.wait()

    async def wait_send_all_might_not_block(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for write in self.writes for line in write.splitlines()]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                for message in self.messages():
                    if predicate(message):
                        return message
                await self._written.wait()


def reporting_server() -> trimcp.Server:
    server = trimcp.Server("robustness")

    @server.tool
    async def report(ctx: Context) -> str:
        for step in range(1, 4):
            await ctx.progress(step, 3)
        return "done"

    @server.tool
    async def add(a: int, b: int) -> int:
        return a + b

    return server


@asynccontextmanager
async def serving(server: trimcp.Server) -> AsyncIterator[tuple[trio.abc.SendStream, RecordingStream, Any]]:
    """``server`` on in-memory streams: yields the client's input, the recorded output and the
    connection; a failure escaping ``serve_stream`` fails the test."""
    to_server, from_client = trio.testing.memory_stream_one_way_pair()
    output = RecordingStream()
    output.release.set()
    async with trio.open_nursery() as nursery:
        connection = await nursery.start(
            lambda task_status: trimcp.serve_stream(server, from_client, output, task_status=task_status)
        )
        yield to_server, output, connection
        await to_server.aclose()


INITIALIZE = (
    b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'
)
ADD = b'{"jsonrpc":"2.0","id":"add","method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}\n'


def answered(request_id: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("id") == request_id and "method" not in message


async def test_a_response_is_written_apart_from_the_progress_before_it() -> None:
    to_server, from_client = trio.testing.memory_stream_one_way_pair()
    output = RecordingStream()
    async with trio.open_nursery() as nursery:
        connection = await nursery.start(
            lambda task_status: trimcp.serve_stream(reporting_server(), from_client, output, task_status=task_status)
        )
        await to_server.send_all(INITIALIZE)  # its answer is the first write, held until released
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "report", "_meta": {"progressToken": "p"}}}  # fmt: skip
        await to_server.send_all(json.dumps(call).encode() + b"\n")
        with trio.fail_after(5):
            while connection.dispatcher.outbox.statistics().buffered < 4:  # three progress, one response
                await trio.sleep(0.001)
        output.release.set()
        await output.wait_for(answered(1))
        await to_server.aclose()
    later = [[json.loads(line) for line in write.splitlines()] for write in output.writes[1:]]
    assert [[message.get("method", "response") for message in write] for write in later] == [
        ["notifications/progress"] * 3,
        ["response"],
    ]


async def test_eof_answers_what_is_queued_and_cancels_the_rest_at_once() -> None:
    async with serving(reporting_server()) as (to_server, output, connection):
        await to_server.send_all(INITIALIZE + ADD)
        await output.wait_for(answered("add"))
    assert connection.dispatcher.statistics().live_requests == 0


def _raise_on_marker(original: Callable[..., Any], marker: str) -> Callable[..., Any]:
    def failing(*args: Any, **kwargs: Any) -> Any:
        if marker in repr(args):
            raise RuntimeError("injected failure")
        return original(*args, **kwargs)

    return failing


@pytest.mark.parametrize(
    ("layer", "target", "attribute"),
    [
        ("protocol core: parsing", jsonrpc, "parse"),
        ("runtime: preparing a request", runtime_dispatcher, "RequestHandle"),
        ("server: routing", MethodTable, "route"),
    ],
)
async def test_a_failure_at_any_layer_is_answered_logged_and_survived(
    layer: str, target: Any, attribute: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(target, attribute, _raise_on_marker(getattr(target, attribute), "boom"))
    boom = b'{"jsonrpc":"2.0","id":"boom","method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}\n'
    with caplog.at_level(logging.ERROR):
        async with serving(reporting_server()) as (to_server, output, _):
            await to_server.send_all(INITIALIZE + boom)
            failed = await output.wait_for(lambda message: "error" in message)
            await to_server.send_all(ADD)
            assert (await output.wait_for(answered("add")))["result"]["structuredContent"] == {"result": 3}, layer
    assert failed["error"]["code"] == -32603 and failed["id"] in ("boom", None), (layer, failed)
    assert any(record.exc_info and "injected failure" in str(record.exc_info[1]) for record in caplog.records), layer


async def test_a_failing_output_stream_ends_the_session_not_the_process(caplog: pytest.LogCaptureFixture) -> None:
    class FailingStream(RecordingStream):
        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            raise RuntimeError("injected failure")

    to_server, from_client = trio.testing.memory_stream_one_way_pair()
    with caplog.at_level(logging.ERROR), trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            connection = await nursery.start(
                lambda task_status: trimcp.serve_stream(
                    reporting_server(), from_client, FailingStream(), task_status=task_status
                )
            )
            await to_server.send_all(INITIALIZE)
            while not connection.dispatcher.statistics().outbound.closed:
                await trio.sleep(0.001)
            await to_server.aclose()
    assert any(record.exc_info and "injected failure" in str(record.exc_info[1]) for record in caplog.records)
