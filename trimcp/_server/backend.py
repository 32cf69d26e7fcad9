"""What every process serving one server shares: the change bus (list changes, resource updates,
task changes), the task store, and commands to the process running a task (cancel, answers).

The default backend is this process alone (nothing to set up); ``trimcp.RedisBackend`` shares
it between processes and machines (docs/deployment.md). Nothing on a plain ``tools/call``'s
path touches the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs
import trio

from ..protocol.errors import INTERNAL_ERROR, ProtocolError
from ..protocol.tasks import TaskRecord

if TYPE_CHECKING:
    from .relay import Relay
    from .subscriptions import Subscribers
    from .tasks.manager import TaskManager
    from .tasks.store import TaskStore


class BackendUnavailable(ProtocolError):
    """The shared backend cannot be reached now: task and subscription operations fail with
    this error (-32603, saying so) until it is back."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Service unavailable: {message}; retry later", code=INTERNAL_ERROR)


@attrs.frozen
class Change:
    """A change every connection of every process hears of: a list that changed (``name`` is
    ``tools``, ``prompts`` or ``resources``), a resource updated (``name`` is its URI), or a task
    whose state changed."""

    kind: Literal["list", "resource", "task"]
    name: str = ""
    record: TaskRecord | None = None


@attrs.frozen
class TaskCommand:
    """What a process asks of the one running a task: cancel it, or deliver ``tasks/update``
    answers."""

    task_id: str
    cancel: bool = False
    responses: dict[str, Any] | None = None


class Sink(Protocol):
    """Where a backend delivers what it carries, in this process."""

    def change(self, change: Change) -> None:
        """Tell this process's listeners and sessions (in the Trio thread, without waiting)."""

    async def command(self, command: TaskCommand) -> None:
        """Act on a task if it runs in this process; ignore it otherwise."""

    def lost(self) -> None:
        """The backend became unreachable: changes published meanwhile cannot arrive, so end
        the listen streams (their clients listen again, and learn whether it is back)."""


class Backend(Protocol):
    """Shared state of a server. ``store`` keeps task records; ``worker`` names this process
    (a task's record says which process runs it); ``shared`` is whether other processes use
    the same backend (then commands for a task must travel to its process)."""

    store: TaskStore
    worker: str
    shared: bool
    #: Whether it can be reached now (a listen request is refused while it cannot).
    available: bool
    #: Conduits to the other processes (``None`` when there are none: every session is ours).
    relay: Relay | None

    def bind(self, sink: Sink) -> None:
        """Deliver to ``sink`` from now on (called once, by the server)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, report ready, and deliver what other processes publish until cancelled.
        Raises :class:`BackendUnavailable` when it cannot connect at start."""

    async def publish(self, change: Change) -> None:
        """Deliver ``change`` to every process (this one included), after the changes this
        process published before it. Raises :class:`BackendUnavailable`."""

    def publish_nowait(self, change: Change) -> None:
        """:meth:`publish` without waiting (in order with the others; a failure is logged)."""

    async def send(self, command: TaskCommand) -> None:
        """Deliver ``command`` to every process. Raises :class:`BackendUnavailable`."""

    async def worker_alive(self, worker: str) -> bool:
        """Whether the process named ``worker`` still holds its lease."""


class LocalBackend:
    """This process alone: records in ``store`` (in memory by default), changes delivered at
    once, no commands to carry. The default."""

    shared = False
    worker = "local"
    available = True
    relay = None

    def __init__(self, store: TaskStore | None = None) -> None:
        from .tasks.store import MemoryTaskStore  # the tasks package imports this module

        self.store: TaskStore = store if store is not None else MemoryTaskStore()
        self._sink: Sink | None = None

    def bind(self, sink: Sink) -> None:
        self._sink = sink

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    async def publish(self, change: Change) -> None:
        self.publish_nowait(change)

    def publish_nowait(self, change: Change) -> None:
        if self._sink is not None:
            self._sink.change(change)

    async def send(self, command: TaskCommand) -> None:
        if self._sink is not None:
            await self._sink.command(command)

    async def worker_alive(self, worker: str) -> bool:
        return worker == self.worker


class Delivery:
    """Where the backend delivers in this process: changes to the subscribers, commands to the
    task manager."""

    def __init__(self, subscribers: Subscribers, tasks: TaskManager) -> None:
        self._subscribers = subscribers
        self._tasks = tasks

    def change(self, change: Change) -> None:
        self._subscribers.deliver(change)

    async def command(self, command: TaskCommand) -> None:
        await self._tasks.obey(command)

    def lost(self) -> None:
        self._subscribers.close_listeners()
