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
"""

from __future__ import annotations

import sys
from typing import Any

FIXED = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3"}],"structuredContent":{"result":3}}}'


def trimcp_server() -> Any:
    import trimcp

    server = trimcp.Server("bench", version="1")

    @server.tool
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return server


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


def serve(name: str, port: int) -> None:
    if name.startswith("mcp-sdk"):
        import uvicorn

        uvicorn.run(mcp_sdk_app(name.endswith("json")), host="127.0.0.1", port=port, log_level="warning")
        return
    import hypercorn.trio
    import trio

    import trimcp
    from trimcp._transports.http.serve import hypercorn_config

    if name.startswith("raw"):
        app: Any = raw_app
    else:
        app = trimcp.asgi_app(trimcp_server(), json_response=name.endswith("json"), max_sessions=100_000)
    if name in ("raw-hypercorn-trio", "trimcp-stock-hypercorn"):
        config = hypercorn_config(host="127.0.0.1", port=port)
        trio.run(hypercorn.trio.serve, app, config)
    else:
        trio.run(lambda: trimcp.serve_http(app, host="127.0.0.1", port=port))


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
