"""Two servers sharing one real redis-server (each behind its own real hypercorn on 127.0.0.1,
standing for two workers): change notifications raised on one reach listeners on the other,
exactly once and in order; tasks created on one are read, answered and cancelled through the
other; a Redis that goes away and comes back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import coredis
import trio

import trimcp
from trimcp import CancelReason

from .conftest import ROOT
from .http_support import JSON_AND_SSE, RawHTTP, running_server
from .ports import free_port, wait_until_listening_async
from .redis_support import running_redis
from .test_tasks import TASKS, Seen, body, call, get, rpc, task_server, wait_for_status

#: The lease of a ``trimcp serve --redis`` worker (RedisBackend's default).
LEASE_SECONDS = 5.0


def shared_server(url: str, seen: Seen, **backend: Any) -> trimcp.Server:
    """The task tools of test_tasks, a resource, and ``touch`` (raises an update of a URI)."""
    server = task_server(seen)
    server.use_backend(trimcp.RedisBackend(url, **backend))

    @server.resource("test://doc/{name}")
    def doc(name: str) -> str:
        return name

    @server.tool
    async def quick_plain() -> str:
        return "plain"

    @server.tool
    async def touch(uri: str) -> str:
        await server.notify_resource_updated(uri)
        return "touched"

    return server


@asynccontextmanager
async def two_workers(url: str, **backend: Any) -> AsyncIterator[tuple[RawHTTP, RawHTTP, Seen, Seen]]:
    seen_a, seen_b = Seen(), Seen()
    app_a = trimcp.asgi_app(shared_server(url, seen_a, **backend), json_response=True)
    app_b = trimcp.asgi_app(shared_server(url, seen_b, **backend), json_response=True)
    async with running_server(app_a) as a, running_server(app_b) as b:
        yield a, b, seen_a, seen_b


async def listen(http: RawHTTP, uris: list[str], task_status: trio.TaskStatus[list[str]]) -> None:
    """Open a listen stream on ``http`` for updates of ``uris``; report the URIs updated."""
    request = body("subscriptions/listen", {"notifications": {"resourceSubscriptions": uris}})
    headers = {
        "accept": JSON_AND_SSE,
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "subscriptions/listen",
    }
    heard: list[str] = []
    async with http.open("POST", "/mcp", headers, request) as stream:
        [ack] = [m for m in await _messages(stream, 1)]
        assert ack["method"] == "notifications/subscriptions/acknowledged", ack
        task_status.started(heard)
        while True:
            for message in await _messages(stream, 1):
                if message.get("method") == "notifications/resources/updated":
                    heard.append(message["params"]["uri"])


async def _messages(stream: Any, count: int) -> list[dict[str, Any]]:
    return [json.loads(event.data) for event in await stream.events(count) if event.data]


async def test_updates_raised_on_either_worker_reach_a_listener_once_each_in_order() -> None:
    uris = [f"test://doc/{number}" for number in range(60)]
    async with running_redis() as redis, two_workers(redis.url) as (a, b, _, _), trio.open_nursery() as nursery:
        heard = await nursery.start(listen, a, uris)
        for number, uri in enumerate(uris):  # raised through tools, alternately on each worker
            assert (await call(b if number % 2 else a, "touch", {"uri": uri}))["content"][0]["text"] == "touched"
        with trio.fail_after(5):
            while len(heard) < len(uris):
                await trio.sleep(0.01)
        await trio.sleep(0.2)  # nothing more arrives
        assert heard == uris
        nursery.cancel_scope.cancel()


async def test_a_task_on_one_worker_is_read_answered_and_cancelled_through_the_other() -> None:
    async with running_redis() as redis, two_workers(redis.url) as (a, b, seen_a, _):
        created = await call(a, "two_questions", capabilities={**TASKS, "elicitation": {"form": {}}})
        task_id = created["taskId"]
        for value in ("red", "blue"):
            task = await wait_for_status(b, task_id, "input_required")
            [key] = task["inputRequests"]
            reply = {key: {"action": "accept", "content": {"value": value}}}
            status, ack = await rpc(b, "tasks/update", {"taskId": task_id, "inputResponses": reply})
            assert status == 200, ack
        assert (await wait_for_status(b, task_id, "completed"))["result"]["content"][0]["text"] == "red then blue"

        created = await call(a, "work", {"seconds": 30})
        await seen_a.started.wait()
        cancelled_at = trio.current_time()
        status, ack = await rpc(b, "tasks/cancel", {"taskId": created["taskId"]})
        assert status == 200, ack
        assert seen_a.finally_at is not None and seen_a.finally_at - cancelled_at < 0.1
        assert seen_a.reason is CancelReason.CLIENT_CANCELLED
        assert (await get(b, created["taskId"]))["status"] == "cancelled"


async def test_a_task_whose_worker_is_killed_fails_within_the_lease() -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "trimcp", "serve", "tests.servers.shared_tasks:server", "--transport", "streamable-http",
        "--port", str(port), "--redis",
    ]  # fmt: skip
    async with running_redis() as redis, two_workers(redis.url) as (_, b, _, _), trio.open_nursery() as nursery:
        run = partial(trio.run_process, [*command, redis.url], check=False, cwd=ROOT, stderr=subprocess.DEVNULL)
        worker = await nursery.start(run)
        await wait_until_listening_async(port, worker)
        created = await call(RawHTTP("127.0.0.1", port), "work", {"seconds": 30})
        assert (await get(b, created["taskId"]))["status"] == "working"
        worker.kill()  # SIGKILL: no finally, no last word
        killed_at = trio.current_time()
        task = await wait_for_status(b, created["taskId"], "failed")
        assert trio.current_time() - killed_at < LEASE_SECONDS * 1.25 + 2
        assert "worker was lost" in task["error"]["message"], task


async def test_without_redis_tasks_and_listening_fail_clearly_and_plain_calls_work() -> None:
    async with running_redis() as redis, two_workers(redis.url) as (a, _, _, _):
        await redis.stop()
        for method, params in [
            ("tasks/get", {"taskId": "nope"}),
            ("tools/call", {"name": "touch", "arguments": {"uri": "test://doc/x"}}),
            ("subscriptions/listen", {"notifications": {"resourceSubscriptions": ["test://doc/x"]}}),
        ]:
            with trio.fail_after(10):  # an answer, not a hang (a listen right as Redis dies may be
                while "error" not in (response := (await rpc(a, method, params))[1]):  # taken, then ended)
                    await trio.sleep(0.05)
            assert response["error"]["code"] == -32603, response
            assert "retry later" in response["error"]["message"], response
        _, response = await rpc(a, "tools/call", {"name": "quick_plain", "arguments": {}})
        assert response["result"]["content"][0]["text"] == "plain", response  # a plain call never needs Redis
        await redis.start()
        with trio.fail_after(10):
            while "retry later" in (await rpc(a, "tasks/get", {"taskId": "nope"}))[1]["error"]["message"]:
                await trio.sleep(0.1)
        assert (await call(a, "touch", {"uri": "test://doc/x"}))["content"][0]["text"] == "touched"


async def test_a_redis_that_cannot_be_reached_at_start_stops_the_server_with_one_line() -> None:
    unused = free_port()
    command = [
        sys.executable, "-m", "trimcp", "serve", "tests.servers.shared_tasks:server", "--transport", "streamable-http",
        "--port", str(free_port()), "--redis", f"redis://127.0.0.1:{unused}",
    ]  # fmt: skip
    with trio.fail_after(20):
        done = await trio.run_process(command, cwd=ROOT, capture_stderr=True, check=False)
    assert done.returncode == 1
    last = done.stderr.decode().strip().splitlines()[-1]
    assert last.startswith(f"trimcp: cannot start: Service unavailable: Redis at redis://127.0.0.1:{unused} cannot be")
    assert "Traceback" not in done.stderr.decode()


async def test_hypercorn_workers_share_tasks_through_redis(tmp_path: Path) -> None:
    """docs/deployment.md's ``hypercorn --workers N``: a task created through one worker is read
    and cancelled through the others (each request on a new connection lands where the
    kernel puts it)."""
    port = free_port()
    hypercorn = Path(sys.executable).parent / "hypercorn"
    async with running_redis() as redis:
        env = {**os.environ, "REDIS_URL": redis.url, "TRIMCP_STATE_KEY": "one key for every worker"}
        command = [str(hypercorn), "--worker-class", "trio", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                   "tests.servers.hypercorn_redis:app"]  # fmt: skip
        process = await trio.lowlevel.open_process(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        try:
            await wait_until_listening_async(port, process)
            pids: set[int] = set()
            with trio.fail_after(20):  # both workers answer (the kernel spreads new connections)
                while len(pids) < 2:
                    pids.add((await call(RawHTTP("127.0.0.1", port), "pid"))["structuredContent"]["result"])
            created = await call(RawHTTP("127.0.0.1", port), "job")
            for _ in range(10):
                assert (await get(RawHTTP("127.0.0.1", port), created["taskId"]))["status"] == "working"
            status, _ = await rpc(RawHTTP("127.0.0.1", port), "tasks/cancel", {"taskId": created["taskId"]})
            assert status == 200
            assert await wait_for_status(RawHTTP("127.0.0.1", port), created["taskId"], "cancelled")
        finally:
            process.send_signal(signal.SIGINT)
            with trio.move_on_after(10):
                await process.wait()
            if process.poll() is None:
                process.kill()
                await process.wait()


async def test_a_server_with_redis_stops_at_once_on_sigterm_and_withdraws_its_presence() -> None:
    """The relay's accept loop ends with the lifespan (it kept the lifespan open until
    hypercorn's 60 s shutdown timeout, its presence renewed all along)."""
    port = free_port()
    async with running_redis() as redis:
        command = [
            sys.executable, "-m", "trimcp", "serve", "tests.servers.scale_out:server", "--transport", "streamable-http",
            "--port", str(port), "--redis", redis.url, "--graceful-timeout", "1",
        ]  # fmt: skip
        process = await trio.lowlevel.open_process(command, cwd=ROOT, stdin=subprocess.DEVNULL)
        try:
            await wait_until_listening_async(port, process)
            await RawHTTP("127.0.0.1", port).initialize()  # a session, and so a relay that serves
            async with coredis.Redis.from_url(redis.url) as client:
                assert [key async for key in client.scan_iter(match="trimcp:relay-alive:*")]
                process.send_signal(signal.SIGTERM)
                with trio.fail_after(10):
                    assert await process.wait() == 0
                assert not [key async for key in client.scan_iter(match="trimcp:relay-alive:*")]
        finally:
            if process.poll() is None:
                process.kill()
                await process.wait()
