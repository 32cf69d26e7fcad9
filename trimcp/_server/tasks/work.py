"""The running work of one task, as its :class:`~trimcp.Context` sees it: what a request handle
offers (id, method, why it is cancelled, progress), and questions that, once the task is
published, wait for ``tasks/update`` instead of ending a round."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..._runtime import NOBODY, Caller, CancelReason, Outbox
from ..._runtime.request import next_progress
from ...protocol.jsonrpc import RequestId
from ...protocol.tasks import META_RELATED_TASK, TaskRecord, TaskStatus
from ..asking import InputRequired

#: Sends a question to the client (on the given stream, else the session's) and returns the answer.
Asker = Callable[[str, dict[str, Any], "Outbox | None"], Awaitable[Any]]


class TaskWork:
    """One task's work and its live state. Created and run by :class:`~.manager.TaskManager`.

    Its cancel scope is shielded: the work is cancelled only through :meth:`cancel`, always
    with a reason (``tasks/cancel``, the TTL, shutdown).
    """

    def __init__(
        self,
        record: TaskRecord,
        request_id: RequestId,
        method: str,
        persist: Callable[[], Awaitable[None]],
        asker: Asker | None = None,
        caller: Caller = NOBODY,
    ) -> None:
        self.record = record
        #: Who started the task (its work acts for them).
        self.caller = caller
        self.id = request_id
        self.method = method
        self.cancel_scope = trio.CancelScope(shield=True)
        self.cancel_reason: CancelReason | str | None = None
        #: Set once the task was returned to the client: questions then wait for answers.
        self.published = False
        #: Set when the work ended, or asked a question before it was published.
        self.settled = trio.Event()
        self.asked_early: InputRequired | None = None
        self._persist = persist
        self._questions: dict[str, _Question] = {}
        self._used_keys: set[str] = set()
        self._last_progress = -math.inf
        #: 2025-11-25: how questions reach the client, and the streams of the ``tasks/result``
        #: requests waiting for this task (a question goes out on the newest one).
        self._asker = asker
        self.result_streams: list[Outbox] = []
        self._asking = 0

    @property
    def experimental(self) -> bool:
        """Whether this is a 2025-11-25 task (its client asked for it; questions go direct)."""
        return self._asker is not None

    @property
    def finished(self) -> bool:
        return self.record.status.terminal

    def cancel(self, reason: CancelReason | str) -> None:
        """Cancel the work (once; a finished task stays as it ended)."""
        if self.cancel_reason is None and not self.finished:
            self.cancel_reason = reason
            self.cancel_scope.cancel(reason=str(reason))

    async def ask_keyed(self, key: str, method: str, params: dict[str, Any]) -> Any:
        """Ask the client: before publication this ends the round (:class:`InputRequired`);
        after, the task reads ``input_required`` with the question until ``tasks/update``
        answers it."""
        request = {"method": method, "params": params}
        if not self.published:
            raise InputRequired({key: request})
        key = self._fresh(key)
        question = self._questions[key] = _Question()
        self.record.input_requests[key] = request
        await self.set_status(TaskStatus.INPUT_REQUIRED)
        try:
            await question.answered.wait()
        finally:
            del self._questions[key]
            self.record.input_requests.pop(key, None)
        return question.answer

    def _fresh(self, key: str) -> str:
        """``key``, or ``key-2``, ``key-3``…: a question key is never used twice in a task."""
        fresh, number = key, 1
        while fresh in self._used_keys:
            number += 1
            fresh = f"{key}-{number}"
        self._used_keys.add(fresh)
        return fresh

    async def ask(self, method: str, params: dict[str, Any]) -> Any:
        """2025-11-25: ask the client directly, tagged with this task, on the stream of a
        waiting ``tasks/result`` (else the session's); the task reads ``input_required`` until
        the answer comes. Raises :class:`~trimcp.protocol.RequestFailed` as a request does."""
        assert self._asker is not None, "questions of a 2026-07-28 task go through ask_keyed"
        meta = {**(params.get("_meta") or {}), META_RELATED_TASK: {"taskId": self.record.task_id}}
        self._asking += 1
        await self.set_status(TaskStatus.INPUT_REQUIRED)
        try:
            stream = self.result_streams[-1] if self.result_streams else None
            return await self._asker(method, {**params, "_meta": meta}, stream)
        finally:
            self._asking -= 1
            if not self._asking and not self.finished:
                with trio.CancelScope(shield=True):
                    await self.set_status(TaskStatus.WORKING)

    async def answer(self, responses: dict[str, Any]) -> None:
        """Deliver ``tasks/update`` answers; keys not asked (or answered already) are ignored."""
        answered = False
        for key, value in responses.items():
            question = self._questions.get(key)
            if question is not None and not question.answered.is_set():
                question.answer = value
                question.answered.set()
                self.record.input_requests.pop(key, None)
                answered = True
        if answered:
            waiting = self.record.input_requests or self.record.status is not TaskStatus.INPUT_REQUIRED
            await self.set_status(self.record.status if waiting else TaskStatus.WORKING)

    async def set_status(self, status: TaskStatus, message: str | None = None) -> None:
        self.record.status = status
        if message is not None:
            self.record.status_message = message
        self.record.updated_at = time.time()
        await self._persist()

    # -- what Context asks of a request handle ----------------------------------------------------

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> bool:
        """Progress of a task is its status message (tasks send no progress notifications).
        Raises :class:`LocalProtocolError` when ``progress`` does not increase."""
        self._last_progress = next_progress(progress, self._last_progress)
        if message is None:
            message = f"{progress:g}/{total:g}" if total is not None else f"{progress:g}"
        await self.set_status(self.record.status, message)
        return False

    async def notify(self, method: str, params: Any = None) -> bool:
        """Tasks send no notifications about their work (no logs, no progress)."""
        return False


class _Question:
    __slots__ = ("answer", "answered")

    def __init__(self) -> None:
        self.answered = trio.Event()
        self.answer: Any = None
