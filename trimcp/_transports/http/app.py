"""The Streamable HTTP endpoint as one ASGI application, serving both protocol eras.

The body decides the era: a request carrying a 2026-07-28 ``_meta`` envelope (or any POST
announced as 2026-07-28 without a session) is served statelessly (:mod:`.per_request`), its
request living in the POST's own task; everything else belongs to a handshake-era session
(:mod:`.handshake`, :mod:`.sessions`), whose requests live in the app's host nursery
(:class:`~trimcp._runtime.Host`) of the process that opened it: a request for a session another
process owns is relayed there (:mod:`.relayed`).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from ..._observe.metrics import metrics_of
from ..._runtime import Caller, CancelReason, Host
from ..._runtime.observe import ObservedExchange
from ..._server.relay import Relay
from ..._server.server import Server
from ...protocol.errors import INVALID_REQUEST
from ...protocol.jsonrpc import Notification, Request
from ...protocol.lifecycle import era_of_http_post
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
    parse_message,
    read_json_body,
    send_jsonrpc_error,
    send_response,
    with_disconnect_hook,
    with_headers,
)
from .auth import Guard, Refusal, send_refusal
from .config import HTTPConfig
from .events import MemoryEventStore
from .handshake import HandshakeEndpoint, is_initialize
from .legacy_sse import LegacySSE
from .lifespan import run_lifespan
from .observed import answer_metrics, app_gauges, begin_exchange, observed_send
from .per_request import PerRequestEndpoint
from .relayed import RelayedRequest, home_of, relay_exchange, serve_relayed
from .security import SecurityPolicy
from .sessions import SessionManager

logger = logging.getLogger("trimcp.http")

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
        self._relaying = trio.CancelScope()
        self._host = Host(lambda: self.sessions.close_all(CancelReason.SHUTDOWN), name="session")
        self.handshake = HandshakeEndpoint(server, config, self.sessions, self._host, self._at_capacity)
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
        """Run sessions and tasks in ``nursery`` (the ASGI lifespan's), and the requests other
        processes relay here (:mod:`.relayed`)."""
        self._host.adopt(nursery)
        self.server.tasks.adopt(nursery)
        if (relay := self.server.backend.relay) is not None:
            self._relaying = trio.CancelScope()
            nursery.start_soon(self._serve_relayed, relay, self._relaying)

    def stop_relaying(self) -> None:
        """Stop serving requests other processes relay here (the lifespan is ending)."""
        self._relaying.cancel()

    async def _serve_relayed(self, relay: Relay, scope: trio.CancelScope) -> None:
        with scope:
            await serve_relayed(self, relay)

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
            await _refuse_while_closing(send)
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
        if method in ("GET", "DELETE") and local_path == self.path and (home := self._home_elsewhere(headers)):
            await self._relay(home, RelayedRequest(method, headers, caller), receive, send)
        elif local_path != self.path:
            legacy = self.legacy
            if local_path == self.sse_path:
                await legacy.answer_stream_request(method, scope, receive, send, caller, full=self._at_capacity())
            elif method == "POST" and (home := self._elsewhere(legacy.session_id_of(scope) or "")):
                body = await read_json_body(headers, receive, send, self.config.max_body_bytes)
                if body is not ANSWERED:
                    query = scope.get("query_string", b"")
                    await self._relay(home, RelayedRequest(method, headers, caller, body, query), receive, send)
            else:
                await legacy.answer_post(method, scope, headers, receive, send, self.config.max_body_bytes, caller)
        elif method == "POST":
            await self._post(headers, receive, send, caller)
        elif method == "GET":
            await self.handshake.get(headers, receive, send, caller)
        elif method == "DELETE":
            await self.handshake.delete(headers, send, caller)
        else:
            await send_response(send, 405, b"", [(b"allow", b"GET, POST, DELETE")])

    # -- POST -----------------------------------------------------------------------------------------

    async def _post(self, headers: Headers, receive: Receive, send: Send, caller: Caller) -> None:
        if not accepts(headers.get("accept"), "application/json", "text/event-stream"):
            await send_jsonrpc_error(
                send, 406, INVALID_REQUEST, "Not Acceptable: Accept must list application/json and text/event-stream"
            )
            return
        body = await read_json_body(headers, receive, send, self.config.max_body_bytes)
        if body is ANSWERED:
            return
        message = await parse_message(body, send)
        if message is ANSWERED:
            return
        if self._guard is not None and (refusal := self._guard.scope_refusal(self.server, message, caller)):
            await send_refusal(send, refusal)
            return
        if self._is_per_request(message, headers):
            await self.per_request.post(message, headers, receive, send, caller)
        elif not is_initialize(message) and (home := self._home_elsewhere(headers)):
            await self._relay(home, RelayedRequest("POST", headers, caller, body), receive, send)
        else:
            await self.handshake.post(message, headers, receive, send, caller)

    def _home_elsewhere(self, headers: Headers) -> str | None:
        """The home process of the session a request names, when it is another one."""
        return self._elsewhere(headers.get("mcp-session-id") or "")

    def _elsewhere(self, session_id: str) -> str | None:
        """The home process of ``session_id``, when it is another one (with a shared backend)."""
        relay = self.server.backend.relay
        if relay is None:
            return None
        home = home_of(session_id)
        return home if home and home != relay.name else None

    async def _relay(self, home: str, request: RelayedRequest, receive: Receive, send: Send) -> None:
        relay = self.server.backend.relay
        assert relay is not None
        await relay_exchange(relay, home, request, receive, send)

    async def serve_relayed(self, request: RelayedRequest, receive: Receive, send: Send) -> None:
        """Serve a request for one of this process's sessions that reached another process
        (:mod:`.relayed`); ``receive`` gives its body first."""
        if self._closing:
            await _refuse_while_closing(send)
        elif request.legacy_query is not None:
            scope = {"query_string": request.legacy_query}
            max_body = self.config.max_body_bytes
            await self.legacy.answer_post("POST", scope, request.headers, receive, send, max_body, request.caller)
        elif request.method == "POST":
            message = await parse_message(request.body, send)
            if message is not ANSWERED:
                await self.handshake.post(message, request.headers, receive, send, request.caller)
        elif request.method == "GET":
            await self.handshake.get(request.headers, receive, send, request.caller)
        else:
            await self.handshake.delete(request.headers, send, request.caller)

    @staticmethod
    def _is_per_request(message: Any, headers: Headers) -> bool:
        """See :func:`~trimcp.protocol.lifecycle.era_of_http_post`."""
        params = message.params if type(message) in (Request, Notification) else None
        era = era_of_http_post(params, headers.get)
        return era is Era.PER_REQUEST

    def _at_capacity(self) -> bool:
        """Whether the session cap (shared by both HTTP transports and WebSocket) is reached."""
        live = self.sessions.live_sessions + len(self.legacy.sessions) + len(self.websockets.connections)
        return live >= self.sessions.max_sessions


async def _refuse_while_closing(send: Send) -> None:
    await send_jsonrpc_error(
        send, 503, INVALID_REQUEST, "Service Unavailable: shutting down", headers=[(b"retry-after", b"1")]
    )
