"""A small trimcp server: tools with progress, logs and cancellation, a resource, a template and
a prompt.

Serve it with ``trimcp serve examples/demo.py:server`` (stdio).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Literal

import trio

import trimcp
from trimcp import Context, Message, ToolError

server = trimcp.Server(
    "trimcp-demo",
    version="1.0.0",
    instructions="Demo tools: add numbers, count slowly with progress, or sleep until cancelled.",
)
log = logging.getLogger("demo")


@server.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@dataclass
class Division:
    quotient: int
    remainder: int


@server.tool(annotations={"readOnlyHint": True})
def divide(dividend: int, divisor: Annotated[int, "must not be zero"]) -> Division:
    """Integer division with remainder."""
    if divisor == 0:
        raise ToolError("cannot divide by zero")
    return Division(*divmod(dividend, divisor))


@server.tool
async def count_slowly(
    ctx: Context, steps: Annotated[int, "how many steps"] = 5, delay: Annotated[float, "seconds per step"] = 0.05
) -> str:
    """Count to `steps`, reporting progress and logging each step."""
    for step in range(1, steps + 1):
        await trio.sleep(delay)
        await ctx.info(f"step {step} of {steps}")
        await ctx.progress(step, total=steps, message=f"counted to {step}")
    return f"counted to {steps}"


@server.tool
async def sleep(ctx: Context, seconds: float = 30.0) -> str:
    """Sleep (cancellably) for `seconds`."""
    await ctx.info(f"sleeping for {seconds:g} s")
    try:
        await trio.sleep(seconds)
        return f"slept {seconds:g} s"
    finally:
        log.info("sleep(%g) finished; cancel reason: %s", seconds, ctx.cancel_reason)


@dataclass
class Reservation:
    guests: int
    time: Literal["lunch", "dinner"]


@server.tool
async def book_table(ctx: Context, restaurant: str = "Chez trimcp") -> str:
    """Book a table, asking the user for the details."""
    answer = await ctx.elicit(f"Booking at {restaurant}: how many guests, and when?", Reservation)
    if answer.action != "accept" or answer.content is None:
        return f"No booking ({answer.action})."
    return f"Booked {restaurant} for {answer.content.guests} at {answer.content.time}."


@server.tool
async def haiku(ctx: Context, topic: str) -> str:
    """Ask the client's model for a haiku."""
    result = await ctx.sample(f"Write a haiku about {topic}.", max_tokens=60)
    return result.text or "(no text)"


@server.tool
async def show_roots(ctx: Context) -> list[str]:
    """List the client's roots."""
    return [root.uri for root in await ctx.list_roots()]


@server.resource("demo://readme", mime_type="text/markdown", title="About this server")
def readme() -> str:
    return "# trimcp demo\n\nTools: add, divide, count_slowly, sleep, book_table, haiku, show_roots.\n"


@server.resource("demo://greeting/{name}", mime_type="text/plain", title="A greeting")
def greeting(name: str) -> str:
    """A personal greeting."""
    return f"Hello, {name}!"


@server.completion(resource="demo://greeting/{name}", argument="name")
def complete_name(value: str) -> list[str]:
    return [name for name in ("Ada", "Alan", "Grace", "Linus") if name.lower().startswith(value.lower())]


@server.prompt(title="Review code")
def review_code(code: str, style: Literal["brief", "thorough"] = "brief") -> list[Message]:
    """Ask for a code review."""
    return [
        Message(f"Please give a {style} review of this code:\n\n{code}"),
        Message("Sure, let me read it.", role="assistant"),
    ]


#: The Streamable HTTP endpoint, for ``hypercorn --worker-class trio examples/demo.py:app``.
app = trimcp.asgi_app(server)
