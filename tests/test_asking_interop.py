"""Interoperability of asking: the official ``mcp`` client answers form elicitation, sampling
and roots from trimcp in legacy mode (stdio and HTTP), and elicitation and sampling through
``input_required`` in 2026-07-28 mode."""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client

import trimcp

from .conftest import ROOT, load_example
from .http_support import running_server


async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert "how many guests" in params.message
    return types.ElicitResult(action="accept", content={"guests": 3, "time": "lunch"})


async def on_sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    assert params.max_tokens == 60
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="old pond / a frog jumps"), model="test-model"
    )


async def on_roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///projects/trimcp", name="trimcp")])


@asynccontextmanager
async def connect(transport: str, mode: str, tmp_path: Any) -> Any:
    callbacks = {"elicitation_callback": on_elicit, "sampling_callback": on_sample, "list_roots_callback": on_roots}
    if transport == "stdio":
        parameters = StdioServerParameters(
            command=sys.executable,
            args=["-m", "trimcp", "serve", "examples/demo.py:server"],
            env={"PYTHONPATH": str(ROOT)},
            cwd=str(ROOT),
        )
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with Client(stdio_client(parameters, errlog=errlog), mode=mode, cache=None, **callbacks) as client:
                yield client
    else:
        app = trimcp.asgi_app(load_example("demo").server, json_response=transport == "http-json")
        async with running_server(app) as http:
            url = f"http://{http.host}:{http.port}/mcp"
            async with Client(url, mode=mode, cache=None, **callbacks) as client:
                yield client


@pytest.mark.parametrize(
    ("transport", "mode"),
    [
        ("stdio", "legacy"),
        ("http", "legacy"),
        ("http-json", "legacy"),
        ("stdio", "2026-07-28"),
        ("http", "2026-07-28"),
        ("http-json", "2026-07-28"),
    ],
)
async def test_the_official_client_answers_trimcps_questions(transport: str, mode: str, tmp_path: Any) -> None:
    with trio.fail_after(30):
        async with connect(transport, mode, tmp_path) as client:
            await client.list_tools()
            booked = await client.call_tool("book_table", {})
            assert booked.content[0].text == "Booked Chez trimcp for 3 at lunch."
            poem = await client.call_tool("haiku", {"topic": "frogs"})
            assert poem.content[0].text == "old pond / a frog jumps"
            listed = await client.call_tool("show_roots", {})
            assert listed.structured_content == {"result": ["file:///projects/trimcp"]}
