"""Task records in Redis (or Valkey): one JSON string per task, expired by the engine at the
task's TTL, and an index of the unfinished tasks by the worker running them (for the lease
reaper)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import coredis
import coredis.exceptions

from .._server.backend import BackendUnavailable
from .._server.tasks.store import TaskStoreStatistics
from ..protocol.tasks import TaskRecord, TaskStatus

T = TypeVar("T")

#: Writes a record and keeps the index of unfinished tasks right, in one step.
#: KEYS: the record's key, the index; ARGV: the JSON, the expiry (ms since the epoch, or ""),
#: the task id, its worker ("" once it is finished).
_WRITE = """
if ARGV[2] ~= "" then
    redis.call("SET", KEYS[1], ARGV[1], "PXAT", ARGV[2])
else
    redis.call("SET", KEYS[1], ARGV[1])
end
if ARGV[4] ~= "" then
    redis.call("HSET", KEYS[2], ARGV[3], ARGV[4])
else
    redis.call("HDEL", KEYS[2], ARGV[3])
end
return 1
"""

#: What Redis raises when it cannot be reached or answered in time.
UNREACHABLE = (coredis.exceptions.ConnectionError, TimeoutError, OSError)


def unreachable_in(exc: BaseException) -> BaseException | None:
    """The connection failure ``exc`` is (or holds, in coredis's exception groups), if any."""
    if isinstance(exc, UNREACHABLE):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found = exc.subgroup(UNREACHABLE)
        while isinstance(found, BaseExceptionGroup):
            found = found.exceptions[0]
        return found
    return None


def encode_record(record: TaskRecord) -> str:
    return json.dumps(attrs.asdict(record))


def decode_record(text: str) -> TaskRecord:
    fields: dict[str, Any] = json.loads(text)
    fields["status"] = TaskStatus(fields["status"])
    return TaskRecord(**fields)


class RedisTaskStore:
    """The task store of a :class:`~trimcp.RedisBackend` (keys under ``<namespace>:task:``).
    Every method raises :class:`~trimcp._server.backend.BackendUnavailable` when Redis cannot
    be reached."""

    def __init__(self, client: coredis.Redis[str], namespace: str) -> None:
        self._client = client
        self._prefix = f"{namespace}:task:"
        self.running_key = f"{namespace}:running"
        self._write = client.register_script(_WRITE)

    async def create(self, record: TaskRecord) -> None:
        await self.save(record)

    async def save(self, record: TaskRecord) -> None:
        expires = record.expires_at()
        worker = "" if record.status.terminal else record.worker or ""
        arguments = [encode_record(record), "" if expires is None else str(int(expires * 1000)), record.task_id, worker]
        await _reaching(lambda: self._write(keys=[self._prefix + record.task_id, self.running_key], args=arguments))

    async def get(self, task_id: str) -> TaskRecord | None:
        text = await _reaching(lambda: self._client.get(self._prefix + task_id))
        if text is None:
            return None
        record = decode_record(text)
        expires = record.expires_at()
        return None if expires is not None and expires <= time.time() else record

    async def purge_expired(self, now: float) -> list[str]:
        """Nothing to do: Redis expires the records itself."""
        return []

    async def running(self) -> dict[str, str]:
        """The unfinished tasks, by id, with the worker running each."""
        return await _reaching(lambda: self._client.hgetall(self.running_key))

    async def forget_running(self, task_id: str) -> None:
        await _reaching(lambda: self._client.hdel(self.running_key, [task_id]))

    async def statistics(self) -> TaskStoreStatistics:
        tasks = 0
        async for _ in self._client.scan_iter(match=self._prefix + "*"):
            tasks += 1
        unfinished = await _reaching(lambda: self._client.hlen(self.running_key))
        return TaskStoreStatistics(tasks=tasks, unfinished=unfinished)


async def _reaching(operation: Callable[[], Awaitable[T]]) -> T:
    """Run one Redis operation; :class:`BackendUnavailable` when Redis cannot be reached."""
    try:
        return await operation()
    except UNREACHABLE as exc:
        raise BackendUnavailable(f"the task store (Redis) cannot be reached: {exc}") from None
