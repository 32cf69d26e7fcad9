"""Serving the HTTP app on hypercorn (its protocol layer and configuration, driven by trimcp's
lean trio worker), with trimcp's graceful shutdown."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hypercorn.config
import trio
from hypercorn.utils import wrap_app

from ..._server.server import Server
from .app import MCPApp
from .lean_worker import serve_lean
from .security import SecurityPolicy

#: Connections the kernel may hold before they are accepted (hypercorn's default is 100: a
#: burst of 1,000 connections then waits for SYN retransmissions, seconds). Linux caps it at
#: ``net.core.somaxconn`` (4096 by default).
DEFAULT_BACKLOG = 2048


def hypercorn_config(
    *,
    host: str,
    port: int,
    certfile: str | None = None,
    keyfile: str | None = None,
    graceful_timeout: float = 5.0,
    backlog: int = DEFAULT_BACKLOG,
) -> hypercorn.config.Config:
    """A hypercorn configuration binding ``host:port`` (TLS when a certificate is given), with
    room for ``backlog`` connections waiting to be accepted."""
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"]
    config.certfile = certfile
    config.keyfile = keyfile
    config.graceful_timeout = graceful_timeout
    config.backlog = backlog
    config.accesslog = None
    return config


async def serve_http(
    target: Server | MCPApp | Callable[..., Awaitable[None]],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    certfile: str | None = None,
    keyfile: str | None = None,
    graceful_timeout: float = 5.0,
    backlog: int = DEFAULT_BACKLOG,
    handle_signals: bool = True,
    config: hypercorn.config.Config | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    **app_options: Any,
) -> None:
    """Serve a server (or an app built by :func:`asgi_app`, or any ASGI app mounting one) over
    Streamable HTTP until cancelled or, with ``handle_signals``, until SIGINT/SIGTERM.

    A signal starts a graceful shutdown: new work is refused, idle GET streams end, running
    requests get ``graceful_timeout`` seconds, then are cancelled (reason: shutdown) and the
    server stops. A second signal stops at once. ``task_status.started()`` receives the
    bound addresses (useful with ``port=0``).

    ``backlog`` bounds the connections waiting to be accepted. ``config``, a
    ``hypercorn.config.Config``, replaces the address, TLS, grace and backlog options (for
    hypercorn's other settings: timeouts, limits, binds, ALPN, access log).
    """
    app = MCPApp(target, **app_options) if isinstance(target, Server) else target
    if config is None:
        config = hypercorn_config(
            host=host,
            port=port,
            certfile=certfile,
            keyfile=keyfile,
            graceful_timeout=graceful_timeout,
            backlog=backlog,
        )
    graceful_timeout = config.graceful_timeout
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run_server(task_status: trio.TaskStatus[list[str]]) -> None:
            wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
            await serve_lean(wrapped, config, shutdown_trigger=stop.wait, task_status=task_status)
            nursery.cancel_scope.cancel(reason="server stopped")

        binds: list[str] = await nursery.start(run_server)
        task_status.started(binds)
        if handle_signals:
            nursery.start_soon(_shutdown_on_signals, app, graceful_timeout, stop, nursery.cancel_scope)


async def _shutdown_on_signals(app: Any, grace: float, stop: trio.Event, scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        await signals.__anext__()
        async with trio.open_nursery() as nursery:

            async def second_signal() -> None:
                await signals.__anext__()
                scope.cancel(reason="second signal")

            nursery.start_soon(second_signal)
            if isinstance(app, MCPApp):
                await app.shutdown(grace)
            stop.set()
            nursery.cancel_scope.cancel()


def asgi_app(
    server: Server,
    *,
    path: str = "/mcp",
    allowed_hosts: Sequence[str] | None = None,
    allowed_origins: Sequence[str] | None = None,
    cors_origins: Sequence[str] = (),
    **options: Any,
) -> MCPApp:
    """The Streamable HTTP endpoint for ``server`` as an ASGI app (mountable; ``path`` is
    relative to the mount). Serve it with ``hypercorn --worker-class trio module:app`` or
    :func:`serve_http`. See :class:`MCPApp` for the options."""
    security = SecurityPolicy(
        allowed_hosts=tuple(allowed_hosts) if allowed_hosts is not None else None,
        allowed_origins=tuple(allowed_origins) if allowed_origins is not None else None,
        cors_origins=tuple(cors_origins),
    )
    return MCPApp(server, path=path, security=security, **options)
