"""The servers under test, each with the same ``add(a, b)`` tool, as ASGI apps.

``python benchmarks/servers.py NAME PORT`` serves one on 127.0.0.1 (run.py pins it to a core):

- ``trimcp``: trimcp as ``trimcp serve`` runs it (hypercorn's protocol layer on trimcp's lean
  trio worker; the default answers: JSON when ready within a moment, SSE otherwise)
- ``trimcp-json``: the same with ``json_response=True``
- ``trimcp-stock-hypercorn``: trimcp under hypercorn's own trio worker
  (``hypercorn --worker-class trio``)
- ``mcp-sdk``: the official ``mcp`` SDK's ``MCPServer`` under uvicorn (SSE, its default)
- ``mcp-sdk-json``: the same with ``json_response=True``
- ``raw-lean``: a raw ASGI app returning a fixed JSON-RPC result on the lean worker (trimcp's
  HTTP floor)
- ``raw-hypercorn-trio``: the same raw app under hypercorn's own trio worker
- ``raw-hypercorn-asyncio``, ``raw-uvicorn``: the same raw app on asyncio servers
- ``raw-trio-h11``: a bare trio + h11 loop answering the same bytes (no ASGI: the trio ceiling)
- ``trimcp-ws``: ``trimcp`` with WebSocket upgrades accepted (benchmarks/websocket.py)
- ``trimcp-access-log``, ``trimcp-metrics``, ``trimcp-tracing``, ``trimcp-observed`` (all
  three): ``trimcp`` with observers on (benchmarks/observability.py)
- ``ts-sdk``, ``ts-sdk-json``: the TypeScript SDK's server (``benchmarks/ts``, node 22), SSE or
  JSON answers
- ``trimcp-payloads``: the payload cases of benchmarks/payloads.py (a 1 MB resource, a tool
  returning 10,000 structured rows, a tool validating a list of 10,000 objects)
- ``trimcp-listen``: ``trimcp`` with a ``change`` tool announcing a tools list change
  (benchmarks/listen.py)
- ``raw-encode``: the payload floor, a raw ASGI app on the lean worker that decodes each request
  body and answers ``json.dumps`` of the answer read from ``$BENCH_ANSWER`` (a file)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TypedDict

HERE = Path(__file__).resolve().parent

FIXED = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3"}],"structuredContent":{"result":3}}}'


def trimcp_server() -> Any:
    """``add``, and ``add_streamed`` (one progress step first: its answer streams as SSE)."""
    import trimcp

    server = trimcp.Server("bench", version="1")

    @server.tool
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool
    async def add_streamed(ctx: trimcp.Context, a: int, b: int) -> int:
        """Add two integers, reporting one progress step first (asked for: the answer streams)."""
        await ctx.progress(1, 1)
        return a + b

    return server


class Row(TypedDict):
    id: int
    name: str
    score: float
    tags: list[str]


def payload_server() -> Any:
    """``big://1mb`` (1 MB of text), ``rows(count)`` (structured rows), ``total(items)``
    (validates a list of objects, returns its length)."""
    import trimcp

    server = trimcp.Server("bench", version="1")
    megabyte = ("0123456789abcdef" * 64 + "\n") * 1015  # ~1 MB of text, 1,040,375 bytes

    @server.resource("big://1mb", mime_type="text/plain")
    def big() -> str:
        return megabyte

    @server.tool
    def rows(count: int) -> list[Row]:
        """``count`` rows of four fields."""
        return [{"id": i, "name": f"row-{i}", "score": i / 7, "tags": ["a", "b"]} for i in range(count)]

    @server.tool
    def total(items: list[Row]) -> int:
        """How many rows ``items`` holds, each validated."""
        return len(items)

    @server.tool
    def change() -> str:
        """Announce a tools list change to every listener."""
        server.notify_tools_changed()
        return "changed"

    return server


#: trimcp with observers on (benchmarks/observability.py): what each costs.
OBSERVED = ("trimcp-access-log", "trimcp-metrics", "trimcp-tracing", "trimcp-observed")


def observed_app(name: str, port: int) -> Any:
    """trimcp with the access log (to a file), metrics, tracing (the OpenTelemetry SDK with a
    batch processor and an exporter that drops the spans) or all three."""
    import logging
    import tempfile

    import trimcp

    server = trimcp.Server("bench", version="1")
    server.add_tool(trimcp_server().tools["add"])
    settings: dict[str, Any] = {"max_sessions": 100_000}
    if name in ("trimcp-access-log", "trimcp-observed"):
        access = logging.getLogger("trimcp.access")
        access.addHandler(logging.FileHandler(os.path.join(tempfile.mkdtemp(), f"access-{port}.log")))
        access.setLevel(logging.INFO)
        access.propagate = False
        server.observe(trimcp.AccessLog())
    if name in ("trimcp-metrics", "trimcp-observed"):
        settings["metrics_path"] = "/metrics"
    if name in ("trimcp-tracing", "trimcp-observed"):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class Dropped(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Dropped()))
        server.observe(trimcp.Tracing(tracer_provider=provider))
    return trimcp.asgi_app(server, **settings)


def encoding_app(answer_file: str) -> Any:
    """The payload floor: each request's body decoded (``json.loads``), the answer encoded anew
    (``json.dumps``, compact, as trimcp writes) and written; the answer is read once from
    ``answer_file`` (what trimcp answered the same request)."""
    import json

    answer = json.loads(Path(answer_file).read_bytes())

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await raw_app(scope, receive, send)
            return
        chunks = [(message := await receive()).get("body", b"")]
        while message.get("more_body"):
            chunks.append((message := await receive()).get("body", b""))
        json.loads(b"".join(chunks))
        body = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def raw_app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(FIXED)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": FIXED})


def mcp_sdk_app(json_response: bool) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return server.streamable_http_app(json_response=json_response, max_sessions=None)


async def bare_trio_h11(port: int) -> None:
    """Answer every request with FIXED on trio and h11 alone, keep-alive, nothing else."""
    import h11
    import trio

    async def connection(stream: trio.SocketStream) -> None:
        try:
            await answer(stream)
        except trio.BrokenResourceError:
            pass  # wrk resets its connections at the end of a run

    async def answer(stream: trio.SocketStream) -> None:
        http = h11.Connection(h11.SERVER)
        headers = [("content-type", "application/json"), ("content-length", str(len(FIXED)))]
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                http.receive_data(data)
                if not data:
                    return
            elif type(event) is h11.EndOfMessage:
                response = http.send(h11.Response(status_code=200, headers=headers)) + http.send(h11.Data(data=FIXED))
                await stream.send_all(response + http.send(h11.EndOfMessage()))
                http.start_next_cycle()
            elif type(event) is h11.ConnectionClosed:
                return

    await trio.serve_tcp(connection, port, host="127.0.0.1")


def typescript_sdk(json_response: bool, port: int) -> None:
    """Replace this process with node running ``benchmarks/ts/server.mjs`` (run.py installs both)."""
    sys.path.insert(0, str(HERE.parent))
    from tests.node_peers import NODE

    os.execv(str(NODE), [str(NODE), str(HERE / "ts" / "server.mjs"), str(port), "json" if json_response else "sse"])


def serve(name: str, port: int) -> None:
    if name.startswith("mcp-sdk"):
        import uvicorn

        uvicorn.run(mcp_sdk_app(name.endswith("json")), host="127.0.0.1", port=port, log_level="warning")
        return
    if name.startswith("ts-sdk"):
        typescript_sdk(name.endswith("json"), port)
    if name == "raw-uvicorn":
        import uvicorn

        uvicorn.run(raw_app, host="127.0.0.1", port=port, log_level="warning")
        return
    if name == "raw-hypercorn-asyncio":
        import asyncio

        import hypercorn.asyncio
        import hypercorn.config

        config = hypercorn.config.Config()
        config.bind, config.accesslog = [f"127.0.0.1:{port}"], None
        asyncio.run(hypercorn.asyncio.serve(raw_app, config))
        return
    import hypercorn.trio
    import trio

    if name == "raw-trio-h11":
        trio.run(bare_trio_h11, port)
        return
    import trimcp

    if name == "raw-encode":
        app: Any = encoding_app(os.environ["BENCH_ANSWER"])
    elif name.startswith("raw"):
        app = raw_app
    elif name in OBSERVED:
        app = observed_app(name, port)
    elif name in ("trimcp-payloads", "trimcp-listen"):
        app = trimcp.asgi_app(payload_server())
    else:
        app = trimcp.asgi_app(
            trimcp_server(), json_response=name.endswith("json"), max_sessions=100_000, websocket=name == "trimcp-ws"
        )
    if name in ("raw-hypercorn-trio", "trimcp-stock-hypercorn"):
        config = trimcp.HTTPConfig(host="127.0.0.1", port=port).hypercorn_config()
        trio.run(hypercorn.trio.serve, app, config)
    else:
        trio.run(lambda: trimcp.serve_http(app, host="127.0.0.1", port=port))


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
