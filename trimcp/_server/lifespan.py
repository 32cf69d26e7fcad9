"""A server's lifespan: the user's async context manager, entered once per process before
anything is served and exited after the last request, its value reachable from every tool
(``ctx.lifespan``, or a parameter annotated with the type it yields)."""

from __future__ import annotations

import collections.abc
import contextlib
import typing
from collections.abc import Callable
from typing import Any

import trio

#: What ``Server(lifespan=...)`` takes: called with the server, it returns an async context
#: manager (an ``@asynccontextmanager`` function, say) whose value the tools receive.
LifespanFunction = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]

_NOT_RUNNING = object()


class LifespanNotRunning(RuntimeError):
    """A tool asked for the lifespan's value where the lifespan does not run."""


class ServerLifespan:
    """Runs one server's lifespan function in a task of its own (so it may open nurseries)
    while at least one transport serves the server; ``state_type`` is the type it yields, when
    its annotation says (parameters of that type are injected)."""

    def __init__(self, function: LifespanFunction) -> None:
        self.function = function
        self.state_type = yielded_type(function)
        self._users = 0
        self._value: Any = _NOT_RUNNING
        self._stop = trio.Event()
        self._lock = trio.Lock()

    @property
    def value(self) -> Any:
        """What the lifespan yielded. Raises :class:`LifespanNotRunning` outside it."""
        if self._value is _NOT_RUNNING:
            raise LifespanNotRunning(
                "the server's lifespan is not running (an app mounted without ASGI lifespan events never starts it)"
            )
        return self._value

    async def enter(self, server: Any, nursery: trio.Nursery) -> None:
        """Start the lifespan (in ``nursery``) unless it runs already; returns once it has
        yielded. Raises what the lifespan raises while starting."""
        async with self._lock:
            if self._users == 0:
                self._stop = trio.Event()
                await nursery.start(self._hold, server)
            self._users += 1

    def leave(self) -> None:
        """One user less: the last one makes the lifespan exit (in its own task)."""
        self._users -= 1
        if self._users == 0:
            self._stop.set()

    @contextlib.asynccontextmanager
    async def running(self, server: Any, nursery: trio.Nursery) -> collections.abc.AsyncIterator[None]:
        """:meth:`enter` for the block, then :meth:`leave`."""
        await self.enter(server, nursery)
        try:
            yield
        finally:
            self.leave()

    async def _hold(self, server: Any, task_status: trio.TaskStatus[None]) -> None:
        stop = self._stop
        async with self.function(server) as value:
            self._value = value
            task_status.started()
            try:
                await stop.wait()  # its last user left (or the run is being cancelled)
            finally:
                self._value = _NOT_RUNNING


def yielded_type(function: LifespanFunction) -> type | None:
    """The class a lifespan function yields, from its return annotation (``AsyncIterator[T]``,
    ``AsyncGenerator[T, None]`` or ``AbstractAsyncContextManager[T]``), else ``None``. Raises
    ``TypeError`` when its annotations cannot be resolved."""
    try:
        hints = typing.get_type_hints(getattr(function, "__wrapped__", function))
    except (NameError, TypeError, AttributeError) as exc:
        raise TypeError(f"cannot resolve the annotations of the lifespan {function!r}: {exc}") from exc
    returned = hints.get("return")
    origin = typing.get_origin(returned)
    wrappers = (
        collections.abc.AsyncIterator,
        collections.abc.AsyncGenerator,
        collections.abc.AsyncIterable,
        contextlib.AbstractAsyncContextManager,
    )
    if origin not in wrappers:
        return None
    arguments = typing.get_args(returned)
    state = arguments[0] if arguments else None
    if not isinstance(state, type) or state in (object, dict, list, tuple, type(None)):
        return None
    return state
