"""A tool call that became a task (the ``io.modelcontextprotocol/tasks`` extension, 2026-07-28),
seen from the client: poll it, answer its questions with the client's handlers, cancel it."""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any

import trio

from ..protocol.errors import INTERNAL_ERROR, RequestFailed
from ..protocol.tasks import TaskStatus
from .errors import ClientError, ClientTimeout

if TYPE_CHECKING:
    from .core import ClientCore

#: How often a task is polled when the server suggests nothing (and never faster than this).
DEFAULT_POLL_INTERVAL = 1.0
MIN_POLL_INTERVAL = 0.05


class ClientTask:
    """A task the server runs for a ``tools/call``. ``task_id`` names it; ``created`` is the
    task as its creation told it. Get it from :meth:`trimcp.Client.start_tool`.

    ``experimental`` tasks are 2025-11-25's: their questions arrive as ordinary requests (the
    client's handlers answer them) and :meth:`result` waits in ``tasks/result``."""

    def __init__(self, core: ClientCore, created: dict[str, Any], *, experimental: bool = False) -> None:
        self._core = core
        self.created = created
        self.experimental = experimental
        self.task_id: str = created["taskId"]
        self._poll_interval = _interval(created.get("pollInterval" if experimental else "pollIntervalMs"))

    async def status(self) -> dict[str, Any]:
        """The task as ``tasks/get`` tells it now (``status``, and its ``inputRequests``,
        ``result`` or ``error`` as the status calls for)."""
        task = await self._core.request("tasks/get", {"taskId": self.task_id})
        self._poll_interval = _interval(task.get("pollIntervalMs"), self._poll_interval)
        return task

    async def answer(self, responses: dict[str, Any]) -> None:
        """Answer some of its questions, by key (``tasks/update``; 2026-07-28 only)."""
        if self.experimental:
            raise ClientError("a 2025-11-25 task asks its questions as requests, answered by the handlers")
        await self._core.request("tasks/update", {"taskId": self.task_id, "inputResponses": responses})

    async def cancel(self) -> None:
        """Ask the server to cancel it (``tasks/cancel``); it may still end otherwise."""
        await self._core.request("tasks/cancel", {"taskId": self.task_id})

    async def result(self, *, timeout: float = math.inf) -> dict[str, Any]:
        """Wait for the ``CallToolResult``, polling at the interval the server suggests and
        answering its questions with the client's handlers.

        Raises :class:`~trimcp.RequestFailed` when the task failed (its error) or was
        cancelled, :class:`~trimcp.ClientTimeout` after ``timeout`` seconds. Leaving early (a
        timeout, a cancelled scope) cancels the task on the server.
        """
        finished = False
        try:
            with trio.fail_after(timeout):
                if self.experimental:
                    try:
                        result = await self._core.request("tasks/result", {"taskId": self.task_id}, timeout=math.inf)
                    except RequestFailed:
                        finished = True  # the task ended with an error
                        raise
                    finished = True
                    return result
                while True:
                    task = await self.status()
                    status = task.get("status")
                    if status == TaskStatus.COMPLETED:
                        finished = True
                        return task.get("result") or {}
                    if status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                        finished = True
                        raise RequestFailed(task.get("error") or _cancelled(self.task_id))
                    if status == TaskStatus.INPUT_REQUIRED and task.get("inputRequests"):
                        await self.answer(await self._core.answer_all(task["inputRequests"]))
                        continue
                    await trio.sleep(self._poll_interval)
        except trio.TooSlowError:
            raise ClientTimeout(f"task {self.task_id} did not finish within {timeout:g} s") from None
        finally:
            if not finished:
                shielded = trio.CancelScope(shield=True)
                with shielded, trio.move_on_after(5), contextlib.suppress(ClientError, RequestFailed):
                    await self.cancel()


def _interval(milliseconds: Any, default: float = DEFAULT_POLL_INTERVAL) -> float:
    if type(milliseconds) is not int or milliseconds <= 0:
        return default
    return max(MIN_POLL_INTERVAL, milliseconds / 1000)


def _cancelled(task_id: str) -> dict[str, Any]:
    return {"code": INTERNAL_ERROR, "message": f"task {task_id} was cancelled"}
