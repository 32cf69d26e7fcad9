"""A trimcp server mounted in a Quart application (the Trio flavour, quart-trio), served by
hypercorn's trio worker.

    hypercorn --worker-class trio --bind 127.0.0.1:8000 examples/mounted/quart_app.py:app

- ``GET /`` is an ordinary Quart route;
- ``/mcp-app/mcp`` is the MCP endpoint (Streamable HTTP, every protocol revision): the trimcp
  app answers at its ``path`` relative to where it is mounted;
- ``GET /mcp-app/healthz`` is trimcp's health check (200 while serving).

Plain Quart runs on asyncio and cannot host a Trio app: use ``quart_trio.QuartTrio``. Quart
has no mounts; the way to put another ASGI app beside it is to wrap ``app.asgi_app`` (Quart's
place for ASGI middleware) in hypercorn's ``TrioDispatcherMiddleware``, which sends requests
under ``/mcp-app`` to trimcp, everything else to Quart, and lifespan events to both: trimcp's
handshake-era sessions live in its own lifespan's nursery and end (their running tools
cancelled with reason "shutdown") when the lifespan ends.
"""

from __future__ import annotations

import logging

import trio
from hypercorn.middleware.dispatcher import TrioDispatcherMiddleware
from quart_trio import QuartTrio

import trimcp
from trimcp import Context

log = logging.getLogger("mounted.quart")

server = trimcp.Server("mounted-quart", version="1.0.0")


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

app = QuartTrio(__name__)


@app.get("/")
async def index() -> dict[str, str]:
    return {"app": "quart-trio", "mcp": "/mcp-app/mcp"}


# the longer prefix first: the dispatcher takes the first one the path starts with
app.asgi_app = TrioDispatcherMiddleware({"/mcp-app": mcp, "": app.asgi_app})  # type: ignore[method-assign]
