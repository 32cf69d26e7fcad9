"""A durable task store on SQLite (the standard library's ``sqlite3``, WAL journal): finished
results survive a restart, and tasks that were running when the process stopped read as
``failed`` with a message saying so. One process per database file: opening the file fails
the unfinished tasks it holds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ...protocol.errors import INTERNAL_ERROR
from ...protocol.tasks import TaskRecord, TaskStatus
from .store import TaskStoreStatistics

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    status_message TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ttl_ms INTEGER,
    poll_interval_ms INTEGER,
    expires_at REAL,
    tool TEXT NOT NULL,
    owner TEXT,
    input_requests TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS tasks_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;
"""
_COLUMNS = (
    "task_id, status, status_message, created_at, updated_at, ttl_ms, poll_interval_ms, expires_at, tool, owner, "
    "input_requests, result, error"
)
_UNFINISHED = tuple(str(status) for status in TaskStatus if not status.terminal)
#: The error of a task whose process stopped while it ran.
INTERRUPTED = {"code": INTERNAL_ERROR, "message": "The server stopped while this task ran; it did not finish."}


class SQLiteTaskStore:
    """Task records in the SQLite database at ``path`` (created when missing). Opening it marks
    the tasks left unfinished by an earlier process ``failed``. Each operation runs in a worker
    thread, one at a time.

    Raises ``sqlite3.Error`` when the file cannot be opened as a database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._fail_interrupted()
        self._one_at_a_time = trio.CapacityLimiter(1)

    def close(self) -> None:
        self._db.close()

    async def create(self, record: TaskRecord) -> None:
        await self._run(self._write, record)

    async def save(self, record: TaskRecord) -> None:
        await self._run(self._write, record)

    async def get(self, task_id: str) -> TaskRecord | None:
        return await self._run(self._read, task_id, time.time())

    async def purge_expired(self, now: float) -> list[str]:
        return await self._run(self._purge, now)

    async def statistics(self) -> TaskStoreStatistics:
        return await self._run(self._count)

    # -- in the worker thread -----------------------------------------------------------------------

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(function, *args, limiter=self._one_at_a_time)

    def _write(self, record: TaskRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.task_id,
                str(record.status),
                record.status_message,
                record.created_at,
                record.updated_at,
                record.ttl_ms,
                record.poll_interval_ms,
                record.expires_at(),
                record.tool,
                record.owner,
                json.dumps(record.input_requests),
                None if record.result is None else json.dumps(record.result),
                None if record.error is None else json.dumps(record.error),
            ),
        )

    def _read(self, task_id: str, now: float) -> TaskRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE task_id = ? AND (expires_at IS NULL OR expires_at > ?)",
            (task_id, now),
        ).fetchone()
        if row is None:
            return None
        (task_id, status, message, created, updated, ttl, poll, _, tool, owner, questions, result, error) = row
        return TaskRecord(
            task_id=task_id,
            status=TaskStatus(status),
            status_message=message,
            created_at=created,
            updated_at=updated,
            ttl_ms=ttl,
            poll_interval_ms=poll,
            tool=tool,
            owner=owner,
            input_requests=json.loads(questions),
            result=None if result is None else json.loads(result),
            error=None if error is None else json.loads(error),
        )

    def _purge(self, now: float) -> list[str]:
        rows = self._db.execute("DELETE FROM tasks WHERE expires_at <= ? RETURNING task_id", (now,)).fetchall()
        return [task_id for (task_id,) in rows]

    def _count(self) -> TaskStoreStatistics:
        marks = ", ".join("?" * len(_UNFINISHED))
        (tasks,) = self._db.execute("SELECT COUNT(*) FROM tasks").fetchone()
        (unfinished,) = self._db.execute(
            f"SELECT COUNT(*) FROM tasks WHERE status IN ({marks})", _UNFINISHED
        ).fetchone()
        return TaskStoreStatistics(tasks=tasks, unfinished=unfinished)

    def _fail_interrupted(self) -> None:
        marks = ", ".join("?" * len(_UNFINISHED))
        self._db.execute(
            f"UPDATE tasks SET status = ?, status_message = ?, error = ?, input_requests = '{{}}', updated_at = ? "
            f"WHERE status IN ({marks})",
            (str(TaskStatus.FAILED), INTERRUPTED["message"], json.dumps(INTERRUPTED), time.time(), *_UNFINISHED),
        )
