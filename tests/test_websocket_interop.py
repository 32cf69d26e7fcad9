"""The TypeScript SDK v1's ``WebSocketClientTransport`` (node 22, the SDK pinned in
tests/interop) lists and calls tools, with progress, on trimcp over WebSocket."""

from __future__ import annotations

import json

import trio

import trimcp

from .conftest import load_example
from .http_support import running_server
from .node_peers import INTEROP, ensure_installed, node_environment


async def test_the_typescript_sdk_websocket_client_lists_and_calls_with_progress() -> None:
    node = ensure_installed()
    app = trimcp.asgi_app(load_example("demo").server, websocket=True)
    async with running_server(app) as http:
        command = [str(node), str(INTEROP / "ws_client.mjs"), f"ws://127.0.0.1:{http.port}/mcp"]
        with trio.fail_after(60):
            done = await trio.run_process(
                command, cwd=INTEROP, env=node_environment(), capture_stdout=True, capture_stderr=True, check=False
            )
    assert done.returncode == 0, done.stderr.decode()
    seen = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert {"add", "count_slowly"} <= set(seen["tools"])
    assert seen["text"] == "counted to 3"
    assert seen["progress"] == [1, 2, 3]
