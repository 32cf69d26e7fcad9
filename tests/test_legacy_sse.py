"""The deprecated HTTP+SSE transport (2024-11-05): the official ``sse_client``, stream closing
as cancellation, and every status code with raw requests."""

from __future__ import annotations

from typing import Any

import mcp_types
import trio
from mcp import Client
from mcp.client.sse import sse_client

import trimcp
from trimcp import CancelReason, Context

from .conftest import load_example
from .http_support import RawHTTP, running_server


async def open_legacy(http: RawHTTP, path: str = "/sse") -> tuple[Any, str]:
    """Open an SSE session; return the stream context and its POST endpoint."""
    context = http.open("GET", path, {"accept": "text/event-stream"})
    stream = await context.__aenter__()
    (endpoint,) = await stream.events(1)
    assert endpoint.event == "endpoint"
    return (context, stream), endpoint.data


async def test_official_sse_client_with_progress_and_logs() -> None:
    app = trimcp.asgi_app(load_example("demo").server, path=None, sse_path="/sse")
    logs: list[Any] = []
    progress: list[Any] = []

    async def on_log(params: mcp_types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with running_server(app) as http:
        with trio.fail_after(30):
            url = f"http://{http.host}:{http.port}/sse"
            async with Client(sse_client(url), mode="legacy", logging_callback=on_log, cache=None) as client:
                tools = await client.list_tools()
                assert "count_slowly" in {t.name for t in tools.tools}
                result = await client.call_tool(
                    "count_slowly", {"steps": 3, "delay": 0.01}, progress_callback=on_progress
                )
                assert result.content[0].text == "counted to 3"
                added = await client.call_tool("add", {"a": 1, "b": 2})
                assert added.structured_content == {"result": 3}
        assert progress == [1, 2, 3] and len(logs) >= 3
        with trio.fail_after(5):
            while app.legacy.sessions:
                await trio.sleep(0.01)


async def test_closing_the_stream_cancels_a_30s_tool_and_ends_the_session() -> None:
    server = trimcp.Server("legacy")
    finished = trio.Event()
    seen: dict[str, Any] = {}

    @server.tool
    async def sleep(ctx: Context) -> str:
        try:
            await ctx.info("sleeping")
            await trio.sleep(30)
            return "slept"
        finally:
            seen["at"], seen["reason"] = trio.current_time(), ctx.cancel_reason
            finished.set()

    app = trimcp.asgi_app(server, sse_path="/sse")
    async with running_server(app) as http:
        (context, stream), endpoint = await open_legacy(http)
        headers = {"content-type": "application/json"}
        initialize = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2024-11-05",
                "capabilities": {},
                "clientInfo": {"name": "x", "version": "1"},
            },
        }
        assert (await http.request("POST", endpoint, headers, initialize)).status == 202
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "sleep", "arguments": {}}}
        assert (await http.request("POST", endpoint, headers, call)).status == 202
        answer, log = await stream.events(2)
        assert '"id":0' in answer.data and "sleeping" in log.data
        closed_at = trio.current_time()
        await context.__aexit__(None, None, None)
        with trio.fail_after(5):
            await finished.wait()
        assert seen["at"] - closed_at < 0.1 and seen["reason"] is CancelReason.CLIENT_DISCONNECTED
        with trio.fail_after(5):
            while app.legacy.sessions:
                await trio.sleep(0.01)
        assert (await http.request("POST", endpoint, headers, call)).status == 404


async def test_legacy_status_codes() -> None:
    app = trimcp.asgi_app(trimcp.Server("legacy"), sse_path="/sse", max_body_bytes=1000)
    async with running_server(app) as http:
        (context, stream), endpoint = await open_legacy(http)
        assert endpoint.startswith("/messages?sessionId=")
        json_headers = {"content-type": "application/json"}
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await http.request("POST", "/messages", json_headers, ping)).status == 400
        assert (await http.request("POST", "/messages?sessionId=a%20b", json_headers, ping)).status == 400
        assert (await http.request("POST", "/messages?sessionId=unknown", json_headers, ping)).status == 404
        assert (await http.request("POST", endpoint, {"content-type": "text/plain"}, ping)).status == 415
        assert (await http.request("POST", endpoint, json_headers, b"x" * 2000)).status == 413
        assert (await http.request("POST", endpoint, json_headers, b"{nope")).status == 400
        put = await http.request("PUT", endpoint, json_headers, ping)
        assert put.status == 405 and put.headers["allow"] == "POST"
        probe = await http.request("POST", "/sse", {**json_headers, "mcp-protocol-version": "2026-07-28"}, ping)
        assert probe.status == 405 and probe.body == b""  # no modern error: a 2026 client falls back to GET
        assert (await http.request("GET", "/sse", {"origin": "https://evil.example"})).status == 403
        assert (await http.request("POST", endpoint, json_headers, ping)).status == 202
        (pong,) = await stream.events(1)
        assert pong.data == '{"jsonrpc":"2.0","id":1,"result":{}}'
        await context.__aexit__(None, None, None)


async def test_the_endpoint_is_relative_to_the_mount() -> None:
    inner = trimcp.asgi_app(trimcp.Server("legacy"), sse_path="/sse")

    async def outer(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "root_path": "/tools"}
        await inner(scope, receive, send)

    async with running_server(outer) as http:  # type: ignore[arg-type]
        (context, _), endpoint = await open_legacy(http, "/tools/sse")
        assert endpoint.startswith("/tools/messages?sessionId=")
        reply = await http.request(
            "POST", endpoint, {"content-type": "application/json"}, {"jsonrpc": "2.0", "method": "x"}
        )
        assert reply.status == 202
        await context.__aexit__(None, None, None)


async def test_mcp_inspector_cli_over_sse(tmp_path: Any) -> None:
    """The MCP Inspector's CLI (node 22) lists and calls tools through the HTTP+SSE transport."""
    import json

    from .node_peers import node_environment, package_bin

    inspector = package_bin("@modelcontextprotocol/inspector", "clients/launcher/build/index.js")
    app = trimcp.asgi_app(load_example("demo").server, path=None, sse_path="/sse")
    async with running_server(app) as http:
        url = f"http://{http.host}:{http.port}/sse"

        async def run(*arguments: str) -> Any:
            result = await trio.run_process(
                [*inspector, "--cli", url, "--transport", "sse", *arguments],
                capture_stdout=True,
                capture_stderr=True,
                env=node_environment(),
                check=False,
            )
            assert result.returncode == 0, result.stderr.decode()
            return json.loads(result.stdout)

        with trio.fail_after(120):
            listed = await run("--method", "tools/list")
            assert "add" in {tool["name"] for tool in listed["tools"]}
            called = await run("--method", "tools/call", "--tool-name", "add", "--tool-arg", "a=2", "--tool-arg", "b=5")
            assert called["structuredContent"] == {"result": 7}
