"""A bounded queue of encoded messages bound for one peer stream."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import attrs
import trio

from ..protocol.errors import ProtocolError


class Outgoing:
    """One encoded message on its way to a peer, with what a transport needs to know of it
    without reading it: whether it is ``final`` (a response, or a batch of them: it ends what
    it answers) and, for an error response, its ``error``."""

    __slots__ = ("data", "error", "final")

    def __init__(self, data: bytes, *, final: bool = False, error: ProtocolError | None = None) -> None:
        self.data = data
        self.final = final
        self.error = error

    def __repr__(self) -> str:
        return f"Outgoing({self.data[:60]!r}{', final' if self.final else ''})"


def split_before_final(batch: list[Outgoing]) -> list[list[Outgoing]]:
    """``batch`` (messages bound for one write) as the writes to make: a response that follows
    other messages (its request's progress, say) starts a write of its own, so a client reading
    it has those messages first. Some clients (the TypeScript SDKs, as of typescript-sdk#2580)
    drop notifications that arrive in the same read as the response."""
    if len(batch) == 1:
        return [batch]
    parts: list[list[Outgoing]] = []
    start = 0
    for index in range(1, len(batch)):
        if batch[index].final and not batch[index - 1].final:
            parts.append(batch[start:index])
            start = index
    parts.append(batch[start:])
    return parts


@attrs.frozen
class OutboxStatistics:
    """``buffered``: messages waiting now; ``peak``: the most ever waiting at once."""

    buffered: int
    max_buffer: int
    peak: int
    sent: int
    closed: bool


class Outbox:
    """Messages (:class:`Outgoing`) on their way to one stream (stdout, an SSE response, …).

    Producers ``await send()``; when the buffer is full they wait (backpressure). After
    :meth:`close` every send is a no-op that returns ``False``: writing to a finished stream
    never raises in the producer. The one consumer iterates :meth:`batches`.

    An outbox serving one HTTP response closes itself once the requests it carries are
    answered: the dispatcher :meth:`attach`-es each request and :meth:`detach`-es it after its
    response is queued (or dropped); :meth:`seal` says no more requests will come.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_detached",
        "_in_flight",
        "_peak",
        "_queue",
        "_reader",
        "_readers",
        "_sealed",
        "_sent",
        "_writable",
        "max_buffer",
        "needs_stream",
    )

    def __init__(self, max_buffer: int = 256) -> None:
        self.max_buffer = max_buffer
        self._queue: list[Outgoing] = []
        # One consumer waits at a time, as a bare task (a parking lot and its dict cost ~0.8 KiB
        # per open stream); a second consumer waiting at once gets a parking lot.
        self._reader: trio.lowlevel.Task | None = None
        self._readers: trio.lowlevel.ParkingLot | None = None
        self._writable: trio.lowlevel.ParkingLot | None = None  # made when a sender must wait
        self._peak = 0
        self._sent = 0
        self._closed = False
        self._in_flight = 0
        self._detached: trio.lowlevel.ParkingLot | None = None  # made by wait_detached
        self._sealed = False
        #: Set by :meth:`need_stream`.
        self.needs_stream = False

    async def send(self, item: Outgoing) -> bool:
        """Queue ``item``; ``False`` when the outbox is closed (the message is dropped). Waits
        only while the buffer is full (a cancellation point all the same)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while len(self._queue) >= self.max_buffer and not self._closed:
            if self._writable is None:
                self._writable = trio.lowlevel.ParkingLot()
            await self._writable.park()
        return self.send_nowait(item)

    def send_nowait(self, item: Outgoing) -> bool:
        """Queue ``item`` if there is room; ``False`` (dropped) when full or closed."""
        if self._closed or len(self._queue) >= self.max_buffer:
            return False
        self._queue.append(item)
        self._wake_reader()
        return True

    def need_stream(self) -> None:
        """What is queued here must reach the client before the response (a question the
        client must answer, a ``subscriptions/listen`` stream): a transport that answers with
        the response alone (HTTP's JSON responses) streams instead."""
        self.needs_stream = True

    def attach(self) -> None:
        """A request whose messages go here has started."""
        self._in_flight += 1

    def detach(self) -> None:
        """A request attached here has queued its response, or was dropped."""
        self._in_flight -= 1
        if not self._in_flight:
            if self._sealed:
                self.close()
            if self._detached is not None:
                self._detached.unpark_all()

    @property
    def attached(self) -> int:
        """How many requests attached here have not detached yet."""
        return self._in_flight

    async def wait_detached(self) -> None:
        """Wait until every request attached here has detached (its task is ending)."""
        if self._detached is None:
            self._detached = trio.lowlevel.ParkingLot()
        while self._in_flight:
            await self._detached.park()

    def seal(self) -> None:
        """No more requests will be attached: close once the attached ones are done."""
        self._sealed = True
        if not self._in_flight:
            self.close()

    def close(self) -> None:
        """Accept nothing more; the consumer still gets what is already queued."""
        self._closed = True
        self._wake_reader(every=True)
        if self._writable is not None:
            self._writable.unpark_all()

    def abort(self) -> None:
        """Close and drop what is queued: waiting senders return ``False``."""
        self._queue.clear()
        self.close()

    def put_back(self, taken: list[Outgoing]) -> None:
        """Return messages taken by :meth:`next_batch` to the front of the queue, in order
        (a consumer that hands the outbox over to another)."""
        if taken:
            self._queue[:0] = taken
            self._sent -= len(taken)
            self._wake_reader()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def ready(self) -> bool:
        """Whether :meth:`next_batch` would return at once (messages queued, or closed)."""
        return self._closed or bool(self._queue)

    async def next_batch(self) -> list[Outgoing] | None:
        """Wait for messages and take everything queued (one write's worth); ``None`` once the
        outbox is closed and drained. Safe to cancel: nothing is lost."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._queue:
            if self._closed:
                return None
            if self._reader is None:  # the one consumer waiting: a bare task (see __init__)
                self._reader = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(self._stop_waiting)
            else:  # another consumer waits already
                if self._readers is None:
                    self._readers = trio.lowlevel.ParkingLot()
                await self._readers.park()
        batch, self._queue = self._queue, []
        if self._writable is not None:
            self._writable.unpark_all()
        self._peak = max(self._peak, len(batch))
        self._sent += len(batch)
        return batch

    def _stop_waiting(self, _: Any) -> trio.lowlevel.Abort:
        self._reader = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake_reader(self, *, every: bool = False) -> None:
        reader = self._reader
        if reader is not None:
            self._reader = None
            trio.lowlevel.reschedule(reader)
            if not every:
                return
        if self._readers is not None:
            self._readers.unpark(count=math.inf if every else 1)

    async def batches(self) -> AsyncIterator[list[Outgoing]]:
        """Yield :meth:`next_batch` until the outbox is closed and drained."""
        while (batch := await self.next_batch()) is not None:
            yield batch

    def statistics(self) -> OutboxStatistics:
        return OutboxStatistics(
            buffered=len(self._queue),
            max_buffer=self.max_buffer,
            peak=max(self._peak, len(self._queue)),
            sent=self._sent,
            closed=self._closed,
        )
