"""The client's OpenTelemetry tracing: a client span per request, its trace context sent in the
request's ``_meta`` (``traceparent``/``tracestate``) as the semantic conventions for MCP ask, so
the server's span becomes its child. Needs ``opentelemetry-api`` (``trimcp[otel]``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # pragma: no cover - the message is the test
    trace = None  # type: ignore[assignment]

_NAMED_TARGETS = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}


class ClientTracing:
    """Spans of ``tracer_provider`` (default: the global one) for a client's requests. Raises
    ``ImportError`` without ``opentelemetry-api``."""

    def __init__(self, tracer_provider: Any = None) -> None:
        if trace is None:
            raise ImportError("tracing needs OpenTelemetry: pip install 'trimcp[otel]'")
        from .. import __version__

        self.tracer = trace.get_tracer("trimcp.client", __version__, tracer_provider=tracer_provider)

    @contextmanager
    def request(self, request_id: Any, method: str, params: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        """A client span around one request, current inside the block; yields ``params`` with
        the span's trace context added to ``_meta``. An exception leaving the block marks the
        span failed."""
        params = dict(params or {})
        attributes = {"mcp.method.name": method, "jsonrpc.request.id": str(request_id)}
        target = params.get("name") if method in _NAMED_TARGETS else None
        if type(target) is str:
            attributes[_NAMED_TARGETS[method]] = target
        name = f"{method} {target}" if type(target) is str else method
        with self.tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes):
            meta = dict(params.get("_meta") or {})
            propagate.inject(meta)
            params["_meta"] = meta
            yield params
