"""Interoperability: the official ``mcp`` Python client drives the example over stdio, in the
handshake era (``initialize``) and in auto mode (``server/discover`` → 2026-07-28)."""

from __future__ import annotations

import sys
from typing import Any

import mcp_types
import pytest
import trio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import ResourceTemplateReference

from .conftest import ROOT


def demo_parameters() -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "trimcp", "serve", "examples/demo.py:server"],
        env={"PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )


@pytest.mark.parametrize(("mode", "expected_version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_official_client_round_trip(mode: str, expected_version: str, tmp_path: Any) -> None:
    logs: list[Any] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: mcp_types.LoggingMessageNotificationParams) -> None:
        logs.append((params.level, params.data))

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    with open(tmp_path / "stderr.log", "w") as errlog, trio.fail_after(30):
        async with Client(
            stdio_client(demo_parameters(), errlog=errlog),
            mode=mode,
            logging_callback=on_log,
            log_level="debug",
            cache=None,
        ) as client:
            assert client.protocol_version == expected_version
            assert client.server_info is not None and client.server_info.name == "trimcp-demo"

            tools = await client.list_tools()
            assert {tool.name for tool in tools.tools} >= {"add", "divide", "count_slowly", "sleep"}

            added = await client.call_tool("add", {"a": 2, "b": 3})
            assert added.structured_content == {"result": 5} and not added.is_error

            counted = await client.call_tool("count_slowly", {"steps": 4, "delay": 0.01}, progress_callback=on_progress)
            assert counted.content[0].text == "counted to 4"
            assert len(progress) == 4 and progress[-1] == (4, 4, "counted to 4")
            assert len([entry for entry in logs if entry[0] == "info"]) >= 3

            readme = await client.read_resource("demo://readme")
            assert readme.contents[0].text.startswith("# trimcp demo")
            templates = await client.list_resource_templates()
            assert templates.resource_templates[0].uri_template == "demo://greeting/{name}"
            greeting = await client.read_resource("demo://greeting/Ada")
            assert greeting.contents[0].text == "Hello, Ada!"

            prompt = await client.get_prompt("review_code", {"code": "x = 1", "style": "thorough"})
            assert prompt.messages[0].content.text.startswith("Please give a thorough review")

            completion = await client.complete(
                ResourceTemplateReference(uri="demo://greeting/{name}"), {"name": "name", "value": "a"}
            )
            assert completion.completion.values == ["Ada", "Alan"]

            divided = await client.call_tool("divide", {"dividend": 1, "divisor": 0})
            assert divided.is_error and divided.content[0].text == "cannot divide by zero"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_official_client_cancellation_reaches_the_tool(mode: str, tmp_path: Any) -> None:
    stderr_path = tmp_path / "stderr.log"
    with open(stderr_path, "w") as errlog, trio.fail_after(30):
        async with Client(stdio_client(demo_parameters(), errlog=errlog), mode=mode, cache=None) as client:
            await client.list_tools()
            with trio.move_on_after(0.5) as scope:
                await client.call_tool("sleep", {"seconds": 30})
            assert scope.cancelled_caught
            result = await client.call_tool("add", {"a": 1, "b": 1})
            assert result.structured_content == {"result": 2}
            with trio.fail_after(5):
                while "cancel reason: client cancelled" not in stderr_path.read_text():
                    await trio.sleep(0.01)
