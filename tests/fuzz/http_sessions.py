"""The client's side of MCP sessions over raw HTTP (:mod:`tests.fuzz.rawhttp`): Streamable HTTP
sessions and HTTP+SSE sessions opened and ended, event streams read, saved cases sent again to
fresh servers with new sessions in place of the ones they named."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from trimcp.protocol.sse import SSEDecoder

from . import messages, values
from .http_cases import Case
from .processes import RelayedServers, ServerProcess
from .rawhttp import Connection, HTTPResponse, Malformed

_INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
_HOSTS = re.compile(rb"(127\.0\.0\.1|localhost|LOCALHOST|\[::1\]|evil\.example):\d+")


def post(port: int, target: str, body: bytes, headers: str = "") -> bytes:
    """A well-formed ``POST`` of ``body`` (``headers``: more header lines, each ending in CRLF)."""
    head = (
        f"POST {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"accept: application/json, text/event-stream\r\n{headers}content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def send_case(port: int, case: Case, timeout: float) -> list[HTTPResponse]:
    """Send ``case`` on a connection of its own, half-closed: the responses up to a stream's head."""
    connection = await Connection.open(port)
    try:
        await connection.send(case.data)
        await connection.half_close()
        responses = []
        while (response := await connection.response(request_method=case.exchanges[0].method)) is not None:
            responses.append(response)
            if response.streaming:
                break
        return responses
    finally:
        await connection.close()


async def initialize(connection: Connection, port: int, version: str, rng: random.Random) -> str | None:
    """Open a Streamable HTTP session of ``version`` on ``connection``: its id (``None``: refused)."""
    await connection.send(post(port, "/mcp", values.encode(messages.initialize(version, rng))))
    response = await connection.response()
    if response is None or response.status != 200:
        return None
    session = response.headers.get("mcp-session-id")
    headers = f"mcp-session-id: {session}\r\nmcp-protocol-version: {version}\r\n"
    await connection.send(post(port, "/mcp", _INITIALIZED, headers))
    await connection.response()
    return session


async def delete(connection: Connection, port: int, session: str) -> None:
    """End ``session`` with a ``DELETE``."""
    head = f"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nmcp-session-id: {session}\r\n\r\n"
    await connection.send(head.encode("latin-1", "replace"))
    await connection.response()


def events(body: bytes) -> list[Any]:
    """The SSE events in a complete event-stream body."""
    return SSEDecoder().feed(body + b"\n\n")


def answers_in(event: Any) -> list[Any]:
    """The JSON-RPC responses an SSE event carries (raises ``ValueError`` for data not JSON)."""
    if not event.data or event.event != "message":
        return []
    value = json.loads(event.data)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict) and "method" not in item]


class SSEStream:
    """An event stream whose head ``response`` was read on ``connection``, read event by event:
    a POST's, a resuming GET's, or an HTTP+SSE session's (see :meth:`open`)."""

    def __init__(self, connection: Connection, response: HTTPResponse | None = None) -> None:
        self.connection = connection
        self.response = response
        self._decoder = SSEDecoder()
        self._pending: list[Any] = []
        #: An HTTP+SSE session's: where to POST its requests, and its id.
        self.endpoint = ""
        self.session = ""

    @classmethod
    async def open(cls, port: int) -> SSEStream:
        """Open an HTTP+SSE session's ``GET /sse`` stream and read its ``endpoint`` event.
        Raises ``Malformed``."""
        stream = cls(await Connection.open(port))
        try:
            await stream.connection.send(
                f"GET /sse HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: text/event-stream\r\n\r\n".encode()
            )
            response = await stream.connection.response(request_method="GET")
            if response is None or not response.streaming:
                raise Malformed(f"GET /sse answered {response!r}")
            stream.response = response
            event = await stream.next_event()
            if event is None or event.event != "endpoint" or "sessionId=" not in event.data:
                raise Malformed(f"no endpoint event on the HTTP+SSE stream: {event!r}")
        except BaseException:
            await stream.connection.close()
            raise
        stream.endpoint = event.data
        stream.session = event.data.split("sessionId=", 1)[1]
        return stream

    async def next_event(self) -> Any:
        """The next event (``None`` once the stream ended)."""
        assert self.response is not None
        while not self._pending:
            piece = await self.connection.body_piece(self.response)
            if piece is None:
                return None
            self._pending.extend(self._decoder.feed(piece))
        return self._pending.pop(0)


async def open_legacy_session(port: int, front: int, version: str, rng: random.Random) -> SSEStream:
    """An HTTP+SSE session: its stream opened on ``port``, its ``initialize`` POSTed to ``front``
    and answered on the stream, then its ``notifications/initialized``. Raises ``Malformed``."""
    stream = await SSEStream.open(port)
    try:
        initialize_message = messages.initialize(version, rng)
        for body in (values.encode(initialize_message), _INITIALIZED):
            connection = await Connection.open(front)
            try:
                await connection.send(post(front, stream.endpoint, body))
                response = await connection.response()
            finally:
                await connection.close()
            if response is None or response.status != 202:
                raise Malformed(f"a POST to the HTTP+SSE session's endpoint answered {response!r}")
            while body is not _INITIALIZED:
                event = await stream.next_event()
                if event is None:
                    raise Malformed("the HTTP+SSE stream ended before initialize was answered")
                if any(answer.get("id") == initialize_message["id"] for answer in answers_in(event)):
                    break
    except BaseException:
        await stream.connection.close()
        raise
    return stream


async def replant(case: Case, server: ServerProcess | RelayedServers, held: list[Connection]) -> bytes:
    """``case``'s bytes for the fresh ``server``: its ports, and new sessions (opened on its owner;
    the connections that keep them are appended to ``held``) in place of the ones they named."""
    port = server.owner_port if case.to_owner else server.port
    data = _HOSTS.sub(rb"\1:%d" % port, case.data)
    rng = random.Random(0)
    for key, old in case.sessions.items():
        if key == "sse":
            stream = await open_legacy_session(server.owner_port, server.port, "2024-11-05", rng)
            held.append(stream.connection)
            new: str | None = stream.session
        else:
            connection = await Connection.open(server.owner_port)
            held.append(connection)
            new = await initialize(connection, server.owner_port, key, rng)
        if new:
            data = data.replace(old.encode("latin-1", "replace"), new.encode("latin-1", "replace"))
    return data
