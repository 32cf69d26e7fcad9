"""Interoperability over Streamable HTTP: the official ``mcp`` client against the real
hypercorn-trio server, in legacy mode and in 2026-07-28 mode."""

from __future__ import annotations

import logging
from typing import Any

import mcp_types
import pytest
import trio
from mcp import Client

import trimcp

from .conftest import load_example
from .http_support import running_server


@pytest.mark.parametrize(
    ("mode", "expected_version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28"), ("2026-07-28", "2026-07-28")]
)
async def test_official_client_over_http(mode: str, expected_version: str) -> None:
    app = trimcp.asgi_app(load_example("demo").server)
    logs: list[Any] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: mcp_types.LoggingMessageNotificationParams) -> None:
        logs.append((params.level, params.data))

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with running_server(app) as http:
        url = f"http://{http.host}:{http.port}/mcp"
        with trio.fail_after(30):
            async with Client(url, mode=mode, logging_callback=on_log, log_level="debug", cache=None) as client:
                assert client.protocol_version == expected_version
                tools = await client.list_tools()
                assert {t.name for t in tools.tools} >= {"add", "count_slowly", "sleep"}
                counted = await client.call_tool(
                    "count_slowly", {"steps": 4, "delay": 0.01}, progress_callback=on_progress
                )
                assert counted.content[0].text == "counted to 4"
                assert len(progress) == 4 and len([entry for entry in logs if entry[0] == "info"]) >= 3
                added = await client.call_tool("add", {"a": 20, "b": 22})
                assert added.structured_content == {"result": 42}
                greeting = await client.read_resource("demo://greeting/Ada")
                assert greeting.contents[0].text == "Hello, Ada!"
                prompt = await client.get_prompt("review_code", {"code": "pass"})
                assert prompt.messages[0].content.text.startswith("Please give a brief review")
        if expected_version == "2025-11-25":
            with trio.fail_after(5):
                while app.sessions.statistics().live_sessions:  # the client DELETEs its session on exit
                    await trio.sleep(0.01)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_official_client_cancel_reaches_the_tool_over_http(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="demo")
    app = trimcp.asgi_app(load_example("demo").server)
    async with running_server(app) as http:
        url = f"http://{http.host}:{http.port}/mcp"
        with trio.fail_after(30):
            async with Client(url, mode=mode, cache=None) as client:
                await client.list_tools()
                with trio.move_on_after(0.3):
                    await client.call_tool("sleep", {"seconds": 30})
                assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
                with trio.fail_after(5):
                    while "sleep(30) finished" not in caplog.text:
                        await trio.sleep(0.01)
        assert "cancel reason: client" in caplog.text
