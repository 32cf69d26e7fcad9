"""``server.mount(other, prefix)``: the other's tools, prompts, resources and templates served
namespaced, live, with its change notifications; in-process and over HTTP in both eras."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

import trimcp

from .http_support import running_server

ERAS = ["2026-07-28", "2025-11-25"]


def notes_server() -> trimcp.Server:
    notes = trimcp.Server("notes")

    @notes.tool
    async def add_note(text: str) -> str:
        return f"noted: {text}"

    @notes.prompt
    def summary(topic: str) -> str:
        return f"Summarize the notes on {topic}"

    @notes.resource("notes://all")
    def all_notes() -> str:
        return "every note"

    @notes.resource("notes://note/{number}")
    def note(number: int) -> str:
        return f"note {number}"

    return notes


def main_server() -> tuple[trimcp.Server, trimcp.Server]:
    main = trimcp.Server("main")

    @main.tool
    async def ping_me() -> str:
        return "pong"

    notes = notes_server()
    main.mount(notes, prefix="notes")
    return main, notes


@asynccontextmanager
async def connected(server: trimcp.Server, transport: str, era: str, **options: Any) -> AsyncIterator[trimcp.Client]:
    async with AsyncExitStack() as stack:
        target: Any = server
        if transport == "streamable-http":
            http = await stack.enter_async_context(running_server(trimcp.asgi_app(server)))
            target = f"http://127.0.0.1:{http.port}/mcp"
        yield await stack.enter_async_context(trimcp.open_client(target, protocol_version=era, **options))


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("transport", ["in-process", "streamable-http"])
async def test_a_mounted_server_is_served_under_its_prefix(transport: str, era: str) -> None:
    main, _ = main_server()
    async with connected(main, transport, era) as client:
        assert {tool["name"] for tool in await client.list_tools()} == {"ping_me", "notes_add_note"}
        noted = await client.call_tool("notes_add_note", {"text": "milk"})
        assert noted["content"][0]["text"] == "noted: milk"
        assert [p["name"] for p in await client.list_prompts()] == ["notes_summary"]
        prompt = await client.get_prompt("notes_summary", {"topic": "food"})
        assert prompt["messages"][0]["content"]["text"] == "Summarize the notes on food"
        assert [r["uri"] for r in await client.list_resources()] == ["notes://notes/all"]
        templates = await client.list_resource_templates()
        assert [t["uriTemplate"] for t in templates] == ["notes://notes/note/{number}"]
        assert (await client.read_resource("notes://notes/all"))["contents"][0]["text"] == "every note"
        assert (await client.read_resource("notes://notes/note/3"))["contents"][0]["text"] == "note 3"
        with pytest.raises(trimcp.RequestFailed):
            await client.call_tool("add_note", {"text": "unprefixed"})  # only under its prefix


async def test_what_the_mounted_server_registers_later_appears_and_its_clients_are_told() -> None:
    main, notes = main_server()
    heard: list[str] = []

    async def on_message(message: dict[str, Any]) -> None:
        heard.append(message.get("method", ""))

    async with connected(main, "in-process", "2025-11-25", message_handler=on_message) as client:

        @notes.tool
        async def count_notes() -> int:
            return 2

        with trio.fail_after(5):
            while "notifications/tools/list_changed" not in heard:
                await trio.sleep(0.01)
        assert (await client.call_tool("notes_count_notes"))["structuredContent"] == {"result": 2}


def test_bad_mounts_are_refused() -> None:
    main, notes = main_server()
    with pytest.raises(ValueError, match="no '_'"):
        main.mount(notes_server(), prefix="my_notes")
    with pytest.raises(ValueError, match="in itself"):
        notes.mount(main, prefix="loop")
    with pytest.raises(ValueError, match="in itself"):
        main.mount(main, prefix="self")


MOUNTED_OVER_STDIO = """
import trimcp
notes = trimcp.Server("notes")

@notes.tool
async def add_note(text: str) -> str:
    return "noted: " + text

server = trimcp.Server("main")
server.mount(notes, prefix="notes")
"""


async def test_a_mounted_server_over_a_stdio_subprocess(tmp_path: Path) -> None:
    (tmp_path / "mounted.py").write_text(MOUNTED_OVER_STDIO)
    command = [sys.executable, "-m", "trimcp", "serve", str(tmp_path / "mounted.py:server")]
    async with trimcp.open_client(command) as client:
        assert [tool["name"] for tool in await client.list_tools()] == ["notes_add_note"]
        assert (await client.call_tool("notes_add_note", {"text": "eggs"}))["content"][0]["text"] == "noted: eggs"
