"""Observing a server in operation: Prometheus metrics scraped during a load of mixed calls and
cancellations, the access log's lines, and OpenTelemetry spans with their parents, all over the
real hypercorn on 127.0.0.1 with trimcp's own client."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

import trimcp
from trimcp import Context, ToolError

from .conftest import ROOT
from .http_support import JSON_AND_SSE, RawHTTP, envelope, initialize_request, modern_headers, running_server
from .ports import free_port, wait_until_listening_async

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


class Records(logging.Handler):
    """Every record a logger emits, kept."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [record.getMessage() for record in self.records]


def observed_server(tracer_provider: Any = None) -> trimcp.Server:
    """``add``, ``sleep`` (30 s unless cancelled), ``fail`` (a tool error) and ``nested`` (opens
    a span of its own with ``tracer_provider``)."""
    server = trimcp.Server("observed")

    @server.tool
    async def add(a: int, b: int) -> int:
        return a + b

    @server.tool
    async def sleep(ctx: Context, seconds: float = 30) -> str:
        await trio.sleep(seconds)
        return "slept"

    @server.tool
    async def fail() -> str:
        raise ToolError("it failed, as asked")

    @server.tool
    async def nested() -> str:
        with trace.get_tracer("tool", tracer_provider=tracer_provider).start_as_current_span("inside the tool"):
            await trio.lowlevel.checkpoint()
        return "ok"

    return server


@asynccontextmanager
async def serving(server: trimcp.Server, **settings: Any) -> AsyncIterator[tuple[RawHTTP, str]]:
    app = trimcp.asgi_app(server, **settings)
    async with running_server(app) as http:
        yield http, f"http://127.0.0.1:{http.port}/mcp"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition (checked by prometheus_client's parser)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(http: RawHTTP) -> dict[Any, float]:
    reply = await http.request("GET", "/metrics")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(reply.body.decode())


async def test_metrics_count_a_load_of_mixed_calls_and_cancellations() -> None:
    async with serving(observed_server(), metrics_path="/metrics") as (http, url):
        async with (
            trimcp.open_client(url) as modern,
            trimcp.open_client(url, protocol_version="2025-11-25") as handshake,
        ):

            async def cancelled_call(client: trimcp.Client) -> None:
                with pytest.raises(trimcp.ClientTimeout):
                    await client.call_tool("sleep", timeout=1.0)  # all eight run at once, even on a loaded machine

            async def unknown_tool(client: trimcp.Client) -> None:
                with pytest.raises(trimcp.RequestFailed):
                    await client.call_tool("no-such-tool")

            during: dict[Any, float] = {}

            async def scrape_while_sleeping() -> None:
                with trio.fail_after(5):  # until the eight sleeps run (each is cancelled after 1 s)
                    while value(found := await scrape(http), "trimcp_requests_in_progress") < 8:
                        await trio.sleep(0.01)
                during.update(found)

            async with trio.open_nursery() as nursery:
                for client in (modern, handshake):
                    for number in range(20):
                        nursery.start_soon(client.call_tool, "add", {"a": number, "b": 1})
                    for _ in range(4):
                        nursery.start_soon(cancelled_call, client)
                    for _ in range(3):
                        nursery.start_soon(unknown_tool, client)
                    for _ in range(2):
                        nursery.start_soon(client.call_tool, "fail")
                nursery.start_soon(scrape_while_sleeping)

            assert value(during, "trimcp_requests_in_progress") >= 8  # the sleeps, at least
            assert value(during, "trimcp_open_streams") >= 1  # the session's GET stream
            assert value(during, "trimcp_sessions", transport="http") == 1
            with trio.fail_after(5):  # the handshake era's cancellations arrive as notifications
                while value(after := await scrape(http), "trimcp_requests_in_progress") != 0:
                    await trio.sleep(0.02)
        with trio.fail_after(5):  # the clients are gone, and so are their streams
            while value(await scrape(http), "trimcp_open_streams") != 0:
                await trio.sleep(0.02)

    assert value(after, "trimcp_tool_calls_total", tool="add", outcome="ok") == 40
    assert value(after, "trimcp_tool_calls_total", tool="sleep", outcome="cancelled") == 8
    assert value(after, "trimcp_tool_calls_total", tool="fail", outcome="tool_error") == 4
    assert value(after, "trimcp_tool_calls_total", tool="(unknown)", outcome="error") == 6
    assert value(after, "trimcp_cancellations_total", reason="client disconnected") == 4
    assert value(after, "trimcp_cancellations_total", reason="client cancelled") == 4
    assert value(after, "trimcp_request_errors_total", method="tools/call", code="-32602") == 6
    calls = value(after, "trimcp_requests_total", method="tools/call", outcome="ok") + 8 + 4 + 6
    assert calls == 58
    assert value(after, "mcp_server_operation_duration_seconds_count", mcp_method_name="tools/call") == 58
    assert value(after, "mcp_server_operation_duration_seconds_bucket", mcp_method_name="tools/call", le="+Inf") == 58
    assert value(after, "trimcp_requests_total", method="initialize", outcome="ok") == 0  # answered by the app
    assert value(after, "trimcp_http_responses_total", status="200") >= 40
    assert value(after, "trimcp_http_response_bytes_total") > 0


async def test_unknown_methods_and_tools_cannot_grow_the_label_set() -> None:
    async with serving(observed_server(), metrics_path="/metrics") as (http, _):
        for number in range(5):
            body = {"jsonrpc": "2.0", "id": number, "method": f"made/up/{number}", "params": {"_meta": envelope()}}
            await http.post(body, {"accept": JSON_AND_SSE, **modern_headers(f"made/up/{number}")})
        found = await scrape(http)
    assert value(found, "trimcp_requests_total", method="(unknown)", outcome="error") == 5
    assert not [key for key in found if any(label == ("method", "made/up/1") for label in key[1])]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_the_metrics_endpoint_answers_only_get(method: str) -> None:
    async with serving(observed_server(), metrics_path="/metrics") as (http, _):
        reply = await http.request(method, "/metrics")
    assert reply.status == 405 and reply.headers["allow"] == "GET, HEAD"


async def test_the_access_log_has_a_line_per_http_request_and_per_json_rpc_request() -> None:
    records = Records()
    logger = logging.getLogger("test.access")
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    server = observed_server()
    server.observe(trimcp.AccessLog(logger))
    try:
        async with serving(server) as (http, url):
            async with trimcp.open_client(url) as client:
                assert (await client.call_tool("add", {"a": 1, "b": 2}))["structuredContent"] == {"result": 3}
                with pytest.raises(trimcp.ClientTimeout):
                    await client.call_tool("sleep", timeout=0.2)
            session = (await http.post(initialize_request(), {"accept": JSON_AND_SSE})).headers["mcp-session-id"]
            with trio.fail_after(5):
                while not any("cancelled" in line for line in records.lines()):
                    await trio.sleep(0.02)
    finally:
        logger.removeHandler(records)
    lines = records.lines()
    rpc = [line for line in lines if line.startswith("rpc ")]
    assert any(
        line.startswith("rpc tools/call add id=") and " ok " in line and "transport=http" in line for line in rpc
    )
    assert any(
        line.startswith("rpc tools/call sleep id=") and ' cancelled "client disconnected" ' in line for line in rpc
    )
    http_lines = [line for line in lines if line.startswith("http 127.0.0.1:")]
    assert any(" POST /mcp 200 " in line and " sse" in line for line in http_lines)  # the cancelled call streamed
    assert any(f"session={session}" in line for line in http_lines)  # initialize names the session it made
    fields = next(r.access for r in records.records if r.getMessage().startswith("rpc tools/call add"))  # type: ignore[attr-defined]
    assert fields["method"] == "tools/call" and fields["target"] == "add" and fields["outcome"] == "ok"
    assert fields["duration_ms"] >= 0 and fields["code"] is None


async def test_a_json_access_log_from_the_command_line(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "access.log"
    command = [
        sys.executable, "-m", "trimcp", "serve", "tests.test_observability:CLI_SERVER", "--transport",
        "streamable-http", "--port", str(port), "--access-log", str(log), "--log-format", "json",
    ]  # fmt: skip
    async with trio.open_nursery() as nursery:
        process = await nursery.start(partial(trio.run_process, command, check=False, cwd=ROOT))
        try:
            await wait_until_listening_async(port, process)
            async with trimcp.open_client(f"http://127.0.0.1:{port}/mcp") as client:
                await client.call_tool("add", {"a": 2, "b": 2})
        finally:
            process.send_signal(signal.SIGINT)
    assert process.returncode == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    call = next(entry for entry in entries if entry.get("kind") == "rpc" and entry["method"] == "tools/call")
    assert call["target"] == "add" and call["outcome"] == "ok" and call["logger"] == "trimcp.access"
    assert call["time"].endswith("+00:00")
    assert any(entry.get("kind") == "http" and entry["status"] == 200 for entry in entries)


CLI_SERVER = observed_server()


@asynccontextmanager
async def traced() -> AsyncIterator[tuple[trimcp.Server, InMemorySpanExporter, TracerProvider]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = observed_server(provider)
    server.observe(trimcp.Tracing(tracer_provider=provider))
    yield server, exporter, provider


def call_body(name: str, meta: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    params = {
        "name": name,
        "arguments": {"a": 1, "b": 2} if name == "add" else {},
        "_meta": {**envelope(), **(meta or {})},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def test_a_span_per_request_whose_parent_is_the_trace_context_in_meta() -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    async with traced() as (server, exporter, _), serving(server) as (http, _):
        reply = await http.post(
            call_body("nested", {"traceparent": traceparent}),
            {"accept": JSON_AND_SSE, **modern_headers("tools/call", "nested")},
        )
        assert reply.status == 200, reply
    spans = {span.name: span for span in exporter.get_finished_spans()}
    request = spans["tools/call nested"]
    assert request.kind is trace.SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == TRACE_ID
    assert format(request.parent.span_id, "016x") == PARENT_SPAN_ID
    assert request.attributes["mcp.method.name"] == "tools/call"
    assert request.attributes["gen_ai.tool.name"] == "nested"
    assert request.attributes["mcp.protocol.version"] == "2026-07-28"
    inner = spans["inside the tool"]
    assert inner.parent.span_id == request.context.span_id  # the tool's own span is the request's child


async def test_the_http_traceparent_is_the_parent_when_meta_has_none_and_outcomes_are_recorded() -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    async with traced() as (server, exporter, _), serving(server) as (http, url):
        headers = {"accept": JSON_AND_SSE, "traceparent": traceparent}
        await http.post(call_body("add"), {**headers, **modern_headers("tools/call", "add")})
        await http.post(call_body("fail", request_id=2), {**headers, **modern_headers("tools/call", "fail")})
        await http.post(call_body("nope", request_id=3), {**headers, **modern_headers("tools/call", "nope")})
        async with trimcp.open_client(url) as client:
            with pytest.raises(trimcp.ClientTimeout):
                await client.call_tool("sleep", timeout=0.2)
        with trio.fail_after(5):
            while "tools/call sleep" not in {span.name for span in exporter.get_finished_spans()}:
                await trio.sleep(0.02)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert format(spans["tools/call add"].parent.span_id, "016x") == PARENT_SPAN_ID
    assert spans["tools/call add"].status.is_ok
    assert spans["tools/call fail"].attributes["error.type"] == "tool_error"
    assert not spans["tools/call fail"].status.is_ok
    assert spans["tools/call nope"].attributes["rpc.response.status_code"] == "-32602"
    assert spans["tools/call sleep"].attributes["trimcp.cancel_reason"] == "client disconnected"


@pytest.mark.parametrize("transport", ["in-process", "streamable-http"])
@pytest.mark.parametrize("protocol_version", ["2026-07-28", "2025-11-25"])
async def test_the_client_propagates_its_span_so_the_servers_span_is_its_child(
    transport: str, protocol_version: str
) -> None:
    async with traced() as (server, exporter, provider), AsyncExitStack() as stack:
        target: Any = server
        if transport == "streamable-http":
            target = (await stack.enter_async_context(serving(server)))[1]
        async with trimcp.open_client(target, protocol_version=protocol_version, tracing=provider) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
    spans = [span for span in exporter.get_finished_spans() if span.name == "tools/call add"]
    client_span = next(span for span in spans if span.kind is trace.SpanKind.CLIENT)
    server_span = next(span for span in spans if span.kind is trace.SpanKind.SERVER)
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.context.trace_id == client_span.context.trace_id
    assert client_span.attributes["gen_ai.tool.name"] == "add"
