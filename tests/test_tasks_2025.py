"""2025-11-25's experimental tasks (task-augmented tools/call, tasks/get, tasks/result,
tasks/cancel) over the real hypercorn with raw HTTP: the official ``mcp`` client (2.3.0) no
longer speaks them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

import trimcp
from trimcp import CancelReason

from .conftest import assert_valid
from .http_support import JSON_AND_SSE, RawHTTP, running_server
from .test_tasks import Seen, task_server

VERSION = "2025-11-25"
RELATED = "io.modelcontextprotocol/related-task"


class Session:
    def __init__(self, http: RawHTTP, session_id: str) -> None:
        self.http = http
        self.headers = {"mcp-session-id": session_id, "mcp-protocol-version": VERSION}
        self._ids = iter(range(1, 10_000))

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}

    async def rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = await self.http.post(self.request(method, params), self.headers)
        assert reply.status == 200, reply
        return _last_response(reply.body)


def _last_response(body: bytes) -> dict[str, Any]:
    text = body.decode()
    if text.startswith("{"):
        return json.loads(text)
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()][-1]


async def open_session(http: RawHTTP, capabilities: dict[str, Any] | None = None) -> tuple[Session, dict[str, Any]]:
    params = {
        "protocolVersion": VERSION,
        "capabilities": capabilities or {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    reply = await http.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    session = Session(http, reply.headers["mcp-session-id"])
    notified = await http.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session.headers)
    assert notified.status == 202
    return session, reply.json()["result"]


async def test_capabilities_listing_creation_get_and_result() -> None:
    async with running_server(trimcp.asgi_app(task_server(Seen()))) as http:
        session, initialized = await open_session(http)
        assert initialized["capabilities"]["tasks"] == {"cancel": {}, "requests": {"tools": {"call": {}}}}
        tools = {t["name"]: t for t in (await session.rpc("tools/list", {}))["result"]["tools"]}
        assert tools["work"]["execution"] == {"taskSupport": "optional"}
        assert tools["quick"]["execution"] == {"taskSupport": "required"}
        assert_valid(VERSION, "InitializeResult", initialized)
        assert_valid(VERSION, "Tool", tools["work"])
        created = await session.rpc("tools/call", {"name": "work", "arguments": {"seconds": 0.2}, "task": {"ttl": 9}})
        task = created["result"]["task"]
        assert task["status"] == "working" and task["pollInterval"] == 500 and "ttlMs" not in task
        assert_valid(VERSION, "CreateTaskResult", created["result"])
        got = (await session.rpc("tasks/get", {"taskId": task["taskId"]}))["result"]
        assert got["status"] == "working"
        assert_valid(VERSION, "GetTaskResult", got)
        result = (await session.rpc("tasks/result", {"taskId": task["taskId"]}))["result"]  # waits for the end
        assert result["content"][0]["text"] == "worked 0.2 s" and result["_meta"][RELATED] == {"taskId": task["taskId"]}
        assert (await session.rpc("tasks/get", {"taskId": task["taskId"]}))["result"]["status"] == "completed"


async def test_cancel_moves_the_task_to_cancelled_before_answering() -> None:
    seen = Seen()
    async with running_server(trimcp.asgi_app(task_server(seen))) as http:
        session, _ = await open_session(http)
        task = (await session.rpc("tools/call", {"name": "work", "arguments": {}, "task": {}}))["result"]["task"]
        await seen.started.wait()
        cancelled = (await session.rpc("tasks/cancel", {"taskId": task["taskId"]}))["result"]
        assert cancelled["status"] == "cancelled" and seen.reason is CancelReason.CLIENT_CANCELLED
        assert_valid(VERSION, "CancelTaskResult", cancelled)
        again = await session.rpc("tasks/cancel", {"taskId": task["taskId"]})
        assert again["error"]["code"] == -32602  # a finished task cannot be cancelled


async def test_an_error_result_fails_the_task_and_is_still_its_result() -> None:
    async with running_server(trimcp.asgi_app(task_server(Seen()))) as http:
        session, _ = await open_session(http)
        task = (await session.rpc("tools/call", {"name": "broken", "arguments": {}, "task": {}}))["result"]["task"]
        result = (await session.rpc("tasks/result", {"taskId": task["taskId"]}))["result"]
        assert result["isError"] is True
        assert (await session.rpc("tasks/get", {"taskId": task["taskId"]}))["result"]["status"] == "failed"


async def test_questions_travel_on_the_tasks_result_stream_tagged_with_the_task() -> None:
    async with running_server(trimcp.asgi_app(task_server(Seen()))) as http:
        session, _ = await open_session(http, {"elicitation": {"form": {}}})
        call = {"name": "two_questions", "arguments": {}, "task": {}}
        task_id = (await session.rpc("tools/call", call))["result"]["task"]["taskId"]
        body = session.request("tasks/result", {"taskId": task_id})
        headers = {**session.headers, "accept": JSON_AND_SSE, "content-type": "application/json"}
        with trio.fail_after(10):
            async with http.open("POST", headers=headers, body=body) as stream:
                for answer in ("red", "blue"):
                    while True:
                        [event] = await stream.events(1)
                        if event.data:
                            break
                    question = json.loads(event.data)
                    assert question["method"] == "elicitation/create"
                    assert question["params"]["_meta"][RELATED] == {"taskId": task_id}
                    status = (await session.rpc("tasks/get", {"taskId": task_id}))["result"]["status"]
                    assert status == "input_required"
                    reply = {
                        "jsonrpc": "2.0",
                        "id": question["id"],
                        "result": {"action": "accept", "content": {"value": answer}},
                    }
                    assert (await http.post(reply, session.headers)).status == 202
                final = (await stream.messages())[-1]
        assert final["result"]["content"][0]["text"] == "red then blue"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"name": "quick", "arguments": {}}, -32601),  # required, not asked for as a task
        ({"name": "plain", "arguments": {}, "task": {}}, -32601),  # forbidden, asked for as a task
    ],
)
async def test_calls_that_cannot_be_what_they_ask(params: dict[str, Any], code: int) -> None:
    server = task_server(Seen())
    server.tool(lambda: "plain", name="plain")
    async with running_server(trimcp.asgi_app(server)) as http:
        session, _ = await open_session(http)
        assert (await session.rpc("tools/call", params))["error"]["code"] == code


async def test_a_session_sees_only_its_own_tasks() -> None:
    async with running_server(trimcp.asgi_app(task_server(Seen()))) as http:
        mine, _ = await open_session(http)
        theirs, _ = await open_session(http)
        task_id = (await mine.rpc("tools/call", {"name": "work", "arguments": {}, "task": {}}))["result"]["task"][
            "taskId"
        ]
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert (await theirs.rpc(method, {"taskId": task_id}))["error"]["code"] == -32602
        assert (await mine.rpc("tasks/update", {"taskId": task_id, "inputResponses": {}}))["error"]["code"] == -32601
        assert (await mine.rpc("tasks/list", {}))["error"]["code"] == -32601
        await mine.rpc("tasks/cancel", {"taskId": task_id})
