"""The client follows tasks (2026-07-28): trimcp's own client against trimcp over the real
hypercorn, and in-process."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trimcp
from trimcp import CancelReason, RequestFailed

from .http_support import running_server
from .test_tasks import Seen, task_server


async def answer(params: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"value": params["message"].rstrip("?").lower()}}


def url_of(http: Any) -> str:
    return f"http://{http.host}:{http.port}/mcp"


async def test_a_call_that_becomes_a_task_is_followed_to_its_result() -> None:
    seen = Seen()
    async with (
        running_server(trimcp.asgi_app(task_server(seen))) as http,
        trimcp.open_client(url_of(http), elicitation=answer) as client,
    ):
        assert client.era is trimcp.protocol.Era.PER_REQUEST
        result = await client.call_tool("work", {"seconds": 0.2})
        assert result["content"][0]["text"] == "worked 0.2 s"
        result = await client.call_tool("two_questions")  # answered through tasks/update
        assert result["content"][0]["text"] == "first then second"
        with pytest.raises(RequestFailed) as failed:
            await _cancelled_task(client)
        assert "cancelled" in failed.value.message


async def _cancelled_task(client: trimcp.Client) -> dict[str, Any]:
    task = await client.start_tool("work", {"seconds": 30})
    assert isinstance(task, trimcp.ClientTask)
    await task.cancel()
    return await task.result(timeout=10)


async def test_cancelling_the_caller_cancels_the_task() -> None:
    seen = Seen()
    async with running_server(trimcp.asgi_app(task_server(seen))) as http, trimcp.open_client(url_of(http)) as client:
        with trio.move_on_after(0.5):
            await client.call_tool("work", {"seconds": 30})
        cancelled_at = trio.current_time()
        with trio.fail_after(5):
            while seen.finally_at is None:
                await trio.sleep(0.005)
        assert seen.reason is CancelReason.CLIENT_CANCELLED and seen.finally_at - cancelled_at < 0.5


async def test_a_task_timeout_is_a_client_timeout_and_cancels_the_task() -> None:
    seen = Seen()
    async with trimcp.open_client(task_server(seen), protocol_version="2026-07-28") as client:
        with pytest.raises(trimcp.ClientTimeout):
            await client.call_tool("work", {"seconds": 30}, timeout=0.3)
        with trio.fail_after(5):
            while seen.finally_at is None:
                await trio.sleep(0.005)
        assert seen.reason is CancelReason.CLIENT_CANCELLED


async def test_start_tool_hands_back_the_task_without_waiting() -> None:
    seen = Seen()
    async with trimcp.open_client(task_server(seen), protocol_version="2026-07-28") as client:
        task = await client.start_tool("work", {"seconds": 0.3})
        assert isinstance(task, trimcp.ClientTask) and task.created["status"] == "working"
        assert (await task.status())["status"] == "working"
        assert (await task.result())["content"][0]["text"] == "worked 0.3 s"
        inline = await client.start_tool("work", {"seconds": 0})  # finished at once: no task
        assert inline["content"][0]["text"] == "worked 0 s"


async def test_the_client_follows_2025_11_25_tasks() -> None:
    seen = Seen()
    async with (
        running_server(trimcp.asgi_app(task_server(seen))) as http,
        trimcp.open_client(url_of(http), protocol_version="2025-11-25", elicitation=answer) as client,
    ):
        assert (await client.call_tool("quick"))["content"][0]["text"] == "done"  # required: asked as a task
        inline = await client.call_tool("work", {"seconds": 0})  # optional: an ordinary call
        assert inline["content"][0]["text"] == "worked 0 s"
        task = await client.start_tool("two_questions")  # questions arrive as requests, answered by handlers
        assert isinstance(task, trimcp.ClientTask) and task.experimental
        assert (await task.result(timeout=10))["content"][0]["text"] == "first then second"
        running = await client.start_tool("work", {"seconds": 30})
        with trio.move_on_after(0.3):
            await running.result()
        with trio.fail_after(5):
            while seen.finally_at is None:
                await trio.sleep(0.005)
        assert seen.reason is CancelReason.CLIENT_CANCELLED
