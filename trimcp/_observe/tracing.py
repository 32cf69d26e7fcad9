"""OpenTelemetry tracing: a server span per request, following the semantic conventions for
MCP (span name ``{method} {tool or prompt}``, ``mcp.*``, ``gen_ai.*`` and ``jsonrpc.*``
attributes), its parent taken from the trace context in the request's ``_meta`` or else its
HTTP headers. Needs ``opentelemetry-api`` (the ``trimcp[otel]`` extra)."""

from __future__ import annotations

from typing import Any

from .._runtime.observe import ObservedRequest, Observer
from ..protocol.constants import META_PROTOCOL_VERSION

try:
    from opentelemetry import context, propagate, trace
except ImportError:  # pragma: no cover - the message is the test
    trace = None  # type: ignore[assignment]

#: Methods whose ``name`` parameter is a low-cardinality target for the span name.
_NAMED_TARGETS = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}


class Tracing(Observer):
    """Traces every request as a server span of ``tracer_provider`` (default: the global
    one, which ``opentelemetry-instrument`` or your own SDK set-up configures). The span is
    current while the request runs, so spans a tool opens are its children. A cancelled
    request's span carries ``trimcp.cancel_reason``; an error's, ``error.type`` (the JSON-RPC
    code, or ``tool_error``) and an error status. Raises ``ImportError`` without
    ``opentelemetry-api``."""

    def __init__(self, tracer_provider: Any = None) -> None:
        if trace is None:
            raise ImportError("tracing needs OpenTelemetry: pip install 'trimcp[otel]'")
        from .. import __version__

        self.tracer = trace.get_tracer("trimcp", __version__, tracer_provider=tracer_provider)

    def request_started(self, request: ObservedRequest) -> None:
        method, target = request.method, request.target
        attributes: dict[str, Any] = {"mcp.method.name": method, "jsonrpc.request.id": str(request.id)}
        named = _NAMED_TARGETS.get(method)
        if named is not None and target is not None:
            attributes[named] = target
            if method == "tools/call":
                attributes["gen_ai.operation.name"] = "execute_tool"
        elif target is not None:
            attributes["mcp.resource.uri"] = target
        if request.session is not None:
            attributes["mcp.session.id"] = request.session
        meta = request.meta
        version = meta.get(META_PROTOCOL_VERSION) if meta is not None else None
        if type(version) is str:
            attributes["mcp.protocol.version"] = version
        if request.transport:
            attributes["network.transport"] = "pipe" if request.transport == "stdio" else "tcp"
        span = self.tracer.start_span(
            f"{method} {target}" if named is not None and target is not None else method,
            context=_parent_of(request, meta),
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
            start_time=request.started_ns,
        )
        request.span = (span, context.attach(trace.set_span_in_context(span)))

    def request_finished(self, request: ObservedRequest) -> None:
        if request.span is None:
            return
        span, token = request.span
        request.span = None
        if request.error is not None:
            code = str(request.error.code)
            span.set_attribute("error.type", code)
            span.set_attribute("rpc.response.status_code", code)
            span.set_status(trace.StatusCode.ERROR, request.error.message)
        elif request.outcome == "tool_error":
            span.set_attribute("error.type", "tool_error")
            span.set_status(trace.StatusCode.ERROR)
        elif request.outcome == "cancelled":
            span.set_attribute("trimcp.cancel_reason", request.cancel_reason or "unknown")
        span.end()
        context.detach(token)


def _parent_of(request: ObservedRequest, meta: dict[str, Any] | None) -> Any:
    """The trace context the client sent: in ``_meta``, else in the HTTP headers; ``None``
    (the current context) when it sent none."""
    if meta is not None and "traceparent" in meta:
        return propagate.extract(meta)
    headers = request.caller.headers
    if headers is not None and "traceparent" in headers:
        return propagate.extract(headers)
    return None
