"""The handshake-era side of the Streamable HTTP endpoint: ``initialize`` opens a session
(:mod:`.sessions`), whose later POSTs, GET streams (resumable with ``Last-Event-ID``) and DELETE
name it by ``Mcp-Session-Id``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..._runtime import Caller, Host, Outbox, Outgoing
from ..._server.method_table import MethodTable
from ..._server.server import Server
from ...protocol import jsonrpc
from ...protocol.auth import subject_of
from ...protocol.errors import INVALID_REQUEST, ProtocolError, RemoteProtocolError, show_value
from ...protocol.jsonrpc import Batch, Request
from ...protocol.lifecycle import Feature, carries, handshake_version_refused, http_stream_refused
from .asgi import Headers, Receive, Send, accepts, send_json, send_jsonrpc_error, send_response
from .config import HTTPConfig
from .events import EventId, SSEStream
from .sessions import HTTPSession, SessionManager
from .streaming import abandon, answer_json, stream_sse

_SESSION_HEADER = b"mcp-session-id"


class HandshakeEndpoint:
    """Serves the requests of handshake-era sessions, each living in ``host``'s nursery;
    ``at_capacity`` says whether the session cap (shared with the other transports) is reached."""

    def __init__(
        self, server: Server, config: HTTPConfig, sessions: SessionManager, host: Host, at_capacity: Callable[[], bool]
    ) -> None:
        self.server = server
        self.config = config
        self.sessions = sessions
        self._host = host
        self._at_capacity = at_capacity

    async def post(self, message: Any, headers: Headers, receive: Receive, send: Send, caller: Caller) -> None:
        """Answer a POST of ``message``: ``initialize`` opens a session; anything else goes to
        the session it names, answered as JSON when ready at once, else as a resumable stream."""
        if is_initialize(message):
            await self._initialize(message, send, caller)
            return
        session = await self._find_session(headers, send, caller)
        if session is None:
            return
        version = headers.get("mcp-protocol-version")
        if handshake_version_refused(version):
            await send_jsonrpc_error(
                send, 400, INVALID_REQUEST, f"Bad Request: unsupported MCP-Protocol-Version {version!r}"
            )
            return
        session.begin_exchange()
        try:
            if not _has_request(message):
                await session.runtime.receive(message, caller=caller)
                await send_response(send, 202)
                return
            outbox = Outbox(self.config.outbound_buffer_messages)
            await session.runtime.receive(message, outbox, caller)
            outbox.seal()
            # a JSON answer cannot be resumed: the client leaving cancels its requests
            leave = functools.partial(abandon, session.runtime, outbox)
            if (outbox.closed or self.config.json_response) and await answer_json(
                send, receive, outbox, on_disconnect=leave, json_status=_always_ok
            ):
                return
            stream = session.open_stream(outbox)
            await self._answer_stream(session, stream, receive, send, json_status=_always_ok)
        finally:
            session.end_exchange()

    async def _answer_stream(
        self,
        session: HTTPSession,
        stream: SSEStream,
        receive: Receive,
        send: Send,
        replayed: list[bytes] = (),  # type: ignore[assignment]
        *,
        json_status: Callable[[Outgoing], int] | None = None,
    ) -> None:
        """Attach a response to a session's stream until the stream ends or the client leaves
        (with ``json_status``, a response that is ready first goes out as JSON)."""

        def opening() -> bytes:
            if not replayed and stream.store is not None and carries(session.protocol_version, Feature.PRIMING_EVENTS):
                return stream.priming_event(self.config.retry_ms)
            return b"".join(replayed)

        completed = False
        with stream.holding():
            completed = await stream_sse(
                send,
                receive,
                stream.outbox,
                on_disconnect=lambda: session.detach(stream),
                keepalive_interval=self.config.sse_keepalive_seconds,
                encode=stream.encode,
                opening=opening,
                json_status=json_status,
            )
        if completed:
            stream.finished = True
            stream.attached = False

    async def _initialize(self, request: Request, send: Send, caller: Caller) -> None:
        if self._at_capacity():
            await send_jsonrpc_error(
                send,
                503,
                INVALID_REQUEST,
                f"Service Unavailable: {self.sessions.max_sessions} sessions are open; retry later",
                request_id=request.id,
                headers=[(b"retry-after", b"5")],
            )
            return
        connection = MethodTable(self.server)
        try:
            result = connection.route(request, caller)
        except ProtocolError as exc:
            await send_jsonrpc_error(send, exc.http_status, exc.code, exc.message, request_id=request.id, data=exc.data)
            return
        session = await self.sessions.create(await self._host.nursery(), connection, subject_of(caller))
        body = jsonrpc.response_bytes(request.id, result)
        await send_json(send, 200, body, [(_SESSION_HEADER, session.id.encode())])

    async def _find_session(self, headers: Headers, send: Send, caller: Caller) -> HTTPSession | None:
        """The session a request names, when it is the caller's; else answers 400 or 404 (the
        same 404 for another principal's session: its existence is not revealed)."""
        session_id = headers.get("mcp-session-id")
        if session_id is None:
            await send_jsonrpc_error(send, 400, INVALID_REQUEST, "Bad Request: the Mcp-Session-Id header is required")
            return None
        session = self.sessions.get(session_id)
        if session is None or session.owner != subject_of(caller):
            await send_jsonrpc_error(send, 404, INVALID_REQUEST, "Not Found: no such session (it may have expired)")
            return None
        return session

    async def get(self, headers: Headers, receive: Receive, send: Send, caller: Caller) -> None:
        """Answer a GET: the session's standalone stream, or with ``Last-Event-ID`` the stream
        it names, replayed from there (taken over from a response still attached)."""
        if http_stream_refused(
            session_id=headers.get("mcp-session-id"), version_header=headers.get("mcp-protocol-version")
        ):
            await send_response(send, 405, b"", [(b"allow", b"POST")])
            return
        if not accepts(headers.get("accept"), "text/event-stream"):
            await send_jsonrpc_error(send, 406, INVALID_REQUEST, "Not Acceptable: Accept must list text/event-stream")
            return
        session = await self._find_session(headers, send, caller)
        if session is None:
            return
        stream, replayed = session.standalone, []
        last_event_id = headers.get("last-event-id")
        if last_event_id is not None:
            found = await self._resume(session, last_event_id, send)
            if found is None:
                return
            stream, replayed = found
        elif stream.attached:
            await send_jsonrpc_error(send, 409, INVALID_REQUEST, "Conflict: this stream is already being received")
            return
        session.begin_exchange()
        try:
            await self._answer_stream(session, stream, receive, send, replayed)
        finally:
            session.end_exchange()

    async def _resume(
        self, session: HTTPSession, last_event_id: str, send: Send
    ) -> tuple[SSEStream, list[bytes]] | None:
        """The stream a ``Last-Event-ID`` names in this session and the events to replay, or
        ``None`` after answering why it cannot be resumed."""
        event_id = EventId.parse(last_event_id)
        stream = session.streams.get(event_id.stream) if event_id and event_id.session == session.serial else None
        if stream is None or event_id is None:
            await send_jsonrpc_error(
                send, 404, INVALID_REQUEST, f"Not Found: no stream to resume at {show_value(last_event_id)}"
            )
            return None
        await stream.displace()  # the client lost the response still attached, if any
        replayed = await stream.replay_after(event_id.seq)
        if replayed is None:
            await send_jsonrpc_error(send, 404, INVALID_REQUEST, "Not Found: the missed events are no longer kept")
            return None
        return stream, replayed

    async def delete(self, headers: Headers, send: Send, caller: Caller) -> None:
        """Answer a DELETE: the session it names ends (its requests cancelled, its streams ended)."""
        if http_stream_refused(
            session_id=headers.get("mcp-session-id"), version_header=headers.get("mcp-protocol-version")
        ):
            await send_response(send, 405, b"", [(b"allow", b"POST")])
            return
        session = await self._find_session(headers, send, caller)
        if session is not None:
            self.sessions.delete(session)
            await send_response(send, 200)


def is_initialize(message: Any) -> bool:
    return type(message) is Request and message.method == "initialize"


def _always_ok(answer: Outgoing) -> int:
    return 200  # handshake-era errors travel in 200 responses, like results


def _has_request(message: Any) -> bool:
    """Whether ``message`` needs an answer: a request, or a batch holding one or an invalid
    item (answered with its error)."""
    if type(message) is Request:
        return True
    return type(message) is Batch and any(isinstance(item, (Request, RemoteProtocolError)) for item in message)
