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
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

FIXED = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3"}],"structuredContent":{"result":3}}}'


def trimcp_server() -> Any:
    import trimcp

    server = trimcp.Server("bench", version="1")

    @server.tool
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

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

    if name.startswith("raw"):
        app: Any = raw_app
    elif name in OBSERVED:
        app = observed_app(name, port)
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
