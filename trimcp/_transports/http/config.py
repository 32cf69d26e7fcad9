"""Every setting of the HTTP transports in one immutable object: where the server listens, where
it answers, who may call, its limits and timeouts, and how answers stream. ``serve_http``,
``asgi_app`` and ``trimcp serve`` all build one; the command line takes its defaults from it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import hypercorn.config

from .auth import AuthConfig
from .events import EventStore


def _path(value: str | None) -> str | None:
    return None if value is None else value.rstrip("/") or "/"


def _strings(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if isinstance(value, str):
        raise TypeError(f"expected a list of strings, got the string {value!r}")
    return None if value is None else tuple(value)


_positive = attrs.validators.gt(0)
_not_negative = attrs.validators.ge(0)


@attrs.frozen(kw_only=True)
class HTTPConfig:
    """How trimcp serves HTTP. Units are in the names; every field has a working default.

    Build one with keywords (``HTTPConfig(port=9000, json_response=True)``) or derive one
    (``attrs.evolve(config, port=0)``); ``serve_http`` and ``asgi_app`` take the same keywords.
    The listening fields (``host`` … ``keyfile``, the connection timeouts) matter only where
    trimcp runs the HTTP server itself (``serve_http``, ``trimcp serve``); an app mounted in
    another server uses the rest.
    """

    # -- where the server listens
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=attrs.validators.and_(_not_negative, attrs.validators.le(65535)))
    #: Connections the kernel holds before they are accepted (hypercorn's default, 100, makes a
    #: burst of 1,000 connections wait for SYN retransmissions, seconds). Linux caps it at
    #: ``net.core.somaxconn`` (4096 by default).
    backlog: int = attrs.field(default=2048, validator=_positive)
    #: A TLS certificate and key (PEM) serve HTTPS.
    certfile: str | None = None
    keyfile: str | None = None

    # -- where it answers, relative to where the app is mounted
    #: The Streamable HTTP endpoint; ``None`` serves only the HTTP+SSE transport.
    path: str | None = attrs.field(default="/mcp", converter=_path)
    #: With a path, the deprecated HTTP+SSE transport of 2024-11-05 is served too: ``GET
    #: sse_path`` opens a session, ``POST messages_path?sessionId=…`` talks to it.
    sse_path: str | None = attrs.field(default=None, converter=_path)
    messages_path: str = attrs.field(default="/messages", converter=_path)
    #: A health check for load balancers and orchestrators (``GET`` answers 200 while serving,
    #: 503 once shutting down); ``None``: none.
    health_path: str | None = attrs.field(default=None, converter=_path)
    #: Prometheus metrics of the server (docs/observability.md), without credentials: keep it
    #: off the public network; ``None``: none.
    metrics_path: str | None = attrs.field(default=None, converter=_path)

    # -- who may call (docs/http.md: the Host and Origin checks, CORS)
    #: Accepted ``Host`` values; ``None`` accepts loopback names when bound to loopback.
    allowed_hosts: tuple[str, ...] | None = attrs.field(default=None, converter=_strings)
    #: Accepted ``Origin`` values (``"*"`` for any); ``None`` as for hosts.
    allowed_origins: tuple[str, ...] | None = attrs.field(default=None, converter=_strings)
    #: Origins whose browser pages may call the server (CORS).
    cors_origins: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    # -- limits
    max_body_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=_positive)
    #: Open handshake-era sessions (both HTTP transports); past it ``initialize`` gets 503.
    max_sessions: int = attrs.field(default=10_000, validator=_positive)
    #: Messages queued for one stream before the request writing them waits.
    outbound_buffer_messages: int = attrs.field(default=256, validator=_positive)

    # -- time
    #: At shutdown, how long running requests may finish before they are cancelled.
    graceful_timeout_seconds: float = attrs.field(default=5.0, validator=_not_negative)
    #: A session with nothing attached for this long is closed.
    session_idle_timeout_seconds: float = attrs.field(default=30 * 60.0, validator=_positive)
    #: How often an idle SSE stream gets a comment (proxies close silent connections).
    sse_keepalive_seconds: float = attrs.field(default=15.0, validator=_positive)
    #: How long an idle HTTP connection is kept open for its next request.
    keep_alive_timeout_seconds: float = attrs.field(default=5.0, validator=_positive)
    #: How long reading a request may take (``None``: no limit beyond the keep-alive one).
    read_timeout_seconds: float | None = attrs.field(default=None, validator=attrs.validators.optional(_positive))
    #: How long one write may take before the peer is taken for gone.
    write_timeout_seconds: float = attrs.field(default=60.0, validator=_positive)
    #: How long the rest of a body is read (and dropped) after its request was answered, to
    #: keep the connection; past that it is closed.
    request_drain_timeout_seconds: float = attrs.field(default=2.0, validator=_not_negative)

    # -- answers and streams
    #: Answer requests with JSON; SSE only where a request must stream (questions, listen).
    json_response: bool = False
    #: Accept WebSocket upgrades (subprotocol ``mcp``, SEP-1288 draft) at ``path``: one
    #: connection is one session (docs/http.md, "WebSocket"). Its limits are the HTTP ones:
    #: ``max_body_bytes`` per message (close 1009), ``session_idle_timeout_seconds`` without a
    #: message or a running request (close 1000), a ping every ``sse_keepalive_seconds``.
    websocket: bool = False
    #: Where handshake-era SSE events are kept for ``Last-Event-ID`` resumption: a bounded
    #: in-memory store (``"memory"``), one of your own, or ``None`` (a lost stream cancels its
    #: requests at once).
    event_store: EventStore | None | Literal["memory"] = "memory"
    #: How long a client that lost a stream has to resume it before its requests are cancelled.
    resume_window_seconds: float = attrs.field(default=60.0, validator=_not_negative)
    #: The ``retry`` of the priming event opening each resumable stream (2025-11-25 clients).
    retry_ms: int = attrs.field(default=1000, validator=_not_negative)

    # -- what the server tells its operators
    #: Log a warning, with the code it is stuck in, when the event loop is blocked this long
    #: (a blocking call in an async tool stalls every request); ``None``: never. Runs with the
    #: app's lifespan.
    blocked_loop_warning_seconds: float | None = attrs.field(
        default=0.5, validator=attrs.validators.optional(_positive)
    )

    # -- who the callers are
    #: Authentication as an OAuth resource server (docs/auth.md); ``None``: none.
    auth: AuthConfig | None = None

    def hypercorn_config(self) -> hypercorn.config.Config:
        """hypercorn's configuration for these settings (binding, TLS, timeouts, no access log)."""
        config = hypercorn.config.Config()
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        config.bind = [f"{host}:{self.port}"]
        config.certfile = self.certfile
        config.keyfile = self.keyfile
        config.graceful_timeout = self.graceful_timeout_seconds
        config.backlog = self.backlog
        config.keep_alive_timeout = self.keep_alive_timeout_seconds
        config.read_timeout = self.read_timeout_seconds
        config.websocket_max_message_size = self.max_body_bytes  # hypercorn closes with 1009 past it
        config.websocket_ping_interval = self.sse_keepalive_seconds if self.websocket else None
        config.accesslog = None
        # hypercorn's own handler printed every line a second time beside the application's
        # logging: its messages go through the standard logging tree instead
        config.errorlog = logging.getLogger("hypercorn.error")
        return config

    def evolve(self, **changes: Any) -> HTTPConfig:
        """A copy with ``changes`` (keywords of this class; a misspelt one raises ``TypeError``)."""
        return attrs.evolve(self, **changes)


#: The settings of the listening server rather than of the app (``serve_http`` accepts them
#: for an app built already).
LISTENING_SETTINGS = frozenset(
    {
        "host",
        "port",
        "backlog",
        "certfile",
        "keyfile",
        "graceful_timeout_seconds",
        "keep_alive_timeout_seconds",
        "read_timeout_seconds",
        "write_timeout_seconds",
        "request_drain_timeout_seconds",
    }
)
