"""Prometheus metrics of one server, counted from what the runtime observes and rendered in the
text exposition format (version 0.0.4) for a scraper."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from .._runtime.observe import ObservedExchange, ObservedRequest, Observer
from ..protocol.errors import METHOD_NOT_FOUND

#: Upper bounds (seconds) of the request duration histogram's buckets.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]


@attrs.frozen
class Gauge:
    """One value read at scrape time: its name, help text, labels and value."""

    name: str
    help: str
    value: float
    labels: Labels = ()


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0


class Metrics(Observer):
    """Counts requests by method and outcome, their durations, errors by code, cancellations
    by reason, tool calls by tool, HTTP responses by status and bytes, and open SSE streams.
    Install it with ``server.observe(metrics)``; an app with ``metrics_path`` serves
    :meth:`render`. ``is_tool`` tells which tool names to count by name (names a client made up
    are counted as ``"(unknown)"``, so a client cannot grow the label set)."""

    def __init__(self, *, buckets: Sequence[float] = DEFAULT_BUCKETS, is_tool: Callable[[str], bool] | None = None):
        self.buckets = tuple(sorted(buckets))
        self.is_tool = is_tool
        self.in_progress = 0
        self.open_streams = 0
        self.requests: defaultdict[Labels, int] = defaultdict(int)
        self.errors: defaultdict[Labels, int] = defaultdict(int)
        self.cancellations: defaultdict[Labels, int] = defaultdict(int)
        self.tool_calls: defaultdict[Labels, int] = defaultdict(int)
        self.responses: defaultdict[Labels, int] = defaultdict(int)
        self.bytes_out = 0
        self.durations: dict[Labels, _Histogram] = {}

    # -- Observer ---------------------------------------------------------------------------------

    def request_started(self, request: ObservedRequest) -> None:
        self.in_progress += 1

    def request_finished(self, request: ObservedRequest) -> None:
        self.in_progress -= 1
        error = request.error
        method = "(unknown)" if error is not None and error.code == METHOD_NOT_FOUND else request.method
        outcome = request.outcome or "ok"
        self.requests[(("method", method), ("outcome", outcome))] += 1
        if error is not None:
            self.errors[(("method", method), ("code", str(error.code)))] += 1
        elif outcome == "cancelled":
            self.cancellations[(("reason", request.cancel_reason or "unknown"),)] += 1
        if method == "tools/call":
            name = request.target
            known = name is not None and (self.is_tool is None or self.is_tool(name))
            self.tool_calls[(("tool", name if known else "(unknown)"), ("outcome", outcome))] += 1  # type: ignore[arg-type]
        self._observe_duration((("mcp_method_name", method),), request.duration or 0.0)

    def response_started(self, exchange: ObservedExchange) -> None:
        if exchange.streaming:
            self.open_streams += 1

    def exchange_finished(self, exchange: ObservedExchange) -> None:
        status = exchange.status
        if exchange.streaming:
            self.open_streams -= 1
        self.responses[(("status", str(status) if status is not None else "none"),)] += 1
        self.bytes_out += exchange.bytes_out

    def _observe_duration(self, labels: Labels, seconds: float) -> None:
        histogram = self.durations.get(labels)
        if histogram is None:
            histogram = self.durations[labels] = _Histogram(len(self.buckets) + 1)
        index = 0
        for bound in self.buckets:
            if seconds <= bound:
                break
            index += 1
        histogram.counts[index] += 1
        histogram.sum += seconds

    # -- exposition -------------------------------------------------------------------------------

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        """The text exposition of every metric, with ``gauges`` (values only the transport
        knows, such as live sessions) after them."""
        lines: list[str] = []
        _counter(lines, "trimcp_requests_total", "JSON-RPC requests answered or cancelled.", self.requests)
        _counter(lines, "trimcp_request_errors_total", "Requests answered with a JSON-RPC error.", self.errors)
        _counter(lines, "trimcp_cancellations_total", "Requests cancelled, by reason.", self.cancellations)
        _counter(lines, "trimcp_tool_calls_total", "tools/call requests, by tool and outcome.", self.tool_calls)
        _counter(lines, "trimcp_http_responses_total", "HTTP exchanges, by response status.", self.responses)
        _counter(lines, "trimcp_http_response_bytes_total", "Body bytes sent in HTTP responses.", {(): self.bytes_out})
        self._render_durations(lines)
        own = [
            Gauge("trimcp_requests_in_progress", "Requests running now.", self.in_progress),
            Gauge("trimcp_open_streams", "SSE responses open now.", self.open_streams),
        ]
        rendered: set[str] = set()
        for gauge in [*own, *gauges]:
            if gauge.name not in rendered:
                rendered.add(gauge.name)
                lines.append(f"# HELP {gauge.name} {gauge.help}")
                lines.append(f"# TYPE {gauge.name} gauge")
            lines.append(f"{gauge.name}{_labels(gauge.labels)} {_number(gauge.value)}")
        return "\n".join(lines) + "\n"

    def _render_durations(self, lines: list[str]) -> None:
        name = "mcp_server_operation_duration_seconds"
        lines.append(f"# HELP {name} Time from a request's arrival to its answer or cancellation.")
        lines.append(f"# TYPE {name} histogram")
        for labels, histogram in sorted(self.durations.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), histogram.counts, strict=True):
                cumulative += count
                lines.append(f"{name}_bucket{_labels((*labels, ('le', _number(bound))))} {cumulative}")
            lines.append(f"{name}_sum{_labels(labels)} {_number(histogram.sum)}")
            lines.append(f"{name}_count{_labels(labels)} {cumulative}")


def _counter(lines: list[str], name: str, help_text: str, values: dict[Labels, int]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} counter")
    for labels, value in sorted(values.items()):
        lines.append(f"{name}{_labels(labels)} {value}")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


def metrics_of(server: Any) -> Metrics:
    """The :class:`Metrics` observing ``server`` (a :class:`~trimcp.Server`): the one it was
    given, else a new one, installed now (counting tool calls by the server's tool names)."""
    observers = server.observer.observers if server.observer is not None else ()
    for observer in observers:
        if isinstance(observer, Metrics):
            return observer
    metrics = Metrics(is_tool=lambda name: name in server.tools)
    server.observe(metrics)
    return metrics
