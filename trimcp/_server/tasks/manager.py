"""The server's tasks: work that outlives the request that started it, owned by the server.

A task's work runs in the task host (the ASGI lifespan's nursery, else a Trio system task),
not in its request: the request only waits for it to be published (or to ask a first question,
which ends the request with a multi-round-trip ``input_required`` instead). Every task ends
through :meth:`TaskWork.cancel` with a reason, or by finishing; its ``finally`` runs either way.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import trio

from ..._runtime import CancelReason, Host, Outbox, RequestHandle
from ...protocol.errors import INTERNAL_ERROR, ProtocolError
from ...protocol.tasks import TaskRecord, TaskStatus, create_task_result, new_task_id, task_2025
from ..asking import collect_input_required
from ..backend import Backend, BackendUnavailable, TaskCommand
from .store import TaskStore
from .work import Asker, TaskWork

logger = logging.getLogger("trimcp")

#: How long a new task's work may run inside its request: a question asked sooner is a
#: multi-round-trip round of the request (no task yet); an optional task that finishes sooner is
#: answered inline.
PUBLISH_WINDOW = 0.05
#: How often expired tasks are looked for.
SWEEP_INTERVAL = 1.0
#: How often a task running in another process is looked at while waiting for it to end.
_POLL_OTHER_PROCESS = 0.01
#: How long a finished task's last state may take to be stored when the server is stopping.
_FINAL_SAVE_TIMEOUT = 5.0


@attrs.frozen
class TaskManagerStatistics:
    #: Tasks whose work runs in this process now.
    running: int
    created: int
    expired: int


class TaskManager:
    """Starts tasks, runs their work in the task host, and keeps their records in the
    ``backend``'s store; what is asked of a task running in another process sharing the backend
    goes there as a :class:`~trimcp._server.backend.TaskCommand`."""

    def __init__(
        self,
        backend: Backend,
        *,
        ttl_ms: int | None,
        poll_interval_ms: int | None,
        on_change: Callable[[TaskRecord], None] = lambda record: None,
    ) -> None:
        """``on_change`` hears every stored change of a task (for ``notifications/tasks``)."""
        self.backend = backend
        self.store: TaskStore = backend.store
        self._on_change = on_change
        self.ttl_ms = ttl_ms
        self.poll_interval_ms = poll_interval_ms
        self._live: dict[str, TaskWork] = {}
        #: Each task's writes to the store go one at a time (see :meth:`_writes`).
        self._writing: dict[str, trio.Lock] = {}
        self._host = Host(lambda: self.stop(CancelReason.SHUTDOWN), name="task")
        self._sweeper: trio.CancelScope | None = None
        self._created = 0
        self._expired = 0

    def adopt(self, nursery: trio.Nursery) -> None:
        """Run tasks in ``nursery`` (an ASGI lifespan's) rather than in a system task."""
        self._host.adopt(nursery)

    async def start(
        self,
        handle: RequestHandle,
        run: Callable[[TaskWork], Awaitable[dict[str, Any]]],
        *,
        tool: str,
        required: bool,
        ttl_ms: int | None,
        poll_interval_ms: int | None,
        owner: str | None = None,
        asker: Asker | None = None,
    ) -> dict[str, Any]:
        """Start ``run`` as a task and answer its request: a ``CreateTaskResult`` once the task
        is stored; the result itself when an optional task finished within the publish window;
        or, when the work asked something first, :class:`InputRequired` is raised (the request
        answers ``input_required`` and no task exists).

        With ``asker``, the task is one of 2025-11-25 (the client asked for it): it is stored
        at once, answered in that revision's shape, its questions go to the client through
        ``asker``, and a result with ``isError`` makes it ``failed``. Only ``owner`` sees it."""
        now = time.time()
        record = TaskRecord(
            task_id=new_task_id(),
            created_at=now,
            updated_at=now,
            ttl_ms=ttl_ms,
            poll_interval_ms=poll_interval_ms,
            tool=tool,
            owner=owner,
            worker=self.backend.worker,
        )
        work = TaskWork(record, handle.id, handle.method, lambda: self._save(work), asker, handle.caller)
        nursery = await self._host.nursery()
        if asker is not None:
            work.published = True
            self._live[record.task_id] = work
            await self._create(work)
            self._created += 1
            self._start_sweeping(nursery)
            nursery.start_soon(self._run, work, run)
            return {"task": task_2025(record)}
        nursery.start_soon(self._run, work, run)
        try:
            with trio.move_on_after(PUBLISH_WINDOW):
                await work.settled.wait()
        except BaseException:
            work.cancel(handle.cancel_reason or CancelReason.SHUTDOWN)  # still the request's work
            raise
        if work.asked_early is not None:
            raise work.asked_early
        if work.finished and not required:
            return _inline(record)
        work.published = True
        if not work.finished:
            self._live[record.task_id] = work
        await self._create(work)
        self._created += 1
        self._start_sweeping(nursery)
        return create_task_result(record)

    async def _create(self, work: TaskWork) -> None:
        """Store a new task. When it cannot be (the backend is unreachable), the task never
        existed for anyone: its work is cancelled, nothing more of it is stored, and the
        error (:class:`~trimcp._server.backend.BackendUnavailable`) answers its request."""
        try:
            async with self._writes(work):
                await self.store.create(work.record)
        except BaseException:
            work.published = False
            self._live.pop(work.record.task_id, None)
            self._writing.pop(work.record.task_id, None)
            work.cancel("the task could not be stored")
            raise

    async def get(self, task_id: str, owner: str | None = None) -> TaskRecord | None:
        """The task, or ``None`` when it is unknown, expired or not ``owner``'s."""
        record = await self.store.get(task_id)
        return record if record is not None and record.owner == owner else None

    async def update(self, task_id: str, responses: dict[str, Any], owner: str | None = None) -> bool:
        """Deliver answers to a task; ``False`` when there is no such task."""
        record = await self.get(task_id, owner)
        if record is None:
            return False
        work = self._live.get(task_id)
        if work is not None:
            await work.answer(responses)
        elif self.backend.shared and not record.status.terminal:
            await self.backend.send(TaskCommand(task_id, responses=responses))
        return True

    async def cancel(self, task_id: str, owner: str | None = None, *, wait: float = 0) -> TaskRecord | None:
        """Cancel a task (a finished one stays as it ended), waiting up to ``wait`` seconds for
        its work to end; the task as it then is, or ``None`` when there is no such task."""
        record = await self.get(task_id, owner)
        if record is None:
            return None
        work = self._live.get(task_id)
        if work is not None:
            work.cancel(CancelReason.CLIENT_CANCELLED)
            with trio.move_on_after(wait):
                await work.settled.wait()
            return await self.get(task_id, owner) or record
        if record.status.terminal:
            return record
        if self.backend.shared and record.worker and await self.backend.worker_alive(record.worker):
            await self.backend.send(TaskCommand(task_id, cancel=True))
            return await self._until_ended(task_id, owner, wait) or record
        # its work is gone (a restart, a process that died)
        record.status, record.updated_at = TaskStatus.CANCELLED, time.time()
        await self.store.save(record)
        return record

    async def _until_ended(self, task_id: str, owner: str | None, wait: float) -> TaskRecord | None:
        """The task once its record says it ended, or as it is after ``wait`` seconds."""
        with trio.move_on_after(wait):
            while (record := await self.get(task_id, owner)) is not None and not record.status.terminal:
                await trio.sleep(_POLL_OTHER_PROCESS)
        return await self.get(task_id, owner)

    async def obey(self, command: TaskCommand) -> None:
        """Act on a command from another process for a task running here (else ignore it)."""
        work = self._live.get(command.task_id)
        if work is None:
            return
        if command.cancel:
            work.cancel(CancelReason.CLIENT_CANCELLED)
        if command.responses is not None:
            await work.answer(command.responses)

    async def wait_result(self, task_id: str, owner: str | None, stream: Outbox) -> TaskRecord | None:
        """Wait until the task ends (2025-11-25 ``tasks/result``); its questions meanwhile go
        out on ``stream``. ``None`` when there is no such task."""
        work = self._live.get(task_id)
        if work is not None and work.record.owner == owner:
            work.result_streams.append(stream)
            try:
                await work.settled.wait()
            finally:
                work.result_streams.remove(stream)
        return await self.get(task_id, owner)

    def stop(self, reason: CancelReason) -> None:
        """Cancel every task running in this process, and the expiry sweeper (at shutdown)."""
        for work in list(self._live.values()):
            work.cancel(reason)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def wait_stopped(self) -> None:
        """Wait until every task running in this process has ended (its ``finally`` ran and
        its last state is stored)."""
        for work in list(self._live.values()):
            await work.settled.wait()

    def statistics(self) -> TaskManagerStatistics:
        return TaskManagerStatistics(running=len(self._live), created=self._created, expired=self._expired)

    # -- the work ---------------------------------------------------------------------------------

    async def _run(self, work: TaskWork, run: Callable[[TaskWork], Awaitable[dict[str, Any]]]) -> None:
        status, result, error = TaskStatus.FAILED, None, None
        try:
            with work.cancel_scope:
                try:
                    result = await run(work)
                    failed = work.experimental and result.get("isError") is True  # 2025-11-25: failed
                    status = TaskStatus.FAILED if failed else TaskStatus.COMPLETED
                except ProtocolError as exc:
                    error = _error_of(exc)
                except BaseException as exc:
                    asked = collect_input_required(exc)
                    if asked is None or work.published:
                        raise
                    work.asked_early = asked
                    return
            if work.cancel_scope.cancelled_caught:
                status, error = _ended_by(work.cancel_reason)
        except Exception:
            logger.exception("Task %s (%s) failed", work.record.task_id, work.record.tool)
            error = {"code": INTERNAL_ERROR, "message": "Internal error"}
        finally:
            work.record.result, work.record.error = result, error
            with trio.CancelScope(shield=True), trio.move_on_after(_FINAL_SAVE_TIMEOUT) as storing:
                if work.asked_early is None:
                    await self._store_end(work, status)
            if storing.cancelled_caught:
                logger.warning("Task %s (%s) ended %s, but that could not be stored within %g s",
                               work.record.task_id, work.record.tool, status, _FINAL_SAVE_TIMEOUT)  # fmt: skip
            self._live.pop(work.record.task_id, None)
            self._writing.pop(work.record.task_id, None)
            work.settled.set()

    async def _store_end(self, work: TaskWork, status: TaskStatus) -> None:
        """Store how the task ended, trying again while the backend cannot be reached (the
        caller bounds how long); never raises, so that no task's end can stop the task host."""
        for attempt in itertools.count():
            try:
                await work.set_status(status)
                return
            except BackendUnavailable as exc:
                if attempt == 0:
                    logger.warning("Task %s (%s) ended %s; storing it waits for the backend: %s",
                                   work.record.task_id, work.record.tool, status, exc)  # fmt: skip
                await trio.sleep(min(0.05 * 2**attempt, 1.0))
            except Exception:
                logger.exception("Task %s (%s): its end could not be stored", work.record.task_id, work.record.tool)
                return

    async def _save(self, work: TaskWork) -> None:
        if work.published:
            async with self._writes(work):
                await self.store.save(work.record)
                self._on_change(work.record)

    @contextlib.asynccontextmanager
    async def _writes(self, work: TaskWork) -> AsyncIterator[None]:
        """One write of a task to the store at a time, each with the task as it is then. Two in
        flight at once (its creation and its first question; an answer and the end the work
        reaches at once) may travel on two connections of a pool and land in either order,
        leaving an older state last. Uncontended, it takes no checkpoint (a store that
        answers at once behaves as without it)."""
        lock = self._writing.setdefault(work.record.task_id, trio.Lock())
        if lock.locked():
            await lock.acquire()
        else:
            lock.acquire_nowait()
        try:
            yield
        finally:
            lock.release()

    def _start_sweeping(self, nursery: trio.Nursery) -> None:
        if self._sweeper is None:
            self._sweeper = trio.CancelScope()
            nursery.start_soon(self._sweep, self._sweeper)

    async def _sweep(self, scope: trio.CancelScope) -> None:
        """Forget expired tasks, cancelling those still running (reason: task expired)."""
        with scope:
            while True:
                await trio.sleep(SWEEP_INTERVAL)
                await self._purge()

    async def _purge(self) -> None:
        for task_id in await self.store.purge_expired(time.time()):
            self._expired += 1
            work = self._live.pop(task_id, None)
            if work is not None:
                work.published = False  # forgotten: its last state must not be stored again
                work.cancel(CancelReason.TASK_EXPIRED)


def _inline(record: TaskRecord) -> dict[str, Any]:
    """The answer of a task that finished before it was published, as a plain call's."""
    if record.error is not None:
        raise ProtocolError(record.error["message"], code=record.error["code"], data=record.error.get("data"))
    assert record.result is not None
    return record.result


def _error_of(exc: ProtocolError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return error


def _ended_by(reason: CancelReason | str | None) -> tuple[TaskStatus, dict[str, Any] | None]:
    """A cancelled task's status: ``cancelled`` when the client asked, else ``failed`` saying why."""
    if reason == CancelReason.CLIENT_CANCELLED:
        return TaskStatus.CANCELLED, None
    return TaskStatus.FAILED, {"code": INTERNAL_ERROR, "message": f"The task was stopped: {reason}"}
