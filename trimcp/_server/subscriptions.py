"""Who hears about changes: handshake-era sessions (list changes on their session stream,
resource updates for the URIs they subscribed to) and 2026-07-28 ``subscriptions/listen``
streams (only the notification types they asked for, and the tasks they named, each tagged with
its subscription id).

Notifications are queued without waiting: a client whose buffer is full misses them (they
say "look again", so the next one it gets carries the news), and a slow client never holds up
the server.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._runtime import Outbox, Outgoing, RequestHandle
from ..protocol import jsonrpc
from ..protocol.constants import META_SUBSCRIPTION_ID
from ..protocol.tasks import TaskRecord, detailed_task

if TYPE_CHECKING:
    from .backend import Change
    from .server import Server

_LIST_FLAGS = {"tools": "toolsListChanged", "prompts": "promptsListChanged", "resources": "resourcesListChanged"}


class SessionOutlet(Protocol):
    """A handshake-era connection: where its session-level messages go, what it subscribed to."""

    outbox: Outbox | None
    subscriptions: set[str]


class Listener:
    """One ``subscriptions/listen`` stream and the notification types it was granted."""

    # Thousands stay open at once: no instance dict, and the task waiting in wait_closed is
    # held bare (a trio.Event costs a set, a closure and a coroutine more per stream).
    __slots__ = ("_closed", "_waiter", "granted", "handle")

    def __init__(self, handle: RequestHandle, granted: dict[str, Any]) -> None:
        self.handle = handle
        self.granted = granted
        self._closed = False
        self._waiter: trio.lowlevel.Task | None = None

    def _meta(self) -> dict[str, Any]:
        return {META_SUBSCRIPTION_ID: self.handle.id}

    def list_changed(self, kind: str) -> None:
        if self.granted.get(_LIST_FLAGS[kind]):
            self.handle.notify_nowait(f"notifications/{kind}/list_changed", {"_meta": self._meta()})

    def resource_updated(self, uri: str) -> None:
        if uri in self.granted.get("resourceSubscriptions", ()):
            self.handle.notify_nowait("notifications/resources/updated", {"uri": uri, "_meta": self._meta()})

    def task_changed(self, record: TaskRecord) -> None:
        if record.task_id in self.granted.get("taskIds", ()):
            self.handle.notify_nowait("notifications/tasks", {**detailed_task(record), "_meta": self._meta()})

    def close(self) -> None:
        self._closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            trio.lowlevel.reschedule(waiter)

    async def wait_closed(self) -> None:
        """Return once :meth:`close` is called (at once if it was). One task waits at a time."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._waiter = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self._stop_waiting)

    def _stop_waiting(self, _: Any) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED


def grant(server: Server, requested: dict[str, Any]) -> dict[str, Any]:
    """The subset of a listen filter this server honours: list changes for kinds it offers,
    and resource updates when it has resources."""
    offered = {
        "toolsListChanged": bool(server.tools),
        "promptsListChanged": bool(server.prompts),
        "resourcesListChanged": bool(server.resources or server.resource_templates),
    }
    granted: dict[str, Any] = {flag: True for flag, ok in offered.items() if ok and requested.get(flag) is True}
    uris = requested.get("resourceSubscriptions")
    if offered["resourcesListChanged"] and type(uris) is list and uris:
        granted["resourceSubscriptions"] = [uri for uri in uris if type(uri) is str]
    return granted


def in_trio_thread(call: Callable[..., None], *args: Any) -> None:
    """Run ``call`` in the Trio thread: directly there, through ``trio.from_thread`` from a
    worker thread running a sync tool, not at all when no Trio run is going (nobody listens)."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        try:
            trio.from_thread.run_sync(call, *args)
        except RuntimeError:
            return  # not in a Trio run nor one of its threads: no connection can be listening
        return
    call(*args)


class Subscribers:
    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self._listeners: set[Listener] = set()

    def add_session(self, outlet: SessionOutlet) -> None:
        self._sessions.add(outlet)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def deliver(self, change: Change) -> None:
        """Tell this process's sessions and listeners of ``change`` (in the Trio thread)."""
        if change.kind == "list":
            self._list_changed(change.name)
        elif change.kind == "resource":
            self._resource_updated(change.name)
        elif change.record is not None:
            self.task_changed(change.record)

    def _list_changed(self, kind: str) -> None:
        data = Outgoing(jsonrpc.notification_bytes(f"notifications/{kind}/list_changed"))
        for outlet in list(self._sessions):
            if outlet.outbox is not None:
                outlet.outbox.send_nowait(data)
        for listener in list(self._listeners):
            listener.list_changed(kind)

    def _resource_updated(self, uri: str) -> None:
        data = Outgoing(jsonrpc.notification_bytes("notifications/resources/updated", {"uri": uri}))
        for outlet in list(self._sessions):
            if outlet.outbox is not None and uri in outlet.subscriptions:
                outlet.outbox.send_nowait(data)
        for listener in list(self._listeners):
            listener.resource_updated(uri)

    def task_changed(self, record: TaskRecord) -> None:
        """Tell the listeners of this task (2026-07-28 ``taskIds``) its new state."""
        for listener in list(self._listeners):
            listener.task_changed(record)

    def close_listeners(self) -> None:
        for listener in list(self._listeners):
            listener.close()

    @property
    def listeners(self) -> int:
        return len(self._listeners)
