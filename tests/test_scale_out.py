"""Issue 17's "done when", with real processes: one redis-server, two ``trimcp serve --workers 2
--redis URL`` processes on two ports (standing for two machines, sharing ``TRIMCP_STATE_KEY``),
and HAProxy round-robin in front with no affinity. Every request goes through HAProxy, from the
official ``mcp`` client in 2026-07-28 mode where it has the operation, else from trimcp's client
or raw HTTP; the answers name the worker process that gave them."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio
from mcp import Client, types
from mcp.client.subscriptions import ResourceUpdated

import trimcp
from trimcp._redis import RedisTaskStore
from trimcp.protocol.tasks import TaskRecord, TaskStatus

from .conftest import ROOT
from .haproxy_support import HAProxy, running_haproxy
from .http_support import JSON_AND_SSE, RawHTTP, modern_headers, running_server
from .ports import children, free_port, wait_until_listening_async
from .redis_support import RedisProcess, running_redis
from .test_redis_backend import shared_server
from .test_tasks import FORM, TASKS, Seen, body, call, get, rpc

SERVER = "tests.servers.scale_out:server"
#: The issue's counts (run in full: the file takes about a minute on two cores).
CALLS, CONCURRENCY = 2000, 20
ROUND_TRIPS = 40
UPDATES = 200
TASK_COUNT, TASK_LANES = 100, 10
#: RedisBackend's default lease (its reaper looks every lease / 4).
LEASE_SECONDS = 5.0
#: Lanes of plain calls running while a worker is killed or Redis restarts.
LOAD_LANES = 4


@attrs.define
class Cluster:
    """What :func:`cluster` runs: the Redis, the two supervisors (with their logs) and the URL
    of the MCP endpoint behind HAProxy."""

    redis: RedisProcess
    supervisors: list[trio.Process]
    logs: list[Path]
    url: str
    proxy: HAProxy

    def workers(self) -> set[int]:
        """The pids of the worker processes running now (the supervisors' children)."""
        return {pid for supervisor in self.supervisors for pid in children(supervisor.pid)}

    def log(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)


@asynccontextmanager
async def cluster(tmp_path: Path, workers: int = 2) -> AsyncIterator[Cluster]:
    """Redis, two ``trimcp serve --workers N --redis URL`` behind HAProxy; every process is
    killed on exit (the workers too: they run in sessions of their own)."""
    key = secrets.token_urlsafe(32)
    async with running_redis() as redis:
        supervisors: list[trio.Process] = []
        logs = [tmp_path / f"machine{number}.log" for number in (1, 2)]
        ports = [free_port(), free_port()]
        try:
            for port, log in zip(ports, logs, strict=True):
                supervisors.append(await start_machine(port, log, redis.url, key, workers))
            for port, supervisor in zip(ports, supervisors, strict=True):
                await wait_until_listening_async(port, supervisor, timeout=30)
            async with running_haproxy(ports) as proxy:
                running = Cluster(redis, supervisors, logs, f"{proxy.url}/mcp", proxy)
                with trio.fail_after(30):  # every worker serves before the test starts
                    while await pids_through(running.url, calls=8) < running.workers():
                        pass
                yield running
        finally:
            for supervisor in supervisors:
                for pid in [supervisor.pid, *children(supervisor.pid)]:
                    kill(pid)
            with trio.move_on_after(10):
                for supervisor in supervisors:
                    await supervisor.wait()


async def start_machine(port: int, log: Path, redis_url: str, key: str, workers: int) -> trio.Process:
    """``trimcp serve --workers N --redis URL`` on ``port`` (a "machine"), its stderr in ``log``."""
    command = [
        sys.executable, "-m", "trimcp", "serve", SERVER, "--transport", "streamable-http", "--port", str(port),
        "--workers", str(workers), "--redis", redis_url, "--graceful-timeout", "1",
    ]  # fmt: skip
    with log.open("wb") as sink:
        return await trio.lowlevel.open_process(
            command, cwd=ROOT, env={**os.environ, "TRIMCP_STATE_KEY": key}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True,
        )  # fmt: skip


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- clients ------------------------------------------------------------------------------------------


def official(url: str, **callbacks: Any) -> Client:
    """The official ``mcp`` client in 2026-07-28 mode (no response cache: every call is sent)."""
    return Client(url, mode="2026-07-28", cache=None, **callbacks)


def raw(url: str) -> RawHTTP:
    """Raw HTTP to ``url``'s host (a new connection per request)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return RawHTTP(parts.hostname, parts.port)


async def accept(params: dict[str, Any]) -> dict[str, Any]:
    """trimcp's client answering a task's question (``{"value": "v"}``)."""
    return {"action": "accept", "content": {"value": "v"}}


async def pids_through(url: str, calls: int = 40) -> set[int]:
    """The workers serving ``calls`` sequential calls of ``pid``."""
    async with official(url) as client:
        return {(await client.call_tool("pid", {})).structured_content["result"] for _ in range(calls)}


@attrs.define
class Load:
    """Plain calls of ``pid`` made in the background until :meth:`stop`: each one that fails is
    retried (as a client would, on a new connection) and recorded."""

    url: str
    calls: int = 0
    failures: list[str] = attrs.Factory(list)
    pids: set[int] = attrs.Factory(set)
    _stopped: trio.Event = attrs.Factory(trio.Event)

    async def lane(self) -> None:
        while not self._stopped.is_set():
            try:
                async with official(self.url) as client:
                    while not self._stopped.is_set():
                        with trio.fail_after(10):
                            result = await client.call_tool("pid", {})
                        assert not result.is_error, result
                        self.pids.add(result.structured_content["result"])
                        self.calls += 1
            except Exception as exc:  # noqa: BLE001 - each failure is recorded; the retry is a new client
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stopped.set()


@asynccontextmanager
async def background_load(url: str, lanes: int = 4) -> AsyncIterator[Load]:
    """:class:`Load` in ``lanes`` concurrent lanes for the duration of the block."""
    load = Load(url)
    async with trio.open_nursery() as nursery:
        for _ in range(lanes):
            nursery.start_soon(load.lane)
        yield load
        load.stop()


@attrs.define
class RawListener:
    """A ``subscriptions/listen`` stream read on the wire: every URI updated, as it came."""

    heard: list[str] = attrs.Factory(list)
    ended: trio.Event = attrs.Factory(trio.Event)

    async def run(self, http: RawHTTP, uris: list[str], task_status: trio.TaskStatus[RawListener]) -> None:
        """Listen until the stream ends (or cancelled); started once it is acknowledged."""
        request = body("subscriptions/listen", {"notifications": {"resourceSubscriptions": uris}})
        headers = {"accept": JSON_AND_SSE, "content-type": "application/json", **modern_headers("subscriptions/listen")}
        try:
            async with http.open("POST", "/mcp", headers, request) as stream:
                assert stream.status == 200, stream.status
                started = False
                while chunk := await stream.chunk():
                    for event in stream.decoder.feed(chunk):
                        message = json.loads(event.data) if event.data else {}
                        if message.get("method") == "notifications/subscriptions/acknowledged" and not started:
                            started = True
                            task_status.started(self)
                        elif message.get("method") == "notifications/resources/updated":
                            self.heard.append(message["params"]["uri"])
        finally:
            self.ended.set()


async def wait_for(condition: Any, timeout: float, interval: float = 0.02) -> None:
    """Poll ``condition()`` until true; ``trio.TooSlowError`` after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(interval)


async def task_now(url: str, task_id: str) -> dict[str, Any]:
    """``tasks/get`` through HAProxy, raw (a new connection: whichever worker comes next)."""
    status, response = await rpc(raw(url), "tasks/get", {"taskId": task_id})
    assert status == 200, response
    return response["result"]


async def task_until(url: str, task_id: str, *statuses: str, timeout: float = 10) -> dict[str, Any]:
    """Poll the task through HAProxy until it has one of ``statuses``; ``AssertionError``
    showing it as it last was after ``timeout`` seconds."""
    task: dict[str, Any] = {}
    with trio.move_on_after(timeout):
        while (task := await task_now(url, task_id))["status"] not in statuses:
            await trio.sleep(0.05)
        return task
    raise AssertionError(f"not {' or '.join(statuses)} after {timeout:g} s: {task}")


def runs_on(task: dict[str, Any]) -> int:
    """The worker running a ``chore`` task (its status message says ``pid N``)."""
    return int(task["statusMessage"].removeprefix("pid "))


# -- the tests ----------------------------------------------------------------------------------------


async def test_two_thousand_calls_through_haproxy_spread_over_every_worker_without_an_error(tmp_path: Path) -> None:
    served: Counter[int] = Counter()

    async def lane(calls: int) -> None:
        async with official(running.url) as client:
            for _ in range(calls):
                result = await client.call_tool("pid", {})
                assert not result.is_error, result
                served[result.structured_content["result"]] += 1

    async with cluster(tmp_path) as running:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for _ in range(CONCURRENCY):
                    nursery.start_soon(lane, CALLS // CONCURRENCY)
        assert served.total() == CALLS
        assert set(served) == running.workers(), (served, running.workers())  # all four served
        assert min(served.values()) > CALLS / 20, served


async def test_multi_round_trip_rounds_land_on_different_workers(tmp_path: Path) -> None:
    asked_by: list[int] = []

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked_by.append(int(params.message.removeprefix("asked by ")))
        return types.ElicitResult(action="accept", content={"value": f"answer {len(asked_by)}"})

    async with cluster(tmp_path) as running, official(running.url, elicitation_callback=on_elicit) as client:
        answered_by = []
        with trio.fail_after(30):
            for number in range(1, ROUND_TRIPS + 1):
                result = await client.call_tool("ask", {})
                assert result.structured_content["value"] == f"answer {number}", result
                answered_by.append(result.structured_content["pid"])
        crossed = [(a, b) for a, b in zip(asked_by, answered_by, strict=True) if a != b]
        assert len(crossed) >= ROUND_TRIPS // 4, list(zip(asked_by, answered_by, strict=True))
        assert set(asked_by) | set(answered_by) == running.workers()


async def test_a_listen_stream_hears_every_update_raised_on_any_worker_once_in_order(tmp_path: Path) -> None:
    uris = [f"test://doc/{number}" for number in range(UPDATES)]
    official_heard: list[str] = []

    async def listen_officially(client: Client, task_status: trio.TaskStatus[None]) -> None:
        async with client.listen(resource_subscriptions=uris) as subscription:
            task_status.started()
            async for event in subscription:
                assert isinstance(event, ResourceUpdated), event
                official_heard.append(event.uri)

    async with (
        cluster(tmp_path) as running,
        official(running.url) as listening,
        official(running.url) as raising,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(listen_officially, listening)
        wire = [await nursery.start(RawListener().run, raw(running.url), uris) for _ in range(3)]
        raisers = Counter()
        with trio.fail_after(30):
            for uri in uris:  # one at a time: each is published when its call returns
                raisers[(await raising.call_tool("touch", {"uri": uri})).structured_content["pid"]] += 1
        await wait_for(lambda: all(len(listener.heard) >= UPDATES for listener in wire), timeout=10)
        await wait_for(lambda: len(official_heard) >= UPDATES, timeout=10)
        await trio.sleep(0.3)  # nothing more arrives
        assert set(raisers) == running.workers(), raisers
        for listener in wire:  # on the wire: exactly once each, in order
            assert listener.heard == uris
        assert official_heard == uris
        nursery.cancel_scope.cancel()


async def test_a_hundred_tasks_created_polled_answered_and_cancelled_through_any_worker(tmp_path: Path) -> None:
    ran_on: Counter[int] = Counter()
    ended: Counter[str] = Counter()

    async def one(client: trimcp.Client, number: int) -> None:
        finish = number % 2 == 0  # half complete with the answer, half are cancelled after it
        task = await client.start_tool("chore", {"seconds": 0 if finish else 60})
        assert isinstance(task, trimcp.ClientTask)
        asked = await task_until(client_url, task.task_id, "input_required")
        [key] = asked["inputRequests"]
        await task.answer({key: {"action": "accept", "content": {"value": f"v{number}"}}})
        pid = runs_on(asked)
        ran_on[pid] += 1
        if finish:
            done = await task_until(client_url, task.task_id, "completed")
            assert done["result"]["content"][0]["text"] == f"v{number} by {pid}", done
        else:
            await task_until(client_url, task.task_id, "working")  # the answer arrived
            await task.cancel()
            await task_until(client_url, task.task_id, "cancelled")
        ended["completed" if finish else "cancelled"] += 1

    async def lane(numbers: range) -> None:
        async with trimcp.open_client(client_url, protocol_version="2026-07-28", elicitation=accept) as client:
            for number in numbers:
                await one(client, number)

    async with cluster(tmp_path) as running:
        client_url = running.url
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for start in range(TASK_LANES):
                    nursery.start_soon(lane, range(start, TASK_COUNT, TASK_LANES))
        assert ended == {"completed": TASK_COUNT // 2, "cancelled": TASK_COUNT // 2}
        assert set(ran_on) == running.workers(), ran_on


async def test_a_killed_worker_fails_its_tasks_within_the_lease_and_is_restarted(tmp_path: Path) -> None:
    async with (
        cluster(tmp_path) as running,
        trimcp.open_client(running.url, protocol_version="2026-07-28") as client,
    ):
        tasks = []
        for _ in range(12):
            task = await client.start_tool("chore", {"seconds": 60, "question": False})
            assert isinstance(task, trimcp.ClientTask)
            tasks.append(task.task_id)
        running_on = {task_id: runs_on(await task_now(running.url, task_id)) for task_id in tasks}
        victim = Counter(running_on.values()).most_common(1)[0][0]
        doomed = [task_id for task_id, pid in running_on.items() if pid == victim]
        async with background_load(running.url) as load:
            await wait_for(lambda: load.calls > 50, timeout=10)
            os.kill(victim, signal.SIGKILL)
            killed_at = trio.current_time()
            for task_id in doomed:
                failed = await task_until(running.url, task_id, "failed", timeout=LEASE_SECONDS * 1.25 + 3)
                assert "worker was lost" in failed["error"]["message"], failed
            failed_within = trio.current_time() - killed_at
            await wait_for(lambda: len(running.workers()) == 4 and victim not in running.workers(), timeout=15)
            await wait_for(lambda: load.pids >= running.workers() - {victim}, timeout=15)
            calls_at_restart = load.calls
            await wait_for(lambda: load.calls > calls_at_restart + 50, timeout=10)
        assert failed_within < LEASE_SECONDS * 1.25 + 1, failed_within
        assert len(load.failures) <= LOAD_LANES, load.failures  # at most the calls the victim held
        assert f"(pid {victim}) exited with status -9; starting another" in running.log()
        for task_id in set(tasks) - set(doomed):  # the others still run, and end as asked
            assert (await task_now(running.url, task_id))["status"] == "working"
            status, _ = await rpc(raw(running.url), "tasks/cancel", {"taskId": task_id})
            assert status == 200
            await task_until(running.url, task_id, "cancelled")


async def test_a_redis_restart_stops_only_tasks_and_listening_and_they_come_back(tmp_path: Path) -> None:
    uris = ["test://doc/restart"]
    async with cluster(tmp_path) as running, background_load(running.url) as load, trio.open_nursery() as nursery:
        await wait_for(lambda: load.calls > 50, timeout=10)
        listener = await nursery.start(RawListener().run, raw(running.url), uris)
        await running.redis.stop()
        with trio.fail_after(10):
            await listener.ended.wait()  # listeners are told: their stream ends
        for method, params in [
            ("tasks/get", {"taskId": "any"}),
            ("tasks/cancel", {"taskId": "any"}),
            ("tools/call", {"name": "chore", "arguments": {}}),
            ("tools/call", {"name": "touch", "arguments": {"uri": uris[0]}}),
            ("subscriptions/listen", {"notifications": {"resourceSubscriptions": uris}}),
        ] * 2:  # through every worker, in turn
            with trio.fail_after(10):  # an answer, not a hang
                _, response = await rpc(raw(running.url), method, params)
            assert response["error"]["code"] == -32603, (method, response)
            assert "retry later" in response["error"]["message"], (method, response)
        calls_while_down = load.calls
        await wait_for(lambda: load.calls > calls_while_down + 50, timeout=10)
        await running.redis.start()
        await wait_for_redis_everywhere(running.url)
        listener = await nursery.start(RawListener().run, raw(running.url), uris)
        async with trimcp.open_client(running.url, protocol_version="2026-07-28", elicitation=accept) as client:
            assert (await client.call_tool("chore", {}))["content"][0]["text"].startswith("v by ")
            await client.call_tool("touch", {"uri": uris[0]})
        await wait_for(lambda: listener.heard == uris, timeout=10)
        assert load.failures == [] and load.calls > calls_while_down + 50
        assert running.log().count("can be reached again") >= 4  # a log line each way, in every worker
        nursery.cancel_scope.cancel()


async def wait_for_redis_everywhere(url: str) -> None:
    """Until eight task and listen requests in a row (twice round the four workers) are served:
    the task store answers at once, a listen once its worker has read from Redis again."""
    with trio.fail_after(15):
        in_a_row = 0
        while in_a_row < 8:
            _, response = await rpc(raw(url), "tasks/get", {"taskId": "any"})
            served = response["error"]["code"] == -32602  # "no task": the store answered
            in_a_row = in_a_row + 1 if served and await listen_accepted(url) else 0
            await trio.sleep(0.02)


async def listen_accepted(url: str) -> bool:
    """Whether a ``subscriptions/listen`` through HAProxy is accepted (an SSE stream begins)."""
    request = body("subscriptions/listen", {"notifications": {"resourceSubscriptions": ["test://doc/x"]}})
    headers = {"accept": JSON_AND_SSE, "content-type": "application/json", **modern_headers("subscriptions/listen")}
    async with raw(url).open("POST", "/mcp", headers, request) as stream:  # leaving closes it: it ends
        return stream.headers.get("content-type", "").startswith("text/event-stream")


# -- what these tests found (trimcp/_server/tasks/manager.py), each in one process ----------------------


@asynccontextmanager
async def one_worker(seen: Seen, **backend: Any) -> AsyncIterator[tuple[RedisProcess, trimcp.Server, RawHTTP]]:
    """A real redis-server and one in-process server using it, behind the real hypercorn."""
    async with running_redis() as redis:
        server = shared_server(redis.url, seen, **backend)
        async with running_server(trimcp.asgi_app(server, json_response=True)) as http:
            yield redis, server, http


async def test_a_task_ending_while_redis_is_down_stores_its_end_when_redis_is_back() -> None:
    # Its final save used to raise out of the task host: the worker's lifespan died with it,
    # and tasks and listening never worked again in that worker.
    seen = Seen()
    async with one_worker(seen) as (redis, _, http):
        created = await call(http, "work", {"seconds": 0.5})
        await redis.stop()
        await wait_for(lambda: seen.finally_at is not None, timeout=5)
        await trio.sleep(0.3)  # its end is waiting for Redis
        await redis.start()  # empty: the task is unknown until its end is stored
        with trio.fail_after(5):
            while (found := await rpc(http, "tasks/get", {"taskId": created["taskId"]}))[0] != 200:
                await trio.sleep(0.05)
        task = found[1]["result"]
        assert task["status"] == "completed" and task["result"]["content"][0]["text"] == "worked 0.5 s", task
        assert (await call(http, "quick"))["status"] == "completed"  # tasks work again


async def test_a_task_whose_creation_cannot_be_stored_stops_at_once() -> None:
    # Its work used to run on, unreachable, after its request was answered with the error.
    seen = Seen()
    async with one_worker(seen) as (redis, _, http):
        await redis.stop()
        _, response = await rpc(http, "tools/call", {"name": "work", "arguments": {"seconds": 30}})
        assert "retry later" in response["error"]["message"], response
        await wait_for(lambda: seen.finally_at is not None, timeout=2)
        assert seen.reason == "the task could not be stored"


async def test_cancelling_a_task_whose_worker_is_gone_marks_it_cancelled() -> None:
    # The lines doing it sat after a return.
    async with one_worker(Seen(), lease_seconds=60) as (_, server, http):  # the reaper stays away
        now = time.time()
        orphan = TaskRecord(task_id="orphan", created_at=now, updated_at=now, ttl_ms=60_000, worker="gone:1:x")
        await server.tasks.store.save(orphan)
        status, _ = await rpc(http, "tasks/cancel", {"taskId": "orphan"})
        assert status == 200
        assert (await get(http, "orphan"))["status"] == "cancelled"


class LaggingStore(RedisTaskStore):
    """The Redis task store, each write of a ``working`` task arriving 0.2 s after it was made
    (as on a slow connection of a pool, while others go faster)."""

    async def save(self, record: TaskRecord) -> None:
        if record.status is TaskStatus.WORKING:
            record = attrs.evolve(record)  # the task as it was when written
            await trio.sleep(0.2)
        await super().save(record)


async def test_a_tasks_writes_land_in_the_order_they_were_made() -> None:
    # Its creation and its first question, or an answer and the end it lets the work reach at
    # once, were written concurrently: the older state could land last and stay ("working").
    async with running_redis() as redis:
        backend = trimcp.RedisBackend(redis.url)
        backend.store = LaggingStore(backend.client, backend.namespace)
        server = trimcp.Server("lagging")
        server.use_backend(backend)

        @server.tool(task_support="required")
        async def answered(ctx: trimcp.Context) -> str:
            await trio.sleep(0.1)  # asked while its creation is being written
            return f"got {(await ctx.elicit('Value?', FORM, key='value')).content}"

        async with running_server(trimcp.asgi_app(server, json_response=True)) as http:
            created = await call(http, "answered", capabilities={**TASKS, "elicitation": {"form": {}}})
            await status_reached(http, created["taskId"], "input_required")
            reply = {"value": {"action": "accept", "content": {"value": "v"}}}
            await rpc(http, "tasks/update", {"taskId": created["taskId"], "inputResponses": reply})
            task = await status_reached(http, created["taskId"], "completed")
            assert task["result"]["content"][0]["text"] == "got {'value': 'v'}"


async def status_reached(http: RawHTTP, task_id: str, status: str) -> dict[str, Any]:
    """The task once it reads ``status`` (``AssertionError`` after 3 s, showing it)."""
    task: dict[str, Any] = {}
    with trio.move_on_after(3):
        while (task := await get(http, task_id))["status"] != status:
            await trio.sleep(0.02)
        await trio.sleep(0.5)  # and stays so (no older state lands after)
        task = await get(http, task_id)
        if task["status"] == status:
            return task
    raise AssertionError(f"not {status}: {task}")
