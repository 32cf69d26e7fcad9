"""The server the live fuzzers talk to: every tool answers at once (a slow tool would look like a
hang), yet together they reach argument validation, structured output, logs and progress,
tool errors, ``x-mcp-header`` routing, multi-round-trip questions, tasks, resources, templates,
prompts and completions.

Serve it with ``python -m trimcp serve tests/fuzz/server.py:server [--transport streamable-http]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import trio

import trimcp
from trimcp import Context, ToolError

#: What the ``crashes`` tool raises: the one traceback the server is expected to log.
CRASH_MESSAGE = "the fuzz server's crashes tool"

server = trimcp.Server("trimcp-fuzz", version="0.0.1", instructions="Fast tools for the fuzz harness.")

ROUTED_SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "on": {"type": "boolean", "x-mcp-header": "On"},
        "nested": {"type": "object", "properties": {"zone": {"type": "string", "x-mcp-header": "Zone"}}},
    },
    "required": ["region"],
}


@dataclass
class Pair:
    left: int
    right: str


@server.tool
def echo(text: str) -> str:
    """Return ``text`` unchanged (peer-controlled strings flow back out)."""
    return text


@server.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool
def mixed(
    flag: bool = False,
    ratio: float = 1.0,
    items: list[str] | None = None,
    extra: dict | None = None,
    mode: Literal["a", "b"] = "a",
) -> dict:
    """Echo every kind of argument back as structured output."""
    return {"flag": flag, "ratio": ratio, "items": items, "extra": extra, "mode": mode}


@server.tool
def pair(left: int, right: str) -> Pair:
    """A dataclass result (an output schema)."""
    return Pair(left, right)


@server.tool(input_schema=ROUTED_SCHEMA)
def routed(region: str, count: int = 0, on: bool = False, nested: dict | None = None) -> str:
    """Arguments mirrored into ``Mcp-Param-*`` headers."""
    return f"{region}/{count}/{on}/{nested}"


@server.tool
async def chatty(ctx: Context, steps: int = 2) -> str:
    """Logs and progress without sleeping (at most five steps)."""
    steps = max(0, min(steps, 5))
    for step in range(steps):
        await ctx.info(f"step {step}")
        await ctx.progress(step + 1, steps)
    return "chatted"


@server.tool
async def drip(ctx: Context, steps: int = 3, delay: float = 0.01) -> str:
    """Progress a step at a time, with short pauses (at most ten steps of 50 ms): a stream
    that lasts long enough to be taken over by a resumption while it runs."""
    steps, delay = max(0, min(steps, 10)), max(0.0, min(delay, 0.05))
    for step in range(steps):
        await ctx.progress(step + 1, steps)
        await trio.sleep(delay)
    return "dripped"


@server.tool
def fails(message: str = "no") -> str:
    """A tool error (``isError`` result)."""
    raise ToolError(message)


@server.tool
def crashes() -> str:
    """An unexpected exception inside a tool."""
    raise RuntimeError(CRASH_MESSAGE)


@server.tool
async def ask(ctx: Context) -> str:
    """Elicitation: ``input_required`` in 2026-07-28; -32021 in the handshake era, whose fuzzed
    clients never declare the capability (so nothing waits for an answer)."""
    answer = await ctx.elicit("Name?", {"type": "object", "properties": {"name": {"type": "string"}}}, key="who")
    return f"{answer.action}:{answer.content}"


@server.tool(task_support="optional")
def job(n: int = 1) -> int:
    """A call that may become a task (2026-07-28 with the extension; 2025-11-25 with ``task``)."""
    return n


@server.tool(task_support="required")
async def job_required() -> str:
    """A call that must be a task: -32021 / -32601 for clients that cannot make it one."""
    return "done"


@server.resource("fuzz://static", mime_type="text/plain")
def static() -> str:
    return "static"


@server.resource("fuzz://item/{key}", mime_type="text/plain")
def item(key: str) -> str:
    return f"item {key}"


@server.prompt
def greet(name: str, style: Literal["short", "long"] = "short") -> str:
    """A prompt with arguments."""
    return f"Hello {name} ({style})"


@server.completion(prompt="greet", argument="name")
def complete_name(value: str) -> list[str]:
    return [name for name in ("ada", "alan", "grace") if name.startswith(value)]
