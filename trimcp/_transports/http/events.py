"""Resumable SSE streams (handshake era): event ids, the event store, and replay.

An event id is ``<session>-<stream>-<seq>``: the session's serial number, the stream's number
within the session (0 is the GET stream), and the event's position in that stream. Replay
takes the session from the request's ``Mcp-Session-Id``, never from the id, so events never
cross sessions; and it only ever returns events of the stream the id names.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import attrs
import trio

from ..._runtime import Outbox, Outgoing
from ...protocol.sse import encode_event


@attrs.frozen
class EventId:
    session: int
    stream: int
    seq: int

    def __str__(self) -> str:
        return f"{self.session}-{self.stream}-{self.seq}"

    @classmethod
    def parse(cls, text: str) -> EventId | None:
        parts = text.strip().split("-")
        if len(parts) != 3 or not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
            return None
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))


class EventStore(Protocol):
    """Where sent events are kept for replay. Implementations bound their memory."""

    async def append(self, session: int, stream: int, seq: int, event: bytes) -> None:
        """Keep the encoded SSE ``event`` (with id ``session-stream-seq``)."""

    async def replay(self, session: int, stream: int, after: int) -> list[bytes] | None:
        """The encoded events of one stream after ``after``, oldest first; ``None`` when the
        store no longer has every one of them (the client must start over)."""

    async def forget(self, session: int) -> None:
        """Drop everything kept for a session that ended."""


class MemoryEventStore:
    """Keeps the last ``max_events_per_stream`` events of the ``max_streams`` most recently
    used streams, in memory."""

    def __init__(self, *, max_events_per_stream: int = 1000, max_streams: int = 10_000) -> None:
        self.max_events_per_stream = max_events_per_stream
        self.max_streams = max_streams
        self._streams: OrderedDict[tuple[int, int], deque[tuple[int, bytes]]] = OrderedDict()

    async def append(self, session: int, stream: int, seq: int, event: bytes) -> None:
        key = (session, stream)
        events = self._streams.get(key)
        if events is None:
            events = self._streams[key] = deque(maxlen=self.max_events_per_stream)
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(key)
        events.append((seq, event))

    async def replay(self, session: int, stream: int, after: int) -> list[bytes] | None:
        events = self._streams.get((session, stream))
        if events is None:
            return None
        if events and events[0][0] > after + 1:
            return None  # some of the missed events were already dropped
        return [event for seq, event in events if seq > after]

    async def forget(self, session: int) -> None:
        for key in [key for key in self._streams if key[0] == session]:
            del self._streams[key]

    def __len__(self) -> int:
        return sum(len(events) for events in self._streams.values())


def encode_messages(batch: list[Outgoing]) -> bytes:
    """Messages as plain SSE ``message`` events (no ids)."""
    return b"".join(encode_event(item.data, event="message") for item in batch)


class SSEStream:
    """One SSE stream of a session (a POST's answer, or the GET stream): numbers its events,
    keeps them in the store, and survives its HTTP response when resumability is on.

    At most one response is attached at a time; while none is, :meth:`drain` records what the
    requests send so a ``GET`` with ``Last-Event-ID`` can replay it and take over. Such a GET
    also takes over from a response still attached (:meth:`displace`): the client resuming
    has evidently lost it, though the server may not have noticed yet.
    """

    def __init__(self, session: int, number: int, outbox: Outbox, store: EventStore | None) -> None:
        self.session = session
        self.number = number
        self.outbox = outbox
        self.store = store
        self.seq = 0
        self.attached = False
        self.finished = False
        self._drain_scope: trio.CancelScope | None = None
        self._drained = trio.Event()
        self._encoding = trio.Lock()
        self._response: trio.CancelScope | None = None
        self._released = trio.Event()

    def event_id(self, seq: int) -> str:
        return str(EventId(self.session, self.number, seq))

    def priming_event(self, retry_ms: int | None) -> bytes:
        """An event with an id and empty data: the client's resume point before any message."""
        return encode_event(b"", id=self.event_id(self.seq), retry=retry_ms)

    async def encode(self, batch: list[Outgoing]) -> bytes:
        """Number the messages, keep them for replay, and return them as SSE bytes. Once
        begun, the batch is kept whole even if the caller is cancelled meanwhile (it was taken
        from the outbox: a resuming client finds it in the store)."""
        if self.store is None:
            return encode_messages(batch)
        parts = []
        with trio.CancelScope(shield=True):
            try:  # a response and the drain replacing it encode one batch after the other
                self._encoding.acquire_nowait()  # (without a checkpoint when nobody else is)
            except trio.WouldBlock:
                await self._encoding.acquire()
            try:
                for item in batch:
                    self.seq += 1
                    event = encode_event(item.data, event="message", id=self.event_id(self.seq))
                    await self.store.append(self.session, self.number, self.seq, event)
                    parts.append(event)
            finally:
                self._encoding.release()
        return b"".join(parts)

    def start_draining(self, nursery: trio.Nursery, window: float, on_expiry: Callable[[], None]) -> None:
        """Record (without sending) in a task of ``nursery`` until a response attaches or the
        stream ends; after ``window`` seconds alone, give up and call ``on_expiry``. A response
        attaching before the task even starts stops it all the same."""
        self._drain_scope, self._drained = trio.CancelScope(), trio.Event()
        nursery.start_soon(self._drain, self._drain_scope, self._drained, window, on_expiry)

    async def _drain(
        self, scope: trio.CancelScope, drained: trio.Event, window: float, on_expiry: Callable[[], None]
    ) -> None:
        try:
            with scope:
                with trio.move_on_after(window):
                    while (batch := await self.outbox.next_batch()) is not None:
                        await self.encode(batch)
                    self.finished = True
                    return
                on_expiry()
        finally:
            drained.set()

    def take_over(self) -> None:
        """A response attaches: stop draining (no message is lost; the response reads on)."""
        self.attached = True
        if self._drain_scope is not None:
            self._drain_scope.cancel()
            self._drain_scope = None

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Run the block as the response attached to this stream: :meth:`displace` cancels it."""
        self.take_over()
        with trio.CancelScope() as scope:
            self._response, self._released = scope, trio.Event()
            try:
                yield
            finally:
                if self._response is scope:
                    self._response = None
                self._released.set()

    async def displace(self) -> None:
        """End the response attached now, or the drain, and wait until it has let go: what it
        took from the outbox is in the store then, for the replay that follows."""
        if self._response is not None:
            released = self._released
            self._response.cancel(reason="another response took the stream over")
            await released.wait()
        if self._drain_scope is not None:
            self._drain_scope.cancel()
            await self._drained.wait()

    async def replay_after(self, seq: int) -> list[bytes] | None:
        """The events after ``seq``; ``None`` when they are no longer all kept."""
        if seq >= self.seq:
            return []
        if self.store is None:
            return None
        return await self.store.replay(self.session, self.number, seq)
