"""What the runtime tells observers (access logs, metrics, tracing): each JSON-RPC request it
answers and each HTTP exchange a transport serves, as plain records.

An observer is called synchronously on the runtime's own path: it must be quick, must not
block and should not raise (an exception is logged, and the request goes on unaffected).
Nothing here is paid for unless an observer is installed (``Server.observe``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..protocol.errors import ProtocolError
from ..protocol.jsonrpc import RequestId
from .request import Caller

logger = logging.getLogger("trimcp")


class ObservedRequest:
    """One JSON-RPC request from arrival to answer (or cancellation).

    ``started`` is a ``time.perf_counter()`` reading and ``started_ns`` wall-clock nanoseconds;
    ``duration`` (seconds), ``outcome``, ``error`` and ``cancel_reason`` are set when it ends.
    The outcome is ``"ok"`` (a result), ``"tool_error"`` (a tool result with ``isError``),
    ``"input_required"`` (a 2026-07-28 multi-round-trip answer), ``"error"`` (a JSON-RPC
    error) or ``"cancelled"`` (never answered).
    ``span`` belongs to a tracing observer (the runtime never reads it).
    """

    __slots__ = (
        "caller",
        "cancel_reason",
        "duration",
        "error",
        "id",
        "method",
        "outcome",
        "params",
        "session",
        "span",
        "started",
        "started_ns",
        "transport",
    )

    def __init__(
        self, request_id: RequestId, method: str, params: Any, caller: Caller, session: str | None, transport: str
    ) -> None:
        self.id = request_id
        self.method = method
        self.params = params
        self.caller = caller
        self.session = session
        self.transport = transport
        self.started = time.perf_counter()
        self.started_ns = time.time_ns()
        self.duration: float | None = None
        self.outcome: str | None = None
        self.error: ProtocolError | None = None
        self.cancel_reason: str | None = None
        self.span: Any = None

    @property
    def target(self) -> str | None:
        """What the request is about: the tool or prompt name, or the resource URI."""
        params = self.params
        if type(params) is not dict:
            return None
        target = params.get("name") if self.method in ("tools/call", "prompts/get") else params.get("uri")
        return target if type(target) is str else None

    @property
    def meta(self) -> dict[str, Any] | None:
        """The request's ``_meta`` (where trace context travels), when it is an object."""
        meta = self.params.get("_meta") if type(self.params) is dict else None
        return meta if type(meta) is dict else None

    @property
    def principal(self) -> str | None:
        """The authenticated subject of the caller, if any."""
        principal = self.caller.principal
        return principal.subject if principal is not None else None

    def end(self, outcome: str, *, error: ProtocolError | None = None, cancel_reason: str | None = None) -> None:
        self.duration = time.perf_counter() - self.started
        self.outcome = outcome
        self.error = error
        self.cancel_reason = cancel_reason


class ObservedExchange:
    """One HTTP request and its response, as the app saw them. ``status`` is ``None`` when no
    response started (the client left first); ``streaming`` when the answer was an SSE stream;
    ``bytes_out`` counts body bytes sent."""

    __slots__ = (
        "bytes_out",
        "client",
        "duration",
        "http_method",
        "path",
        "principal",
        "session",
        "started",
        "status",
        "streaming",
    )

    def __init__(self, http_method: str, path: str, client: str | None, session: str | None) -> None:
        self.http_method = http_method
        self.path = path
        self.client = client
        self.session = session
        self.principal: str | None = None
        self.status: int | None = None
        self.streaming = False
        self.bytes_out = 0
        self.started = time.perf_counter()
        self.duration: float | None = None

    def end(self) -> None:
        self.duration = time.perf_counter() - self.started


class Observer:
    """Base class of observers: override the calls you need (each is a no-op here)."""

    def request_started(self, request: ObservedRequest) -> None:
        """Called in the task that runs the request, before it runs."""

    def request_finished(self, request: ObservedRequest) -> None:
        """Called in the same task once the request is answered or cancelled."""

    def response_started(self, exchange: ObservedExchange) -> None:
        """Called when an HTTP response starts (its status and kind are known)."""

    def exchange_finished(self, exchange: ObservedExchange) -> None:
        """Called when an HTTP exchange is over (its response ended, or the client left)."""


class Observers(Observer):
    """Several observers as one; an observer that raises is logged and the others still run."""

    def __init__(self, observers: tuple[Observer, ...]) -> None:
        self.observers = observers

    def request_started(self, request: ObservedRequest) -> None:
        for observer in self.observers:
            _call(observer.request_started, request)

    def request_finished(self, request: ObservedRequest) -> None:
        for observer in self.observers:
            _call(observer.request_finished, request)

    def response_started(self, exchange: ObservedExchange) -> None:
        for observer in self.observers:
            _call(observer.response_started, exchange)

    def exchange_finished(self, exchange: ObservedExchange) -> None:
        for observer in self.observers:
            _call(observer.exchange_finished, exchange)


def _call(method: Any, record: Any) -> None:
    try:
        method(record)
    except Exception:
        logger.exception("Observer %r failed", method)
