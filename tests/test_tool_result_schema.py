"""A tool advertises an ``outputSchema`` only when its every successful result carries
``structuredContent`` matching it (issue 13: ``-> ToolResult`` advertised ``ToolResult``'s own
fields, then returned no structured content, and every third-party client refused the result)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import trio
from mcp import Client

import trimcp
from trimcp import Image, ToolResult
from trimcp.testing import open_test_client

from .conftest import assert_valid
from .http_support import running_server

COUNT = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def make_server() -> trimcp.Server:
    server = trimcp.Server("tool-results")

    @server.tool
    def full() -> ToolResult:
        return ToolResult(content=["plain"])

    @server.tool
    def maybe_full(full: bool = True) -> ToolResult | str:
        return ToolResult(content=["full"]) if full else "text"

    @server.tool
    def described() -> Annotated[ToolResult, "a full result"]:
        return ToolResult(content=["described"])

    @server.tool
    def anything() -> object:
        return ToolResult(content=["anything"])

    @server.tool
    def picture() -> Image:
        return Image(b"\x89PNG\r\n\x1a\n")

    @server.tool
    def refused() -> ToolResult:
        return ToolResult(content=["no"], is_error=True)

    @server.tool(output_schema=COUNT)
    def counted() -> ToolResult:
        return ToolResult(content=['{"n":1}'], structured_content={"n": 1})

    @server.tool(output_schema=COUNT)
    def miscounted() -> ToolResult:
        return ToolResult(content=["one"], structured_content={"n": "one"})

    @server.tool
    def mislabelled() -> dict[str, int]:
        return ToolResult(content=["not a dict"])  # type: ignore[return-value]

    return server


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25", "2026-07-28"])
async def test_tools_list_advertises_no_schema_for_full_results(version: str) -> None:
    async with open_test_client(make_server(), protocol_version=version) as client:
        listed = await client.request("tools/list")
    assert_valid(version, "ListToolsResult", listed)
    by_name = {tool["name"]: tool for tool in listed["tools"]}
    for name in ("full", "maybe_full", "described", "anything", "picture", "refused"):
        assert "outputSchema" not in by_name[name], name
    assert by_name["counted"]["outputSchema"] == COUNT  # the author's schema is honoured
    assert by_name["mislabelled"]["outputSchema"]["type"] == "object"


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
async def test_a_result_that_breaks_the_advertised_schema_is_an_error(version: str, caplog: Any) -> None:
    async with open_test_client(make_server(), protocol_version=version) as client:
        counted = await client.call_tool("counted")
        assert counted["structuredContent"] == {"n": 1} and "isError" not in counted
        for name in ("miscounted", "mislabelled"):
            result = await client.call_tool(name)
            assert result["isError"] is True and "structuredContent" not in result, name
            assert result["content"][0]["text"] == f"Tool {name!r} failed: its result does not match its output schema"
            assert_valid(version, "CallToolResult", result)
        refused = await client.call_tool("refused")  # isError results need no structured content
        assert refused["isError"] is True and refused["content"] == [{"type": "text", "text": "no"}]
    assert "'mislabelled' returned data that does not match its output schema" in caplog.text


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_official_client_accepts_full_results(mode: str) -> None:
    async with running_server(trimcp.asgi_app(make_server())) as http:
        with trio.fail_after(30):
            async with Client(f"http://{http.host}:{http.port}/mcp", mode=mode, cache=None) as client:
                full = await client.call_tool("full")
                assert not full.is_error and full.content[0].text == "plain" and full.structured_content is None
                listed = await client.list_tools()
                assert {tool.name for tool in listed.tools if tool.output_schema} == {
                    "counted",
                    "miscounted",
                    "mislabelled",
                }
                assert (await client.call_tool("maybe_full", {"full": False})).content[0].text == "text"
                assert (await client.call_tool("anything")).content[0].text == "anything"
                assert (await client.call_tool("picture")).content[0].type == "image"
                assert (await client.call_tool("refused")).is_error
                assert (await client.call_tool("counted")).structured_content == {"n": 1}
                assert (await client.call_tool("miscounted")).is_error
