"""The runtime's promises: cancellation with reasons, no answer for a cancelled request, nothing
left behind, batches, threads under a limiter, and graceful or abrupt session ends."""

from __future__ import annotations

import threading
import time

import pytest
import trio

import trimcp
from trimcp import CancelReason, Context
from trimcp.testing import RequestFailed, open_test_client


class Probe:
    """Records what a sleeping tool saw: when it started, when its ``finally`` ran, and why."""

    def __init__(self) -> None:
        self.started = trio.Event()
        self.finished = trio.Event()
        self.finally_at: float | None = None
        self.reason: object = None
        self.sent_after_cancel: list[object] = []


def sleeper_server(probe: Probe, **options: object) -> trimcp.Server:
    server = trimcp.Server("runtime-test", **options)  # type: ignore[arg-type]

    @server.tool
    async def sleep(ctx: Context, seconds: float = 30) -> str:
        probe.started.set()
        try:
            await trio.sleep(seconds)
            return "slept"
        finally:
            probe.finally_at = trio.current_time()
            probe.reason = ctx.cancel_reason
            with trio.CancelScope(shield=True):
                await ctx.info("written after the cancel")  # a defined no-op, not an error
            probe.finished.set()

    @server.tool
    def blocking(seconds: float) -> str:
        time.sleep(seconds)
        return threading.current_thread().name

    @server.tool
    async def add(a: int, b: int) -> int:
        return a + b

    return server


async def test_notifications_cancelled_cancels_the_tool_and_nothing_is_answered() -> None:
    probe = Probe()
    async with open_test_client(sleeper_server(probe)) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.call_tool, "sleep")
            with trio.fail_after(5):
                await probe.started.wait()
            cancelled_at = trio.current_time()
            nursery.cancel_scope.cancel()  # the test client sends notifications/cancelled
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.finally_at is not None and probe.finally_at - cancelled_at < 0.1
        assert probe.reason is CancelReason.CLIENT_CANCELLED
        assert await client.request("ping") == {}  # the session goes on serving
        assert client.drain_strays() == []  # no response was ever sent for the cancelled id
        assert not [n for n in client.notifications if n["method"] == "notifications/message"]
        stats = client.dispatcher.statistics()
        assert stats.live_requests == 0 and stats.requests_cancelled == 1


async def test_cancelling_an_unknown_or_finished_request_is_ignored() -> None:
    probe = Probe()
    async with open_test_client(sleeper_server(probe)) as client:
        assert (await client.call_tool("add", {"a": 1, "b": 2}))["structuredContent"] == {"result": 3}
        await client.notify("notifications/cancelled", {"requestId": 2})
        await client.notify("notifications/cancelled", {"requestId": 999})
        await client.notify("notifications/cancelled", {"nonsense": True})
        await client.notify("notifications/cancelled")
        assert await client.request("ping") == {}


async def test_many_sequential_and_concurrent_calls_leave_nothing_behind() -> None:
    probe = Probe()
    async with open_test_client(sleeper_server(probe)) as client:
        for i in range(2000):
            result = await client.call_tool("add", {"a": i, "b": 1})
            assert result["structuredContent"] == {"result": i + 1}
        results: list[int] = []

        async def call(i: int) -> None:
            result = await client.call_tool("add", {"a": i, "b": i})
            results.append(result["structuredContent"]["result"])

        async with trio.open_nursery() as nursery:
            for i in range(200):
                nursery.start_soon(call, i)
        assert sorted(results) == [2 * i for i in range(200)]
        stats = client.dispatcher.statistics()
        assert stats.live_requests == 0
        assert stats.requests_started == 2200
        assert stats.requests_failed == 0
        assert stats.outbound.buffered == 0
        assert 1 <= stats.outbound.peak <= stats.outbound.max_buffer


async def test_sync_tools_run_in_threads_under_the_limiter() -> None:
    probe = Probe()
    async with open_test_client(sleeper_server(probe, thread_limit=2)) as client:
        names: list[str] = []
        start = trio.current_time()

        async def call() -> None:
            result = await client.call_tool("blocking", {"seconds": 0.2})
            names.append(result["content"][0]["text"])

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(call)
        elapsed = trio.current_time() - start
        assert threading.main_thread().name not in names
        assert 0.4 <= elapsed < 2.0  # four 0.2 s calls, two at a time


async def test_duplicate_request_id_is_refused() -> None:
    probe = Probe()
    async with open_test_client(sleeper_server(probe)) as client:
        call = b'{"jsonrpc":"2.0","id":"dup","method":"tools/call","params":{"name":"sleep","arguments":{"seconds":0.3}}}\n'
        await client.send_raw(call)
        with trio.fail_after(5):
            await probe.started.wait()
        reply = await client.exchange_raw(call)
        assert reply["id"] == "dup" and reply["error"]["code"] == -32600
        reply = await client.next_stray()
        assert reply == {"jsonrpc": "2.0", "id": "dup", "result": {"content": [{"type": "text", "text": "slept"}]}}


async def test_batches_only_in_2025_03_26() -> None:
    probe = Probe()
    batch = (
        b'[{"jsonrpc":"2.0","id":1,"method":"ping"},'
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}},'
        b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},'
        b'{"jsonrpc":"2.0","id":3,"method":"nope"},'
        b'{"jsonrpc":"2.0","id":null,"method":"ping"}]\n'
    )
    async with open_test_client(sleeper_server(probe), protocol_version="2025-03-26") as client:
        replies = await client.exchange_raw(batch)
        assert isinstance(replies, list) and len(replies) == 4
        by_id = {r["id"]: r for r in replies}
        assert by_id[1]["result"] == {}
        assert by_id[2]["result"]["content"][0]["text"] == "3"
        assert by_id[3]["error"]["code"] == -32601
        assert by_id[None]["error"]["code"] == -32600
    async with open_test_client(sleeper_server(probe)) as client:
        reply = await client.exchange_raw(batch)
        assert reply["id"] is None and reply["error"]["code"] == -32600
        assert "batches" in reply["error"]["message"]
        assert await client.request("ping") == {}


async def test_requests_before_initialize() -> None:
    probe = Probe()
    async with open_test_client(sleeper_server(probe), initialize=False) as client:
        assert await client.request("ping") == {}
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/list")
        assert info.value.code == -32600 and "initialize" in info.value.message
        with pytest.raises(RequestFailed) as info:
            await client.request("server/discover")
        assert info.value.code == -32602
        await client.initialize()
        assert await client.list_tools()
        with pytest.raises(RequestFailed) as info:
            await client.initialize()
        assert info.value.code == -32600


@pytest.mark.parametrize("how", ["eof", "stop", "cancel"])
async def test_ending_the_connection_cancels_running_requests(how: str) -> None:
    probe = Probe()
    server = sleeper_server(probe)
    client_stream, server_stream = trio.testing.memory_stream_pair()
    request = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{}},"_meta":{}}\n'
    envelope = (
        b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'
    )
    request = request.replace(b'"arguments":{}},"_meta":{}}', b'"arguments":{},"_meta":' + envelope + b"}}")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            connection = await nursery.start(
                lambda task_status: trimcp.serve_stream(
                    server,
                    server_stream.receive_stream,
                    server_stream.send_stream,
                    graceful_timeout_seconds=0.2,
                    task_status=task_status,
                )
            )
            await client_stream.send_all(request)
            await probe.started.wait()
            ended_at = trio.current_time()
            if how == "eof":
                await client_stream.send_stream.aclose()
            elif how == "stop":
                connection.stop()
            else:
                nursery.cancel_scope.cancel()
            await probe.finished.wait()
    grace = 0.2 if how == "stop" else 0.0  # the grace is for shutdown: a client that left is gone
    assert probe.finally_at is not None
    assert grace <= probe.finally_at - ended_at < grace + 0.1
    expected = {"eof": CancelReason.CLIENT_DISCONNECTED, "stop": CancelReason.SHUTDOWN, "cancel": CancelReason.SHUTDOWN}
    assert probe.reason is expected[how]
    assert connection.dispatcher.statistics().live_requests == 0


async def test_requests_finishing_within_the_grace_period_are_answered() -> None:
    probe = Probe()
    server = sleeper_server(probe)
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            connection = await nursery.start(
                lambda task_status: trimcp.serve_stream(
                    server,
                    server_stream.receive_stream,
                    server_stream.send_stream,
                    graceful_timeout_seconds=2,
                    task_status=task_status,
                )
            )
            await client_stream.send_all(
                b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}\n'
                b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"seconds":0.1}}}\n'
            )
            await probe.started.wait()
            connection.stop()
            received = b""
            while chunk := await client_stream.receive_some():
                received += chunk
    responses = [line for line in received.splitlines() if b'"id":' in line]
    assert len(responses) == 2 and b'"id":2,"result"' in responses[1]
