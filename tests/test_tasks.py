"""The tasks extension (2026-07-28) over the real hypercorn on 127.0.0.1: a task outlives its
request, is cancelled with a reason, asks questions answered from another connection, expires,
and every bad input gets its error while the server keeps serving."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import trio

import trimcp
from trimcp import CancelReason, Context, ToolError

from .http_support import RawHTTP, running_server

TASKS = {"extensions": {"io.modelcontextprotocol/tasks": {}}}
FORM = {"type": "object", "properties": {"value": {"type": "string"}}}
_ids = itertools.count(1)


class Seen:
    """What the tools of :func:`task_server` saw."""

    def __init__(self) -> None:
        self.started = trio.Event()
        self.finally_at: float | None = None
        self.reason: Any = None


def task_server(seen: Seen, **settings: Any) -> trimcp.Server:
    server = trimcp.Server("tasks", **settings)

    @server.tool(task_support="optional")
    async def work(ctx: Context, seconds: float = 30) -> str:
        seen.started.set()
        try:
            await trio.sleep(seconds)
            return f"worked {seconds:g} s"
        finally:
            seen.finally_at = trio.current_time()
            seen.reason = ctx.cancel_reason

    @server.tool(task_support="required")
    async def quick() -> str:
        return "done"

    @server.tool(task_support="required")
    async def broken() -> str:
        await trio.sleep(0.1)
        raise ToolError("it broke")

    @server.tool(task_support="optional")
    async def two_questions(ctx: Context) -> str:
        await trio.sleep(0.1)  # past the publish window: the questions are the task's
        first = await ctx.elicit("First?", FORM)
        second = await ctx.elicit("Second?", FORM)
        return f"{(first.content or {}).get('value')} then {(second.content or {}).get('value')}"

    @server.tool(task_support="required")
    async def ask_first(ctx: Context) -> str:
        answer = await ctx.elicit("Name?", FORM, key="name")
        return f"hello {(answer.content or {}).get('value')}"

    return server


def body(method: str, params: dict[str, Any], capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": TASKS if capabilities is None else capabilities,
    }
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": {**params, "_meta": meta}}


async def rpc(
    http: RawHTTP, method: str, params: dict[str, Any], *, name: str | None = None, **options: Any
) -> tuple[int, dict[str, Any]]:
    """POST one 2026-07-28 request; the HTTP status and the JSON-RPC response."""
    if name is None:
        name = params.get("taskId", params.get("name"))
    headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": method, "mcp-name": str(name)}
    reply = await http.post(body(method, params, **options), headers)
    return reply.status, reply.json()


async def call(http: RawHTTP, tool: str, arguments: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    status, response = await rpc(http, "tools/call", {"name": tool, "arguments": arguments or {}}, **options)
    assert status == 200, response
    return response["result"]


async def get(http: RawHTTP, task_id: str) -> dict[str, Any]:
    status, response = await rpc(http, "tasks/get", {"taskId": task_id})
    assert status == 200, response
    return response["result"]


async def wait_for_status(http: RawHTTP, task_id: str, *statuses: str) -> dict[str, Any]:
    with trio.fail_after(10):
        while (task := await get(http, task_id))["status"] not in statuses:
            await trio.sleep(0.02)
    return task


def app_for(server: trimcp.Server) -> trimcp.MCPApp:
    return trimcp.asgi_app(server, json_response=True)


async def test_a_task_outlives_its_request_and_its_connection() -> None:
    seen = Seen()
    async with running_server(app_for(task_server(seen))) as http:
        created = await call(RawHTTP(http.host, http.port), "work", {"seconds": 0.3})
        assert created["resultType"] == "task" and created["status"] == "working"
        assert created["ttlMs"] == 3_600_000 and created["pollIntervalMs"] == 500
        assert created["createdAt"].endswith("Z") and "result" not in created and "requestState" not in created
        task = await wait_for_status(http, created["taskId"], "completed")  # polled on other connections
        assert task["result"]["content"] == [{"type": "text", "text": "worked 0.3 s"}]
        assert task["resultType"] == "complete" and seen.reason is None


async def test_tasks_cancel_runs_the_finally_at_once_with_its_reason() -> None:
    seen = Seen()
    server = task_server(seen)
    async with running_server(app_for(server)) as http:
        created = await call(http, "work", {"seconds": 30})
        await seen.started.wait()
        cancelled_at = trio.current_time()
        status, ack = await rpc(http, "tasks/cancel", {"taskId": created["taskId"]})
        assert status == 200 and set(ack["result"]) <= {"resultType", "_meta"}
        with trio.fail_after(5):
            while seen.finally_at is None:
                await trio.sleep(0.001)
        assert seen.finally_at - cancelled_at < 0.1
        assert seen.reason is CancelReason.CLIENT_CANCELLED
        assert (await wait_for_status(http, created["taskId"], "cancelled"))["status"] == "cancelled"
        status, again = await rpc(http, "tasks/cancel", {"taskId": created["taskId"]})  # idempotent
        assert status == 200 and again["result"]["resultType"] == "complete"
        assert server.tasks.statistics().running == 0


async def test_questions_in_a_task_are_answered_by_tasks_update_from_another_connection() -> None:
    seen = Seen()
    async with running_server(app_for(task_server(seen))) as http:
        created = await call(http, "two_questions", capabilities={**TASKS, "elicitation": {"form": {}}})
        task_id = created["taskId"]
        other = RawHTTP(http.host, http.port)
        answers = iter(["red", "blue"])
        asked: list[str] = []
        for _ in range(2):
            task = await wait_for_status(http, task_id, "input_required")
            [(key, question)] = task["inputRequests"].items()
            assert question["method"] == "elicitation/create" and key not in asked
            asked.append(key)
            reply = {key: {"action": "accept", "content": {"value": next(answers)}}}
            status, ack = await rpc(other, "tasks/update", {"taskId": task_id, "inputResponses": reply})
            assert status == 200 and ack["result"]["resultType"] == "complete"
            status, ack = await rpc(other, "tasks/update", {"taskId": task_id, "inputResponses": reply})
            assert status == 200  # an answered key is ignored
        task = await wait_for_status(http, task_id, "completed")
        assert task["result"]["content"][0]["text"] == "red then blue"


async def test_a_question_before_publication_is_a_round_of_the_request() -> None:
    async with running_server(app_for(task_server(Seen()))) as http:
        capabilities = {**TASKS, "elicitation": {"form": {}}}
        first = await call(http, "ask_first", capabilities=capabilities)
        assert first["resultType"] == "input_required" and "taskId" not in first
        arguments = {"name": "ask_first", "arguments": {}, "requestState": first["requestState"]}
        arguments["inputResponses"] = {"name": {"action": "accept", "content": {"value": "Alice"}}}
        status, second = await rpc(http, "tools/call", arguments, capabilities=capabilities)
        created = second["result"]
        assert status == 200
        assert created["resultType"] == "task" and "requestState" not in created and "inputRequests" not in created
        task = await wait_for_status(http, created["taskId"], "completed")
        assert task["result"]["content"][0]["text"] == "hello Alice"


async def test_outcomes_inline_completed_error_result_and_failed() -> None:
    async with running_server(app_for(task_server(Seen()))) as http:
        inline = await call(http, "work", {"seconds": 0})  # optional and finished at once: no task
        assert inline["resultType"] == "complete" and inline["content"][0]["text"] == "worked 0 s"
        required = await call(http, "quick")  # required: a task even when finished at once
        assert required["resultType"] == "task" and required["status"] == "completed"
        broken = await call(http, "broken")
        task = await wait_for_status(http, broken["taskId"], "completed", "failed")
        assert task["status"] == "completed" and task["result"]["isError"] is True  # a tool error completes
        asks = await call(http, "two_questions")  # the client cannot elicit: the task fails with -32021
        task = await wait_for_status(http, asks["taskId"], "failed")
        assert task["error"]["code"] == -32021 and "result" not in task


async def test_shutdown_cancels_running_tasks_with_reason_shutdown() -> None:
    seen = Seen()
    server = task_server(seen)
    app = app_for(server)
    async with running_server(app) as http:
        created = await call(http, "work", {"seconds": 30})
        await seen.started.wait()
        with trio.fail_after(5):
            await app.shutdown(grace=0.1)
        assert seen.reason is CancelReason.SHUTDOWN and seen.finally_at is not None
        record = await server.tasks.get(created["taskId"])
        assert record is not None and record.status == "failed" and "shutdown" in record.error["message"]


async def test_a_thousand_expired_tasks_leave_nothing_behind() -> None:
    server = task_server(Seen(), task_ttl_ms=300)
    async with running_server(app_for(server)) as http:
        created = [await call(http, "quick") for _ in range(1000)]
        assert len({task["taskId"] for task in created}) == 1000
        assert (await server.tasks.store.statistics()).unfinished == 0
        with trio.fail_after(10):
            while (await server.tasks.store.statistics()).tasks:
                await trio.sleep(0.1)
        assert server.tasks.statistics().expired == 1000 and server.tasks.statistics().running == 0
        status, gone = await rpc(http, "tasks/get", {"taskId": created[0]["taskId"]})
        assert status == 400 and gone["error"]["code"] == -32602


async def test_a_running_task_past_its_ttl_is_cancelled_as_expired() -> None:
    seen = Seen()
    server = task_server(seen, task_ttl_ms=200)
    async with running_server(app_for(server)) as http:
        await call(http, "work", {"seconds": 30})
        with trio.fail_after(5):
            while seen.finally_at is None:
                await trio.sleep(0.01)
        assert seen.reason is CancelReason.TASK_EXPIRED and server.tasks.statistics().running == 0
        await trio.sleep(0.05)  # its last state is not stored again: nothing is left
        assert (await server.tasks.store.statistics()).tasks == 0 and server.tasks.statistics().expired == 1


@pytest.mark.parametrize(
    ("method", "params", "capabilities", "name", "status", "code"),
    [
        ("tasks/get", {"taskId": "nope"}, None, None, 400, -32602),
        ("tasks/update", {"taskId": "nope", "inputResponses": {}}, None, None, 400, -32602),
        ("tasks/cancel", {"taskId": "nope"}, None, None, 400, -32602),
        ("tasks/get", {"taskId": "nope"}, {}, None, 400, -32021),  # the gate before the lookup
        ("tasks/update", {"taskId": "x", "inputResponses": []}, None, None, 400, -32602),
        ("tasks/get", {"taskId": 7}, None, "7", 400, -32602),
        ("tasks/get", {}, None, "x", 400, -32602),  # no task id in the body
        ("tasks/get", {"taskId": "abc"}, None, "abd", 400, -32020),  # Mcp-Name must be the task id
        ("tasks/result", {"taskId": "abc"}, None, None, 404, -32601),
        ("tasks/list", {}, None, "", 404, -32601),
        ("tools/call", {"name": "quick", "arguments": {}}, {}, None, 400, -32021),  # required, undeclared
    ],
)
async def test_bad_task_requests_get_their_errors(
    method: str, params: dict, capabilities: dict | None, name: str | None, status: int, code: int
) -> None:
    async with running_server(app_for(task_server(Seen()))) as http:
        got, response = await rpc(http, method, params, name=name, capabilities=capabilities)
        assert (got, response["error"]["code"]) == (status, code), response
        if code == -32021:
            assert response["error"]["data"]["requiredCapabilities"] == TASKS
        assert (await call(http, "work", {"seconds": 0}))["content"]  # and the server keeps serving


async def test_a_question_key_is_never_used_twice_in_a_task() -> None:
    server = trimcp.Server("keys")

    @server.tool(task_support="required")
    async def same_key_twice(ctx: Context) -> str:
        await trio.sleep(0.1)
        first = await ctx.elicit("Once?", FORM, key="k")
        second = await ctx.elicit("Twice?", FORM, key="k")
        return f"{first.action} {second.action}"

    async with running_server(app_for(server)) as http:
        created = await call(http, "same_key_twice", capabilities={**TASKS, "elicitation": {}})
        task_id, keys = created["taskId"], []
        with trio.fail_after(10):
            while len(keys) < 2:
                task = await get(http, task_id)
                asked = [key for key in task.get("inputRequests", {}) if key not in keys]
                for key in asked:
                    keys.append(key)
                    await rpc(http, "tasks/update", {"taskId": task_id, "inputResponses": {key: {"action": "decline"}}})
                await trio.sleep(0.01)
        assert keys == ["k", "k-2"]
        assert (await wait_for_status(http, task_id, "completed"))["result"]["content"][0]["text"] == "decline decline"


async def test_cancelling_the_server_ends_a_task_waiting_for_an_answer() -> None:
    # The lifespan's nursery holds the tasks, which are shielded: cancelling the server (no
    # graceful shutdown) hung waiting for the task's answer before the lifespan ended them too.
    server = trimcp.Server("waiting")
    ended: list[Any] = []

    @server.tool(task_support="required")
    async def waits(ctx: Context) -> str:
        try:
            await trio.sleep(0.1)
            await ctx.elicit("Answer?", FORM)
            return "answered"
        finally:
            ended.append(ctx.cancel_reason)

    with trio.fail_after(5):
        async with running_server(app_for(server)) as http:
            created = await call(http, "waits", capabilities={**TASKS, "elicitation": {}})
            await wait_for_status(http, created["taskId"], "input_required")
    assert ended == [CancelReason.SHUTDOWN]


async def test_listen_with_task_ids_hears_each_change_of_the_task() -> None:
    async with running_server(app_for(task_server(Seen()))) as http:
        capabilities = {**TASKS, "elicitation": {}}
        created = await call(http, "two_questions", capabilities=capabilities)
        task_id = created["taskId"]
        listen = body("subscriptions/listen", {"notifications": {"taskIds": [task_id, "unknown"]}}, capabilities)
        headers = {"mcp-protocol-version": "2026-07-28", "mcp-method": "subscriptions/listen"}
        headers |= {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        heard: list[dict[str, Any]] = []
        with trio.fail_after(10):
            async with http.open("POST", headers=headers, body=listen) as stream:
                while not heard or heard[-1]["params"]["status"] != "completed":
                    for event in await stream.events(1):
                        if not event.data:
                            continue
                        message = json.loads(event.data)
                        if message["method"] == "notifications/subscriptions/acknowledged":
                            assert message["params"]["notifications"] == {"taskIds": [task_id]}
                            continue
                        assert message["method"] == "notifications/tasks"
                        assert message["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen["id"]
                        heard.append(message)
                        for key in message["params"].get("inputRequests", {}):
                            reply = {key: {"action": "accept", "content": {"value": "x"}}}
                            await rpc(http, "tasks/update", {"taskId": task_id, "inputResponses": reply})
        statuses = [message["params"]["status"] for message in heard]
        assert statuses.count("input_required") == 2 and statuses[-1] == "completed"
        assert heard[-1]["params"]["result"]["content"][0]["text"] == "x then x"
        got = await get(http, task_id)  # the same task tasks/get tells
        assert {k: v for k, v in heard[-1]["params"].items() if k != "_meta"} == {
            k: v for k, v in got.items() if k not in ("_meta", "resultType")
        }


async def test_listening_to_tasks_needs_the_extension() -> None:
    async with running_server(app_for(task_server(Seen()))) as http:
        status, response = await rpc(
            http, "subscriptions/listen", {"notifications": {"taskIds": ["a"]}}, name="", capabilities={}
        )
        assert (status, response["error"]["code"]) == (400, -32021)


async def test_progress_is_the_status_message_and_a_tool_may_set_its_own_ttl() -> None:
    server = trimcp.Server("progress")

    @server.tool(task_support="required", task_ttl_ms=1234, task_poll_interval_ms=50)
    async def halfway(ctx: Context) -> str:
        await ctx.progress(1, 2, "halfway there")
        await ctx.info("not sent: tasks send no log messages")  # and it does not fail the task
        await trio.sleep(30)
        return "never"

    async with running_server(app_for(server)) as http:
        created = await call(http, "halfway")
        assert (created["ttlMs"], created["pollIntervalMs"]) == (1234, 50)
        with trio.fail_after(5):
            while (task := await get(http, created["taskId"])).get("statusMessage") != "halfway there":
                await trio.sleep(0.01)
        assert task["status"] == "working"
        await rpc(http, "tasks/cancel", {"taskId": created["taskId"]})
