"""Serving the HTTP app on hypercorn (its protocol layer and configuration, driven by trimcp's
lean trio worker), with trimcp's graceful shutdown."""

from __future__ import annotations

import ipaddress
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import hypercorn.config
import trio
from hypercorn.utils import wrap_app

from ..._server.server import Server
from .app import MCPApp
from .config import LISTENING_SETTINGS, HTTPConfig
from .lean_worker import serve_lean

logger = logging.getLogger("trimcp.http")


async def serve_http(
    target: Server | MCPApp | Callable[..., Awaitable[None]],
    config: HTTPConfig | None = None,
    *,
    handle_signals: bool = True,
    hypercorn_config: hypercorn.config.Config | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    **settings: Any,
) -> None:
    """Serve a server (or an app built by :func:`asgi_app`, or any ASGI app mounting one) over
    Streamable HTTP until cancelled or, with ``handle_signals``, until SIGINT/SIGTERM.

    The settings are ``config``'s, else those of the :class:`MCPApp` served, else the
    defaults; keywords (:class:`HTTPConfig`'s fields: ``port=0``, ``json_response=True``…)
    change them (for an app built already, only the listening ones: ``TypeError`` otherwise). A signal starts a graceful shutdown: new work is refused, idle GET streams
    end, running requests get ``graceful_timeout_seconds``, then are cancelled (reason:
    shutdown) and the server stops. A second signal stops at once. ``task_status.started()``
    receives the bound addresses (useful with ``port=0``).

    ``hypercorn_config``, a ``hypercorn.config.Config``, replaces the listening settings (for
    hypercorn's others: binds, ALPN, access log, h2 limits).
    """
    if not isinstance(target, Server) and settings.keys() - LISTENING_SETTINGS:
        named = ", ".join(sorted(settings.keys() - LISTENING_SETTINGS))
        raise TypeError(f"serve_http: {named} configure the app, which is built already: give them to asgi_app")
    if config is None:
        config = target.config if isinstance(target, MCPApp) else HTTPConfig()
    config = config.evolve(**settings)
    app = MCPApp(target, config) if isinstance(target, Server) else target
    if isinstance(app, MCPApp) and (warning := exposure_warning(config.host, app.config)):
        logger.warning(warning)
    if hypercorn_config is None:
        hypercorn_config = config.hypercorn_config()
    grace = hypercorn_config.graceful_timeout
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run_server(task_status: trio.TaskStatus[list[str]]) -> None:
            wrapped = wrap_app(app, hypercorn_config.wsgi_max_body_size, "asgi")
            await serve_lean(wrapped, hypercorn_config, config, shutdown_trigger=stop.wait, task_status=task_status)
            nursery.cancel_scope.cancel(reason="server stopped")

        binds: list[str] = await nursery.start(run_server)
        task_status.started(binds)
        if handle_signals:
            nursery.start_soon(_shutdown_on_signals, app, grace, stop, nursery.cancel_scope)


async def _shutdown_on_signals(app: Any, grace: float, stop: trio.Event, scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        await signals.__anext__()
        logger.info("Shutting down: running requests get up to %g s to finish (signal again to stop at once)", grace)
        async with trio.open_nursery() as nursery:

            async def second_signal() -> None:
                await signals.__anext__()
                scope.cancel(reason="second signal")

            nursery.start_soon(second_signal)
            if isinstance(app, MCPApp):
                await app.shutdown(grace)
            stop.set()
            nursery.cancel_scope.cancel()


def asgi_app(server: Server, config: HTTPConfig | None = None, **settings: Any) -> MCPApp:
    """The Streamable HTTP endpoint for ``server`` as an ASGI app (mountable; its ``path`` is
    relative to the mount), with ``config``'s settings changed by keywords (:class:`HTTPConfig`'s
    fields: ``path="/mcp"``, ``json_response=True``…). Serve it with ``hypercorn
    --worker-class trio module:app`` or :func:`serve_http`."""
    return MCPApp(server, (config if config is not None else HTTPConfig()).evolve(**settings))


def exposure_warning(host: str, config: HTTPConfig) -> str | None:
    """What to warn about when an endpoint without authentication listens beyond loopback."""
    if config.auth is not None:
        return None
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"Serving on {host} without authentication: anyone who reaches this address can call every tool. "
        "Set HTTPConfig(auth=...) or trimcp serve --auth-issuer/--api-key-file (docs/auth.md)."
    )
