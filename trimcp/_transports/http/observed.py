"""HTTP exchanges as observers see them (:class:`~trimcp._runtime.observe.ObservedExchange`),
and the metrics endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._observe.metrics import Gauge
from ..._runtime.observe import ObservedExchange, Observer
from .asgi import Headers, Scope, Send, send_response

if TYPE_CHECKING:
    from .app import MCPApp


def begin_exchange(scope: Scope, headers: Headers) -> ObservedExchange:
    """The record of the HTTP request ``scope`` describes, as it arrives."""
    client = scope.get("client")
    return ObservedExchange(
        scope.get("method", ""),
        scope.get("path", ""),
        f"{client[0]}:{client[1]}" if client else None,
        headers.get("mcp-session-id"),
    )


def observed_send(send: Send, exchange: ObservedExchange, observer: Observer) -> Send:
    """``send``, noting the response's status, kind, session id and size in ``exchange`` and
    telling ``observer`` when the response starts."""

    async def send_observed(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            exchange.bytes_out += len(message.get("body", b""))
        elif message["type"] == "http.response.start":
            exchange.status = message["status"]
            for name, value in message.get("headers", ()):
                name = name.lower()
                if name == b"content-type":
                    exchange.streaming = value.startswith(b"text/event-stream")
                elif name == b"mcp-session-id" and exchange.session is None:
                    exchange.session = value.decode("latin-1")
            observer.response_started(exchange)
        await send(message)

    return send_observed


async def answer_metrics(send: Send, method: str, text: str) -> None:
    """The Prometheus text exposition of ``text`` (``GET``/``HEAD`` only)."""
    if method not in ("GET", "HEAD"):
        await send_response(send, 405, b"", [(b"allow", b"GET, HEAD")])
        return
    content_type = b"text/plain; version=0.0.4; charset=utf-8"
    await send_response(send, 200, text.encode(), [(b"content-type", content_type), (b"cache-control", b"no-store")])


def app_gauges(app: MCPApp) -> list[Gauge]:
    """What only the app knows, for its metrics endpoint: sessions, tasks, listeners and, with
    a shared backend, relayed requests."""
    server = app.server
    sessions = "Open handshake-era sessions."
    gauges = [
        Gauge("trimcp_sessions", sessions, app.sessions.live_sessions, (("transport", "http"),)),
        Gauge("trimcp_sessions", sessions, len(app.legacy.sessions), (("transport", "sse"),)),
        Gauge("trimcp_running_tasks", "Tasks whose work runs in this process.", server.tasks.statistics().running),
        Gauge("trimcp_listeners", "Open subscriptions/listen streams.", server.subscribers.listeners),
    ]
    if (relay := server.backend.relay) is not None:
        relayed = "Requests relayed between this process and the owners of their sessions, open now."
        gauges.append(Gauge("trimcp_relayed_requests", relayed, relay.statistics().open_conduits))
    return gauges
