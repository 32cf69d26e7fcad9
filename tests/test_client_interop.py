"""trimcp's client against the official ``mcp`` SDK's server (``MCPServer``), over stdio and
over Streamable HTTP (uvicorn on 127.0.0.1), with the era negotiated."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trimcp

from .conftest import ROOT
from .ports import free_port, wait_until_listening_async

SDK_SERVER = str(ROOT / "tests" / "servers" / "sdk_server.py")


@asynccontextmanager
async def sdk_http_server() -> AsyncIterator[str]:
    port = free_port()
    process = await trio.lowlevel.open_process(
        [sys.executable, SDK_SERVER, "http", str(port)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        await wait_until_listening_async(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()


@asynccontextmanager
async def sdk_client(transport: str, **options: Any) -> AsyncIterator[trimcp.Client]:
    if transport == "stdio":
        async with trimcp.open_client([sys.executable, SDK_SERVER, "stdio"], **options) as client:
            yield client
    else:
        async with sdk_http_server() as url, trimcp.open_client(url, **options) as client:
            yield client


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
@pytest.mark.parametrize("pinned", [None, "2025-11-25"])
async def test_the_official_sdk_server(transport: str, pinned: str | None) -> None:
    notifications: list[dict[str, Any]] = []
    with trio.fail_after(60):
        async with sdk_client(transport, protocol_version=pinned, message_handler=notifications.append) as client:
            if pinned:
                assert client.protocol_version == pinned
            assert client.server_info["name"] == "sdk-server"
            assert {tool["name"] for tool in await client.list_tools()} == {"add", "count"}
            assert (await client.call_tool("add", {"a": 20, "b": 22}))["content"][0]["text"] == "42"
            await client.set_logging_level("info")  # 2026-07-28: logs only for requests that ask
            progress: list[tuple[float, float | None, str | None]] = []
            counted = await client.call_tool("count", {"steps": 3}, on_progress=lambda *p: progress.append(p))
            assert counted["content"][0]["text"] == "counted to 3"
            assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
            assert any(n["method"] == "notifications/message" for n in notifications)
            hello = await client.read_resource("note://hello")
            assert hello["contents"][0]["text"] == "hello from the SDK"
            greeting = await client.get_prompt("greet", {"name": "Trio"})
            assert greeting["messages"][0]["content"]["text"] == "Hello, Trio!"
            with pytest.raises(trimcp.RequestFailed):
                await client.read_resource("note://missing")
