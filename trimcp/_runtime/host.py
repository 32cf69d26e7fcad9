"""A nursery for work that outlives the requests that start it (HTTP sessions, tasks)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

logger = logging.getLogger("trimcp")


class Host:
    """A nursery to start long-lived work in: the ASGI lifespan's when the server runs one
    (:meth:`adopt`), else one started as a Trio system task on first use (stdio, in-process,
    an app mounted where no lifespan reaches it). A new Trio run gets a new one.
    ``on_cancelled`` is called when the system task is cancelled (the run ends), before the
    work in it sees the cancellation, so it can end that work with its own reason."""

    def __init__(self, on_cancelled: Callable[[], None], *, name: str) -> None:
        self._name = name
        self._on_cancelled = on_cancelled
        self._nursery: trio.Nursery | None = None
        self._token: object = None
        self._ready: trio.Event | None = None

    def adopt(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._token = trio.lowlevel.current_trio_token()

    async def nursery(self) -> trio.Nursery:
        token = trio.lowlevel.current_trio_token()
        if self._nursery is not None and self._token is token:
            return self._nursery
        if self._ready is None or self._token is not token:
            self._nursery, self._ready, self._token = None, trio.Event(), token
            trio.lowlevel.spawn_system_task(self._run_system_host, self._ready)
        await self._ready.wait()
        assert self._nursery is not None
        return self._nursery

    async def _run_system_host(self, ready: trio.Event) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self.adopt(nursery)
                ready.set()
                try:
                    await trio.sleep_forever()
                finally:
                    self._on_cancelled()  # the run is ending: the work ends with reason "shutdown"
        except BaseExceptionGroup as group:
            if group.split(trio.Cancelled)[1] is not None:
                logger.exception("The %s host failed", self._name)
            # else: only the run's own cancellation, seen through the sessions' nurseries
        except trio.Cancelled:
            raise
        except BaseException:
            logger.exception("The %s host failed", self._name)
