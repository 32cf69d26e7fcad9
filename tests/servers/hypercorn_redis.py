"""An app for ``hypercorn --workers N --worker-class trio`` sharing its tasks through Redis
(``REDIS_URL``), as docs/deployment.md shows: every answer says which worker gave it."""

from __future__ import annotations

import os

import trio

import trimcp

server = trimcp.Server("hypercorn-workers", backend=trimcp.RedisBackend(os.environ["REDIS_URL"]))


@server.tool
async def pid() -> int:
    return os.getpid()


@server.tool(task_support="required")
async def job() -> int:
    await trio.sleep(30)
    return os.getpid()


app = trimcp.asgi_app(server)
