"""MCP over WebSocket (SEP-1288, a draft) on the Streamable HTTP endpoint's path, served from the
ASGI ``websocket`` scope: off unless ``HTTPConfig(websocket=True)`` (docs/http.md, "WebSocket").

The upgrade passes the HTTP endpoint's gate (Host, Origin, authentication) and must offer the
subprotocol ``mcp``. Then the connection is the session, as on stdio: one dispatcher per
connection whose first message decides the era, one JSON-RPC message (or batch) per text frame,
and the client closing the connection cancels every request of it ("client disconnected").
The server closes it with 1003 for a binary frame, 1009 for a message over ``max_body_bytes``,
1000 when idle for ``session_idle_timeout_seconds``, 1008 when the caller's credentials expire,
and 1001 at shutdown, after the grace period.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from .._runtime import Caller, CancelReason, Dispatcher, Outbox, open_dispatcher
from .._runtime.answers import error as error_answer
from .._runtime.answers import internal_error
from .._server.method_table import MethodTable
from .._server.server import Server
from ..protocol import jsonrpc
from ..protocol.errors import INVALID_REQUEST, ProtocolError, RemoteProtocolError
from ..protocol.jsonrpc import Request
from .http.asgi import HeaderMapping, Headers, Receive, Scope, Send, send_jsonrpc_error
from .http.auth import Guard, Refusal
from .http.config import HTTPConfig
from .http.security import SecurityPolicy

logger = logging.getLogger("trimcp.http")

#: The subprotocol a client must offer (``Sec-WebSocket-Protocol: mcp``).
SUBPROTOCOL = "mcp"
#: Close codes (RFC 6455 §7.4.1).
NORMAL_CLOSURE, GOING_AWAY, UNSUPPORTED_DATA, POLICY_VIOLATION, MESSAGE_TOO_BIG = 1000, 1001, 1003, 1008, 1009
INTERNAL_ERROR_CLOSE = 1011
_RESPONSE_EXTENSION = "websocket.http.response"


@attrs.frozen
class _Closing:
    """Why the server ends a connection: its close frame, and the reason its requests get."""

    code: int
    reason: str
    cancel_reason: CancelReason | str


class WebSocketConnection:
    """One accepted connection: its dispatcher (a nursery owning every request of it), a reader,
    a writer and a watcher of its idle time and credentials. Created by
    :meth:`WebSocketEndpoint.serve`, which runs it."""

    def __init__(self, server: Server, config: HTTPConfig, caller: Caller, guard: Guard | None) -> None:
        self._server = server
        self._config = config
        self._caller = caller
        self._guard = guard
        self.dispatcher: Dispatcher | None = None
        self._closing: _Closing | None = None
        self._read_scope = trio.CancelScope()
        self._last_seen = trio.current_time()

    def stop(self) -> None:
        """Refuse new requests (each answered with an error saying the server is shutting
        down); running ones go on, and the client's cancellations are still read."""
        if self.dispatcher is not None:
            self.dispatcher.drain()

    def close(self, code: int, reason: str, cancel_reason: CancelReason | str) -> None:
        """End the connection: stop reading, cancel its requests with ``cancel_reason``, send
        what they already queued, then the close frame ``code``. The first call wins."""
        if self._closing is None:
            self._closing = _Closing(code, reason, cancel_reason)
        self._read_scope.cancel()

    async def run(self, receive: Receive, send: Send) -> None:
        """Serve the accepted connection until either side closes it. Resource handling: the
        dispatcher, the outbox and the writer live in this call and end with it. Raises only
        cancellation (then its requests are cancelled with reason "shutdown")."""
        outbox = Outbox(self._config.outbound_buffer_messages)
        async with trio.open_nursery() as nursery:
            table = MethodTable(self._server, outbox)
            observer = self._server.observer
            async with open_dispatcher(table, outbox, observer=observer, transport="websocket") as dispatcher:
                self.dispatcher = dispatcher
                nursery.start_soon(self._write, outbox, send, dispatcher)
                watcher = trio.CancelScope()
                nursery.start_soon(self._watch, watcher, dispatcher)
                with self._read_scope:
                    await self._read(receive, dispatcher)
                watcher.cancel()
                closing = self._closing
                dispatcher.close(CancelReason.CLIENT_DISCONNECTED if closing is None else closing.cancel_reason)
            outbox.close()  # the writer sends what is queued, then ends
        if self._closing is not None:
            await send({"type": "websocket.close", "code": self._closing.code, "reason": self._closing.reason})

    async def _read(self, receive: Receive, dispatcher: Dispatcher) -> None:
        """Read frames until the client leaves or a frame breaks the rules (then close)."""
        limit = self._config.max_body_bytes
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            text = message.get("text")
            if text is None:
                self.close(
                    UNSUPPORTED_DATA,
                    "binary frames are not supported: send JSON-RPC as text",
                    CancelReason.SESSION_ENDED,
                )
                return
            if _utf8_over(text, limit):
                self.close(MESSAGE_TOO_BIG, f"a message may have at most {limit} bytes", CancelReason.SESSION_ENDED)
                return
            self._last_seen = trio.current_time()
            await self._receive(text, dispatcher)

    async def _receive(self, text: str, dispatcher: Dispatcher) -> None:
        """Act on one message from the caller; bad input is answered with its JSON-RPC error, a
        request needing scopes the caller lacks with -32600 (as a 403 over HTTP)."""
        try:
            message = jsonrpc.parse(text)
        except RemoteProtocolError as exc:
            await dispatcher.outbox.send(error_answer(exc.request_id, exc))
            return
        except Exception:
            logger.exception("Reading a message failed")
            await dispatcher.outbox.send(error_answer(None, internal_error()))
            return
        guard = self._guard
        if guard is not None and (refusal := guard.scope_refusal(self._server, message, self._caller)):
            if type(message) is not jsonrpc.Notification:
                request_id = message.id if type(message) is Request else None
                refused = ProtocolError(refusal.message, code=INVALID_REQUEST)
                await dispatcher.outbox.send(error_answer(request_id, refused))
            return
        await dispatcher.receive(message, None, self._caller)

    async def _write(self, outbox: Outbox, send: Send, dispatcher: Dispatcher) -> None:
        """Send each queued message as one text frame until the outbox is closed and drained.
        If sending fails (the client is gone), the connection ends: its requests are cancelled
        with reason "client disconnected"."""
        try:
            async for batch in outbox.batches():
                for item in batch:
                    await send({"type": "websocket.send", "text": item.data.decode()})
        except Exception as exc:  # noqa: BLE001 - the ASGI server's own disconnect error
            logger.info("Writing to a WebSocket failed (%r); ending the connection", exc)
            outbox.abort()
            dispatcher.close(CancelReason.CLIENT_DISCONNECTED)
            self._read_scope.cancel()

    async def _watch(self, scope: trio.CancelScope, dispatcher: Dispatcher) -> None:
        """Close the connection (1000) once nothing ran and nothing arrived for
        ``session_idle_timeout_seconds``, or (1008) when the caller's credentials expire."""
        with scope:
            timeout = self._config.session_idle_timeout_seconds
            expires_at = getattr(self._caller.principal, "expires_at", None)
            expiry = float("inf") if expires_at is None else trio.current_time() + expires_at - time.time()
            while True:
                await trio.sleep_until(min(self._last_seen + timeout, expiry))
                now = trio.current_time()
                if now >= expiry:
                    self.close(POLICY_VIOLATION, "the credentials expired", "credentials expired")
                    return
                if now < self._last_seen + timeout:
                    continue
                if not dispatcher.statistics().live_requests:
                    self.close(NORMAL_CLOSURE, "idle timeout", CancelReason.SESSION_ENDED)
                    return
                with trio.move_on_at(expiry):
                    await dispatcher.wait_idle()
                self._last_seen = trio.current_time()


class WebSocketEndpoint:
    """The WebSocket side of one app: the gate of each upgrade and the connections it let in."""

    def __init__(
        self,
        server: Server,
        config: HTTPConfig,
        security: SecurityPolicy,
        guard: Guard | None,
        *,
        at_capacity: Callable[[], bool],
    ) -> None:
        self._server = server
        self._config = config
        self._security = security
        self._guard = guard
        self._at_capacity = at_capacity
        self.connections: set[WebSocketConnection] = set()
        self.closing = False

    def runtimes(self) -> list[Dispatcher]:
        return [connection.dispatcher for connection in self.connections if connection.dispatcher is not None]

    def stop(self) -> None:
        """Shutdown begins: refuse upgrades (503) and new requests on open connections."""
        self.closing = True
        for connection in self.connections:
            connection.stop()

    def close_all(self, reason: CancelReason | str) -> None:
        """Close every connection with 1001 (going away), cancelling its requests with ``reason``."""
        for connection in list(self.connections):
            connection.close(GOING_AWAY, "server shutting down", reason)

    async def serve(self, scope: Scope, receive: Receive, send: Send, local_path: str) -> None:
        """Serve one ASGI ``websocket`` scope: check the upgrade, accept it with the ``mcp``
        subprotocol and run the connection until either side closes it. A refused upgrade is
        answered with an HTTP error (the ``websocket.http.response`` extension) or, where the
        server lacks it, a 403. Raises only cancellation: a failure in serving (a bug) is
        logged with its traceback and closes the connection with 1011 (refuses the upgrade
        before it is accepted)."""
        try:
            await self._serve(scope, receive, send, local_path)
        except Exception:
            logger.exception("Serving a WebSocket connection at %s failed", scope.get("path"))
            with contextlib.suppress(Exception):  # the connection may be gone or answered already
                await send({"type": "websocket.close", "code": INTERNAL_ERROR_CLOSE})

    async def _serve(self, scope: Scope, receive: Receive, send: Send, local_path: str) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if not self._config.websocket:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})
            return
        caller = await self._admit(scope, send, local_path)
        if caller is None:
            return
        await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
        connection = WebSocketConnection(self._server, self._config, caller, self._guard)
        self.connections.add(connection)
        try:
            await connection.run(receive, send)
        finally:
            self.connections.discard(connection)

    async def _admit(self, scope: Scope, send: Send, local_path: str) -> Caller | None:
        """The caller of an upgrade that passes the gate, else ``None`` once refused: 404 off
        the endpoint's path, 421 for a Host and 403 for an Origin not allowed, 503 while
        shutting down or at the session cap, 400 without the ``mcp`` subprotocol, and the
        authentication's refusals (400, 401, 403, 503, with their challenge)."""
        headers = Headers(scope.get("headers", ()))
        bound_to = (scope.get("server") or (None,))[0]
        refuse = _refuser(scope, send)
        if local_path != self._config.path:
            await refuse(404, "Not Found: WebSocket connections are served at the MCP endpoint's path")
        elif not self._security.host_allowed(headers, bound_to):
            await refuse(421, "Misdirected Request: Host not allowed (allow it with --allow-host or allowed_hosts)")
        elif not self._security.origin_allowed(headers, bound_to):
            await refuse(403, "Forbidden: Origin not allowed (allow it with --allow-origin or allowed_origins)")
        elif self.closing:
            await refuse(503, "Service Unavailable: shutting down", [(b"retry-after", b"1")])
        elif SUBPROTOCOL not in scope.get("subprotocols", ()):
            await refuse(400, f"Bad Request: offer the WebSocket subprotocol {SUBPROTOCOL!r} (Sec-WebSocket-Protocol)")
        elif self._at_capacity():
            await refuse(503, "Service Unavailable: too many sessions are open; retry later", [(b"retry-after", b"5")])
        else:
            principal = None
            if self._guard is not None:
                outcome = await self._guard.check(headers.get_all("authorization"), scope.get("query_string", b""))
                if isinstance(outcome, Refusal):
                    await refuse(outcome.status, outcome.message, list(outcome.headers))
                    return None
                principal = outcome
            return Caller(principal, HeaderMapping(headers))
        return None


def _refuser(scope: Scope, send: Send) -> Callable[..., Any]:
    """How to refuse this upgrade: an HTTP response whose body is a JSON-RPC error when the
    server offers ``websocket.http.response``, else ``websocket.close`` (a 403)."""
    if _RESPONSE_EXTENSION not in scope.get("extensions", {}):

        async def close(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})

        return close

    async def as_upgrade_response(message: dict[str, Any]) -> None:
        await send({**message, "type": "websocket." + message["type"]})

    async def respond(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send_jsonrpc_error(as_upgrade_response, status, INVALID_REQUEST, message, headers=headers)

    return respond


def _utf8_over(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes in UTF-8 (encoding it only when the
    count of code points cannot tell)."""
    if len(text) > limit:
        return True
    return 4 * len(text) > limit and len(text.encode("utf-8", "surrogatepass")) > limit
