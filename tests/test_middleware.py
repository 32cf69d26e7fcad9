"""Middleware around requests and tool calls: it observes, rewrites arguments and results,
short-circuits, and sees cancellation pass through (its ``finally`` runs); in-process, over
HTTP in both eras and over a stdio subprocess."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

import trimcp
from trimcp import Context, ToolError

from .http_support import running_server

ERAS = ["2026-07-28", "2025-11-25"]


def middleware_server(seen: list[str]) -> trimcp.Server:
    server = trimcp.Server("mw")

    @server.middleware
    async def record(call: Any, proceed: Any) -> dict:
        seen.append(f"request {call.method}")
        if call.method == "prompts/list":
            return {"prompts": [{"name": "from-middleware"}]}  # answered without the server
        return await proceed(call)

    @server.tool_middleware
    async def guard(call: Any, proceed: Any) -> dict:
        if call.name == "secret":
            raise ToolError("not for you")
        if call.name == "add":
            call.arguments = {**call.arguments, "a": call.arguments["a"] * 10}
        try:
            result = await proceed(call)
        finally:
            seen.append(f"tool {call.name} finally, cancelled: {call.context.cancel_reason}")
        if call.name == "add":
            result["content"][0]["text"] += " (checked)"
        return result

    @server.tool
    async def add(a: int, b: int) -> int:
        return a + b

    @server.tool
    async def secret() -> str:
        return "the secret"

    @server.tool
    async def slow(ctx: Context) -> str:
        try:
            await trio.sleep(30)
            return "done"
        finally:
            seen.append(f"slow finally: {ctx.cancel_reason}")

    return server


@asynccontextmanager
async def connected(server: trimcp.Server, transport: str, era: str) -> AsyncIterator[trimcp.Client]:
    async with AsyncExitStack() as stack:
        target: Any = server
        if transport == "streamable-http":
            http = await stack.enter_async_context(running_server(trimcp.asgi_app(server)))
            target = f"http://127.0.0.1:{http.port}/mcp"
        yield await stack.enter_async_context(trimcp.open_client(target, protocol_version=era))


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("transport", ["in-process", "streamable-http"])
async def test_middleware_rewrites_refuses_and_short_circuits(transport: str, era: str) -> None:
    seen: list[str] = []
    async with connected(middleware_server(seen), transport, era) as client:
        added = await client.call_tool("add", {"a": 2, "b": 1})
        assert added["content"][0]["text"] == "21 (checked)"  # 2 became 20 before validation
        refused = await client.call_tool("secret")
        assert refused["isError"] is True and refused["content"][0]["text"] == "not for you"
        assert [p["name"] for p in await client.list_prompts()] == ["from-middleware"]
    assert "request tools/call" in seen and "request prompts/list" in seen
    assert "tool add finally, cancelled: None" in seen
    assert not [entry for entry in seen if entry.startswith("tool secret")]  # refused before proceed


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("transport", ["in-process", "streamable-http"])
async def test_cancellation_passes_through_middleware_and_runs_its_finally(transport: str, era: str) -> None:
    seen: list[str] = []
    async with connected(middleware_server(seen), transport, era) as client:
        with pytest.raises(trimcp.ClientTimeout):
            await client.call_tool("slow", timeout=0.3)
        cancelled_at = trio.current_time()
        with trio.fail_after(5):
            while not any(entry.startswith("tool slow finally") for entry in seen):
                await trio.sleep(0.005)
        assert trio.current_time() - cancelled_at < 0.1
    reason = "client disconnected" if (era == "2026-07-28" and transport == "streamable-http") else "client cancelled"
    assert seen.index(f"slow finally: {reason}") < seen.index(f"tool slow finally, cancelled: {reason}")


STDIO_SERVER = """
import os, trimcp
server = trimcp.Server("stdio-mw")

@server.tool_middleware
async def shout(call, proceed):
    result = await proceed(call)
    result["content"][0]["text"] = result["content"][0]["text"].upper()
    return result

@server.tool
async def echo(text: str) -> str:
    return text
"""


async def test_middleware_over_a_stdio_subprocess(tmp_path: Path) -> None:
    (tmp_path / "mw_server.py").write_text(STDIO_SERVER)
    command = [sys.executable, "-m", "trimcp", "serve", str(tmp_path / "mw_server.py:server")]
    async with trimcp.open_client(command, env=dict(os.environ)) as client:
        assert (await client.call_tool("echo", {"text": "quiet"}))["content"][0]["text"] == "QUIET"
