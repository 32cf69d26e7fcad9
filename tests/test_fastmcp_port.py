"""The FastMCP ports in examples/fastmcp_port/ (docs/migrating-from-fastmcp.md): each server's
tools, resources and prompts through trimcp's own client, in-process and over a real hypercorn,
in both protocol eras; the notes server's lifespan opens its database once and closes it after
the last client, and its middleware runs."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import pytest
import trio

import trimcp

from .conftest import EXAMPLES, ROOT
from .http_support import running_server

PORTS = EXAMPLES / "fastmcp_port"
ERAS = ["2025-11-25", "2026-07-28"]
CONNECTIONS = ["in-process", "http"]
#: Every test's whole body is bounded by this.
BOUND = 20


def load(name: str) -> ModuleType:
    """Import ``examples/fastmcp_port/<name>.py`` as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"fastmcp_port_{name}", PORTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def connected(server: trimcp.Server, connection: str, era: str) -> AsyncIterator[trimcp.Client]:
    """A client of ``server``, in-process or over hypercorn on 127.0.0.1, speaking ``era``."""
    if connection == "in-process":
        async with trimcp.open_client(server, protocol_version=era, timeout=10) as client:
            yield client
        return
    async with running_server(trimcp.asgi_app(server)) as http:
        url = f"http://127.0.0.1:{http.port}/mcp"
        async with trimcp.open_client(url, protocol_version=era, timeout=10) as client:
            yield client


def text(result: dict[str, Any]) -> str:
    return result["content"][0]["text"]


def contents(result: dict[str, Any]) -> Any:
    return json.loads(result["contents"][0]["text"])


# -- the quick start ---------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_the_quickstart_serves_its_tools_resources_and_prompt(connection: str, era: str) -> None:
    server = load("quickstart").server
    with trio.fail_after(BOUND):
        async with connected(server, connection, era) as client:
            assert client.protocol_version == era
            tools = {tool["name"]: tool for tool in await client.list_tools()}
            assert sorted(tools) == ["greet", "multiply"]
            assert tools["multiply"]["inputSchema"]["required"] == ["a", "b"]

            assert text(await client.call_tool("greet", {"name": "Ada"})) == "Hello, Ada!"
            product = await client.call_tool("multiply", {"a": 2, "b": 3.5})
            assert product["structuredContent"] == {"result": 7.0}
            refused = await client.call_tool("multiply", {"a": "two", "b": 3})
            assert refused["isError"] is True and "a: expected number" in text(refused)

            assert [r["uri"] for r in await client.list_resources()] == ["data://config"]
            assert contents(await client.read_resource("data://config")) == {"theme": "dark", "version": "1.0"}
            templates = await client.list_resource_templates()
            assert [t["uriTemplate"] for t in templates] == ["users://{user_id}/profile"]
            assert contents(await client.read_resource("users://7/profile")) == {
                "id": 7,
                "name": "User 7",
                "status": "active",
            }

            prompts = {prompt["name"]: prompt for prompt in await client.list_prompts()}
            assert [a["name"] for a in prompts["explain"]["arguments"]] == ["topic", "depth"]
            prompt = await client.get_prompt("explain", {"topic": "Trio", "depth": "detailed"})
            assert prompt["messages"] == [
                {
                    "role": "user",
                    "content": {"type": "text", "text": "Give a detailed explanation of Trio, with one example."},
                }
            ]


# -- lifespan and middleware ---------------------------------------------------------------------


def opened_and_closed(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    messages = [record.getMessage() for record in caplog.records if record.name == "notes"]
    return (
        sum(m.startswith("opened the notes database") for m in messages),
        sum(m.startswith("closed the notes database") for m in messages),
    )


def timed(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the timing middleware logged, without the durations."""
    return [
        record.getMessage().rsplit(" took ", 1)[0]
        for record in caplog.records
        if record.name == "notes" and " took " in record.getMessage()
    ]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("connection", CONNECTIONS)
async def test_the_notes_server_shares_one_database_and_runs_its_middleware(
    connection: str, era: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notes")
    notes = load("notes")
    with trio.fail_after(BOUND):
        async with connected(notes.server, connection, era) as client:
            tools = {tool["name"]: tool for tool in await client.list_tools()}
            assert sorted(tools) == ["add_note", "search_notes"]
            # the injected database is no argument of the tools
            assert sorted(tools["add_note"]["inputSchema"]["properties"]) == ["body", "title"]
            assert sorted(tools["search_notes"]["inputSchema"]["properties"]) == ["text"]

            added = await client.call_tool("add_note", {"title": "  milk  ", "body": "two litres"})
            # the guard trimmed the title
            assert added["structuredContent"] == {"id": 1, "title": "milk", "body": "two litres"}
            await client.call_tool("add_note", {"title": "bread", "body": "rye, not milk bread"})

            # the guard refuses before the tool runs: nothing is stored
            refused = await client.call_tool("add_note", {"title": "essay", "body": "x" * 3000})
            assert refused["isError"] is True
            assert text(refused) == f"body is longer than {notes.MAX_TEXT} characters"

            found = await client.call_tool("search_notes", {"text": "milk"})
            assert [note["title"] for note in found["structuredContent"]["result"]] == ["milk", "bread"]

            assert [r["uri"] for r in await client.list_resources()] == ["notes://recent"]
            assert [note["id"] for note in contents(await client.read_resource("notes://recent"))] == [2, 1]
            assert contents(await client.read_resource("notes://1")) == {"id": 1, "title": "milk", "body": "two litres"}
            with pytest.raises(trimcp.RequestFailed) as missing:
                await client.read_resource("notes://3")
            assert missing.value.code == (-32002 if era == "2025-11-25" else -32602)

            assert [p["name"] for p in await client.list_prompts()] == ["review"]
            prompt = await client.get_prompt("review", {"topic": "bread"})
            assert prompt["messages"][0]["content"]["text"].startswith("My notes about bread:\n- bread: rye")

            # opened once, however many requests were served
            assert opened_and_closed(caplog) == (1, 0)
    # closed after the client left (in-process) or the server stopped (HTTP)
    assert opened_and_closed(caplog) == (1, 1)
    expected = [
        "tools/list",
        "tools/call add_note",
        "tools/call add_note",
        "tools/call add_note",  # refused by the guard, inside the timing middleware
        "tools/call search_notes",
        "resources/list",
        "resources/read notes://recent",
        "resources/read notes://1",
        "resources/read notes://3",
        "prompts/list",
        "prompts/get review",
    ]
    seen = iter(timed(caplog))  # the client may send more (a 2026-07-28 client lists the tools first)
    assert all(entry in seen for entry in expected), timed(caplog)


async def test_over_http_every_client_shares_the_database_the_lifespan_opened_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="notes")
    notes = load("notes")
    with trio.fail_after(BOUND):
        async with running_server(trimcp.asgi_app(notes.server)) as http:
            url = f"http://127.0.0.1:{http.port}/mcp"
            for era, title in [("2025-11-25", "first"), ("2026-07-28", "second")]:
                async with trimcp.open_client(url, protocol_version=era, timeout=10) as client:
                    await client.call_tool("add_note", {"title": title, "body": era})
            async with trimcp.open_client(url, timeout=10) as client:
                recent = contents(await client.read_resource("notes://recent"))
            assert [note["title"] for note in recent] == ["second", "first"]
            assert opened_and_closed(caplog) == (1, 0)
    assert opened_and_closed(caplog) == (1, 1)


async def test_the_timing_middleware_sees_a_cancelled_call(caplog: pytest.LogCaptureFixture) -> None:
    """Cancellation passes through the middleware: its ``finally`` logs the call that never answered."""
    caplog.set_level(logging.INFO, logger="notes")
    notes = load("notes")
    started = trio.Event()

    @notes.server.tool
    async def wait_forever() -> str:
        started.set()
        await trio.sleep_forever()
        return "unreachable"

    with trio.fail_after(BOUND):
        async with trimcp.open_client(notes.server, timeout=10) as client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.call_tool, "wait_forever")
                await started.wait()
                nursery.cancel_scope.cancel()
            while "tools/call wait_forever" not in timed(caplog):
                await trio.sleep(0.01)
            assert text(await client.call_tool("add_note", {"title": "after", "body": "ok"})).startswith('{"id":1')


# -- served the way the docs say -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "trimcp", "serve", str(PORTS / "quickstart.py") + ":server"],
        [sys.executable, str(PORTS / "quickstart.py")],  # the __main__ block, as FastMCP's mcp.run()
        [sys.executable, "-m", "trimcp", "serve", str(PORTS / "notes.py") + ":server"],
    ],
    ids=["trimcp-serve-quickstart", "python-quickstart", "trimcp-serve-notes"],
)
async def test_the_ports_serve_over_stdio(command: list[str]) -> None:
    with trio.fail_after(BOUND):
        async with trimcp.open_client(command, cwd=str(ROOT), timeout=10) as client:
            names = [tool["name"] for tool in await client.list_tools()]
            if "greet" in names:
                assert text(await client.call_tool("greet", {"name": "stdio"})) == "Hello, stdio!"
            else:
                added = await client.call_tool("add_note", {"title": "over stdio", "body": "yes"})
                assert added["structuredContent"]["id"] == 1
