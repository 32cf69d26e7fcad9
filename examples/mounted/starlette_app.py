"""A trimcp server mounted in a Starlette application, served by hypercorn's trio worker.

    hypercorn --worker-class trio --bind 127.0.0.1:8000 examples/mounted/starlette_app.py:app

- ``GET /`` is an ordinary Starlette route;
- ``/mcp-app/mcp`` is the MCP endpoint (Streamable HTTP, every protocol revision): the trimcp
  app answers at its ``path`` relative to where it is mounted;
- ``GET /mcp-app/healthz`` is trimcp's health check (200 while serving).

Starlette does not pass lifespan events on to mounted apps, so the lifespan below runs the
trimcp app's own: its handshake-era sessions then live in a nursery that this lifespan owns,
and they end (their running tools cancelled with reason "shutdown") when the lifespan ends.
Without it, trimcp starts that nursery as a Trio system task on first use and ends it when
the Trio run ends: the same outcome, with nothing to show for it in your lifespan.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import trimcp
from trimcp import Context

log = logging.getLogger("mounted.starlette")

server = trimcp.Server("mounted-starlette", version="1.0.0")


@server.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool
async def slow(ctx: Context, seconds: float = 30.0) -> str:
    """Wait for `seconds` (cancellable)."""
    log.info("slow(%g) started", seconds)
    try:
        await trio.sleep(seconds)
        return f"waited {seconds:g} s"
    finally:  # runs however the call ends: returned, cancelled by the client, or shut down
        log.info("slow(%g) ended; cancel reason: %s", seconds, ctx.cancel_reason)


mcp = trimcp.asgi_app(server, path="/mcp", health_path="/healthz")


@contextlib.asynccontextmanager
async def run_lifespan(asgi_app: Any) -> AsyncIterator[None]:
    """Run ``asgi_app``'s ASGI lifespan for as long as the block: startup on entry, shutdown
    on exit (or cancellation with the block). Raises ``RuntimeError`` if its startup fails."""
    to_app, app_receive = trio.open_memory_channel[dict[str, Any]](1)
    app_send, from_app = trio.open_memory_channel[dict[str, Any]](1)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(asgi_app, scope, app_receive.receive, app_send.send)
        await to_app.send({"type": "lifespan.startup"})
        answer = await from_app.receive()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the mounted app did not start: {answer}")
        yield
        await to_app.send({"type": "lifespan.shutdown"})
        await from_app.receive()  # lifespan.shutdown.complete: its sessions have ended


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # open your own resources here (database pools...), then run the trimcp app's lifespan
    async with run_lifespan(mcp):
        yield


async def homepage(request: Request) -> JSONResponse:
    return JSONResponse({"app": "starlette", "mcp": str(request.url_for("mcp", path="/mcp"))})


app = Starlette(
    routes=[
        Route("/", homepage),
        Mount("/mcp-app", app=mcp, name="mcp"),
    ],
    lifespan=lifespan,
)


async def main(bind: str = "127.0.0.1:8000") -> None:
    """Serve ``app`` with hypercorn (``python examples/mounted/starlette_app.py [HOST:PORT]``),
    shutting the MCP endpoint down gracefully on SIGINT/SIGTERM before hypercorn stops: new
    MCP requests get 503, idle streams end, running calls get the app's
    ``graceful_timeout_seconds`` (5 s), then are cancelled with reason "shutdown" and their
    streams end properly (under the ``hypercorn`` command they are cut when hypercorn's own
    ``--graceful-timeout`` passes). A second signal stops everything at once."""
    config = hypercorn.config.Config()
    config.bind = [bind]
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            first_signal = trio.Event()

            async def watch_signals() -> None:
                await signals.__anext__()
                first_signal.set()
                await signals.__anext__()
                nursery.cancel_scope.cancel()

            async def shutdown_trigger() -> None:  # hypercorn stops accepting when it returns
                await first_signal.wait()
                await mcp.shutdown(mcp.config.graceful_timeout_seconds)

            nursery.start_soon(watch_signals)
            await hypercorn.trio.serve(app, config, shutdown_trigger=shutdown_trigger)
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trio.run(main, *sys.argv[1:2])
