"""The server that ``trimcp serve --workers 2 --redis URL`` runs behind HAProxy in
tests/test_scale_out.py and benchmarks/workers.py: every answer says which worker process gave it."""

from __future__ import annotations

import os
import time
from typing import Any

import trio

import trimcp
from trimcp import Context

server = trimcp.Server("scale-out")
FORM = {"type": "object", "properties": {"value": {"type": "string"}}}


@server.tool
async def pid() -> int:
    """The pid of the worker serving this call."""
    return os.getpid()


@server.tool
async def add(a: int, b: int) -> int:
    """``a + b`` (the benchmarks' call, benchmarks/call.lua)."""
    return a + b


@server.tool
async def ask(ctx: Context) -> dict[str, Any]:
    """A multi-round-trip call (2026-07-28): the first round asks for a value in a question that
    names the worker asking; the retry answers with the value and the worker answering."""
    answer = await ctx.elicit(f"asked by {os.getpid()}", FORM, key="value")
    return {"value": (answer.content or {}).get("value"), "pid": os.getpid()}


@server.resource("test://doc/{name}")
def doc(name: str) -> str:
    return name


@server.tool
async def touch(uri: str) -> dict[str, Any]:
    """Raise an update of ``uri``; returns once it is published, with the worker that raised it
    and when (``time.monotonic()``, comparable between processes of one machine)."""
    raised_at = time.monotonic()
    await server.notify_resource_updated(uri)
    return {"pid": os.getpid(), "raised_at": raised_at}


@server.tool(task_support="required")
async def chore(ctx: Context, seconds: float = 0, question: bool = True) -> str:
    """A task whose status message names its worker; with ``question`` it asks for a value
    (answered by ``tasks/update``), then works ``seconds`` and returns ``"<value> by <pid>"``."""
    await ctx.progress(1, message=f"pid {os.getpid()}")
    value = None
    if question:
        await trio.sleep(0.1)  # past the publish window: the question is the task's
        answer = await ctx.elicit("Value?", FORM, key="value")
        value = (answer.content or {}).get("value")
    await trio.sleep(seconds)
    return f"{value} by {os.getpid()}"


@server.tool
async def report(index: int, steps: int, ctx: Context) -> dict[str, Any]:
    """``steps`` progress notifications and log messages naming ``index``, then the worker's pid
    (handshake-era sessions across workers, tests/test_scale_out_sessions.py)."""
    for step in range(1, steps + 1):
        await ctx.progress(step, steps, message=f"call {index} step {step}")
        await ctx.info(f"call {index} step {step}")
    return {"index": index, "pid": os.getpid()}


@server.tool
async def question(index: int, ctx: Context) -> dict[str, Any]:
    """An elicitation and a sampling round trip naming ``index``; returns both answers."""
    answer = await ctx.elicit(f"value for {index}?", FORM)
    sampled = await ctx.sample(f"say {index}", max_tokens=10)
    return {"value": (answer.content or {}).get("value"), "sampled": sampled.text, "pid": os.getpid()}


@server.tool
async def slow_steps(steps: int, ctx: Context, pause: float = 0.05) -> str:
    """``steps`` progress notifications ``pause`` seconds apart (a stream to cut and resume)."""
    for step in range(1, steps + 1):
        await ctx.progress(step, steps)
        await trio.sleep(pause)
    return f"done {steps} by {os.getpid()}"
