"""The server API end to end through trimcp.testing: schemas, validation, results, resources,
prompts, completions, pagination, logging and both protocol eras."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import enum
from typing import Annotated, Any, Literal, TypedDict

import pytest
import trio

import trimcp
from trimcp import Context, Image, Message, ResourceContents, ResourceLink, ToolError, ToolResult
from trimcp.testing import RequestFailed, open_test_client

from .conftest import assert_valid
from .http_support import running_server

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Stats(TypedDict):
    count: int
    mean: float


def make_server(**options: Any) -> trimcp.Server:
    server = trimcp.Server("test-server", version="9.9.9", instructions="for tests", **options)

    @server.tool
    async def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @server.tool(name="paint", title="Paint", annotations={"destructiveHint": False})
    def paint(color: Color, where: Point, tags: set[str] | None = None) -> dict:
        assert isinstance(color, Color) and isinstance(where, Point)
        return {"color": color.value, "x": where.x, "tags": sorted(tags or ())}

    @server.tool
    def stats(values: list[float]) -> Stats:
        return {"count": len(values), "mean": sum(values) / len(values)}

    @server.tool
    def fails(kind: Literal["tool", "crash"]) -> str:
        if kind == "tool":
            raise ToolError("you asked for it")
        raise RuntimeError("secret internal detail")

    @server.tool
    def picture() -> list[Any]:
        return ["a picture:", Image(PNG), ResourceLink("test://x", "x")]

    @server.tool(input_schema={"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "x-custom": 1})
    def raw(n: int) -> str:
        return str(n * 2)

    @server.tool
    def custom() -> ToolResult:
        return ToolResult(content=["partial"], structured_content={"ok": False}, is_error=True)

    @server.tool(deadline=0.05)
    async def slow(ctx: Context) -> str:
        await trio.sleep(10)
        return "never"

    @server.tool
    async def chatty(ctx: Context) -> str:
        for level in ("debug", "info", "warning", "error"):
            await ctx.log(level, f"{level} message", logger="chatty")
        await ctx.progress(1, 2, "half")
        await ctx.progress(2, 2)
        return "done"

    @server.tool
    async def backwards(ctx: Context) -> str:
        await ctx.progress(2)
        await ctx.progress(1)
        return "unreachable"

    @server.resource("test://static", mime_type="text/plain", title="Static")
    def static() -> str:
        return "static text"

    @server.resource("test://blob")
    def blob() -> bytes:
        return b"\x00\x01"

    @server.resource("test://items/{item_id}/detail{?verbose}")
    def item(item_id: int, verbose: bool = False) -> dict:
        if item_id == 404:
            raise trimcp.ResourceNotFoundError(f"test://items/{item_id}/detail")
        return {"id": item_id, "verbose": verbose}

    @server.prompt(title="Greet")
    def greet(name: Annotated[str, "who to greet"], style: Literal["formal", "casual"] = "casual") -> list[Message]:
        """A greeting prompt."""
        return [Message(f"Say hi to {name}, {style}."), Message(ResourceContents("test://static", text="ctx"))]

    @server.prompt
    def repeat(times: int) -> str:
        return "again " * times

    @server.completion(prompt="greet", argument="name")
    def complete_name(value: str, arguments: dict[str, str]) -> list[str]:
        return [n for n in ["alice", "bob", "albert"] if n.startswith(value)] + [f"ctx={arguments}"] * 0

    @server.completion(resource="test://items/{item_id}/detail{?verbose}", argument="item_id")
    def complete_item(value: str) -> list[str]:
        return [str(i) for i in range(250)]

    return server


async def test_initialize_and_tools_list_validate_against_schema() -> None:
    async with open_test_client(make_server()) as client:
        result = client.initialize_result
        assert result["protocolVersion"] == "2025-11-25"
        assert result["serverInfo"] == {"name": "test-server", "version": "9.9.9"}
        assert result["instructions"] == "for tests"
        assert set(result["capabilities"]) >= {"tools", "resources", "prompts", "logging", "completions"}
        assert_valid("2025-11-25", "InitializeResult", result)
        tools = await client.list_tools()
        by_name = {t["name"]: t for t in tools}
        assert by_name["echo"]["description"] == "Echo the text back."
        assert by_name["echo"]["inputSchema"] == {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        }
        paint = by_name["paint"]
        assert paint["title"] == "Paint" and paint["annotations"] == {"destructiveHint": False}
        assert paint["inputSchema"]["properties"]["color"] == {"type": "string", "enum": ["red", "green"]}
        assert paint["inputSchema"]["properties"]["where"]["required"] == ["x"]
        assert by_name["stats"]["outputSchema"]["required"] == ["count", "mean"]
        assert by_name["raw"]["inputSchema"]["x-custom"] == 1  # raw schemas are sent verbatim
        assert_valid("2025-11-25", "ListToolsResult", {"tools": tools})


async def test_old_revision_gets_only_what_it_knows() -> None:
    async with open_test_client(make_server(), protocol_version="2024-11-05") as client:
        assert client.initialize_result["protocolVersion"] == "2024-11-05"
        assert "completions" not in client.initialize_result["capabilities"]
        tools = await client.list_tools()
        paint = next(t for t in tools if t["name"] == "paint")
        assert set(paint) == {"name", "inputSchema"}
        result = await client.call_tool("picture")
        assert [c["type"] for c in result["content"]] == ["text", "image", "text"]
        assert_valid("2024-11-05", "CallToolResult", result)
        stats = await client.call_tool("stats", {"values": [1, 2]})
        assert "structuredContent" not in stats
        assert_valid("2024-11-05", "ListToolsResult", {"tools": tools})


async def test_unknown_version_is_answered_with_the_latest() -> None:
    async with open_test_client(make_server(), protocol_version="2099-01-01") as client:
        assert client.initialize_result["protocolVersion"] == "2025-11-25"


async def test_call_converts_arguments_and_returns_structured_content() -> None:
    async with open_test_client(make_server()) as client:
        result = await client.call_tool("paint", {"color": "red", "where": {"x": 3}, "tags": ["b", "a"]})
        assert result["structuredContent"] == {"color": "red", "x": 3, "tags": ["a", "b"]}
        assert result["content"] == [{"type": "text", "text": '{"color":"red","x":3,"tags":["a","b"]}'}]
        stats = await client.call_tool("stats", {"values": [1, 2, 3]})
        assert stats["structuredContent"] == {"count": 3, "mean": 2.0}
        assert_valid("2025-11-25", "CallToolResult", stats)
        echo = await client.call_tool("echo", {"text": "hi"})
        assert echo == {"content": [{"type": "text", "text": "hi"}]}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "text: required but missing"),
        ({"text": 5}, "text: expected string, got integer"),
    ],
)
async def test_bad_arguments_give_an_error_result_naming_the_argument(arguments: dict, expected: str) -> None:
    async with open_test_client(make_server()) as client:
        result = await client.call_tool("echo", arguments)
        assert result["isError"] is True
        assert result["content"][0]["text"] == f"Invalid arguments for tool 'echo': {expected}"


async def test_nested_argument_errors_name_the_path() -> None:
    async with open_test_client(make_server()) as client:
        result = await client.call_tool("paint", {"color": "blue", "where": {"x": "1"}})
        assert "color: must be one of" in result["content"][0]["text"]
        result = await client.call_tool("paint", {"color": "red", "where": {"x": "1"}})
        assert result["content"][0]["text"].endswith("where.x: expected integer, got string")
        result = await client.call_tool("raw", {"n": 0})
        assert result["content"][0]["text"].endswith("n: must be at least 1, got 0")


async def test_tool_errors_and_crashes_become_error_results(caplog: pytest.LogCaptureFixture) -> None:
    async with open_test_client(make_server()) as client:
        result = await client.call_tool("fails", {"kind": "tool"})
        assert result == {"content": [{"type": "text", "text": "you asked for it"}], "isError": True}
        result = await client.call_tool("fails", {"kind": "crash"})
        assert result["isError"] is True
        assert "secret" not in result["content"][0]["text"]
        assert "secret internal detail" in caplog.text  # logged on the server, with its traceback
        custom = await client.call_tool("custom")
        assert custom == {
            "content": [{"type": "text", "text": "partial"}],
            "structuredContent": {"ok": False},
            "isError": True,
        }


async def test_content_helpers() -> None:
    async with open_test_client(make_server()) as client:
        result = await client.call_tool("picture")
        text, image, link = result["content"]
        assert text == {"type": "text", "text": "a picture:"}
        assert image == {"type": "image", "data": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
        assert link == {"type": "resource_link", "uri": "test://x", "name": "x"}
        assert_valid("2025-11-25", "CallToolResult", result)


async def test_unknown_tool_and_malformed_calls_are_protocol_errors() -> None:
    async with open_test_client(make_server()) as client:
        with pytest.raises(RequestFailed) as info:
            await client.call_tool("nope")
        assert info.value.code == -32602 and "nope" in info.value.message
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", {"name": "echo", "arguments": [1]})
        assert info.value.code == -32602
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/unknown")
        assert info.value.code == -32601


async def test_tool_deadline_cancels_with_an_error_result() -> None:
    async with open_test_client(make_server()) as client:
        start = trio.current_time()
        result = await client.call_tool("slow")
        assert trio.current_time() - start < 1
        assert result["isError"] is True
        assert "deadline of 0.05 s" in result["content"][0]["text"]
        assert client.dispatcher.statistics().live_requests == 0


async def test_logging_follows_set_level_in_the_handshake_era() -> None:
    async with open_test_client(make_server()) as client:
        await client.call_tool("chatty")
        levels = [n["params"]["level"] for n in client.notifications if n["method"] == "notifications/message"]
        assert levels == ["debug", "info", "warning", "error"]
        for n in client.notifications:
            assert_valid("2025-11-25", "LoggingMessageNotification", n)
        assert await client.request("logging/setLevel", {"level": "warning"}) == {}
        client.notifications.clear()
        await client.call_tool("chatty")
        levels = [n["params"]["level"] for n in client.notifications if n["method"] == "notifications/message"]
        assert levels == ["warning", "error"]
        with pytest.raises(RequestFailed) as info:
            await client.request("logging/setLevel", {"level": "loud"})
        assert info.value.code == -32602


async def test_progress_only_with_a_token_and_strictly_increasing() -> None:
    async with open_test_client(make_server()) as client:
        await client.call_tool("chatty")
        assert not [n for n in client.notifications if n["method"] == "notifications/progress"]
        seen: list[tuple] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        await client.call_tool("chatty", on_progress=on_progress)
        assert seen == [(1, 2, "half"), (2, 2, None)]
        result = await client.call_tool("backwards", on_progress=on_progress)
        assert result["isError"] is True


async def test_resources_and_templates() -> None:
    async with open_test_client(make_server()) as client:
        resources = await client.list_resources()
        assert {r["uri"] for r in resources} == {"test://static", "test://blob"}
        static = next(r for r in resources if r["uri"] == "test://static")
        assert static == {"uri": "test://static", "name": "static", "title": "Static", "mimeType": "text/plain"}
        templates = await client.list_resource_templates()
        assert templates[0]["uriTemplate"] == "test://items/{item_id}/detail{?verbose}"
        text = await client.read_resource("test://static")
        assert text == {"contents": [{"uri": "test://static", "mimeType": "text/plain", "text": "static text"}]}
        blob = await client.read_resource("test://blob")
        assert blob["contents"][0]["blob"] == "AAE="
        item = await client.read_resource("test://items/7/detail?verbose=true")
        assert item["contents"][0]["text"] == '{"id":7,"verbose":true}'
        assert item["contents"][0]["mimeType"] == "application/json"
        for result in (text, blob, item):
            assert_valid("2025-11-25", "ReadResourceResult", result)
        assert_valid("2025-11-25", "ListResourceTemplatesResult", {"resourceTemplates": templates})


@pytest.mark.parametrize("uri", ["test://missing", "test://items/404/detail"])
async def test_unknown_resource_gets_the_eras_error_code(uri: str) -> None:
    async with open_test_client(make_server()) as client:
        with pytest.raises(RequestFailed) as info:
            await client.read_resource(uri)
        assert info.value.code == -32002 and info.value.data == {"uri": uri}
    async with open_test_client(make_server(), protocol_version="2026-07-28") as client:
        with pytest.raises(RequestFailed) as info:
            await client.read_resource(uri)
        assert info.value.code == -32602 and info.value.data == {"uri": uri}


async def test_template_variable_of_the_wrong_type_is_invalid_params() -> None:
    async with open_test_client(make_server()) as client:
        with pytest.raises(RequestFailed) as info:
            await client.read_resource("test://items/seven/detail")
        assert info.value.code == -32602 and "item_id" in info.value.message


async def test_prompts() -> None:
    async with open_test_client(make_server()) as client:
        prompts = await client.list_prompts()
        greet = next(p for p in prompts if p["name"] == "greet")
        assert greet["arguments"] == [
            {"name": "name", "required": True, "description": "who to greet"},
            {"name": "style", "required": False},
        ]
        result = await client.get_prompt("greet", {"name": "Ada", "style": "formal"})
        assert result["description"] == "A greeting prompt."
        assert result["messages"][0] == {"role": "user", "content": {"type": "text", "text": "Say hi to Ada, formal."}}
        assert result["messages"][1]["content"]["type"] == "resource"
        assert_valid("2025-11-25", "GetPromptResult", result)
        assert (await client.get_prompt("repeat", {"times": "2"}))["messages"][0]["content"]["text"] == "again again "
        for bad in ({}, {"name": "x", "style": "rude"}):
            with pytest.raises(RequestFailed) as info:
                await client.get_prompt("greet", bad)
            assert info.value.code == -32602
        with pytest.raises(RequestFailed) as info:
            await client.get_prompt("repeat", {"times": "many"})
        assert info.value.code == -32602 and "times" in info.value.message
        with pytest.raises(RequestFailed):
            await client.get_prompt("nope")


async def test_prompt_arguments_that_are_lists_or_objects_arrive_as_json_text() -> None:
    server = trimcp.Server("analysis")

    @server.prompt
    def analyze(points: list[float], options: dict[str, str] | None = None) -> str:
        return f"mean {sum(points) / len(points):g} with {sorted((options or {}).items())}"

    async with open_test_client(server) as client:
        result = await client.get_prompt("analyze", {"points": "[1, 2.5]", "options": '{"unit": "m"}'})
        assert result["messages"][0]["content"]["text"] == "mean 1.75 with [('unit', 'm')]"
        with pytest.raises(RequestFailed) as info:
            await client.get_prompt("analyze", {"points": "1, 2"})  # not JSON: the schema's error
        assert info.value.code == -32602 and "points" in info.value.message


async def test_an_asyncio_library_in_a_tool_is_named_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    server = trimcp.Server("asyncio")

    @server.tool
    async def uses_asyncio() -> str:
        await asyncio.sleep(0.01)
        return "never"

    async with open_test_client(server) as client:
        result = await client.call_tool("uses_asyncio")
    assert result["isError"] is True and "internal error" in result["content"][0]["text"]
    assert any("an asyncio-only library? trimcp runs on Trio" in record.getMessage() for record in caplog.records)


async def test_completions() -> None:
    async with open_test_client(make_server()) as client:
        names = await client.complete({"type": "ref/prompt", "name": "greet"}, "name", "al")
        assert names == {"values": ["alice", "albert"]}
        styles = await client.complete({"type": "ref/prompt", "name": "greet"}, "style", "f")
        assert styles == {"values": ["formal"]}
        ref = {"type": "ref/resource", "uri": "test://items/{item_id}/detail{?verbose}"}
        many = await client.complete(ref, "item_id", "")
        assert len(many["values"]) == 100 and many["total"] == 250 and many["hasMore"] is True
        assert_valid("2025-11-25", "CompleteResult", {"completion": many})
        with pytest.raises(RequestFailed) as info:
            await client.complete({"type": "ref/prompt", "name": "nope"}, "x", "")
        assert info.value.code == -32602


async def test_pagination_with_opaque_cursors() -> None:
    server = make_server(page_size=3)
    async with open_test_client(server) as client:
        first = await client.request("tools/list")
        assert len(first["tools"]) == 3 and "nextCursor" in first
        everything = await client.list_tools()
        assert [t["name"] for t in everything] == list(server.tools)
        for cursor in ("garbage", "", first["nextCursor"] + "x", 5):
            with pytest.raises(RequestFailed) as info:
                await client.request("tools/list", {"cursor": cursor})
            assert info.value.code == -32602


async def test_per_request_era_shapes_every_result() -> None:
    async with open_test_client(
        make_server(cache_ttl_ms=5000), protocol_version="2026-07-28", log_level="warning"
    ) as client:
        discover = await client.request("server/discover")
        assert discover["supportedVersions"][0] == "2026-07-28"
        assert "2025-11-25" in discover["supportedVersions"]
        assert discover["resultType"] == "complete"
        assert discover["ttlMs"] == 5000 and discover["cacheScope"] == "private"
        assert discover["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "test-server"
        assert_valid("2026-07-28", "DiscoverResult", discover)
        tools = await client.request("tools/list")
        assert_valid("2026-07-28", "ListToolsResult", tools)
        call = await client.call_tool("chatty")
        assert call["resultType"] == "complete" and "ttlMs" not in call
        assert_valid("2026-07-28", "CallToolResult", call)
        levels = [n["params"]["level"] for n in client.notifications if n["method"] == "notifications/message"]
        assert levels == ["warning", "error"]
        read = await client.read_resource("test://static")
        assert_valid("2026-07-28", "ReadResourceResult", read)
        for method, key in (
            ("resources/list", "ListResourcesResult"),
            ("resources/templates/list", "ListResourceTemplatesResult"),
            ("prompts/list", "ListPromptsResult"),
        ):
            assert_valid("2026-07-28", key, await client.request(method))
        prompt = await client.get_prompt("greet", {"name": "x"})
        assert_valid("2026-07-28", "GetPromptResult", prompt)
        completion = await client.request(
            "completion/complete",
            {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name", "value": "b"}},
        )
        assert_valid("2026-07-28", "CompleteResult", completion)


async def test_per_request_era_without_log_level_sends_no_logs() -> None:
    async with open_test_client(make_server(), protocol_version="2026-07-28") as client:
        await client.call_tool("chatty")
        assert not [n for n in client.notifications if n["method"] == "notifications/message"]


async def test_per_request_envelope_errors() -> None:
    async with open_test_client(make_server(), protocol_version="2026-07-28") as client:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "1900-01-01",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/list", {"_meta": meta})
        assert info.value.code == -32022
        assert info.value.data["requested"] == "1900-01-01" and "2026-07-28" in info.value.data["supported"]
        no_capabilities = b'{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}\n'
        reply = await client.exchange_raw(no_capabilities)
        assert reply["id"] == "x" and reply["error"]["code"] == -32602
        reply = await client.exchange_raw(b'{"jsonrpc":"2.0","id":"y","method":"tools/list"}\n')
        assert reply["error"]["code"] == -32600  # nothing decided the era yet: initialize or envelope first
        await client.request("tools/list")
        reply = await client.exchange_raw(b'{"jsonrpc":"2.0","id":"z","method":"tools/list"}\n')
        assert reply["id"] == "z" and reply["error"]["code"] == -32602  # this connection needs envelopes now
        for method in ("ping", "logging/setLevel", "initialize"):
            with pytest.raises(RequestFailed) as info:
                await client.request(method)
            assert info.value.code == -32601


async def test_context_reads_resources_and_knows_its_request() -> None:
    server = make_server()

    @server.tool
    async def summarize(uri: str, ctx: Context) -> dict:
        contents = await ctx.read_resource(uri)
        return {"text": contents[0].text, "request": ctx.request_id, "version": ctx.protocol_version}

    async with open_test_client(server) as client:
        result = await client.call_tool("summarize", {"uri": "test://static"})
        assert result["structuredContent"]["text"] == "static text"
        assert result["structuredContent"]["version"] == "2025-11-25"
        assert isinstance(result["structuredContent"]["request"], int)
        missing = await client.call_tool("summarize", {"uri": "test://nothing"})
        assert missing["isError"] is True


async def test_pydantic_models_when_pydantic_is_installed() -> None:
    pydantic = pytest.importorskip("pydantic", reason="pydantic is an optional integration")

    class Address(pydantic.BaseModel):
        street: str
        number: int = pydantic.Field(gt=0, description="house number")

    class Person(pydantic.BaseModel):
        name: str
        address: Address

    server = trimcp.Server("pydantic")

    @server.tool
    def register(person: Person, note: Annotated[str, pydantic.Field(description="a note")] = "") -> Person:
        assert isinstance(person.address, Address)
        return person

    async with open_test_client(server) as client:
        (tool,) = await client.list_tools()
        assert tool["inputSchema"]["properties"]["note"]["description"] == "a note"
        assert "$defs" in tool["inputSchema"] and "Address" in tool["inputSchema"]["$defs"]
        person = {"name": "Ada", "address": {"street": "Main", "number": 3}}
        result = await client.call_tool("register", {"person": person})
        assert result["structuredContent"] == person
        bad = await client.call_tool(
            "register", {"person": {"name": "Ada", "address": {"street": "Main", "number": 0}}}
        )
        assert bad["isError"] is True and "person.address.number" in bad["content"][0]["text"]


async def test_readme_quick_start() -> None:
    server = trimcp.Server("weather", version="1.0.0")

    @server.tool
    async def forecast(city: str, days: int = 3, *, ctx: Context) -> str:
        """Forecast for a city."""
        for day in range(1, days + 1):
            await ctx.progress(day, total=days, message=f"day {day}")
        return f"Sunny in {city} for {days} days"

    async with open_test_client(server) as client:
        result = await client.call_tool("forecast", {"city": "Oslo", "days": 1})
        assert result["content"][0]["text"] == "Sunny in Oslo for 1 days"


async def test_everything_sent_validates_against_each_revision() -> None:
    server = make_server()

    @server.tool
    def sound() -> trimcp.Audio:
        return trimcp.Audio(b"RIFF\0\0\0\0WAVEfmt ")

    for version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        async with open_test_client(server, protocol_version=version) as client:
            assert_valid(version, "InitializeResult", client.initialize_result)

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                pass

            for name, arguments in (
                ("chatty", {}),
                ("picture", {}),
                ("sound", {}),
                ("paint", {"color": "red", "where": {"x": 1}}),
            ):
                assert_valid(
                    version, "CallToolResult", await client.call_tool(name, arguments, on_progress=on_progress)
                )
            assert_valid(version, "ListToolsResult", {"tools": await client.list_tools()})
            assert_valid(version, "ListPromptsResult", {"prompts": await client.list_prompts()})
            assert_valid(version, "ListResourcesResult", {"resources": await client.list_resources()})
            assert_valid(version, "GetPromptResult", await client.get_prompt("greet", {"name": "x"}))
            for notification in client.notifications:
                assert_valid(version, "ServerNotification", notification)
            assert {n["method"] for n in client.notifications} == {"notifications/message", "notifications/progress"}


def test_a_context_parameter_without_its_annotation_is_refused_at_registration() -> None:
    server = trimcp.Server("mistakes")
    with pytest.raises(TypeError, match="parameter 'ctx' has no annotation; annotate it as trimcp.Context"):

        @server.tool
        async def forgot(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
            return n

    with pytest.raises(ValueError, match=r"the content comes first: Message\(content, role\)"):
        trimcp.Message("user", "hello")  # type: ignore[arg-type]


async def test_a_refused_host_says_how_to_allow_it() -> None:
    app = trimcp.asgi_app(trimcp.Server("h"))
    async with running_server(app) as http:
        reply = await http.request("POST", headers={"host": "myserver.lan"}, body=b"{}")
        assert reply.status == 421 and "--allow-host" in reply.json()["error"]["message"]
