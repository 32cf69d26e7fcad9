"""MCP over WebSocket (SEP-1288 draft) on the real hypercorn: a raw wsproto client over a Trio
socket checks the upgrade's gate, the frames, both eras, and that closing the connection (by
the client, or by the server at shutdown) cancels the requests of it."""

from __future__ import annotations

import json
import time
from typing import Any

import attrs
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

import trimcp
from trimcp import CancelReason, Context
from trimcp.protocol.auth import InvalidToken, Principal

from .http_support import Probe, RawHTTP, envelope, initialize_request, probe_server, running_server


@attrs.define
class Refused(Exception):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define
class Closed(Exception):
    code: int
    reason: str


class RawWebSocket:
    """One client connection: JSON-RPC as text frames, pings answered, the server's close seen."""

    def __init__(self, socket: trio.SocketStream, connection: WSConnection, subprotocol: str | None) -> None:
        self.socket = socket
        self.connection = connection
        self.subprotocol = subprotocol
        self._texts: list[str] = []
        self._partial = ""
        self.closed: Closed | None = None

    async def send_json(self, value: Any) -> None:
        await self.send_text(json.dumps(value))

    async def send_text(self, text: str) -> None:
        await self.socket.send_all(self.connection.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.socket.send_all(self.connection.send(BytesMessage(data=data)))

    async def receive(self) -> dict[str, Any]:
        """The next message; raises :class:`Closed` once the server closed the connection."""
        while not self._texts:
            if self.closed is not None:
                raise self.closed
            await self._read()
        return json.loads(self._texts.pop(0))

    async def until_answer(self, request_id: Any) -> list[dict[str, Any]]:
        """Every message up to and including the answer to ``request_id``."""
        messages = [await self.receive()]
        while messages[-1].get("id") != request_id or "method" in messages[-1]:
            messages.append(await self.receive())
        return messages

    async def wait_closed(self) -> Closed:
        """Read (dropping messages) until the server's close frame."""
        while self.closed is None:
            await self._read()
        return self.closed

    async def close(self) -> None:
        await self.socket.send_all(self.connection.send(CloseConnection(code=1000)))
        await self.socket.aclose()

    async def _read(self) -> None:
        data = await self.socket.receive_some(65536)
        if not data:
            self.closed = self.closed or Closed(1006, "the TCP connection ended")
            return
        self.connection.receive_data(data)
        for event in self.connection.events():
            if isinstance(event, TextMessage):
                self._partial += event.data
                if event.message_finished:
                    self._texts.append(self._partial)
                    self._partial = ""
            elif isinstance(event, Ping):
                await self.socket.send_all(self.connection.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closed = Closed(event.code, event.reason or "")
                await self.socket.send_all(self.connection.send(event.response()))


async def open_websocket(
    http: RawHTTP, subprotocols: list[str] | None = None, headers: dict[str, str] | None = None, path: str = "/mcp"
) -> RawWebSocket:
    """Upgrade a new connection; raises :class:`Refused` with the server's answer otherwise."""
    socket = await trio.open_tcp_stream(http.host, http.port)
    connection = WSConnection(ConnectionType.CLIENT)
    request = Request(
        host=f"{http.host}:{http.port}",
        target=path,
        subprotocols=["mcp"] if subprotocols is None else subprotocols,
        extra_headers=[(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    )
    await socket.send_all(connection.send(request))
    refused: Refused | None = None
    while True:
        data = await socket.receive_some(65536)
        if not data:
            await socket.aclose()
            raise refused or ConnectionError("the server closed the connection during the upgrade")
        connection.receive_data(data)
        for event in connection.events():
            if isinstance(event, AcceptConnection):
                return RawWebSocket(socket, connection, event.subprotocol)
            if isinstance(event, RejectConnection):
                head = {k.decode().lower(): v.decode() for k, v in event.headers}
                refused = Refused(event.status_code, head, b"")
                if not event.has_body:
                    await socket.aclose()
                    raise refused
            elif isinstance(event, RejectData) and refused is not None:
                refused.body += event.data
                if event.body_finished:
                    await socket.aclose()
                    raise refused


def call(request_id: Any, name: str, arguments: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def handshake(ws: RawWebSocket) -> None:
    await ws.send_json(initialize_request())
    (answer,) = await ws.until_answer(0)
    assert answer["result"]["protocolVersion"] == "2025-11-25"
    await ws.send_json({"jsonrpc": "2.0", "method": "notifications/initialized"})


# -- the upgrade's gate ---------------------------------------------------------------------------


async def test_websocket_is_off_by_default() -> None:
    async with running_server(trimcp.asgi_app(probe_server(Probe()))) as http:
        with trio.fail_after(5), pytest.raises(Refused) as refused:
            await open_websocket(http)
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("subprotocols", "headers", "path", "status", "says"),
    [
        ([], {}, "/mcp", 400, "subprotocol 'mcp'"),
        (["chat"], {}, "/mcp", 400, "subprotocol 'mcp'"),
        (["mcp"], {"origin": "http://evil.example"}, "/mcp", 403, "Origin not allowed"),
        (["mcp"], {}, "/elsewhere", 404, "Not Found"),
    ],
)
async def test_the_upgrade_is_refused_with_an_http_error(
    subprotocols: list[str], headers: dict[str, str], path: str, status: int, says: str
) -> None:
    async with running_server(trimcp.asgi_app(probe_server(Probe()), websocket=True)) as http:
        with trio.fail_after(5), pytest.raises(Refused) as refused:
            await open_websocket(http, subprotocols, headers, path)
    assert refused.value.status == status
    assert says in refused.value.json()["error"]["message"]


async def test_an_allowed_origin_is_let_in_with_the_mcp_subprotocol() -> None:
    async with running_server(trimcp.asgi_app(probe_server(Probe()), websocket=True)) as http:
        with trio.fail_after(5):
            ws = await open_websocket(http, ["other", "mcp"], {"origin": "http://localhost:5173"})
            assert ws.subprotocol == "mcp"
            await ws.close()


class Keys:
    """A verifier knowing one key; its principal expires at ``expires_at``."""

    def __init__(self, expires_at: float | None = None) -> None:
        self.expires_at = expires_at

    async def verify(self, token: str) -> Principal:
        if token != "good":
            raise InvalidToken("unknown key")
        return Principal(subject="alice", scopes=frozenset({"mcp"}), expires_at=self.expires_at)


async def test_authentication_happens_at_the_upgrade_and_the_principal_travels() -> None:
    server = trimcp.Server("auth-ws")

    @server.tool
    def whoami(ctx: Context) -> str:
        return ctx.principal.subject  # type: ignore[union-attr]

    @server.tool(scopes=["admin"])
    def payroll() -> str:
        return "secret"

    auth = trimcp.AuthConfig(verifier=Keys(), resource_url="http://127.0.0.1/mcp")
    async with running_server(trimcp.asgi_app(server, websocket=True, auth=auth)) as http:
        with trio.fail_after(5):
            with pytest.raises(Refused) as refused:
                await open_websocket(http)
            assert refused.value.status == 401 and "resource_metadata" in refused.value.headers["www-authenticate"]
            with pytest.raises(Refused) as refused:
                await open_websocket(http, headers={"authorization": "Bearer bad"})
            assert refused.value.status == 401
            ws = await open_websocket(http, headers={"authorization": "Bearer good"})
            await handshake(ws)
            await ws.send_json(call(1, "whoami"))
            (answer,) = await ws.until_answer(1)
            assert answer["result"]["content"][0]["text"] == "alice"
            await ws.send_json(call(2, "payroll"))  # over HTTP a 403: here an error for the request
            (refused_call,) = await ws.until_answer(2)
            assert "admin" in refused_call["error"]["message"]
            await ws.close()


# -- frames and both eras -------------------------------------------------------------------------


async def test_handshake_era_with_progress_frames_and_2026_on_another_connection() -> None:
    async with running_server(trimcp.asgi_app(probe_server(Probe()), websocket=True)) as http:
        with trio.fail_after(10):
            ws = await open_websocket(http)
            await handshake(ws)
            await ws.send_json(call(1, "add", {"a": 2, "b": 3}))
            (added,) = await ws.until_answer(1)
            assert added["result"]["structuredContent"] == {"result": 5}
            await ws.send_json(call("s", "steps", {"count": 3}, progressToken="p"))
            messages = await ws.until_answer("s")
            progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
            assert progress == [1, 2, 3] and messages[-1]["result"]["content"][0]["text"] == "done"
            await ws.close()

            modern = await open_websocket(http)
            await modern.send_json(call(7, "add", {"a": 1, "b": 1}, **envelope()))
            (answer,) = await modern.until_answer(7)
            assert answer["result"]["structuredContent"] == {"result": 2}
            assert answer["result"]["resultType"] == "complete"
            await modern.send_text("{not json")
            assert (await modern.receive())["error"]["code"] == -32700  # bad input: the connection goes on
            await modern.close()


async def test_a_binary_frame_closes_with_1003() -> None:
    async with running_server(trimcp.asgi_app(probe_server(Probe()), websocket=True)) as http:
        with trio.fail_after(5):
            ws = await open_websocket(http)
            await ws.send_bytes(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}')
            assert (await ws.wait_closed()).code == 1003


@pytest.mark.parametrize("character", ["x", "é"])
async def test_a_message_over_max_body_bytes_closes_with_1009(character: str) -> None:
    # "x" * 1001 is over the limit for hypercorn's count too; "é" * 600 only in UTF-8 bytes
    text = character * (1001 if character == "x" else 600)
    async with running_server(trimcp.asgi_app(probe_server(Probe()), websocket=True, max_body_bytes=1000)) as http:
        with trio.fail_after(5):
            ws = await open_websocket(http)
            await ws.send_text(text)
            assert (await ws.wait_closed()).code == 1009


async def test_an_idle_connection_is_closed_with_1000() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), websocket=True, session_idle_timeout_seconds=0.3)
    async with running_server(app) as http:
        with trio.fail_after(5):
            ws = await open_websocket(http)
            started = trio.current_time()
            closed = await ws.wait_closed()
            assert (closed.code, closed.reason) == (1000, "idle timeout")
            assert trio.current_time() - started >= 0.3


# -- cancellation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ["handshake", "2026-07-28"])
async def test_closing_the_connection_cancels_its_requests_within_100_ms(era: str) -> None:
    probe = Probe()
    async with running_server(trimcp.asgi_app(probe_server(probe), websocket=True)) as http:
        with trio.fail_after(5):
            ws = await open_websocket(http)
            if era == "handshake":
                await handshake(ws)
                await ws.send_json(call(1, "sleep", {"seconds": 30}))
            else:
                await ws.send_json(call(1, "sleep", {"seconds": 30}, **envelope()))
            await probe.started.wait()
            closed_at = trio.current_time()
            await ws.close()
            await probe.finished.wait()
    assert probe.reason == CancelReason.CLIENT_DISCONNECTED
    assert probe.finally_at is not None and probe.finally_at - closed_at < 0.1


async def test_shutdown_closes_with_1001_after_the_grace_period() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe), websocket=True)
    async with running_server(app) as http:
        with trio.fail_after(10):
            ws = await open_websocket(http)
            await handshake(ws)
            await ws.send_json(call(1, "sleep", {"seconds": 30}))
            await probe.started.wait()
            began = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(app.shutdown, 0.5)
                await trio.sleep(0.05)
                await ws.send_json(call(2, "add", {"a": 1, "b": 2}))  # during the grace: refused
                (refused_call,) = await ws.until_answer(2)
                assert "shutting down" in refused_call["error"]["message"]
                closed = await ws.wait_closed()
            assert closed.code == 1001
            assert trio.current_time() - began >= 0.5
            assert probe.reason == CancelReason.SHUTDOWN and probe.finished.is_set()
            with pytest.raises(Refused) as refused:
                await open_websocket(http)
            assert refused.value.status == 503


async def test_the_connection_ends_when_the_credentials_expire() -> None:
    probe = Probe()
    auth = trimcp.AuthConfig(verifier=Keys(expires_at=time.time() + 0.5), resource_url="http://127.0.0.1/mcp")
    async with running_server(trimcp.asgi_app(probe_server(probe), websocket=True, auth=auth)) as http:
        with trio.fail_after(5):
            ws = await open_websocket(http, headers={"authorization": "Bearer good"})
            await ws.send_json(call(1, "sleep", {"seconds": 30}, **envelope()))
            closed = await ws.wait_closed()
            assert (closed.code, closed.reason) == (1008, "the credentials expired")
            await probe.finished.wait()
    assert probe.reason == "credentials expired"
