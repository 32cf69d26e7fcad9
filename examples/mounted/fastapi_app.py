"""A trimcp server mounted in a FastAPI application, served by hypercorn's trio worker.

    hypercorn --worker-class trio --bind 127.0.0.1:8000 examples/mounted/fastapi_app.py:app

- ``GET /`` is an ordinary FastAPI route (and ``/docs`` FastAPI's own pages);
- ``/mcp-app/mcp`` is the MCP endpoint (Streamable HTTP, every protocol revision): the trimcp
  app answers at its ``path`` relative to where it is mounted;
- ``GET /mcp-app/healthz`` is trimcp's health check (200 while serving).

FastAPI (Starlette underneath) does not pass lifespan events on to mounted apps, so the
lifespan below runs the trimcp app's own: its handshake-era sessions then live in a nursery
that this lifespan owns, and they end (their running tools cancelled with reason "shutdown")
when the lifespan ends. Without it, trimcp starts that nursery as a Trio system task on first
use and ends it when the Trio run ends: the same outcome, with nothing to show for it in your
lifespan. FastAPI runs on AnyIO, so under hypercorn's trio worker its routes run on Trio too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import trio
from fastapi import FastAPI

import trimcp
from trimcp import Context

log = logging.getLogger("mounted.fastapi")

server = trimcp.Server("mounted-fastapi", version="1.0.0")


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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # open your own resources here (database pools...), then run the trimcp app's lifespan
    async with run_lifespan(mcp):
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/")
async def index() -> dict[str, str]:
    return {"app": "fastapi", "mcp": "/mcp-app/mcp"}


app.mount("/mcp-app", mcp)
