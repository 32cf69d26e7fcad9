"""The deprecated HTTP+SSE transport of 2024-11-05: ``GET /sse`` opens a session whose
messages all travel on that one stream; the client POSTs to ``/messages?sessionId=…``.

A legacy session lives exactly as long as its SSE stream: the stream's ASGI task owns the
session's nursery, so closing the stream ends the session and cancels its requests.
"""

from __future__ import annotations

import secrets
import urllib.parse

from ..._runtime import Caller, CancelReason, Dispatcher, Outbox, open_dispatcher
from ..._server.method_table import MethodTable
from ..._server.server import Server
from ...protocol.auth import subject_of
from ...protocol.errors import INVALID_REQUEST
from ...protocol.sse import encode_event
from .asgi import (
    ANSWERED,
    Headers,
    Receive,
    Scope,
    Send,
    read_message,
    send_jsonrpc_error,
    send_response,
)
from .config import HTTPConfig
from .streaming import stream_sse


class LegacySession:
    def __init__(self, session_id: str, runtime: Dispatcher, owner: str | None) -> None:
        self.id = session_id
        self.runtime = runtime
        #: The principal that opened it; only its POSTs reach it.
        self.owner = owner


class LegacySSE:
    """The two endpoints of the old transport, for one server."""

    def __init__(self, server: Server, config: HTTPConfig) -> None:
        self.server = server
        self.messages_path = config.messages_path
        self.outbound_buffer = config.outbound_buffer_messages
        self.keepalive_interval = config.sse_keepalive_seconds
        self.sessions: dict[str, LegacySession] = {}
        self._closing_reason: CancelReason | None = None

    async def answer_stream_request(
        self, method: str, scope: Scope, receive: Receive, send: Send, caller: Caller, *, full: bool
    ) -> None:
        """A request to ``sse_path``: a ``GET`` opens a session (503 when the app is ``full``)."""
        if method != "GET":  # a 2026-07-28 client probing here must get no modern error, and fall back
            await send_response(send, 405, b"", [(b"allow", b"GET")])
        elif full:
            await send_jsonrpc_error(
                send, 503, INVALID_REQUEST, "Service Unavailable: too many sessions", headers=[(b"retry-after", b"5")]
            )
        else:
            await self.open_stream(scope, receive, send, caller)

    async def answer_post(
        self, method: str, scope: Scope, headers: Headers, receive: Receive, send: Send, max_body: int, caller: Caller
    ) -> None:
        """A request to ``messages_path``: only ``POST``."""
        if method != "POST":
            await send_response(send, 405, b"", [(b"allow", b"POST")])
        else:
            await self.post_message(scope, headers, receive, send, max_body, caller)

    async def open_stream(self, scope: Scope, receive: Receive, send: Send, caller: Caller) -> None:
        """``GET /sse``: a new session, announced by an ``endpoint`` event, served on this stream
        until the client leaves or the server shuts down."""
        session_id = secrets.token_hex(16)
        if (relay := self.server.backend.relay) is not None:  # its POSTs may reach other processes
            session_id = f"{relay.name}.{session_id}"
        endpoint = f"{scope.get('root_path', '')}{self.messages_path}?sessionId={session_id}"
        outbox = Outbox(self.outbound_buffer)
        async with open_dispatcher(
            MethodTable(self.server, outbox), outbox, observer=self.server.observer, session=session_id, transport="sse"
        ) as runtime:
            self.sessions[session_id] = LegacySession(session_id, runtime, subject_of(caller))
            try:
                await stream_sse(
                    send,
                    receive,
                    outbox,
                    on_disconnect=lambda: runtime.close(CancelReason.CLIENT_DISCONNECTED),
                    keepalive_interval=self.keepalive_interval,
                    opening=lambda: encode_event(endpoint, event="endpoint"),
                )
            finally:
                del self.sessions[session_id]
                if self._closing_reason is not None:
                    runtime.close(self._closing_reason)

    async def post_message(
        self, scope: Scope, headers: Headers, receive: Receive, send: Send, max_body: int, caller: Caller
    ) -> None:
        """``POST /messages?sessionId=…``: hand the message to its session; 202, the answer
        goes out on the session's stream."""
        session_id = self.session_id_of(scope)
        if session_id is None:
            await send_jsonrpc_error(send, 400, INVALID_REQUEST, "Bad Request: a sessionId query parameter is required")
            return
        session = self.sessions.get(session_id)
        if session is None or session.owner != subject_of(caller):
            await send_jsonrpc_error(send, 404, INVALID_REQUEST, "Not Found: no such session (its stream has closed)")
            return
        message = await read_message(headers, receive, send, max_body)
        if message is ANSWERED:
            return
        await send_response(send, 202, b"Accepted", [(b"content-type", b"text/plain")])
        await session.runtime.receive(message, caller=caller)

    @staticmethod
    def session_id_of(scope: Scope) -> str | None:
        """The session a POST names (``sessionId``; letters and digits, perhaps after the name
        of its process and a dot), or ``None``."""
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ids = query.get("sessionId") or query.get("session_id")
        if not ids or len(ids) != 1 or not ids[0].replace(".", "", 1).isalnum():
            return None
        return ids[0]

    def close_all(self, reason: CancelReason) -> None:
        """End every legacy session (their streams end once their requests are cancelled)."""
        self._closing_reason = reason
        for session in list(self.sessions.values()):
            session.runtime.close(reason)
            session.runtime.outbox.close()

    def runtimes(self) -> list[Dispatcher]:
        return [session.runtime for session in self.sessions.values()]
