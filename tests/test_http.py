"""Streamable HTTP on the real hypercorn-trio server: both eras, every status code with raw
requests, sessions, cancellation by disconnect, DELETE and expiry, and the official client."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio

import trimcp
from trimcp import CancelReason, Context

from .http_support import (
    JSON_AND_SSE,
    Probe,
    RawHTTP,
    envelope,
    initialize_request,
    modern_headers,
    probe_server,
    running_server,
)


def call(request_id: Any, name: str, arguments: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def modern_call(request_id: Any, name: str, arguments: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return call(request_id, name, arguments, **envelope(**meta))


# -- handshake era -----------------------------------------------------------------------------


async def test_handshake_session_lifecycle_json_and_sse() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        session_id = await http.initialize()
        assert 20 <= len(session_id) and all(0x21 <= ord(c) <= 0x7E for c in session_id)
        headers = {"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}
        listed = await http.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers)
        assert listed.status == 200 and listed.headers["content-type"] == "application/json"
        assert {t["name"] for t in listed.json()["result"]["tools"]} >= {"sleep", "add"}
        async with http.open(
            "POST",
            headers={**headers, "accept": JSON_AND_SSE, "content-type": "application/json"},
            body=call(2, "steps", {"count": 3}, progressToken="p"),
        ) as stream:
            assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
            assert stream.headers["x-accel-buffering"] == "no"
            messages = await stream.messages()
        methods = [m.get("method") for m in messages]
        assert methods.count("notifications/progress") == 3 and methods.count("notifications/message") == 3
        assert messages[-1] == {"jsonrpc": "2.0", "id": 2, "result": {"content": [{"type": "text", "text": "done"}]}}
        assert (await http.request("DELETE", headers={"mcp-session-id": session_id})).status == 200
        gone = await http.post({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, headers)
        assert gone.status == 404 and gone.json()["error"]["code"] == -32600
        assert app.sessions.statistics().live_sessions == 0


async def test_2025_03_26_batches_over_http() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        session_id = await http.initialize("2025-03-26")
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            call(2, "add", {"a": 2, "b": 2}),
            {"jsonrpc": "2.0", "method": "notifications/whatever"},
        ]
        async with http.open(
            "POST",
            headers={"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"},
            body=batch,
        ) as stream:
            body = await stream.rest()
        assert b'"id":1,"result":{}' in body and b'"id":2,"result"' in body


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"accept": "application/json"}, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, 406, -32600),
        ({"accept": "text/event-stream"}, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, 406, -32600),
        ({"content-type": "text/plain"}, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, 415, -32600),
        ({}, b"{not json", 400, -32700),
        ({}, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, 400, -32600),  # no session id
        ({"mcp-session-id": "no-such-session"}, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, 404, -32600),
        ({}, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 5}}, 400, -32602),
    ],
)
async def test_rejected_posts_get_their_status_and_create_no_session(
    headers: dict[str, str], body: Any, status: int, code: int
) -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        reply = await http.post(body, headers)
        assert reply.status == status
        assert reply.json()["error"]["code"] == code
        assert "mcp-session-id" not in reply.headers
        assert app.sessions.statistics().sessions_created == 0


async def test_body_limit_is_413_before_reading() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), max_body_bytes=1000)
    async with running_server(app) as http:
        reply = await http.post(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"x" * 2000 + b'"}}')
        assert reply.status == 413 and reply.json()["error"]["code"] == -32600
        assert app.sessions.statistics().sessions_created == 0


async def test_protocol_version_header_rules() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        session_id = await http.initialize("2025-11-25")
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        for version, status in (("2025-11-25", 200), ("2025-03-26", 200), ("1999-01-01", 400), ("bogus", 400)):
            reply = await http.post(ping, {"mcp-session-id": session_id, "mcp-protocol-version": version})
            assert reply.status == status, version
        no_header = await http.post(ping, {"mcp-session-id": session_id})
        assert no_header.status == 200  # absent: assume 2025-03-26


async def test_notifications_and_responses_get_202() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        session_id = await http.initialize()
        reply = await http.post(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}},
            {"mcp-session-id": session_id},
        )
        assert reply.status == 202 and reply.body == b""
        reply = await http.post({"jsonrpc": "2.0", "id": 77, "result": {}}, {"mcp-session-id": session_id})
        assert reply.status == 202


async def test_get_stream_one_at_a_time_and_other_methods() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), sse_keepalive_seconds=0.05)
    async with running_server(app) as http:
        session_id = await http.initialize()
        get_headers = {"mcp-session-id": session_id, "accept": "text/event-stream"}
        async with http.open("GET", headers=get_headers) as stream:
            assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
            assert await stream.chunk() == b"id: 1-0-0\nretry: 1000\ndata: \n\n"  # the priming event
            assert b": keep-alive" in await stream.chunk()  # keep-alive comments on a quiet stream
            second = await http.request("GET", headers=get_headers)
            assert second.status == 409
        assert (await http.request("GET", headers={"mcp-session-id": session_id})).status == 406
        assert (await http.request("GET", headers={"accept": "text/event-stream"})).status == 400
        assert (
            await http.request("GET", headers={"mcp-session-id": "nope", "accept": "text/event-stream"})
        ).status == 404
        put = await http.request("PUT")
        assert put.status == 405 and put.headers["allow"] == "GET, POST, DELETE"
        assert (await http.request("DELETE")).status == 400
        assert (await http.request("DELETE", headers={"mcp-session-id": "nope"})).status == 404
        assert (await http.request("GET", path="/elsewhere")).status == 404


async def test_session_cap_answers_503_with_retry_after() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), max_sessions=2)
    async with running_server(app) as http:
        await http.initialize()
        await http.initialize()
        reply = await http.post(initialize_request())
        assert reply.status == 503 and int(reply.headers["retry-after"]) > 0
        assert "mcp-session-id" not in reply.headers
        assert app.sessions.statistics().live_sessions == 2


async def test_delete_cancels_running_tools_and_frees_the_session() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe))
    async with running_server(app) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "sleep")) as stream:
            with trio.fail_after(5):
                await probe.started.wait()
            assert app.sessions.statistics().live_requests == 1
            deleted_at = trio.current_time()
            assert (await http.request("DELETE", headers={"mcp-session-id": session_id})).status == 200
            with trio.fail_after(5):
                await probe.finished.wait()
                assert await stream.messages() == []  # the stream ends cleanly, with no response
        assert probe.reason is CancelReason.SESSION_ENDED
        assert probe.finally_at is not None and probe.finally_at - deleted_at < 0.1
        with trio.fail_after(5):
            while app.sessions.statistics().live_sessions:
                await trio.sleep(0.01)
        assert app.sessions.statistics().live_requests == 0


async def test_without_an_event_store_dropping_a_post_stream_cancels_its_tool() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe), event_store=None)
    async with running_server(app) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "sleep")) as stream:
            with trio.fail_after(5):
                await probe.started.wait()
            closed_at = trio.current_time()
            await stream.close()
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.reason is CancelReason.CLIENT_DISCONNECTED
        assert probe.finally_at is not None and probe.finally_at - closed_at < 0.1
        assert app.sessions.statistics().live_requests == 0
        assert app.sessions.statistics().live_sessions == 1  # the session itself goes on


async def test_a_dropped_stream_is_resumed_with_last_event_id() -> None:
    server = probe_server(Probe())
    gate = trio.Event()

    @server.tool
    async def staged(ctx: Context) -> str:
        await ctx.info("before the drop")
        await gate.wait()
        await ctx.info("while nobody listened")
        return "finished"

    app = trimcp.asgi_app(server)
    async with running_server(app) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "staged")) as stream:
            priming, first = await stream.events(2)
            assert priming.data == "" and priming.retry == 1000 and priming.id == "1-1-0"
            assert first.id == "1-1-1" and "before the drop" in first.data
            await stream.close()
        gate.set()
        await trio.sleep(0.05)  # the tool finishes while detached; its events are kept
        get_headers = {"mcp-session-id": session_id, "accept": "text/event-stream"}
        async with http.open("GET", headers={**get_headers, "last-event-id": first.id}) as resumed:
            assert resumed.status == 200
            messages = await resumed.messages()
        assert [m.get("params", {}).get("data") for m in messages[:1]] == ["while nobody listened"]
        assert messages[-1]["id"] == 1 and messages[-1]["result"]["content"][0]["text"] == "finished"
        for bad in ("garbage", "9-1-1", "1-99-0"):
            assert (await http.request("GET", headers={**get_headers, "last-event-id": bad})).status == 404


async def test_resuming_takes_the_stream_over_from_a_response_still_attached() -> None:
    """The client lost its response but the server has not noticed yet (a proxy holds the
    connection, or a relay hop is slower): the resumption wins, nothing is lost or doubled."""
    server = probe_server(Probe())
    gate = trio.Event()

    @server.tool
    async def staged(ctx: Context) -> str:
        await ctx.info("first")
        await gate.wait()
        await ctx.info("second")
        return "finished"

    async with running_server(trimcp.asgi_app(server)) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "staged")) as old:
            _, first = await old.events(2)
            get_headers = {"mcp-session-id": session_id, "accept": "text/event-stream", "last-event-id": first.id}
            with trio.fail_after(5):
                async with http.open("GET", headers=get_headers) as resumed:
                    assert resumed.status == 200
                    gate.set()
                    messages = await resumed.messages()
                with pytest.raises(ConnectionError):  # the old response was cut, with nothing more on it
                    await old.chunk()
        assert [m.get("params", {}).get("data") for m in messages] == ["second", None]
        assert messages[-1]["result"]["content"][0]["text"] == "finished"


async def test_a_resumed_stream_continues_live() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe))
    async with running_server(app) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "sleep", {"seconds": 0.5})) as stream:
            (priming,) = await stream.events(1)
            await stream.close()
        get_headers = {"mcp-session-id": session_id, "accept": "text/event-stream", "last-event-id": priming.id}
        async with http.open("GET", headers=get_headers) as resumed:
            messages = await resumed.messages()
        assert messages[-1]["result"]["content"][0]["text"] == "slept"
        assert probe.reason is None  # it was never cancelled


async def test_an_unresumed_stream_is_cancelled_when_its_window_passes() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe), resume_window_seconds=0.3)
    async with running_server(app) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "sleep")) as stream:
            await stream.events(1)
            closed_at = trio.current_time()
            await stream.close()
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.reason is CancelReason.CLIENT_DISCONNECTED
        assert probe.finally_at is not None and 0.3 <= probe.finally_at - closed_at < 0.5


async def test_idle_expiry_cancels_detached_tools() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe), session_idle_timeout_seconds=0.3)
    async with running_server(app) as http:
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with http.open("POST", headers=headers, body=call(1, "sleep")) as stream:
            await stream.events(1)
            await stream.close()
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.reason is CancelReason.SESSION_EXPIRED
        with trio.fail_after(5):
            while app.sessions.statistics().live_sessions:
                await trio.sleep(0.01)
        assert app.sessions.statistics().sessions_expired == 1


async def test_idle_sessions_expire_and_abandoned_ones_are_reclaimed() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), session_idle_timeout_seconds=0.5)
    async with running_server(app) as http:
        limiter = trio.CapacityLimiter(32)  # stay under the listen backlog

        async def abandon() -> None:
            async with limiter:
                await http.initialize(notify=False)

        async with trio.open_nursery() as nursery:
            for _ in range(1000):
                nursery.start_soon(abandon)
        assert app.sessions.statistics().sessions_created == 1000
        with trio.fail_after(10):
            while app.sessions.statistics().live_sessions:
                await trio.sleep(0.05)
        stats = app.sessions.statistics()
        assert stats.sessions_expired == 1000 and stats.live_requests == 0


async def test_an_open_get_stream_keeps_its_session_alive() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), session_idle_timeout_seconds=0.2, sse_keepalive_seconds=0.05)
    async with running_server(app) as http:
        session_id = await http.initialize()
        async with http.open("GET", headers={"mcp-session-id": session_id, "accept": "text/event-stream"}) as stream:
            await trio.sleep(0.5)
            assert app.sessions.get(session_id) is not None
            await stream.close()
        with trio.fail_after(5):
            while app.sessions.get(session_id) is not None:
                await trio.sleep(0.02)


# -- 2026-07-28 ----------------------------------------------------------------------------------


async def test_modern_requests_are_stateless_and_validated() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        discover = {"jsonrpc": "2.0", "id": "d", "method": "server/discover", "params": {"_meta": envelope()}}
        reply = await http.post(discover, modern_headers("server/discover"))
        assert reply.status == 200 and "mcp-session-id" not in reply.headers
        assert reply.json()["result"]["supportedVersions"][0] == "2026-07-28"
        reply = await http.post(modern_call(1, "add", {"a": 1, "b": 2}), modern_headers("tools/call", "add"))
        assert reply.status == 200
        assert b'"structuredContent":{"result":3}' in reply.body and b'"resultType":"complete"' in reply.body
        assert app.sessions.statistics().sessions_created == 0


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (modern_call(1, "add", {"a": 1, "b": 2}), modern_headers("tools/call", "sub"), 400, -32020),
        (modern_call(1, "add", {"a": 1, "b": 2}), modern_headers("tools/list"), 400, -32020),
        (modern_call(1, "add", {"a": 1, "b": 2}), {"mcp-method": "tools/call", "mcp-name": "add"}, 400, -32020),
        (modern_call(1, "add", {"a": 1, "b": 2}), modern_headers("tools/call", "add", "2099-01-01"), 400, -32020),
        (modern_call(1, "regional", {"region": "eu"}), modern_headers("tools/call", "regional"), 400, -32020),
        (call(1, "add", {"a": 1, "b": 2}), modern_headers("tools/call", "add"), 400, -32602),
        (
            call(1, "add", {"a": 1}, **envelope("1999-01-01")),
            modern_headers("tools/call", "add", "1999-01-01"),
            400,
            -32022,
        ),
        (
            {"jsonrpc": "2.0", "id": 1, "method": "nope", "params": {"_meta": envelope()}},
            modern_headers("nope"),
            404,
            -32601,
        ),
        (
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"_meta": envelope()}},
            modern_headers("initialize"),
            404,
            -32601,
        ),
        (
            {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": envelope()}},
            modern_headers("ping"),
            404,
            -32601,
        ),
    ],
)
async def test_modern_status_table(body: Any, headers: dict[str, str], status: int, code: int) -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        reply = await http.post(body, headers)
        assert reply.status == status, reply
        assert reply.json()["error"]["code"] == code
        assert "mcp-session-id" not in reply.headers


async def test_modern_param_headers_and_other_methods() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        ok = await http.post(
            modern_call(1, "regional", {"region": "eu"}),
            {**modern_headers("tools/call", "regional"), "mcp-param-region": "eu"},
        )
        assert ok.status == 200 and b'"text":"eu"' in ok.body
        for method in ("GET", "DELETE"):
            reply = await http.request(method, headers={"mcp-protocol-version": "2026-07-28"})
            assert reply.status == 405 and reply.headers["allow"] == "POST"
        cancelled = await http.post(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
            {"mcp-protocol-version": "2026-07-28"},
        )
        assert cancelled.status == 202


@pytest.mark.parametrize("resumable", [True, False])
async def test_closing_a_modern_stream_cancels_at_once_and_writes_nothing_more(resumable: bool) -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe), **({} if resumable else {"event_store": None}))
    async with running_server(app) as http:
        headers = {**modern_headers("tools/call", "sleep"), "accept": JSON_AND_SSE, "content-type": "application/json"}
        with trio.fail_after(5):  # a silent stream's head goes out once the JSON window has passed
            async with http.open("POST", headers=headers, body=modern_call(1, "sleep", {"seconds": 30})) as stream:
                assert stream.status == 200
                await probe.started.wait()
                assert len(app.per_request.runtimes()) == 1
                closed_at = trio.current_time()
                await stream.close()
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.finally_at is not None and probe.finally_at - closed_at < 0.1
        assert probe.reason is CancelReason.CLIENT_DISCONNECTED
        with trio.fail_after(5):
            while app.per_request.runtimes():
                await trio.sleep(0.01)


# -- security ------------------------------------------------------------------------------------


async def test_host_and_origin_are_checked_on_loopback() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        initialize = initialize_request()
        bad_origin = await http.post(initialize, {"origin": "https://evil.example"})
        assert bad_origin.status == 403 and bad_origin.json()["id"] is None
        bad_host = await http.post(initialize, {"host": "evil.example:8000"})
        assert bad_host.status == 421
        assert app.sessions.statistics().sessions_created == 0
        good = await http.post(initialize, {"origin": "http://localhost:5173", "host": "localhost:1234"})
        assert good.status == 200
        assert app.sessions.statistics().sessions_created == 1


async def test_allow_lists_and_cors() -> None:
    app = trimcp.asgi_app(
        probe_server(Probe()),
        allowed_hosts=["mcp.example.com"],
        allowed_origins=["https://app.example.com"],
        cors_origins=["https://app.example.com"],
    )
    async with running_server(app) as http:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await http.post(ping, {"host": "127.0.0.1"})).status == 421
        assert (await http.post(ping, {"host": "mcp.example.com:443", "origin": "https://other.example"})).status == 403
        preflight = await http.request(
            "OPTIONS",
            headers={
                "host": "mcp.example.com",
                "origin": "https://app.example.com",
                "access-control-request-method": "POST",
            },
        )
        assert preflight.status == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "mcp-protocol-version" in preflight.headers["access-control-allow-headers"]
        init = await http.post(
            initialize_request(),
            {"host": "mcp.example.com", "origin": "https://app.example.com"},
        )
        assert init.status == 200 and "mcp-session-id" in init.headers["access-control-expose-headers"]
    closed = trimcp.asgi_app(probe_server(Probe()), allowed_hosts=[])
    async with running_server(closed) as http:
        assert (await http.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})).status == 421  # fail closed


# -- mounting --------------------------------------------------------------------------------------


async def test_mounted_under_a_sub_path() -> None:
    inner = trimcp.asgi_app(probe_server(Probe()))

    async def outer(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1"):
            await inner({**scope, "root_path": "/api/v1"}, receive, send)
        elif scope["type"] == "lifespan":
            await inner(scope, receive, send)
        else:
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async with running_server(outer) as http:  # type: ignore[arg-type]
        session_id = await http_initialize_at(http, "/api/v1/mcp")
        assert session_id
        assert (await http.request("GET", path="/mcp")).status == 418


async def http_initialize_at(http: RawHTTP, path: str) -> str:
    reply = await http.post(
        initialize_request(),
        path=path,
    )
    assert reply.status == 200
    return reply.headers["mcp-session-id"]


# -- questions and notifications over HTTP ----------------------------------------------------------


def asking_http_server() -> trimcp.Server:
    server = probe_server(Probe())

    @server.tool
    async def confirm(ctx: Context) -> str:
        answer = await ctx.elicit("Sure?", {"type": "object", "properties": {"yes": {"type": "boolean"}}})
        return answer.action

    @server.resource("test://watched")
    def watched() -> str:
        return "v1"

    return server


@pytest.mark.parametrize("json_response", [False, True])
async def test_a_question_travels_on_the_posts_stream_and_the_answer_is_posted_back(json_response: bool) -> None:
    # with JSON responses too: a POST whose tool asks the client something becomes a stream
    app = trimcp.asgi_app(asking_http_server(), json_response=json_response)
    with trio.fail_after(10):  # before JSON responses could stream, the question never left
        async with running_server(app) as http:
            await _ask_and_answer(http)


async def _ask_and_answer(http: RawHTTP) -> None:
    reply = await http.post(initialize_request(capabilities={"elicitation": {}}))
    session_id = reply.headers["mcp-session-id"]
    headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
    async with http.open("POST", headers=headers, body=call(1, "confirm")) as stream:
        _, question_event = await stream.events(2)
        question = json.loads(question_event.data)
        assert question["method"] == "elicitation/create" and question["params"]["message"] == "Sure?"
        answer = {"jsonrpc": "2.0", "id": question["id"], "result": {"action": "decline"}}
        assert (await http.post(answer, {"mcp-session-id": session_id})).status == 202
        messages = await stream.messages()
    assert messages[-1]["result"]["content"][0]["text"] == "decline"


async def test_missing_client_capability_is_400_in_2026() -> None:
    app = trimcp.asgi_app(asking_http_server())
    async with running_server(app) as http:
        reply = await http.post(modern_call(1, "confirm"), modern_headers("tools/call", "confirm"))
        assert reply.status == 400
        assert reply.json()["error"] == {
            "code": -32021,
            "message": "This needs the client capability 'elicitation', which the client did not declare",
            "data": {"requiredCapabilities": {"elicitation": {"form": {}}}},
        }


async def test_list_changes_reach_the_get_stream() -> None:
    server = asking_http_server()
    app = trimcp.asgi_app(server)
    async with running_server(app) as http:
        session_id = await http.initialize()
        subscribe = {"jsonrpc": "2.0", "id": 5, "method": "resources/subscribe", "params": {"uri": "test://watched"}}
        assert (await http.post(subscribe, {"mcp-session-id": session_id})).status == 200
        async with http.open("GET", headers={"mcp-session-id": session_id, "accept": "text/event-stream"}) as stream:
            await stream.events(1)  # priming
            server.notify_tools_changed()
            await server.notify_resource_updated("test://watched")
            await server.notify_resource_updated("test://other")
            events = await stream.events(2)
        assert [json.loads(e.data)["method"] for e in events] == [
            "notifications/tools/list_changed",
            "notifications/resources/updated",
        ]


@pytest.mark.parametrize("json_response", [False, True])
async def test_listen_over_http_ends_gracefully_at_shutdown(json_response: bool) -> None:
    server = asking_http_server()
    app = trimcp.asgi_app(server, json_response=json_response)
    with trio.fail_after(10):  # before JSON responses could stream, listen got no acknowledgement
        async with running_server(app) as http:
            body = {
                "jsonrpc": "2.0",
                "id": "listen-1",
                "method": "subscriptions/listen",
                "params": {"_meta": envelope(), "notifications": {"toolsListChanged": True}},
            }
            headers = {
                **modern_headers("subscriptions/listen"),
                "accept": JSON_AND_SSE,
                "content-type": "application/json",
            }
            async with http.open("POST", headers=headers, body=body) as stream:
                (acknowledged,) = await stream.events(1)
                assert json.loads(acknowledged.data)["method"] == "notifications/subscriptions/acknowledged"
                server.notify_tools_changed()
                (changed,) = await stream.events(1)
                assert json.loads(changed.data)["params"]["_meta"] == {
                    "io.modelcontextprotocol/subscriptionId": "listen-1"
                }
                with trio.fail_after(5):
                    await app.shutdown(grace=1)
                    messages = await stream.messages()
            assert messages[-1]["id"] == "listen-1"
            assert messages[-1]["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "listen-1"


@pytest.mark.parametrize("era", ["handshake", "2026-07-28"])
async def test_json_responses_still_notice_the_client_leaving(era: str) -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe), json_response=True)
    async with running_server(app) as http:
        if era == "handshake":
            headers, body = {"mcp-session-id": await http.initialize()}, call(1, "sleep")
        else:
            headers, body = modern_headers("tools/call", "sleep"), modern_call(1, "sleep")
        headers = {**headers, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with trio.open_nursery() as nursery:

            async def post_and_leave() -> None:
                with trio.move_on_after(30):
                    await http.request("POST", headers=headers, body=body)

            nursery.start_soon(post_and_leave)
            with trio.fail_after(5):
                await probe.started.wait()
            left_at = trio.current_time()
            nursery.cancel_scope.cancel()  # closes the connection before any answer
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.reason is CancelReason.CLIENT_DISCONNECTED
        assert probe.finally_at is not None and probe.finally_at - left_at < 0.1


async def test_notifications_wait_for_the_next_get_stream() -> None:
    server = asking_http_server()
    app = trimcp.asgi_app(server)
    async with running_server(app) as http:
        session_id = await http.initialize()
        server.notify_tools_changed()  # no GET stream yet: it waits
        async with http.open("GET", headers={"mcp-session-id": session_id, "accept": "text/event-stream"}) as stream:
            _, changed = await stream.events(2)
        assert json.loads(changed.data)["method"] == "notifications/tools/list_changed"


async def test_under_hypercorns_own_worker_a_disconnect_is_watched_by_a_task() -> None:
    import hypercorn.trio

    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe))
    async with trio.open_nursery() as nursery:
        config = trimcp.HTTPConfig(host="127.0.0.1", port=0).hypercorn_config()
        binds = await nursery.start(lambda task_status: hypercorn.trio.serve(app, config, task_status=task_status))
        http = RawHTTP("127.0.0.1", int(binds[0].rsplit(":", 1)[1]))
        headers = {**modern_headers("tools/call", "sleep"), "accept": JSON_AND_SSE, "content-type": "application/json"}
        with trio.fail_after(10):
            async with http.open("POST", headers=headers, body=modern_call(1, "sleep", {"seconds": 30})) as stream:
                await probe.started.wait()
                closed_at = trio.current_time()
                await stream.close()
            await probe.finished.wait()
        assert probe.finally_at is not None and probe.finally_at - closed_at < 0.1
        assert probe.reason is CancelReason.CLIENT_DISCONNECTED
        nursery.cancel_scope.cancel()


def test_an_app_without_lifespan_ends_its_sessions_quietly_when_the_run_ends(caplog: pytest.LogCaptureFixture) -> None:
    # Mounted where no lifespan reaches it, the app keeps its sessions in a Trio system task;
    # the run ending cancels them with reason "shutdown" and logs no failure (it logged a
    # 60-line group of trio.Cancelled as "The session host failed").
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe))

    async def mounted(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # a host app that keeps the lifespan to itself
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    async def main() -> None:
        async with running_server(mounted) as http:  # type: ignore[arg-type]
            session_id = await http.initialize()
            headers = {"mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "sleep", "arguments": {}}}
            async with trio.open_nursery() as nursery:
                nursery.start_soon(http.post, call, headers)
                with trio.fail_after(5):
                    await probe.started.wait()
                nursery.cancel_scope.cancel()

    with caplog.at_level(logging.ERROR):
        trio.run(main)
    assert probe.finished.is_set() and probe.reason is CancelReason.SHUTDOWN
    assert "The session host failed" not in caplog.text


async def test_the_health_path_is_ready_while_serving_and_503_once_shutting_down() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), health_path="/healthz", auth=None)
    async with running_server(app) as http:
        ready = await http.request("GET", "/healthz")
        assert ready.status == 200 and ready.json() == {"status": "ready"}
        assert (await http.request("POST", "/healthz")).status == 405
        with trio.fail_after(5):
            await app.shutdown(grace=0)
        draining = await http.request("GET", "/healthz")
        assert draining.status == 503 and draining.headers["retry-after"] == "1"
