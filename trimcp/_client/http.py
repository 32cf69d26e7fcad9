"""A small HTTP/1.1 client on h11 and trio: keep-alive connections per origin, TLS through
trio's SSL support, responses read as they arrive."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import h11
import trio

from .errors import ConnectionFailed, ServerClosed

_CHUNK = 65536
#: What a response cut short by the server says (a server shutting down closes its connections).
CLOSED_BEFORE_ANSWERING = "the server closed the connection before answering (it may be shutting down)"
#: What a connection that broke or that the server closed raises: worth a retry or a resumption.
CONNECTION_DROPPED = (ConnectionFailed, ServerClosed)


class Unreachable(ConnectionFailed):
    """Nothing answers at the server's address (connection refused, no route, timeout)."""


class Origin:
    """Where requests go: scheme, host and port from a URL, plus the request target of it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self.port == (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default_port else f"{host}:{self.port}"

    def resolve(self, target: str) -> str:
        """A target the server named (an absolute path or URL) as a request target here."""
        parts = urlsplit(target)
        if parts.scheme:
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return target


class Response:
    """A response whose head has arrived; the body is read with :meth:`chunks` or :meth:`read`."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], connection: _Connection) -> None:
        self.status = status
        self.headers = headers
        self._connection = connection
        self.complete = False

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ends with the response. Raises as
        :meth:`_Connection.next_event` does."""
        while not self.complete:
            event = await self._connection.next_event()
            if type(event) is h11.Data:
                yield bytes(event.data)
            elif type(event) is h11.EndOfMessage:
                self.complete = True
            elif type(event) is h11.ConnectionClosed:
                raise ServerClosed(CLOSED_BEFORE_ANSWERING)

    async def read(self, limit: int = 64 * 1024 * 1024) -> bytes:
        parts, size = [], 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise ConnectionFailed(f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)


class _Connection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self._server_closed = False

    async def send(self, *events: h11.Event) -> None:
        await self.stream.send_all(b"".join(self.h11.send(event) or b"" for event in events))

    async def next_event(self) -> h11.Event:
        """The next h11 event from the server, reading as needed. Raises :class:`ServerClosed`
        when the server closed the connection in the middle of a message (a server shutting
        down), :class:`ConnectionFailed` for bytes that are not HTTP or a broken connection."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._server_closed:
                    raise ServerClosed(CLOSED_BEFORE_ANSWERING) from None
                raise ConnectionFailed(f"malformed HTTP response: {exc}") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.stream.receive_some(_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionFailed(f"connection lost: {exc}") from None
            self._server_closed = not data
            self.h11.receive_data(data)

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.stream)


class HTTPPool:
    """Keep-alive connections to one origin. ``verify`` is ``True`` (system CAs), ``False`` or an
    ``ssl.SSLContext``."""

    def __init__(self, origin: Origin, *, verify: bool | ssl.SSLContext = True, connect_timeout: float = 10.0) -> None:
        self.origin = origin
        self.connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        if isinstance(verify, ssl.SSLContext):
            self._ssl = verify
        else:
            self._ssl = ssl.create_default_context()
            if not verify:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    async def _connect(self) -> _Connection:
        origin = self.origin
        try:
            with trio.fail_after(self.connect_timeout):
                if origin.tls:
                    stream: trio.abc.Stream = await trio.open_ssl_over_tcp_stream(
                        origin.host, origin.port, ssl_context=self._ssl, https_compatible=True
                    )
                    await stream.do_handshake()  # type: ignore[attr-defined]
                else:
                    stream = await trio.open_tcp_stream(origin.host, origin.port)
        except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
            raise Unreachable(f"cannot connect to {origin.url}: {exc}") from None
        return _Connection(stream)

    @asynccontextmanager
    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> AsyncIterator[Response]:
        """Send a request and yield its response once the head arrives. A connection whose
        response was read to its end goes back to the pool; any other is closed (which is how
        a caller abandons a stream)."""
        all_headers = [("host", self.origin.authority), *headers]
        if body or method in ("POST", "PUT"):
            all_headers.append(("content-length", str(len(body))))
        request = h11.Request(method=method, target=target, headers=all_headers)
        connection, response = await self._send(request, body)
        try:
            yield response
        finally:
            if connection.reusable:
                connection.h11.start_next_cycle()
                self._idle.append(connection)
            else:
                await connection.aclose()

    async def _send(self, request: h11.Request, body: bytes) -> tuple[_Connection, Response]:
        while self._idle:  # a pooled connection the server has since closed fails before any answer
            connection = self._idle.pop()
            try:
                return connection, await self._exchange(connection, request, body)
            except CONNECTION_DROPPED:
                await connection.aclose()
        connection = await self._connect()
        try:
            return connection, await self._exchange(connection, request, body)
        except BaseException:
            await connection.aclose()
            raise

    @staticmethod
    async def _exchange(connection: _Connection, request: h11.Request, body: bytes) -> Response:
        events: list[h11.Event] = [request]
        if body:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        try:
            await connection.send(*events)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionFailed(f"connection lost: {exc}") from None
        while True:
            event = await connection.next_event()
            if type(event) is h11.Response:
                return Response(event.status_code, list(event.headers), connection)
            if type(event) is h11.ConnectionClosed:
                raise ServerClosed(CLOSED_BEFORE_ANSWERING)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()
