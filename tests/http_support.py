"""Test support for the HTTP transport: the real hypercorn on 127.0.0.1, and a raw HTTP/1.1
client (h11 over a Trio socket) for requests an SDK would never send."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio

import trimcp
from trimcp import Context
from trimcp.protocol.sse import ServerSentEvent, SSEDecoder

JSON_AND_SSE = "application/json, text/event-stream"


@attrs.define
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


class Stream:
    """A response being received: its head, and its body as it arrives."""

    def __init__(
        self, connection: h11.Connection, socket: trio.abc.Stream, status: int, headers: dict[str, str]
    ) -> None:
        self._connection = connection
        self._socket = socket
        self.status = status
        self.headers = headers
        self.decoder = SSEDecoder()
        self.ended = False

    async def chunk(self) -> bytes:
        """The next piece of the body; ``b""`` at its end."""
        while True:
            event = self._connection.next_event()
            if event is h11.NEED_DATA:
                data = await self._socket.receive_some(65536)
                if not data:
                    raise ConnectionError("the server closed the connection mid-response")
                self._connection.receive_data(data)
                continue
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage):
                self.ended = True
                return b""

    async def events(self, count: int) -> list[ServerSentEvent]:
        """Read until ``count`` SSE events arrived."""
        found: list[ServerSentEvent] = []
        while len(found) < count:
            chunk = await self.chunk()
            if not chunk:
                raise AssertionError(f"the stream ended after {len(found)} events")
            found.extend(self.decoder.feed(chunk))
        return found

    async def rest(self) -> bytes:
        """Everything until the end of the body."""
        parts = []
        while chunk := await self.chunk():
            parts.append(chunk)
        return b"".join(parts)

    async def messages(self) -> list[dict[str, Any]]:
        """Every JSON-RPC message until the end of the SSE body."""
        return [json.loads(event.data) for event in self.decoder.feed(await self.rest()) if event.data]

    async def close(self) -> None:
        await self._socket.aclose()


class RawHTTP:
    """One HTTP/1.1 request per connection, with full control over every header."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context

    @asynccontextmanager
    async def open(
        self, method: str, path: str = "/mcp", headers: dict[str, str] | None = None, body: bytes | Any = b""
    ) -> AsyncIterator[Stream]:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        all_headers = {"host": f"{self.host}:{self.port}", **(headers or {})}
        if body:
            all_headers.setdefault("content-length", str(len(body)))
        if self.ssl_context is None:
            socket: trio.abc.Stream = await trio.open_tcp_stream(self.host, self.port)
        else:
            socket = await trio.open_ssl_over_tcp_stream(self.host, self.port, ssl_context=self.ssl_context)
        connection = h11.Connection(h11.CLIENT)
        data = connection.send(h11.Request(method=method, target=path, headers=list(all_headers.items())))
        if body:
            data += connection.send(h11.Data(data=body))
        data += connection.send(h11.EndOfMessage())
        await socket.send_all(data)
        try:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    received = await socket.receive_some(65536)
                    if not received:
                        raise ConnectionError("the server closed the connection before answering")
                    connection.receive_data(received)
                    continue
                if isinstance(event, h11.Response):
                    head = {k.decode().lower(): v.decode() for k, v in event.headers}
                    yield Stream(connection, socket, event.status_code, head)
                    return
        finally:
            await socket.aclose()

    async def request(
        self, method: str, path: str = "/mcp", headers: dict[str, str] | None = None, body: bytes | Any = b""
    ) -> Response:
        async with self.open(method, path, headers, body) as stream:
            return Response(stream.status, stream.headers, await stream.rest())

    async def post(self, body: Any, headers: dict[str, str] | None = None, path: str = "/mcp") -> Response:
        base = {"accept": JSON_AND_SSE, "content-type": "application/json"}
        return await self.request("POST", path, {**base, **(headers or {})}, body)

    async def initialize(self, version: str = "2025-11-25", *, notify: bool = True) -> str:
        """Open a handshake-era session and return its id."""
        reply = await self.post(initialize_request(version))
        assert reply.status == 200, reply
        session_id = reply.headers["mcp-session-id"]
        if not notify:
            return session_id
        notified = await self.post(
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"mcp-session-id": session_id, "mcp-protocol-version": version},
        )
        assert notified.status == 202
        return session_id


def initialize_request(version: str = "2025-11-25", capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``initialize`` request (id 0) of a handshake-era revision."""
    params = {
        "protocolVersion": version,
        "capabilities": capabilities or {},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}


def envelope(version: str = "2026-07-28", **extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        **extra,
    }


def modern_headers(method: str, name: str | None = None, version: str = "2026-07-28") -> dict[str, str]:
    headers = {"mcp-protocol-version": version, "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return headers


@asynccontextmanager
async def running_server(app: trimcp.MCPApp, **options: Any) -> AsyncIterator[RawHTTP]:
    """Serve ``app`` with the real hypercorn on 127.0.0.1 (a free port); stop it on exit."""
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: trimcp.serve_http(
                app, host="127.0.0.1", port=0, handle_signals=False, task_status=task_status, **options
            )
        )
        port = int(binds[0].rsplit(":", 1)[1])
        yield RawHTTP("127.0.0.1", port)
        nursery.cancel_scope.cancel()


class Probe:
    """What a probe server's ``sleep`` tool saw: started, when its ``finally`` ran, and why."""

    def __init__(self) -> None:
        self.started = trio.Event()
        self.finished = trio.Event()
        self.finally_at: float | None = None
        self.reason: object = None


def probe_server(probe: Probe) -> trimcp.Server:
    """Tools for transport tests: ``sleep`` (reports to ``probe``), ``add``, ``steps`` (logs and
    progress), ``regional`` (an ``x-mcp-header`` argument)."""
    server = trimcp.Server("http-test", version="1.2.3")

    @server.tool
    async def sleep(ctx: Context, seconds: float = 30) -> str:
        probe.started.set()
        try:
            await trio.sleep(seconds)
            return "slept"
        finally:
            probe.finally_at = trio.current_time()
            probe.reason = ctx.cancel_reason
            probe.finished.set()

    @server.tool
    async def add(a: int, b: int) -> int:
        return a + b

    @server.tool
    async def steps(ctx: Context, count: int = 3) -> str:
        for step in range(1, count + 1):
            await ctx.info(f"step {step}")
            await ctx.progress(step, count)
            await trio.sleep(0.01)
        return "done"

    @server.tool(
        input_schema={"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}
    )
    def regional(region: str) -> str:
        return region

    return server
