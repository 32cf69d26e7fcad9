"""The Streamable HTTP endpoint as one ASGI application, serving both protocol eras.

The body decides the era: a request carrying a 2026-07-28 ``_meta`` envelope (or any POST
announced as 2026-07-28 without a session) is served statelessly (:mod:`.per_request`), its
request living in the POST's own task; everything else belongs to a handshake-era session
(:mod:`.sessions`), whose requests live in the app's host nursery (:class:`~trimcp._runtime.Host`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import trio

from ..._observe.metrics import metrics_of
from ..._runtime import Caller, CancelReason, Host, Outbox, Outgoing
from ..._runtime.observe import ObservedExchange
from ..._server.method_table import MethodTable
from ..._server.server import Server
from ...protocol import jsonrpc
from ...protocol.auth import subject_of
from ...protocol.errors import (
    INVALID_REQUEST,
    ProtocolError,
    RemoteProtocolError,
    show_value,
)
from ...protocol.jsonrpc import Batch, Notification, Request
from ...protocol.lifecycle import Feature, carries, era_of_http_post, handshake_version_refused, http_stream_refused
from ...protocol.versions import Era
from ..websocket import WebSocketEndpoint
from .asgi import (
    ANSWERED,
    HeaderMapping,
    Headers,
    Receive,
    Scope,
    Send,
    accepts,
    answer_health,
    answer_internal_error,
    read_message,
    send_json,
    send_jsonrpc_error,
    send_response,
    with_disconnect_hook,
    with_headers,
)
from .auth import Guard, Refusal, send_refusal
from .config import HTTPConfig
from .events import EventId, MemoryEventStore, SSEStream
from .legacy_sse import LegacySSE
from .lifespan import run_lifespan
from .observed import answer_metrics, app_gauges, begin_exchange, observed_send
from .per_request import PerRequestEndpoint
from .security import SecurityPolicy
from .sessions import HTTPSession, SessionManager
from .streaming import abandon, answer_json, stream_sse

logger = logging.getLogger("trimcp.http")

_SESSION_HEADER = b"mcp-session-id"
_HOST_REFUSED = "Misdirected Request: Host not allowed (allow it with --allow-host or allowed_hosts)"
_ORIGIN_REFUSED = "Forbidden: Origin not allowed (allow it with --allow-origin or allowed_origins)"


class MCPApp:
    """An ASGI application serving one :class:`~trimcp.Server` as :class:`HTTPConfig` says
    (its ``path`` is relative to where the app is mounted). Build it with :func:`trimcp.asgi_app`.

    With an ``sse_path``, the deprecated HTTP+SSE transport of 2024-11-05 is served beside the
    endpoint; with ``path=None``, only that. Handshake-era SSE streams are resumable by default:
    their events carry ids and are kept in the ``event_store``; a client that loses a POST's
    stream has ``resume_window_seconds`` to resume it with ``GET`` and ``Last-Event-ID`` before
    its requests are cancelled.
    """

    def __init__(self, server: Server, config: HTTPConfig | None = None) -> None:
        self.server = server
        self.config = config = config if config is not None else HTTPConfig()
        self.security = SecurityPolicy(
            allowed_hosts=config.allowed_hosts, allowed_origins=config.allowed_origins, cors_origins=config.cors_origins
        )
        self.path = config.path
        self.sse_path = config.sse_path
        self.messages_path = config.messages_path if config.sse_path is not None else None
        self._guard = Guard(config.auth, self.path) if config.auth is not None else None
        store = MemoryEventStore() if config.event_store == "memory" else config.event_store
        self.sessions = SessionManager(server, config, store)  # type: ignore[arg-type]
        self.legacy = LegacySSE(server, config)
        self.per_request = PerRequestEndpoint(server, config)
        self._metrics = metrics_of(server) if config.metrics_path is not None else None
        self.websockets = WebSocketEndpoint(server, config, self.security, self._guard, at_capacity=self._at_capacity)
        self._host = Host(lambda: self.sessions.close_all(CancelReason.SHUTDOWN), name="session")
        self._closing = False

    async def shutdown(self, grace: float) -> None:
        """Shut down gracefully: refuse new work (503), end the idle GET streams, give running
        requests ``grace`` seconds, then cancel them and every running task (reason: shutdown).
        Every response that started ends properly; WebSocket connections close with 1001."""
        self._closing = True
        self.server.close_listeners()
        self.websockets.stop()
        runtimes = [*self.per_request.runtimes(), *self.sessions.runtimes(), *self.legacy.runtimes()]
        runtimes += self.websockets.runtimes()
        self.sessions.end_standalone_streams()
        with trio.move_on_after(grace):
            for runtime in runtimes:
                await runtime.wait_idle()
        self.sessions.close_all(CancelReason.SHUTDOWN)
        self.legacy.close_all(CancelReason.SHUTDOWN)
        self.per_request.close_all(CancelReason.SHUTDOWN)
        self.websockets.close_all(CancelReason.SHUTDOWN)
        self.server.tasks.stop(CancelReason.SHUTDOWN)
        await self.server.tasks.wait_stopped()

    # -- ASGI entry -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection. Nothing escapes but cancellation: a failure in serving an
        HTTP request (a bug) is logged with its traceback and answered with a 500 carrying a
        JSON-RPC -32603 error, or ends a response already under way."""
        kind = scope["type"]
        if kind == "http":
            observer = self.server.observer
            exchange = None
            if observer is not None:
                exchange = begin_exchange(scope, Headers(scope.get("headers", ())))
                send = observed_send(send, exchange, observer)
            try:
                await self._http(scope, with_disconnect_hook(scope, receive), send, exchange)
            except Exception:
                logger.exception("Serving %s %s failed", scope.get("method"), scope.get("path"))
                await answer_internal_error(send)
            finally:
                if exchange is not None:
                    exchange.end()
                    observer.exchange_finished(exchange)  # type: ignore[union-attr]
        elif kind == "websocket":
            await self.websockets.serve(scope, receive, send, self._local_path(scope))
        elif kind == "lifespan":
            await run_lifespan(self, receive, send)

    def adopt(self, nursery: trio.Nursery) -> None:
        """Run sessions and tasks in ``nursery`` (the ASGI lifespan's)."""
        self._host.adopt(nursery)
        self.server.tasks.adopt(nursery)

    # -- routing ------------------------------------------------------------------------------------

    def _local_path(self, scope: Scope) -> str:
        path: str = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return path.rstrip("/") or "/"

    async def _http(self, scope: Scope, receive: Receive, send: Send, exchange: ObservedExchange | None) -> None:
        headers = Headers(scope.get("headers", ()))
        bound_to = (scope.get("server") or (None,))[0]
        if not self.security.host_allowed(headers, bound_to):
            await send_jsonrpc_error(send, 421, INVALID_REQUEST, _HOST_REFUSED)
            return
        if not self.security.origin_allowed(headers, bound_to):
            await send_jsonrpc_error(send, 403, INVALID_REQUEST, _ORIGIN_REFUSED)
            return
        local_path = self._local_path(scope)
        if local_path == self.config.health_path:
            await answer_health(send, scope["method"], ready=not self._closing)
            return
        if local_path == self.config.metrics_path:
            await answer_metrics(send, scope["method"], self._metrics.render(app_gauges(self)))  # type: ignore[union-attr]
            return
        guard = self._guard
        if guard is not None and guard.serves_metadata(local_path, scope.get("path", "")):
            await guard.send_metadata(send, self.security.cors_headers(headers))
            return
        if local_path not in (self.path, self.sse_path, self.messages_path):
            await send_response(send, 404, b"Not Found", [(b"content-type", b"text/plain")])
            return
        method = scope["method"]
        if self._closing:
            await send_jsonrpc_error(
                send, 503, INVALID_REQUEST, "Service Unavailable: shutting down", headers=[(b"retry-after", b"1")]
            )
            return
        cors = self.security.cors_headers(headers)
        if method == "OPTIONS":
            await send_response(send, 204 if cors else 403, b"", self.security.preflight_headers(headers))
            return
        if cors:
            send = with_headers(send, cors)
        principal = None
        if guard is not None:
            outcome = await guard.check(headers.get_all("authorization"), scope.get("query_string", b""))
            if isinstance(outcome, Refusal):
                await send_refusal(send, outcome)
                return
            principal = outcome
            if exchange is not None:
                exchange.principal = principal.subject
        caller = Caller(principal, HeaderMapping(headers))
        if local_path != self.path:
            legacy = self.legacy
            if local_path == self.sse_path:
                await legacy.answer_stream_request(method, scope, receive, send, caller, full=self._at_capacity())
            else:
                await legacy.answer_post(method, scope, headers, receive, send, self.config.max_body_bytes, caller)
        elif method == "POST":
            await self._post(headers, receive, send, caller)
        elif method == "GET":
            await self._get(headers, receive, send, caller)
        elif method == "DELETE":
            await self._delete(headers, send, caller)
        else:
            await send_response(send, 405, b"", [(b"allow", b"GET, POST, DELETE")])

    # -- POST -----------------------------------------------------------------------------------------

    async def _post(self, headers: Headers, receive: Receive, send: Send, caller: Caller) -> None:
        if not accepts(headers.get("accept"), "application/json", "text/event-stream"):
            await send_jsonrpc_error(
                send, 406, INVALID_REQUEST, "Not Acceptable: Accept must list application/json and text/event-stream"
            )
            return
        message = await read_message(headers, receive, send, self.config.max_body_bytes)
        if message is ANSWERED:
            return
        if self._guard is not None and (refusal := self._guard.scope_refusal(self.server, message, caller)):
            await send_refusal(send, refusal)
            return
        if self._is_per_request(message, headers):
            await self.per_request.post(message, headers, receive, send, caller)
        else:
            await self._post_handshake(message, headers, receive, send, caller)

    @staticmethod
    def _is_per_request(message: Any, headers: Headers) -> bool:
        """See :func:`~trimcp.protocol.lifecycle.era_of_http_post`."""
        params = message.params if type(message) in (Request, Notification) else None
        era = era_of_http_post(params, headers.get)
        return era is Era.PER_REQUEST

    async def _post_handshake(
        self, message: Any, headers: Headers, receive: Receive, send: Send, caller: Caller
    ) -> None:
        if type(message) is Request and message.method == "initialize":
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

        stream.take_over()
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

    def _at_capacity(self) -> bool:
        """Whether the session cap (shared by both HTTP transports and WebSocket) is reached."""
        live = self.sessions.live_sessions + len(self.legacy.sessions) + len(self.websockets.connections)
        return live >= self.sessions.max_sessions

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

    # -- GET and DELETE -------------------------------------------------------------------------------

    async def _get(self, headers: Headers, receive: Receive, send: Send, caller: Caller) -> None:
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
        if stream.attached:
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
        replayed = await stream.replay_after(event_id.seq)
        if replayed is None:
            await send_jsonrpc_error(send, 404, INVALID_REQUEST, "Not Found: the missed events are no longer kept")
            return None
        return stream, replayed

    async def _delete(self, headers: Headers, send: Send, caller: Caller) -> None:
        if http_stream_refused(
            session_id=headers.get("mcp-session-id"), version_header=headers.get("mcp-protocol-version")
        ):
            await send_response(send, 405, b"", [(b"allow", b"POST")])
            return
        session = await self._find_session(headers, send, caller)
        if session is not None:
            self.sessions.delete(session)
            await send_response(send, 200)


def _always_ok(answer: Outgoing) -> int:
    return 200  # handshake-era errors travel in 200 responses, like results


def _has_request(message: Any) -> bool:
    """Whether ``message`` needs an answer: a request, or a batch holding one or an invalid
    item (answered with its error)."""
    if type(message) is Request:
        return True
    return type(message) is Batch and any(isinstance(item, (Request, RemoteProtocolError)) for item in message)
