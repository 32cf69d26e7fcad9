"""Handshake-era sessions across processes (issue 18), in one test process: two apps sharing one
real redis-server, each behind its own real hypercorn on 127.0.0.1 (two workers). A session
opened on ``a`` (its owner) is used through ``b``, which relays each request to ``a``: answers,
streams, questions, cancellation, resumption, DELETE, and an owner that is gone."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import coredis
import pytest
import trio

import trimcp
from trimcp import CancelReason

from .http_support import JSON_AND_SSE, Probe, RawHTTP, initialize_request, probe_server, running_server
from .redis_support import RedisProcess, running_redis

VERSION = "2025-11-25"
FORM = {"type": "object", "properties": {"value": {"type": "string"}}}
#: A short lease, so a gone owner is noticed quickly.
LEASE = 0.5


def relay_server(url: str, probe: Probe) -> trimcp.Server:
    """The probe server's tools, a resource, ``touch`` and ``question``, on a shared backend."""
    server = probe_server(probe)
    server.use_backend(trimcp.RedisBackend(url, lease_seconds=LEASE))

    @server.resource("test://doc/{name}")
    def doc(name: str) -> str:
        return name

    @server.tool
    async def touch(uri: str) -> str:
        await server.notify_resource_updated(uri)
        return "touched"

    @server.tool
    async def question(ctx: trimcp.Context) -> str:
        answer = await ctx.elicit("Value?", FORM)
        return f"got {(answer.content or {}).get('value')}"

    return server


@asynccontextmanager
async def two_workers(
    redis: RedisProcess, **settings: Any
) -> AsyncIterator[tuple[RawHTTP, RawHTTP, Probe, trio.CancelScope]]:
    """``a`` and ``b`` on one Redis; yields both, the probe of ``a`` (the owner of the sessions
    the tests open) and the scope whose cancellation stops ``a``."""
    probe = Probe()
    server_a, server_b = relay_server(redis.url, probe), relay_server(redis.url, Probe())
    redis_events = settings.pop("redis_events", False)
    app_a, app_b = (
        trimcp.asgi_app(
            server, **settings, **({"event_store": trimcp.RedisEventStore(server.backend)} if redis_events else {})
        )
        for server in (server_a, server_b)
    )

    async def serve_a(task_status: trio.TaskStatus[tuple[RawHTTP, trio.CancelScope]]) -> None:
        with trio.CancelScope() as scope:
            async with running_server(app_a) as a:
                task_status.started((a, scope))
                await trio.sleep_forever()

    async with running_server(app_b) as b, trio.open_nursery() as nursery:
        a, stop_a = await nursery.start(serve_a)
        yield a, b, probe, stop_a
        live = [app for app in (app_a, app_b) if app is app_b or not stop_a.cancel_called]
        with trio.fail_after(5):  # every relayed exchange ended on both sides: none left behind
            while any(app.server.backend.relay.statistics().open_conduits for app in live):
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def open_session(http: RawHTTP, **auth: str) -> dict[str, str]:
    reply = await http.post(initialize_request(VERSION, {"elicitation": {}}), auth)
    assert reply.status == 200, reply
    headers = {"mcp-session-id": reply.headers["mcp-session-id"], "mcp-protocol-version": VERSION, **auth}
    assert (await http.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)).status == 202
    return headers


def call(request_id: int, name: str, arguments: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def post_headers(session: dict[str, str]) -> dict[str, str]:
    return {"accept": JSON_AND_SSE, "content-type": "application/json", **session}


async def test_a_session_opened_on_one_worker_is_served_through_another() -> None:
    async with running_redis() as redis, two_workers(redis) as (a, b, _, _):
        session = await open_session(a)
        assert session["mcp-session-id"].count(".") == 1  # it names its owner
        with trio.fail_after(10):
            listed = await b.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, session)
            assert listed.status == 200 and listed.headers["content-type"] == "application/json"
            assert {tool["name"] for tool in listed.json()["result"]["tools"]} >= {"add", "steps", "sleep"}
            async with b.open("POST", "/mcp", post_headers(session), call(2, "steps", progressToken="p")) as stream:
                assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
                messages = await stream.messages()
            methods = [message.get("method") for message in messages]
            assert methods == ["notifications/message", "notifications/progress"] * 3 + [None]
            assert messages[-1] == {
                "jsonrpc": "2.0",
                "id": 2,
                "result": {"content": [{"type": "text", "text": "done"}]},
            }
            assert (await b.post({"jsonrpc": "2.0", "id": 3, "method": "ping"}, session)).json()["result"] == {}
            assert (await b.request("DELETE", "/mcp", session)).status == 200
            for worker in (a, b):  # ended everywhere
                gone = await worker.post({"jsonrpc": "2.0", "id": 4, "method": "ping"}, session)
                assert gone.status == 404, gone


async def test_an_unknown_session_naming_another_worker_is_not_found(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "trimcp")
    async with running_redis() as redis, two_workers(redis) as (a, b, _, _):
        session = await open_session(a)
        owner = session["mcp-session-id"].split(".")[0]
        for forged in (f"{owner}.nope", "000000000000.nope", "not-a-name.nope", "nope"):
            reply = await b.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, {**session, "mcp-session-id": forged})
            assert reply.status == 404, (forged, reply)
    assert "is gone" not in caplog.text  # a forged name is no worker that went away


@pytest.mark.parametrize("resumable", [False, True])
async def test_closing_a_stream_held_by_another_worker_cancels_or_detaches_the_owners_request(resumable: bool) -> None:
    settings = {} if resumable else {"event_store": None}
    async with running_redis() as redis, two_workers(redis, **settings) as (a, b, probe, _):
        session = await open_session(a)
        async with b.open("POST", "/mcp", post_headers(session), call(1, "sleep", {"seconds": 30})) as stream:
            assert stream.status == 200
            with trio.fail_after(5):
                await probe.started.wait()
            closed_at = trio.current_time()
        if not resumable:
            with trio.fail_after(5):
                await probe.finished.wait()
            assert probe.reason is CancelReason.CLIENT_DISCONNECTED
            assert probe.finally_at is not None and probe.finally_at - closed_at < 0.5
            return
        await trio.sleep(0.3)
        assert not probe.finished.is_set()  # detached: it runs on, its events kept for resumption
        assert (await b.request("DELETE", "/mcp", session)).status == 200
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.reason is CancelReason.SESSION_ENDED


async def test_notifications_cancelled_through_another_worker_cancels_the_request() -> None:
    async with running_redis() as redis, two_workers(redis) as (a, b, probe, _), trio.open_nursery() as nursery:
        session = await open_session(a)
        nursery.start_soon(a.post, call(7, "sleep", {"seconds": 30}), session)
        with trio.fail_after(5):
            await probe.started.wait()
        sent_at = trio.current_time()
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}}
        assert (await b.post(cancel, session)).status == 202
        with trio.fail_after(5):
            await probe.finished.wait()
        assert probe.reason is CancelReason.CLIENT_CANCELLED
        assert probe.finally_at is not None and probe.finally_at - sent_at < 0.5


@pytest.mark.parametrize("caller", ["a", "b"])
async def test_a_question_on_a_relayed_stream_is_answered_through_another_worker(caller: str) -> None:
    async with running_redis() as redis, two_workers(redis) as (a, b, _, _):
        session = await open_session(a)
        asking = a if caller == "a" else b
        answering = b if caller == "a" else a
        with trio.fail_after(10):
            async with asking.open("POST", "/mcp", post_headers(session), call(1, "question")) as stream:
                [*_, event] = await stream.events(2)  # the priming event, then the question
                asked = json.loads(event.data)
                assert asked["method"] == "elicitation/create", asked
                answer = {
                    "jsonrpc": "2.0",
                    "id": asked["id"],
                    "result": {"action": "accept", "content": {"value": "v"}},
                }
                assert (await answering.post(answer, session)).status == 202
                [result] = await stream.messages()
        assert result["result"]["content"][0]["text"] == "got v"


async def test_the_get_stream_held_by_another_worker_carries_the_sessions_notifications() -> None:
    async with running_redis() as redis, two_workers(redis, metrics_path="/metrics") as (a, b, _, _):
        session = await open_session(a)
        with trio.fail_after(10):
            subscribe = {"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "test://doc/x"}}
            assert (await b.post(subscribe, session)).status == 200
            async with b.open("GET", "/mcp", {"accept": "text/event-stream", **session}) as stream:
                assert stream.status == 200
                await stream.events(1)  # the priming event
                for worker in (b, a):  # raised through either worker, in a session or not
                    assert (await worker.post(call(2, "touch", {"uri": "test://doc/x"}), session)).status == 200
                updates = [json.loads(event.data) for event in await stream.events(2)]
                for worker in (a, b):  # the stream is open on both sides of the relay
                    assert "\ntrimcp_relayed_requests 1\n" in (await worker.request("GET", "/metrics")).body.decode()
        assert [update.get("params", {}).get("uri") for update in updates] == ["test://doc/x"] * 2, updates


@pytest.mark.parametrize("events_in", ["memory", "redis"])
async def test_a_stream_cut_on_one_worker_is_resumed_through_the_other(events_in: str) -> None:
    async with running_redis() as redis, two_workers(redis, redis_events=events_in == "redis") as (a, b, _, _):
        session = await open_session(a)
        with trio.fail_after(10):
            async with b.open(
                "POST", "/mcp", post_headers(session), call(1, "steps", {"count": 8}, progressToken=1)
            ) as stream:
                first = await stream.events(3)
            seen = [json.loads(event.data) for event in first if event.data]
            resume = {"accept": "text/event-stream", "last-event-id": first[-1].id, **session}
            async with a.open("GET", "/mcp", resume) as stream:  # at once: it takes the stream over
                assert stream.status == 200
                seen += await stream.messages()
        progress = [
            message["params"]["progress"] for message in seen if message.get("method") == "notifications/progress"
        ]
        assert progress == list(range(1, 9)), [
            (m.get("params", {}).get("progress") or m.get("params", {}).get("data"), m.get("id")) for m in seen
        ]
        assert seen[-1]["result"]["content"][0]["text"] == "done"


async def test_another_principals_session_is_not_found_through_a_relay() -> None:
    keys = {"key-robot": {"subject": "robot", "scopes": ["mcp"]}, "key-human": {"subject": "human", "scopes": ["mcp"]}}
    auth = trimcp.AuthConfig(
        verifier=trimcp.APIKeyVerifier.from_mapping(keys),
        resource_url="http://127.0.0.1/mcp",
        authorization_servers=["https://issuer.example"],
    )
    async with running_redis() as redis, two_workers(redis, auth=auth) as (a, b, _, _):
        session = await open_session(a, authorization="Bearer key-robot")
        whose = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await b.post(whose, session)).status == 200
        stolen = await b.post(whose, {**session, "authorization": "Bearer key-human"})
        assert stolen.status == 404, stolen


async def test_a_stopped_owner_makes_its_sessions_answer_404_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "trimcp")
    async with running_redis() as redis, two_workers(redis) as (a, b, _, stop_a):
        session = await open_session(a)
        async with b.open("GET", "/mcp", {"accept": "text/event-stream", **session}) as stream:
            await stream.events(1)
            stopped_at = trio.current_time()
            stop_a.cancel()
            with trio.fail_after(LEASE * 3):
                await stream.rest()  # the stream ends
        ended_after = trio.current_time() - stopped_at
        reply = await b.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, session)
        assert reply.status == 404 and "worker stopped" in reply.json()["error"]["message"], reply
    assert ended_after < LEASE * 2, ended_after
    assert "is gone" in caplog.text


async def test_an_unreachable_redis_answers_503_and_relaying_comes_back_with_it() -> None:
    async with running_redis() as redis, two_workers(redis) as (a, b, _, _):
        session = await open_session(a)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        await redis.stop()
        refused = await b.post(ping, session)
        assert refused.status == 503 and refused.headers["retry-after"] == "1", refused
        assert (await a.post(ping, session)).status == 200  # the owner serves it directly
        await redis.start()
        with trio.fail_after(10):
            while (await b.post(ping, session)).status != 200:
                await trio.sleep(0.1)


async def test_the_deprecated_sse_transports_posts_reach_the_stream_through_another_worker() -> None:
    async with running_redis() as redis, two_workers(redis, sse_path="/sse") as (a, b, _, _):
        async with a.open("GET", "/sse", {"accept": "text/event-stream"}) as stream:
            [endpoint] = await stream.events(1)
            assert endpoint.event == "endpoint" and "." in endpoint.data  # the session names its owner
            headers = {"content-type": "application/json"}
            with trio.fail_after(10):
                for request_id, message in enumerate(
                    [initialize_request("2024-11-05"), {"jsonrpc": "2.0", "method": "notifications/initialized"}]
                    + [call(n, "add", {"a": n, "b": 1}) for n in range(2, 6)]
                ):
                    reply = await b.request("POST", endpoint.data, headers, message)
                    assert reply.status == 202, reply
                    if "id" in message:
                        [answer] = await stream.events(1)
                        assert json.loads(answer.data)["id"] == message["id"], (request_id, answer)
                forged = endpoint.data.replace("sessionId=", "sessionId=x")
                assert (await b.request("POST", forged, headers, call(9, "add"))).status == 404
            answer = json.loads(answer.data)
        assert answer["result"]["content"] == [{"type": "text", "text": "6"}]


async def test_a_relayed_call_costs_one_redis_write_each_way() -> None:
    async def writes(client: coredis.Redis[str]) -> int:
        stats = await client.info("commandstats")
        return int(stats.get("cmdstat_xadd", {}).get("calls", 0))

    async with running_redis() as redis, two_workers(redis) as (a, b, _, _):
        session = await open_session(a)
        async with coredis.Redis.from_url(redis.url, decode_responses=True) as client:
            before = await writes(client)
            for request_id in range(20):
                reply = await b.post({"jsonrpc": "2.0", "id": request_id, "method": "ping"}, session)
                assert reply.status == 200
            await trio.sleep(0.3)  # a stray frame would be written by now
            assert await writes(client) - before == 2 * 20  # the request there, the answer back
