"""The handshake era's GET stream is listening before ``open_client`` yields: a server may send
a message that belongs to no request (here an elicitation a tool asks for, as the official
TypeScript server does when its handler uses ``server.request``) only on that stream, and drops
it when none is open. The server is a small ASGI app served by hypercorn on loopback, slow to
answer the GET, as a loaded machine is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

import trimcp

from .ports import free_port

GET_DELAY = 0.5


class OnlyOnTheGetStream:
    """One session; ``tools/call`` asks the client a question on the GET stream (dropped when
    there is none yet, as the spec allows) and answers with the client's reply."""

    def __init__(self) -> None:
        self.get_stream: trio.MemorySendChannel[bytes] | None = None
        self.reply: dict[str, Any] | None = None
        self.replied = trio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] == "GET":
            await self._get(send)
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        message = json.loads(body) if body else {}
        if scope["method"] != "POST" or "id" not in message:
            await self._answer(send, 202 if scope["method"] == "POST" else 200, None)
        elif "method" not in message:  # the client's reply to the question
            self.reply = message.get("result")
            self.replied.set()
            await self._answer(send, 202, None)
        else:
            await self._answer(
                send, 200, {"jsonrpc": "2.0", "id": message["id"], "result": await self._result(message)}
            )

    async def _result(self, message: dict[str, Any]) -> dict[str, Any]:
        method = message["method"]
        if method == "initialize":
            return {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": {"name": "t"}}
        if method == "tools/list":
            return {"tools": [{"name": "ask", "inputSchema": {"type": "object"}}]}
        if self.get_stream is not None:
            question = {"jsonrpc": "2.0", "id": "q1", "method": "elicitation/create"}
            question["params"] = {"message": "name?", "requestedSchema": {"type": "object", "properties": {}}}
            await self.get_stream.send(f"event: message\ndata: {json.dumps(question)}\n\n".encode())
            await self.replied.wait()
        return {"content": [{"type": "text", "text": json.dumps(self.reply)}]}

    async def _get(self, send: Any) -> None:
        await trio.sleep(GET_DELAY)
        self.get_stream, events = trio.open_memory_channel[bytes](8)  # registered, then answered
        headers = [(b"content-type", b"text/event-stream"), (b"mcp-session-id", b"s1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b": listening\n\n", "more_body": True})
        async for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})

    @staticmethod
    async def _answer(send: Any, status: int, body: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"mcp-session-id", b"s1")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode() if body is not None else b""})


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    port = free_port()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trimcp.serve_http(app, port=port, handle_signals=False, task_status=task_status)
        )
        yield f"http://127.0.0.1:{port}/mcp"
        nursery.cancel_scope.cancel()


async def test_a_question_sent_only_on_the_get_stream_reaches_the_client() -> None:
    async def accept(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    app = OnlyOnTheGetStream()
    with trio.fail_after(10):
        async with (
            serving(app) as url,
            trimcp.open_client(url, elicitation=accept, protocol_version="2025-11-25", timeout=3) as client,
        ):
            assert app.get_stream is not None  # listening before the first request goes out
            result = await client.call_tool("ask", {})
    assert json.loads(result["content"][0]["text"]) == {"action": "accept", "content": {"name": "Ada"}}
