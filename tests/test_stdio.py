"""The stdio transport in a real subprocess: bad input, cancellation, stray output, EOF."""

from __future__ import annotations

import base64
import json

import pytest
import trio

from .stdio_process import StdioProcess, open_stdio_server

DEMO = "examples/demo.py:server"


async def assert_still_serving(server: StdioProcess, request_id: str) -> None:
    reply = await server.request(request_id, "ping")
    assert reply == {"jsonrpc": "2.0", "id": request_id, "result": {}}


CURSOR_5000_DIGITS = base64.urlsafe_b64encode(b"tools:" + b"9" * 5000)
BAD_INPUTS = [
    ("not JSON", b"this is not json\n", None, -32700),
    ("truncated JSON", b'{"jsonrpc":"2.0","id":1,\n', None, -32700),
    ("a batch where batches are not allowed", b'[{"jsonrpc":"2.0","id":"b","method":"ping"}]\n', None, -32600),
    ("not an object", b"42\n", None, -32600),
    ("a missing method", b'{"jsonrpc":"2.0","id":"m"}\n', "m", -32600),
    ("a null id", b'{"jsonrpc":"2.0","id":null,"method":"ping"}\n', None, -32600),
    ("a wrong jsonrpc version", b'{"jsonrpc":"1.0","id":"v","method":"ping"}\n', "v", -32600),
    ("an unknown method", b'{"jsonrpc":"2.0","id":"u","method":"tools/explode"}\n', "u", -32601),
    (
        "a tool name of the wrong type",
        b'{"jsonrpc":"2.0","id":"t","method":"tools/call","params":{"name":5}}\n',
        "t",
        -32602,
    ),
    (
        "a uri of the wrong type",
        b'{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":[]}}\n',
        "r",
        -32602,
    ),
    ("params that are not an object", b'{"jsonrpc":"2.0","id":"p","method":"tools/call","params":[1]}\n', "p", -32602),
    (
        "a log level that does not exist",
        b'{"jsonrpc":"2.0","id":"l","method":"logging/setLevel","params":{"level":7}}\n',
        "l",
        -32602,
    ),
    ("a lone surrogate in the id", b'{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}\n', None, -32600),
    (
        "a lone surrogate in arguments",
        b'{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"add","arguments":{"a":"\\udc00x"}}}\n',
        "s",
        -32600,
    ),
    ("a lone surrogate as a key", b'{"jsonrpc":"2.0","id":"k","method":"ping","params":{"\\udfff":1}}\n', "k", -32600),
    ("a surrogate's raw bytes", b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"ping"}\n', None, -32700),
    ("bytes that are not UTF-8", b'{"jsonrpc":"2.0","id":"x","method":"\xff"}\n', None, -32700),
    (
        "a cursor with a digit that is not ASCII",
        b'{"jsonrpc":"2.0","id":"c","method":"tools/list","params":{"cursor":"dG9vbHM6wrI="}}\n',
        "c",
        -32602,
    ),
    (
        "a cursor with a 5,000-digit offset",
        b'{"jsonrpc":"2.0","id":"d","method":"tools/list","params":{"cursor":"' + CURSOR_5000_DIGITS + b'"}}\n',
        "d",
        -32602,
    ),
    (
        "a 10 MB line",
        b'{"jsonrpc":"2.0","id":"big","method":"ping","params":{"x":"' + b"x" * 10_000_000 + b'"}}\n',
        None,
        -32600,
    ),
]


async def test_each_bad_input_gets_its_error_and_the_session_keeps_serving() -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO)
        await server.initialize()
        for index, (label, line, expected_id, code) in enumerate(BAD_INPUTS):
            await server.send(line)
            reply = await server.receive()
            assert reply.get("id") == expected_id and reply["error"]["code"] == code, (label, reply)
            await assert_still_serving(server, f"after-{index}")
        # a request without an id is a notification: it gets no answer at all
        await server.send(b'{"jsonrpc":"2.0","method":"tools/list"}\n')
        await assert_still_serving(server, "after-notification")
        # bad tool arguments are a tool error result, not a protocol error
        reply = await server.request("args", "tools/call", {"name": "add", "arguments": {"a": "one", "b": 2}})
        assert reply["result"]["isError"] is True and "a: expected integer" in reply["result"]["content"][0]["text"]
        await server.process.stdin.aclose()
        with trio.fail_after(5):
            assert await server.process.wait() == 0
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
async def test_notifications_cancelled_stops_a_30s_tool_within_100ms(era: str) -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO)
        params: dict = {"name": "sleep", "arguments": {"seconds": 30}}
        if era == "2025-11-25":
            await server.initialize()
        else:
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": era,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/logLevel": "info",
            }
        await server.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params})
        started = await server.receive()
        assert started["method"] == "notifications/message" and "sleeping" in started["params"]["data"]
        cancelled_at = trio.current_time()
        await server.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}})
        finally_at = await server.wait_for_stderr("sleep(30) finished; cancel reason: client cancelled")
        assert finally_at - cancelled_at < 0.1
        ping = {"jsonrpc": "2.0", "id": "after", "method": "ping"}
        if era != "2025-11-25":
            ping = {"jsonrpc": "2.0", "id": "after", "method": "tools/list", "params": params | {"name": None}}
        await server.send(ping)
        reply, before = await server.response("after")
        assert "result" in reply
        assert all(message.get("id") != 5 for message in before)  # nothing was written for id 5
        await server.process.stdin.aclose()
        with trio.fail_after(5):
            await server.process.wait()
        nursery.cancel_scope.cancel()


async def test_stray_prints_cannot_corrupt_stdout() -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, "tests/servers/noisy.py:server")
        await server.initialize()
        reply = await server.request(1, "tools/call", {"name": "shout", "arguments": {"text": "hi"}})
        assert reply["result"]["content"] == [{"type": "text", "text": "HI"}]
        await server.wait_for_stderr("stray output of a child process")
        for text in ("stray print from a tool", "stray write", "stray os.write to fd 1"):
            await server.wait_for_stderr(text)
        await server.process.stdin.aclose()
        with trio.fail_after(5):
            await server.process.wait()
        assert server.process.stdout is not None
        assert await server.process.stdout.receive_some() == b""  # nothing but the response was written
        nursery.cancel_scope.cancel()


async def test_exits_promptly_on_eof() -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO)
        await server.initialize()
        closed_at = trio.current_time()
        await server.process.stdin.aclose()
        with trio.fail_after(5):
            assert await server.process.wait() == 0
        assert trio.current_time() - closed_at < 2
        nursery.cancel_scope.cancel()


async def test_eof_with_a_running_tool_cancels_it_at_once() -> None:
    # The client is gone: the grace period is for shutdown only.
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO, "--grace", "5")
        await server.initialize()
        await server.send({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "sleep"}})
        assert (await server.receive())["method"] == "notifications/message"
        closed_at = trio.current_time()
        await server.process.stdin.aclose()
        finally_at = await server.wait_for_stderr("cancel reason: client disconnected")
        assert finally_at - closed_at < 0.1
        with trio.fail_after(5):
            assert await server.process.wait() == 0
        nursery.cancel_scope.cancel()


async def test_a_lone_surrogate_in_initialize_is_answered_and_the_handshake_still_works() -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO)
        await server.send(
            b'{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":"2025-11-25",'
            b'"capabilities":{},"clientInfo":{"name":"\\ud800","version":"1"}}}\n'
        )
        reply = await server.receive()
        assert reply["id"] == "i" and reply["error"]["code"] == -32600 and "surrogate" in reply["error"]["message"]
        assert (await server.initialize())["result"]["protocolVersion"] == "2025-11-25"
        await assert_still_serving(server, "after")
        await server.process.stdin.aclose()
        with trio.fail_after(5):
            assert await server.process.wait() == 0
        nursery.cancel_scope.cancel()


async def test_sigterm_gives_running_requests_their_grace_then_cancels() -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO, "--grace", "0.2")
        await server.initialize()
        await server.send({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "sleep"}})
        assert (await server.receive())["method"] == "notifications/message"
        signalled_at = trio.current_time()
        server.process.terminate()
        finally_at = await server.wait_for_stderr("cancel reason: shutdown")
        assert 0.2 <= finally_at - signalled_at < 1.0
        with trio.fail_after(5):
            assert await server.process.wait() == 0
        nursery.cancel_scope.cancel()


async def test_during_the_grace_period_cancellations_are_heard_and_new_requests_refused() -> None:
    async with trio.open_nursery() as nursery:
        server = await open_stdio_server(nursery, DEMO, "--grace", "5")
        await server.initialize()
        await server.send({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "sleep"}})
        assert (await server.receive())["method"] == "notifications/message"
        server.process.terminate()
        await server.wait_for_stderr("Shutting down")
        await server.send({"jsonrpc": "2.0", "id": "late", "method": "ping"})
        refused, _ = await server.response("late")
        assert refused["error"]["message"] == "Service Unavailable: the server is shutting down"
        cancelled_at = trio.current_time()
        await server.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}})
        finally_at = await server.wait_for_stderr("cancel reason: client cancelled")
        assert finally_at - cancelled_at < 0.2  # not the 5 s grace
        with trio.fail_after(5):
            assert await server.process.wait() == 0
        nursery.cancel_scope.cancel()


def test_bad_inputs_are_valid_json_where_they_should_be() -> None:
    for _label, line, _, code in BAD_INPUTS:
        if code != -32700 and len(line) < 1000:
            json.loads(line)  # only the parse-error cases are meant to be broken JSON
