"""The lean worker's per-connection synchronisation, made small: thousands of connections
stay open at once (listen and GET streams), and each ``trio.Lock`` or ``trio.Event`` would
hold a parking lot (~0.8 KiB) that almost none of them ever uses."""

from __future__ import annotations

import trio
from hypercorn.trio.worker_context import WorkerContext


class LazyLock:
    """``trio.Lock`` as a connection's writes use it (``async with``: a checkpoint, FIFO
    hand-over to waiters), its parking lot made only when a writer has to wait."""

    __slots__ = ("_held", "_lot")

    def __init__(self) -> None:
        self._held = False
        self._lot: trio.lowlevel.ParkingLot | None = None

    async def __aenter__(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._held:
            self._held = True
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        if self._lot is None:
            self._lot = trio.lowlevel.ParkingLot()
        await self._lot.park()  # woken holding the lock

    async def __aexit__(self, *exc_info: object) -> None:
        if self._lot:
            self._lot.unpark()  # the lock passes to the first waiter
        else:
            self._held = False


class LazyEvent:
    """hypercorn's ``EventWrapper`` (async ``set``/``clear``/``wait``, ``is_set``), its
    ``trio.Event`` made only when someone waits (rarely: at most one per connection)."""

    __slots__ = ("_event", "_is_set")

    def __init__(self) -> None:
        self._event: trio.Event | None = None
        self._is_set = False

    async def clear(self) -> None:
        self._event, self._is_set = None, False  # waiters on the old event go on waiting on it, as hypercorn's do

    async def wait(self) -> None:
        if self._event is None:
            self._event = trio.Event()
            if self._is_set:
                self._event.set()
        await self._event.wait()

    async def set(self) -> None:
        self._is_set = True
        if self._event is not None:
            self._event.set()

    def is_set(self) -> bool:
        return self._is_set


class LeanWorkerContext(WorkerContext):
    """hypercorn's worker context, with :class:`LazyEvent` for the events it makes per connection."""

    event_class = LazyEvent  # type: ignore[assignment]
