"""A server with long tools that report progress (and log) every 50 ms, for the interrupt tests.

``slow_tool``'s ``finally`` appends ``<cancel reason>\\t<time.time()>\\t<pid>`` to the file named
by the ``SLOW_TOOL_RECORD`` environment variable (when set), so a test in another process can see
why, when and in which process the tool stopped. ``app`` serves the tools over Streamable HTTP
(``hypercorn --worker-class trio tests.servers.slow_tool:app``).
"""

from __future__ import annotations

import os
import time

import trio

import trimcp
from trimcp import Context

server = trimcp.Server("slow-tool")
RECORD_VARIABLE = "SLOW_TOOL_RECORD"
STEPS = 600
STEP_SECONDS = 0.05


@server.tool
async def slow_tool(ctx: Context) -> str:
    """Work for 30 s, reporting progress every 50 ms; record why it stopped."""
    try:
        await _work(ctx)
        return "finished"
    finally:
        _record(str(ctx.cancel_reason))


@server.tool
async def stubborn_tool(ctx: Context) -> str:
    """Work as ``slow_tool`` does, but take 30 s to clean up, even when cancelled."""
    try:
        await _work(ctx)
        return "finished"
    finally:
        with trio.CancelScope(shield=True):
            await trio.sleep(STEPS * STEP_SECONDS)


async def _work(ctx: Context) -> None:
    for step in range(1, STEPS + 1):
        await ctx.progress(step, total=STEPS, message=f"step {step}")
        await ctx.info(f"step {step}")
        await trio.sleep(STEP_SECONDS)


def _record(reason: str) -> None:
    """Append ``reason``, the wall-clock time and this process's id to the record file, when
    one is named."""
    path = os.environ.get(RECORD_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as record:
            record.write(f"{reason}\t{time.time()}\t{os.getpid()}\n")


app = trimcp.asgi_app(server)
