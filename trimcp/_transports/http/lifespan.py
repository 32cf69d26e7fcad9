"""The ASGI lifespan of an :class:`~.app.MCPApp`: what runs while the app serves, in order.

Start: the backend connects, the server's lifespan starts, the blocked-loop watchdog runs;
then the app's sessions and tasks live in this nursery. Shutdown, in reverse: listeners end,
tasks and sessions are cancelled (reason: shutdown) and waited for, then the server's lifespan
exits, then the backend disconnects (after the last task stored its end).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from ..._runtime import CancelReason
from ..._runtime.watchdog import watch_event_loop
from ..._server.backend import BackendUnavailable
from .asgi import Receive, Send

if TYPE_CHECKING:
    from .app import MCPApp

logger = logging.getLogger("trimcp.http")


async def run_lifespan(app: MCPApp, receive: Receive, send: Send) -> None:
    """Serve the ASGI lifespan protocol for ``app``. A backend that cannot be reached or a
    server lifespan that fails to start fails the startup (with its reason)."""
    message = await receive()
    if message["type"] != "lifespan.startup":
        return
    server = app.server
    async with trio.open_nursery() as connected:  # the backend: first in, last out
        try:
            await connected.start(server.backend.run)
        except BackendUnavailable as exc:
            await send({"type": "lifespan.startup.failed", "message": exc.message})
            return
        async with trio.open_nursery() as held:  # the server's lifespan: it exits after the last request
            try:
                if server.lifespan is not None:
                    await server.lifespan.enter(server, held)
            except Exception as exc:
                logger.exception("The server's lifespan failed to start")
                await send({"type": "lifespan.startup.failed", "message": f"the server's lifespan failed: {exc!r}"})
                connected.cancel_scope.cancel()
                return
            try:
                await _serve(app, receive, send)
            finally:
                if server.lifespan is not None:
                    server.lifespan.leave()
        connected.cancel_scope.cancel()
    await send({"type": "lifespan.shutdown.complete"})


async def _serve(app: MCPApp, receive: Receive, send: Send) -> None:
    async with trio.open_nursery() as nursery:
        app.adopt(nursery)
        watchdog = trio.CancelScope()
        if app.config.blocked_loop_warning_seconds is not None:
            nursery.start_soon(_watch_in, watchdog, app.config.blocked_loop_warning_seconds)
        try:
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        finally:  # also when the server's task is cancelled: tasks are shielded, so end them
            app.server.close_listeners()
            app.server.tasks.stop(CancelReason.SHUTDOWN)
            app.sessions.close_all(CancelReason.SHUTDOWN)
            app.legacy.close_all(CancelReason.SHUTDOWN)
            app.stop_relaying()
            watchdog.cancel()


async def _watch_in(scope: trio.CancelScope, threshold_seconds: float) -> None:
    with scope:
        await watch_event_loop(threshold_seconds)
