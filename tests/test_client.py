"""trimcp's client against trimcp's own server on every transport and era: in-process, a real
``trimcp serve`` stdio subprocess, Streamable HTTP on the real server (127.0.0.1) and the legacy
HTTP+SSE transport; cancellation, timeouts, resumption and re-initialization."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trimcp
from trimcp import CancelReason
from trimcp._client.http import Origin

from .conftest import ROOT, load_example
from .http_support import Probe, probe_server, running_server

ERAS = ["2026-07-28", "2025-11-25"]
TRANSPORTS = ["in-process", "stdio", "streamable-http", "sse"]


async def elicit(params: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"guests": 4, "time": "dinner"}}


async def sample(params: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": {"type": "text", "text": "an old silent pond"}, "model": "test"}


ROOTS = [{"uri": "file:///work/project", "name": "project"}]


async def assert_progress_and_logs(client: trimcp.Client, notifications: list[dict[str, Any]]) -> None:
    """The demo's ``count_slowly``: three progress notifications in order, then its result, and
    its three log messages among ``notifications`` (what the client's message handler saw)."""
    progress: list[tuple[float, float | None, str | None]] = []
    counted = await client.call_tool(
        "count_slowly", {"steps": 3, "delay": 0.01}, on_progress=lambda *p: progress.append(p)
    )
    assert counted["content"][0]["text"] == "counted to 3"
    assert progress == [(1, 3, "counted to 1"), (2, 3, "counted to 2"), (3, 3, "counted to 3")]
    logs = [n["params"]["data"] for n in notifications if n["method"] == "notifications/message"]
    assert logs[-3:] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]


async def assert_questions_answered(client: trimcp.Client) -> None:
    """The demo's tools that ask: elicitation, sampling and roots, answered by the handlers
    :func:`demo_client` gives (``elicit``, ``sample``, ``ROOTS``)."""
    booked = await client.call_tool("book_table", {"restaurant": "Chez Trio"})
    assert booked["content"][0]["text"] == "Booked Chez Trio for 4 at dinner."
    haiku = await client.call_tool("haiku", {"topic": "ponds"})
    assert haiku["content"][0]["text"] == "an old silent pond"
    roots = await client.call_tool("show_roots")
    assert roots["structuredContent"] == {"result": ["file:///work/project"]}


@asynccontextmanager
async def demo_client(transport: str, protocol_version: str | None, **options: Any) -> AsyncIterator[trimcp.Client]:
    """The demo server on ``transport``; the era negotiated unless ``protocol_version``."""
    demo = load_example("demo")
    options = {
        "elicitation": elicit,
        "sampling": sample,
        "roots": ROOTS,
        "protocol_version": protocol_version,
        **options,
    }
    if transport == "in-process":
        async with trimcp.open_client(demo.server, **options) as client:
            yield client
    elif transport == "stdio":
        command = [sys.executable, "-m", "trimcp", "serve", str(ROOT / "examples" / "demo.py:server")]
        async with trimcp.open_client(command, **options) as client:
            yield client
    else:
        legacy = transport == "sse"
        app = trimcp.asgi_app(demo.server, path=None if legacy else "/mcp", sse_path="/sse" if legacy else None)
        async with running_server(app) as http:
            url = f"http://127.0.0.1:{http.port}/{'sse' if legacy else 'mcp'}"
            async with trimcp.open_client(url, **options) as client:
                yield client


def expected_era(transport: str, protocol_version: str | None) -> str:
    if transport == "sse":
        return "2025-11-25"
    return protocol_version or "2026-07-28"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("pinned", [None, "2025-11-25"])
async def test_every_request_on_every_transport(transport: str, pinned: str | None) -> None:
    notifications: list[dict[str, Any]] = []
    with trio.fail_after(30):
        async with demo_client(transport, pinned, message_handler=notifications.append) as client:
            assert client.protocol_version == expected_era(transport, pinned)
            assert client.transport_name == transport
            assert client.server_info["name"] == "trimcp-demo"
            assert "tools" in client.server_capabilities
            assert {"add", "count_slowly", "book_table"} <= {tool["name"] for tool in await client.list_tools()}
            assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
            failed = await client.call_tool("divide", {"dividend": 1, "divisor": 0})
            assert failed["isError"] is True
            with pytest.raises(trimcp.RequestFailed) as unknown:
                await client.call_tool("no-such-tool")
            assert unknown.value.code == -32602

            await client.set_logging_level("info")
            await assert_progress_and_logs(client, notifications)

            readme = await client.read_resource("demo://readme")
            assert readme["contents"][0]["text"].startswith("# trimcp demo")
            assert [t["uriTemplate"] for t in await client.list_resource_templates()] == ["demo://greeting/{name}"]
            completion = await client.complete({"type": "ref/resource", "uri": "demo://greeting/{name}"}, "name", "a")
            assert completion["values"] == ["Ada", "Alan"]

            await assert_questions_answered(client)


@asynccontextmanager
async def probe_client(transport: str, protocol_version: str, probe: Probe) -> AsyncIterator[trimcp.Client]:
    server = probe_server(probe)
    if transport == "in-process":
        async with trimcp.open_client(server, protocol_version=protocol_version) as client:
            yield client
        return
    app = trimcp.asgi_app(server)
    async with running_server(app) as http:
        async with trimcp.open_client(f"http://127.0.0.1:{http.port}/mcp", protocol_version=protocol_version) as client:
            yield client
        assert app.sessions.statistics().live_requests == 0


@pytest.mark.parametrize(
    ("transport", "version", "reason"),
    [
        ("streamable-http", "2026-07-28", CancelReason.CLIENT_DISCONNECTED),  # the stream is closed
        ("streamable-http", "2025-11-25", CancelReason.CLIENT_CANCELLED),  # notifications/cancelled
        ("in-process", "2026-07-28", CancelReason.CLIENT_CANCELLED),  # stdio framing: a notification
        ("in-process", "2025-11-25", CancelReason.CLIENT_CANCELLED),
    ],
)
async def test_cancelling_the_caller_cancels_the_tool(transport: str, version: str, reason: CancelReason) -> None:
    probe = Probe()
    with trio.fail_after(15):
        async with probe_client(transport, version, probe) as client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.call_tool, "sleep")
                await probe.started.wait()
                cancelled_at = trio.current_time()
                nursery.cancel_scope.cancel()
            await probe.finished.wait()
            assert probe.finally_at - cancelled_at < 0.1, "the tool's finally ran at once"
            assert probe.reason is reason
            assert (await client.call_tool("sleep", {"seconds": 0}))["content"][0]["text"] == "slept"


@pytest.mark.parametrize("version", ERAS)
async def test_a_client_timeout_says_so_and_cancels_the_tool(version: str) -> None:
    probe = Probe()
    with trio.fail_after(15):
        async with probe_client("streamable-http", version, probe) as client:
            started = trio.current_time()
            with pytest.raises(trimcp.ClientTimeout, match="client-side timeout"):
                await client.call_tool("sleep", timeout=0.3)
            assert 0.25 < trio.current_time() - started < 2
            await probe.finished.wait()
            assert probe.reason in (CancelReason.CLIENT_CANCELLED, CancelReason.CLIENT_DISCONNECTED)


async def test_progress_can_extend_the_timeout_up_to_max_total() -> None:
    demo = load_example("demo")
    async with trimcp.open_client(demo.server) as client:
        result = await client.call_tool(
            "count_slowly", {"steps": 5, "delay": 0.1}, timeout=0.25, reset_timeout_on_progress=True
        )
        assert result["content"][0]["text"] == "counted to 5"
        with pytest.raises(trimcp.ClientTimeout):
            await client.call_tool(
                "count_slowly", {"steps": 10, "delay": 0.1}, timeout=0.25, reset_timeout_on_progress=True, max_total=0.5
            )


@asynccontextmanager
async def cutting_proxy(
    upstream_port: int, marker: bytes
) -> AsyncIterator[tuple[int, Callable[[], bool], list[bytes]]]:
    """A TCP proxy on 127.0.0.1 that drops the first connection whose answer carries
    ``marker``, right after passing that chunk on. Yields its port, whether it cut, and what
    clients sent through it."""
    cut = False
    sent: list[bytes] = []
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")

    async def handle(downstream: trio.SocketStream) -> None:
        nonlocal cut
        upstream = await trio.open_tcp_stream("127.0.0.1", upstream_port)
        async with trio.open_nursery() as nursery:

            async def pump(source: trio.SocketStream, sink: trio.SocketStream, watch: bool) -> None:
                nonlocal cut
                try:
                    while data := await source.receive_some(65536):
                        if not watch:
                            sent.append(data)
                        await sink.send_all(data)
                        if watch and not cut and marker in data:
                            cut = True
                            break
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(pump, downstream, upstream, False)
            nursery.start_soon(pump, upstream, downstream, True)
        await trio.aclose_forcefully(downstream)
        await trio.aclose_forcefully(upstream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        yield listeners[0].socket.getsockname()[1], lambda: cut, sent
        nursery.cancel_scope.cancel()


async def test_a_dropped_stream_is_resumed_with_last_event_id() -> None:
    demo = load_example("demo")
    async with (
        running_server(trimcp.asgi_app(demo.server)) as http,
        cutting_proxy(http.port, b"notifications/progress") as (port, did_cut, _),
    ):
        url = f"http://127.0.0.1:{port}/mcp"
        with trio.fail_after(15):
            async with trimcp.open_client(url, protocol_version="2025-11-25") as client:
                progress: list[float] = []
                result = await client.call_tool(
                    "count_slowly", {"steps": 4, "delay": 0.1}, on_progress=lambda p, t, m: progress.append(p)
                )
                assert did_cut(), "the proxy dropped the POST's stream after its first progress event"
                assert result["content"][0]["text"] == "counted to 4"
                assert progress == [1, 2, 3, 4], "each event exactly once, the missed ones replayed"


async def test_a_dropped_get_stream_is_resumed_with_last_event_id() -> None:
    server = trimcp.Server("changing")

    @server.tool
    def first() -> str:
        return "1"

    seen: list[dict[str, Any]] = []
    async with (
        running_server(trimcp.asgi_app(server)) as http,
        cutting_proxy(http.port, b"notifications/tools/list_changed") as (port, did_cut, sent),
    ):
        url = f"http://127.0.0.1:{port}/mcp"
        with trio.fail_after(15):
            async with trimcp.open_client(url, protocol_version="2025-11-25", message_handler=seen.append):
                await trio.sleep(0.2)  # the GET stream is open
                server.notify_tools_changed()
                while not did_cut():
                    await trio.sleep(0.01)
                server.notify_tools_changed()  # sent while the client is away: kept for its next GET
                while len([m for m in seen if m["method"] == "notifications/tools/list_changed"]) < 2:
                    await trio.sleep(0.01)
        gets = [data for data in sent if data.startswith(b"GET ")]
        assert len(gets) == 2 and b"last-event-id: " not in gets[0] and b"last-event-id: " in gets[1]


async def test_a_session_the_server_forgot_is_initialized_again() -> None:
    demo = load_example("demo")
    app = trimcp.asgi_app(demo.server)
    async with running_server(app) as http:
        url = f"http://127.0.0.1:{http.port}/mcp"
        async with trimcp.open_client(url, protocol_version="2025-11-25") as client:
            first = client.transport.session_id  # type: ignore[attr-defined]
            gone = await http.request("DELETE", headers={"mcp-session-id": first, "mcp-protocol-version": "2025-11-25"})
            assert gone.status == 200
            assert (await client.call_tool("add", {"a": 1, "b": 1}))["structuredContent"] == {"result": 2}
            assert client.transport.session_id not in (None, first)  # type: ignore[attr-defined]
        with trio.fail_after(5):
            while app.sessions.statistics().live_sessions:
                await trio.sleep(0.01)  # leaving the block DELETEd the new session too


async def raw_app_answering(status: int, content_type: bytes, body: bytes) -> Callable[..., Any]:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error", "match"),
    [
        (200, b"text/html", b"<html>hello</html>", trimcp.NotAnMCPServer, "text/html"),
        (200, b"text/event-stream", b"event: message\ndata: not json\n\n", trimcp.NotAnMCPServer, "not JSON-RPC"),
        (404, b"text/plain", b"nothing here", trimcp.HTTPStatusError, "no MCP endpoint"),
        (406, b"text/plain", b"", trimcp.HTTPStatusError, "Accept"),
        (405, b"text/plain", b"", trimcp.HTTPStatusError, "405"),
    ],
)
async def test_clear_errors_for_what_is_not_an_mcp_server(
    status: int, content_type: bytes, body: bytes, error: type[Exception], match: str
) -> None:
    app = await raw_app_answering(status, content_type, body)
    async with running_server(app) as http:  # type: ignore[arg-type]
        with trio.fail_after(10), pytest.raises(error, match=match):
            async with trimcp.open_client(f"http://127.0.0.1:{http.port}/mcp", timeout=5):
                pass


async def test_nothing_listening_is_a_connection_failure() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    with pytest.raises(trimcp.ConnectionFailed, match="cannot connect"):
        async with trimcp.open_client(f"http://127.0.0.1:{port}/mcp"):
            pass


async def test_a_stdio_command_that_is_not_an_mcp_server() -> None:
    with trio.fail_after(15), pytest.raises(trimcp.NotAnMCPServer, match="ended without answering"):
        async with trimcp.open_client([sys.executable, "-c", "print('hello')"], discover_timeout=1):
            pass


def test_origin_parsing() -> None:
    origin = Origin("https://example.com/mcp?x=1")
    assert (origin.host, origin.port, origin.tls, origin.target, origin.authority) == (
        "example.com", 443, True, "/mcp?x=1", "example.com",
    )  # fmt: skip
    assert Origin("http://[::1]:8080").authority == "[::1]:8080"
    assert Origin("http://h/sse").resolve("/messages?sessionId=1") == "/messages?sessionId=1"
    assert Origin("http://h/sse").resolve("http://h/messages?s=2") == "/messages?s=2"
    with pytest.raises(ValueError):
        Origin("ftp://example.com")


class ChunkedBody:
    """The body half of an HTTP response, arriving in the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


SSE_BODY = (
    b"id: s-1-0\r\nretry: 500\r\ndata: \r\n\r\n"  # a priming event: no message
    b": keep-alive\n\n"
    b'event: message\nid: s-1-1\ndata: {"jsonrpc":"2.0","method":"notifications/progress",\n'
    b'data: "params":{"progressToken":1,"progress":1}}\n\n'
    b'id: s-1-2\rdata: {"jsonrpc":"2.0","id":1,"result":{"text":"caf\xc3\xa9 \xe2\x98\x95"}}\r\r'
)
EXPECTED = [
    {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}},
    {"jsonrpc": "2.0", "id": 1, "result": {"text": "café ☕"}},
]


async def messages_of(chunks: list[bytes]) -> tuple[list[Any], str | None, int | None]:
    from trimcp._client.http_transport import sse_messages
    from trimcp.protocol.sse import SSEDecoder

    decoder = SSEDecoder()
    found = [message async for message in sse_messages(ChunkedBody(chunks), decoder)]  # type: ignore[arg-type]
    return found, decoder.last_event_id, decoder.retry


async def test_sse_split_at_every_byte_boundary() -> None:
    whole = await messages_of([SSE_BODY])
    assert whole == (EXPECTED, "s-1-2", 500)
    for cut in range(1, len(SSE_BODY)):
        assert await messages_of([SSE_BODY[:cut], SSE_BODY[cut:]]) == whole, f"split at byte {cut}"
    assert await messages_of([SSE_BODY[i : i + 1] for i in range(len(SSE_BODY))]) == whole


async def test_malformed_sse_is_a_clear_error() -> None:
    with pytest.raises(trimcp.NotAnMCPServer, match="not JSON-RPC"):
        await messages_of([b"data: {truncated\n\n"])


@pytest.mark.parametrize("transport", ["in-process", "streamable-http"])
async def test_listen_delivers_the_change_notifications_asked_for(transport: str) -> None:
    server = trimcp.Server("changing")

    @server.tool
    def first() -> str:
        return "1"

    @server.prompt
    def hello() -> str:
        return "hello"

    async def check(client: trimcp.Client) -> None:
        async with client.listen(tools=True) as changes:
            assert changes.granted == {"toolsListChanged": True}
            server.notify_prompts_changed()  # not asked for
            server.notify_tools_changed()
            with trio.fail_after(5):
                change = await changes.receive()
            assert change["method"] == "notifications/tools/list_changed"
        with pytest.raises(RuntimeError, match="2026-07-28"):
            async with trimcp.open_client(server, protocol_version="2025-11-25") as legacy, legacy.listen(tools=True):
                pass

    with trio.fail_after(15):
        if transport == "in-process":
            async with trimcp.open_client(server) as client:
                await check(client)
        else:
            async with (
                running_server(trimcp.asgi_app(server)) as http,
                trimcp.open_client(f"http://127.0.0.1:{http.port}/mcp") as client,
            ):
                await check(client)


def header_server() -> trimcp.Server:
    server = trimcp.Server("headers")

    @server.tool(input_schema={"type": "object", "properties": {"n": {"type": "number", "x-mcp-header": "N"}}})
    def invalid(n: float) -> str:
        return "never listed"

    @server.tool(
        input_schema={
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
            "required": ["region"],
        }
    )
    def regional(region: str) -> str:
        return f"region={region}"

    return server


async def test_x_mcp_header_arguments_travel_as_headers_and_invalid_tools_are_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from .http_support import JSON_AND_SSE, envelope, modern_headers

    async with running_server(trimcp.asgi_app(header_server())) as http:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "regional", "arguments": {"region": "eu"}, "_meta": envelope()}}  # fmt: skip
        bare = await http.post(call, {**modern_headers("tools/call", "regional"), "accept": JSON_AND_SSE})
        assert bare.status == 400, "the server insists on the header"
        async with trimcp.open_client(f"http://127.0.0.1:{http.port}/mcp") as client:
            assert client.era.name == "PER_REQUEST"
            result = await client.call_tool("regional", {"region": "eu"})  # lists the tools first
            assert result["content"][0]["text"] == "region=eu"
            assert [tool["name"] for tool in await client.list_tools()] == ["regional"]
            assert "leaving out tool 'invalid'" in caplog.text
