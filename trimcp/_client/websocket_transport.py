"""MCP over a WebSocket (SEP-1288, a draft): wsproto over a Trio socket (TLS through trio), the
subprotocol ``mcp``, one JSON-RPC message per text frame each way. The connection is the
session, as on stdio: the first message decides the era, and a cancelled call is a
``notifications/cancelled``."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionState, ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ..protocol import jsonrpc
from ..protocol.errors import ProtocolError
from .core import ClientCore
from .errors import ConnectionFailed, HTTPStatusError, ServerClosed
from .http import Origin, Response, Unreachable
from .http_transport import raise_for_credentials

SUBPROTOCOL = "mcp"
MAX_MESSAGE = 64 * 1024 * 1024
_CHUNK = 65536


class WebSocketTransport:
    """One WebSocket connection: requests and notifications go out as text frames; a reader
    task dispatches every text frame that comes back and answers the server's pings."""

    def __init__(self, stream: trio.abc.Stream, connection: WSConnection) -> None:
        self._stream = stream
        self._ws = connection
        self._lock = trio.StrictFIFOLock()
        self._closed = trio.Event()

    async def send_request(self, request_id: Any, message: dict[str, Any], data: bytes) -> None:
        await self._send(TextMessage(data=data.decode()), ServerClosed)

    async def send_message(self, message: dict[str, Any], data: bytes) -> None:
        await self._send(TextMessage(data=data.decode()), ServerClosed)

    def abandon(self, request_id: Any) -> bool:
        return False  # one connection for everything: cancellation is a notification

    async def _send(self, event: Event, error: type[Exception]) -> None:
        """Send ``event`` (whole, never interleaved with another); ``error`` when the
        connection is closed or broken."""
        async with self._lock:
            try:
                data = self._ws.send(event)
                await self._stream.send_all(data)
            except (LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise error(f"the WebSocket connection is closed ({exc})") from None

    async def read_into(self, client: ClientCore) -> None:
        """Dispatch every message until the connection ends; then the client closes."""
        parts: list[str] = []
        size = 0
        try:
            while True:
                try:
                    chunk = await self._stream.receive_some(_CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                self._ws.receive_data(chunk or None)
                try:
                    events = list(self._ws.events())
                except RemoteProtocolError:
                    return  # not WebSocket any more: the connection is unusable
                for event in events:
                    if type(event) is TextMessage:
                        parts.append(event.data)
                        size += len(event.data)
                        if not event.message_finished:
                            continue
                        text, parts, over, size = "".join(parts), [], size > MAX_MESSAGE, 0
                        if not over:
                            await self._dispatch(client, text)
                    elif type(event) is Ping:
                        await self._reply(event.response())
                    elif type(event) is CloseConnection:
                        if self._ws.state is ConnectionState.REMOTE_CLOSING:
                            await self._reply(event.response())
                        return
                    # binary frames: not MCP, skipped (the server never sends one)
                if not chunk:
                    return
        finally:
            self._closed.set()
            client.close()

    @staticmethod
    async def _dispatch(client: ClientCore, text: str) -> None:
        try:
            message = jsonrpc.loads(text.encode())
        except ProtocolError:
            return  # not JSON-RPC: skipped, as on stdio
        await client.dispatch(message)

    async def _reply(self, event: Event) -> None:
        try:
            await self._send(event, ServerClosed)
        except ServerClosed:
            pass

    async def aclose(self, grace: float = 2.0) -> None:
        """Close cleanly (1000), wait up to ``grace`` seconds for the server's close, then
        close the socket."""
        with trio.CancelScope(shield=True):
            if self._ws.state is ConnectionState.OPEN:
                try:
                    await self._send(CloseConnection(code=1000, reason="client closed"), ServerClosed)
                except ServerClosed:
                    pass
                else:
                    with trio.move_on_after(grace):
                        await self._closed.wait()
            await self._stream.aclose()


def _ssl_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    verify: bool | ssl.SSLContext = True,
    connect_timeout: float = 10.0,
) -> AsyncIterator[WebSocketTransport]:
    """Connect to ``url`` (``ws://``, ``wss://``; ``http(s)://`` is taken as the same), ask for
    the ``mcp`` subprotocol with ``headers``, and yield the transport once the server accepted;
    closed (1000) on exit.

    Raises :class:`ConnectionFailed` when nothing answers or the answer is not a WebSocket
    upgrade, :class:`HTTPStatusError` (:class:`AuthorizationRequired` for a credentials
    challenge) when the server refuses the upgrade."""
    scheme = urlsplit(url).scheme
    origin = Origin({"ws": "http", "wss": "https"}.get(scheme, scheme) + url[len(scheme) :])
    try:
        with trio.fail_after(connect_timeout):
            if origin.tls:
                ssl_stream = await trio.open_ssl_over_tcp_stream(
                    origin.host, origin.port, ssl_context=_ssl_context(verify), https_compatible=True
                )
                await ssl_stream.do_handshake()
                stream: trio.abc.Stream = ssl_stream
            else:
                stream = await trio.open_tcp_stream(origin.host, origin.port)
    except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
        raise Unreachable(f"cannot connect to {url}: {exc}") from None
    try:
        with trio.fail_after(connect_timeout):
            connection = await _upgrade(stream, origin, headers or {}, url)
        transport = WebSocketTransport(stream, connection)
    except BaseException:
        with trio.CancelScope(shield=True):
            await stream.aclose()
        raise
    try:
        yield transport
    finally:
        await transport.aclose()


async def _upgrade(stream: trio.abc.Stream, origin: Origin, headers: dict[str, str], url: str) -> WSConnection:
    """The opening handshake: the connection once accepted, or the refusal as an error."""
    connection = WSConnection(ConnectionType.CLIENT)
    extra = [(name.encode(), value.encode()) for name, value in headers.items()]
    request = Request(host=origin.authority, target=origin.target, subprotocols=[SUBPROTOCOL], extra_headers=extra)
    try:
        await stream.send_all(connection.send(request))
        refused: RejectConnection | None = None
        body = b""
        while True:
            chunk = await stream.receive_some(_CHUNK)
            if not chunk:
                raise ServerClosed(f"{url} closed the connection before answering the WebSocket upgrade")
            connection.receive_data(chunk)
            for event in connection.events():
                if type(event) is AcceptConnection:
                    if event.subprotocol != SUBPROTOCOL:
                        raise ConnectionFailed(f"{url} accepted the WebSocket without the {SUBPROTOCOL!r} subprotocol")
                    return connection
                if type(event) is RejectConnection:
                    refused = event
                    if not event.has_body:
                        break
                elif type(event) is RejectData:
                    body += event.data
                    if not event.body_finished:
                        continue
                    break
            else:
                continue
            assert refused is not None
            response = Response(refused.status_code, list(refused.headers), None)  # type: ignore[arg-type]
            raise_for_credentials(response)
            detail = body.decode("utf-8", "replace")[:300] or "no body"
            raise HTTPStatusError(refused.status_code, f"the WebSocket upgrade was refused: {detail}")
    except RemoteProtocolError as exc:
        raise ConnectionFailed(f"{url} did not answer as a WebSocket server: {exc}") from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise ConnectionFailed(f"connection to {url} lost during the WebSocket upgrade: {exc}") from None
