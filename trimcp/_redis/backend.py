"""The Redis (or Valkey) backend: what the processes serving one server share, through one Redis.

- Changes and task commands go on one stream (``<namespace>:events``, trimmed to about 10,000
  entries) that every process reads from where it was when it started: each hears every entry
  once, in the stream's order (a process's own entries in the order it published them).
- Task records live in :class:`~.store.RedisTaskStore`.
- Each process holds a lease (``<namespace>:lease:<worker>``, refreshed a few times per
  ``lease_seconds``); a task whose process lost its lease is marked ``failed`` ("worker lost") by
  whichever process notices first.
- Requests for a handshake-era session that reach a process other than its home travel there
  through the relay (:mod:`.relay`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from typing import Any

import coredis
import trio

from .._server.backend import BackendUnavailable, Change, Sink, TaskCommand
from ..protocol.errors import INTERNAL_ERROR
from ..protocol.tasks import TaskStatus
from .relay import RedisRelay
from .store import UNREACHABLE, RedisTaskStore, decode_record, encode_record, unreachable_in

logger = logging.getLogger("trimcp")

#: Entries kept in the events stream (approximately): enough for a reader that fell behind.
_STREAM_LENGTH = 10_000
#: How long one blocking read waits before it is made again (milliseconds).
_READ_BLOCK_MS = 1_000
#: Pauses between attempts to reach Redis again, in seconds (the last one repeats).
_RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)


class RedisBackend:
    """Shares changes, tasks and task commands between every process given the same ``url``
    and ``namespace`` (docs/deployment.md). ``lease_seconds`` bounds how long the tasks of a
    process that died read as running. Needs the ``trimcp[redis]`` extra (coredis)."""

    shared = True

    def __init__(
        self, url: str, *, namespace: str = "trimcp", lease_seconds: float = 5.0, worker: str | None = None
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.url = url
        self.namespace = namespace
        self.lease_seconds = lease_seconds
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.client: coredis.Redis[str] = coredis.Redis.from_url(
            url, decode_responses=True, connect_timeout=2.0, stream_timeout=5.0
        )
        self.store = RedisTaskStore(self.client, namespace)
        #: Conduits to the other processes.
        self.relay = RedisRelay(url, namespace, lease_seconds)
        self.available = False
        self._events = f"{namespace}:events"
        self._sink: Sink | None = None
        self._running = False
        self._outgoing, self._queue = trio.open_memory_channel[tuple[dict[str, str], trio.Event | None]](1024)

    def bind(self, sink: Sink) -> None:
        self._sink = sink

    def _lease_key(self, worker: str) -> str:
        return f"{self.namespace}:lease:{worker}"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, take the lease, then read, write and keep the lease until cancelled.
        Raises :class:`BackendUnavailable` when Redis cannot be reached at start."""
        started = False
        try:
            async with self.client, self.relay.client:
                await self._renew_lease()
                newest = await self.client.xrevrange(self._events, count=1)
                self._running = True
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.relay.run)
                    self.available = True
                    nursery.start_soon(self._read, newest[0].identifier if newest else "0-0")
                    nursery.start_soon(self._write)
                    nursery.start_soon(self._keep_lease)
                    task_status.started()
                    started = True
        except BaseException as exc:
            cause = None if started else unreachable_in(exc)
            if cause is None:
                raise
            raise BackendUnavailable(f"Redis at {self.url} cannot be reached ({cause})") from None

    # -- publishing ---------------------------------------------------------------------------------

    async def publish(self, change: Change) -> None:
        await self._enqueue(_change_entry(change))

    def publish_nowait(self, change: Change) -> None:
        if not self._running:
            return  # before the backend runs no client can be listening (tools registered at start)
        try:
            self._outgoing.send_nowait((_change_entry(change), None))
        except trio.WouldBlock:
            logger.warning("A change notification was dropped: too many waiting to reach Redis")

    async def send(self, command: TaskCommand) -> None:
        entry = {"type": "command", "task": command.task_id, "cancel": "1" if command.cancel else ""}
        if command.responses is not None:
            entry["responses"] = json.dumps(command.responses)
        await self._enqueue(entry)

    async def _enqueue(self, entry: dict[str, str]) -> None:
        """Queue ``entry`` after this process's earlier ones and wait until it is written.
        Raises :class:`BackendUnavailable`."""
        if not self.available:  # the reader may be waiting to try again: see for ourselves
            try:
                await self.client.ping()
            except UNREACHABLE:
                raise BackendUnavailable("Redis cannot be reached") from None
            self._back()
        written = trio.Event()
        await self._outgoing.send((entry, written))
        await written.wait()
        if not self.available:
            raise BackendUnavailable("Redis cannot be reached")

    async def _write(self) -> None:
        """Write queued entries in order; one that cannot be written is dropped (and logged)."""
        async for entry, written in self._queue:
            try:
                await self.client.xadd(
                    self._events, entry, trim_strategy=coredis.PureToken.MAXLEN, threshold=_STREAM_LENGTH,
                    trim_operator=coredis.PureToken.APPROXIMATELY,
                )  # fmt: skip
            except UNREACHABLE as exc:
                self._lost(exc)
                logger.warning("A %s could not reach Redis and is lost", entry.get("type"))
            finally:
                if written is not None:
                    written.set()

    # -- reading ------------------------------------------------------------------------------------

    async def _read(self, after: str) -> None:
        """Deliver every entry after ``after`` to the sink, in order; while Redis cannot be
        reached, try again (with growing pauses) and go on where it stopped."""
        failures = 0
        while True:
            try:
                found = await self.client.xread({self._events: after}, count=100, block=_READ_BLOCK_MS)
            except UNREACHABLE as exc:
                self._lost(exc)
                await trio.sleep(_RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)])
                failures += 1
                continue
            if failures or not self.available:
                failures = 0
                self._back()
            for entries in (found or {}).values():
                for entry in entries:
                    after = entry.identifier
                    await self._deliver(entry.field_values)

    async def _deliver(self, fields: dict[str, str]) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            if fields.get("type") == "command":
                responses = fields.get("responses")
                await sink.command(
                    TaskCommand(
                        fields["task"],
                        cancel=bool(fields.get("cancel")),
                        responses=json.loads(responses) if responses else None,
                    )
                )
            else:
                sink.change(_change_of(fields))
        except Exception:
            logger.exception("An event from Redis could not be delivered: %r", fields)

    def _lost(self, exc: BaseException) -> None:
        if self.available:
            self.available = False
            logger.warning(
                "Redis at %s cannot be reached (%s): task and subscription operations fail until it is back",
                self.url,
                exc,
            )
            if self._sink is not None:
                self._sink.lost()

    def _back(self) -> None:
        if not self.available:
            self.available = True
            logger.warning("Redis at %s can be reached again", self.url)

    # -- leases -------------------------------------------------------------------------------------

    async def worker_alive(self, worker: str) -> bool:
        if worker == self.worker:
            return True
        try:
            return bool(await self.client.exists([self._lease_key(worker)]))
        except UNREACHABLE as exc:
            raise BackendUnavailable(f"Redis cannot be reached ({exc})") from None

    async def _renew_lease(self) -> None:
        await self.client.set(self._lease_key(self.worker), "1", px=int(self.lease_seconds * 1000))

    async def _keep_lease(self) -> None:
        """Renew this process's lease a few times per lease, and fail the tasks of processes
        whose lease ran out."""
        while True:
            await trio.sleep(self.lease_seconds / 4)
            try:
                await self._renew_lease()
                await self._reap()
            except (*UNREACHABLE, BackendUnavailable) as exc:
                self._lost(exc)

    async def _reap(self) -> None:
        running = await self.store.running()
        workers = sorted({worker for worker in running.values() if worker != self.worker})
        if not workers:
            return
        leases = await self.client.mget([self._lease_key(worker) for worker in workers])
        lost = {worker for worker, lease in zip(workers, leases, strict=True) if lease is None}
        for task_id, worker in running.items():
            if worker in lost:
                await self._fail_lost(task_id, worker)

    async def _fail_lost(self, task_id: str, worker: str) -> None:
        record = await self.store.get(task_id)
        if record is None or record.status.terminal:
            await self.store.forget_running(task_id)
            return
        record.status, record.updated_at = TaskStatus.FAILED, time.time()
        record.input_requests = {}
        record.error = {
            "code": INTERNAL_ERROR,
            "message": f"The task's worker was lost ({worker} stopped while it ran)",
        }
        await self.store.save(record)
        logger.warning("Task %s (%s) failed: its worker %s was lost", task_id, record.tool, worker)
        self.publish_nowait(Change("task", record=record))


def _change_entry(change: Change) -> dict[str, Any]:
    entry = {"type": "change", "kind": change.kind, "name": change.name}
    if change.record is not None:
        entry["record"] = encode_record(change.record)
    return entry


def _change_of(fields: dict[str, str]) -> Change:
    record = fields.get("record")
    return Change(fields["kind"], fields.get("name", ""), decode_record(record) if record else None)  # type: ignore[arg-type]
