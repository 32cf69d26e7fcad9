"""What one ASGI app served by the lean worker receives: its request's body and the client's
disconnect, bounded, with the hooks the worker and trimcp's app use (disconnect watchers, the
end of the request's body)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio


class AppInbox:
    """What one ASGI app receives, in order, bounded like hypercorn's channel: ``put`` waits
    while ``size`` messages are unread (but for the one ``http.disconnect``). Consecutive body
    chunks reach the app as one message. Once the app has finished, messages are dropped
    instead of waiting for a reader.

    The inbox is the app's ``receive`` callable. The worker offers its :meth:`watch_disconnect`
    to the app in ``scope["extensions"]`` (:data:`~.asgi.DISCONNECT_EXTENSION`), so an app that
    knows it (trimcp does) learns of ``http.disconnect`` without a task waiting in ``receive``.
    """

    __slots__ = (
        "_dropping_body",
        "_ended",
        "_messages",
        "_readable",
        "_size",
        "_watchers",
        "_writable",
        "closed",
        "disconnected",
        "request_ended",
    )

    def __init__(self, size: int) -> None:
        self._messages: list[dict[str, Any]] = []  # a few at most: lighter than a deque
        self._size = max(size, 1)
        # Parking lots are made when a task first waits (thousands of streams stay open; most
        # never wait on these): a falsy lot, None or empty, has no one to wake.
        self._readable: trio.lowlevel.ParkingLot | None = None
        self._writable: trio.lowlevel.ParkingLot | None = None
        self._ended: trio.lowlevel.ParkingLot | None = None
        self._watchers: list[Callable[[], None]] = []
        self._dropping_body = False
        self.closed = False
        self.disconnected = False
        #: The request's body has all arrived (or the client left).
        self.request_ended = False

    async def put(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.request":
            if not message.get("more_body", False):
                self._end_request()
            if self._dropping_body:
                return
        elif kind == "http.disconnect":
            if self.disconnected:
                return
            self.disconnected = True
            for watcher in list(self._watchers):  # a watcher may stop watching
                watcher()
            self._end_request()
        # A disconnect never waits for room: hypercorn reports one from inside the app's own
        # send() when its response ends, and an app that did not read its body would wait
        # for itself.
        while kind != "http.disconnect" and len(self._messages) >= self._size and not self.closed:
            if self._writable is None:
                self._writable = trio.lowlevel.ParkingLot()
            await self._writable.park()
        if self.closed:
            return
        self._messages.append(message)
        if self._readable:
            self._readable.unpark()

    async def get(self) -> dict[str, Any]:
        messages = self._messages
        while not messages:
            if self._readable is None:
                self._readable = trio.lowlevel.ParkingLot()
            await self._readable.park()
        message = messages.pop(0)
        if message["type"] == "http.request" and message["more_body"] and messages:
            message = _join_body(message, messages)
        if self._writable:
            self._writable.unpark_all()
        return message

    __call__ = get

    def _end_request(self) -> None:
        self.request_ended = True
        if self._ended:
            self._ended.unpark_all()

    def drop_body(self) -> None:
        """The app has answered: body chunks still arriving are dropped, not queued."""
        self._dropping_body = True
        self._messages[:] = [message for message in self._messages if message["type"] != "http.request"]
        if self._writable:
            self._writable.unpark_all()

    async def wait_request_end(self) -> None:
        """Return once the request's body has all arrived (read or not) or the client left."""
        while not self.request_ended:
            if self._ended is None:
                self._ended = trio.lowlevel.ParkingLot()
            await self._ended.park()

    def watch_disconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the client disconnects (at once if it has); returns the
        function that stops watching."""
        if self.disconnected:
            callback()
            return _nothing
        self._watchers.append(callback)
        return lambda: self._watchers.remove(callback) if callback in self._watchers else None

    def close(self) -> None:
        self.closed = True
        self._messages.clear()
        if self._writable:
            self._writable.unpark_all()


def _nothing() -> None:
    pass


def _join_body(first: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    chunks = [first["body"]]
    more_body = True
    while more_body and messages and messages[0]["type"] == "http.request":
        following = messages.pop(0)
        chunks.append(following["body"])
        more_body = following["more_body"]
    return {"type": "http.request", "body": b"".join(chunks), "more_body": more_body}
