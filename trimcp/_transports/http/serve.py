"""Serving the HTTP app with hypercorn's trio worker, with trimcp's graceful shutdown."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio

from ..._server.server import Server
from .app import MCPApp
from .security import SecurityPolicy


def hypercorn_config(
    *,
    host: str,
    port: int,
    certfile: str | None = None,
    keyfile: str | None = None,
    graceful_timeout: float = 5.0,
) -> hypercorn.config.Config:
    """A hypercorn configuration binding ``host:port`` (TLS when a certificate is given)."""
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"]
    config.certfile = certfile
    config.keyfile = keyfile
    config.graceful_timeout = graceful_timeout
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
    handle_signals: bool = True,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    **app_options: Any,
) -> None:
    """Serve a server (or an app built by :func:`asgi_app`, or any ASGI app mounting one) over
    Streamable HTTP until cancelled or, with ``handle_signals``, until SIGINT/SIGTERM.

    A signal starts a graceful shutdown: new work is refused, idle GET streams end, running
    requests get ``graceful_timeout`` seconds, then are cancelled (reason: shutdown) and
    hypercorn stops. A second signal stops at once. ``task_status.started()`` receives the
    bound addresses (useful with ``port=0``).
    """
    app = MCPApp(target, **app_options) if isinstance(target, Server) else target
    config = hypercorn_config(
        host=host, port=port, certfile=certfile, keyfile=keyfile, graceful_timeout=graceful_timeout
    )
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run_hypercorn(task_status: trio.TaskStatus[list[str]]) -> None:
            await hypercorn.trio.serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)
            nursery.cancel_scope.cancel(reason="server stopped")

        binds: list[str] = await nursery.start(run_hypercorn)
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
