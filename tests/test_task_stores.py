"""Task stores: the in-memory and SQLite stores keep the same promises, and with SQLite a
finished result outlives its process while a task that was running when the process was
killed reads as failed."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio

import trimcp
from trimcp.protocol.tasks import TaskRecord, TaskStatus

from .http_support import RawHTTP
from .ports import free_port
from .test_http_process import start
from .test_tasks import call, wait_for_status


def record(task_id: str, *, ttl_ms: int | None = 60_000, created: float | None = None) -> TaskRecord:
    now = time.time() if created is None else created
    return TaskRecord(task_id=task_id, created_at=now, updated_at=now, ttl_ms=ttl_ms, tool="t")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return trimcp.MemoryTaskStore()
    return trimcp.SQLiteTaskStore(tmp_path / "tasks.db")


async def test_create_get_save_and_copies(store: Any) -> None:
    task = record("a")
    await store.create(task)
    task.status = TaskStatus.INPUT_REQUIRED  # the caller's copy is not the stored one
    task.input_requests["k"] = {"method": "elicitation/create", "params": {}}
    stored = await store.get("a")
    assert stored is not None and stored.status is TaskStatus.WORKING and stored.input_requests == {}
    await store.save(task)
    stored = await store.get("a")
    assert stored.status is TaskStatus.INPUT_REQUIRED and stored.input_requests == task.input_requests
    task.status, task.result, task.input_requests = TaskStatus.COMPLETED, {"content": [], "isError": True}, {}
    await store.save(task)
    assert (await store.get("a")).result == {"content": [], "isError": True}
    assert await store.get("missing") is None


async def test_expired_records_are_never_returned_and_are_purged(store: Any) -> None:
    await store.create(record("old", ttl_ms=1000, created=time.time() - 2))
    await store.create(record("new"))
    await store.create(record("forever", ttl_ms=None))
    assert await store.get("old") is None  # expired, even before a purge
    assert await store.purge_expired(time.time()) == ["old"]
    stats = await store.statistics()
    assert (stats.tasks, stats.unfinished) == (2, 2)


async def test_a_thousand_records_expire_to_nothing(store: Any) -> None:
    created = time.time() - 10
    for number in range(1000):
        await store.create(record(f"t{number}", ttl_ms=5000, created=created))
    assert len(await store.purge_expired(time.time())) == 1000
    assert (await store.statistics()).tasks == 0


async def test_opening_a_database_fails_the_tasks_left_unfinished(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    first = trimcp.SQLiteTaskStore(path)
    await first.create(record("running"))
    done = record("done")
    done.status, done.result = TaskStatus.COMPLETED, {"content": [{"type": "text", "text": "ok"}]}
    await first.create(done)
    first.close()
    second = trimcp.SQLiteTaskStore(path)
    interrupted = await second.get("running")
    assert interrupted.status is TaskStatus.FAILED and "stopped while this task ran" in interrupted.error["message"]
    assert (await second.get("done")).result == done.result


def durable_server(port: int) -> list[str]:
    serve = ["serve", "tests/durable_tasks_server.py:server", "--transport", "streamable-http", "--port", str(port)]
    return [sys.executable, "-m", "trimcp", *serve]


async def test_sqlite_results_outlive_the_process_and_running_tasks_fail_after_sigkill(tmp_path: Path) -> None:
    db, log, port = tmp_path / "tasks.db", tmp_path / "server.log", free_port()
    process = await start(durable_server(port), None, port, log, {"TRIMCP_TEST_TASK_DB": str(db)})
    try:
        http = RawHTTP("127.0.0.1", port)
        finished = (await call(http, "finish"))["taskId"]
        await wait_for_status(http, finished, "completed")
        running = (await call(http, "forever"))["taskId"]
    finally:
        process.send_signal(signal.SIGKILL)
        with trio.fail_after(10):
            await process.wait()
    process = await start(durable_server(port), None, port, log, {"TRIMCP_TEST_TASK_DB": str(db)})
    try:
        http = RawHTTP("127.0.0.1", port)
        kept = await wait_for_status(http, finished, "completed")
        assert kept["result"]["content"][0]["text"] == "kept across restarts"
        lost = await wait_for_status(http, running, "failed", "working")
        assert lost["status"] == "failed" and "stopped while this task ran" in lost["error"]["message"]
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()
