"""Where task records live: the interface every task store offers, and the in-memory store.

A store holds records only; the work of a running task belongs to the process running it (its
:class:`~.manager.TaskManager`). A store must make :meth:`TaskStore.create` durable before it
returns (a ``tasks/get`` right after must find the task), and must never return a record past
its expiry.
"""

from __future__ import annotations

import time
from typing import Protocol

import attrs

from ...protocol.tasks import TaskRecord


@attrs.frozen
class TaskStoreStatistics:
    #: Records kept now, and how many of them are not finished.
    tasks: int
    unfinished: int


class TaskStore(Protocol):
    """What a task store offers the task manager. Every method may be called concurrently."""

    async def create(self, record: TaskRecord) -> None:
        """Keep a new record; durable (readable by :meth:`get`) when this returns."""

    async def get(self, task_id: str) -> TaskRecord | None:
        """A copy of the record, or ``None`` when it is unknown or expired."""

    async def save(self, record: TaskRecord) -> None:
        """Replace the record with this state (create it when it is missing)."""

    async def purge_expired(self, now: float) -> list[str]:
        """Delete the records expired at ``now`` (seconds since the epoch); return their ids."""

    async def statistics(self) -> TaskStoreStatistics: ...


def copy_record(record: TaskRecord) -> TaskRecord:
    """A copy whose questions can change without changing ``record``'s."""
    return attrs.evolve(record, input_requests=dict(record.input_requests))


class MemoryTaskStore:
    """Records in this process's memory: lost when it stops. The default."""

    def __init__(self) -> None:
        self._records: dict[str, TaskRecord] = {}

    async def create(self, record: TaskRecord) -> None:
        self._records[record.task_id] = copy_record(record)

    async def get(self, task_id: str) -> TaskRecord | None:
        record = self._records.get(task_id)
        if record is None or ((expires := record.expires_at()) is not None and expires <= time.time()):
            return None
        return copy_record(record)

    async def save(self, record: TaskRecord) -> None:
        self._records[record.task_id] = copy_record(record)

    async def purge_expired(self, now: float) -> list[str]:
        expired = [
            task_id
            for task_id, record in self._records.items()
            if (expires := record.expires_at()) is not None and expires <= now
        ]
        for task_id in expired:
            del self._records[task_id]
        return expired

    async def statistics(self) -> TaskStoreStatistics:
        unfinished = sum(1 for record in self._records.values() if not record.status.terminal)
        return TaskStoreStatistics(tasks=len(self._records), unfinished=unfinished)
