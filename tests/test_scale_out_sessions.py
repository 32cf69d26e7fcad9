"""Issue 18's "done when": handshake-era sessions behind HAProxy round-robin (no affinity) over two
``trimcp serve --workers 2 --redis URL`` processes (tests/test_scale_out.py's cluster). Each
request of a session lands on whichever worker HAProxy picks; the worker that answered its
``initialize`` owns it, and the others relay to it. The official ``mcp`` client in legacy mode
(2025-11-25) drives most of it; raw HTTP cuts and resumes streams."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client, types
from mcp.shared.exceptions import MCPError

from .http_support import JSON_AND_SSE, RawHTTP, initialize_request
from .test_scale_out import cluster, official, raw, wait_for

#: The issue's counts.
CALLS, LANES, STEPS = 1000, 10, 3
ROUND_TRIPS = 40
UPDATES = 100
VERSION = "2025-11-25"


def legacy(url: str, **callbacks: Any) -> Client:
    """The official ``mcp`` client with a handshake-era session (2025-11-25)."""
    return Client(url, mode="legacy", cache=None, **callbacks)


async def test_a_thousand_calls_with_progress_and_logs_each_session_served_by_its_owner(tmp_path: Path) -> None:
    owners: dict[int, set[int]] = {}
    problems: list[str] = []

    async def lane(number: int) -> None:
        logs: list[str] = []

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            logs.append(params.data)

        async with legacy(running.url, logging_callback=on_log) as client:
            for index in range(number * 1000, number * 1000 + CALLS // LANES):
                progress: list[tuple[float, str | None]] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    progress.append((value, message))  # noqa: B023 - awaited within the iteration

                result = await client.call_tool(
                    "report", {"index": index, "steps": STEPS}, progress_callback=on_progress
                )
                assert not result.is_error, result
                owners.setdefault(number, set()).add(result.structured_content["pid"])
                expected = [(float(step), f"call {index} step {step}") for step in range(1, STEPS + 1)]
                if progress != expected:
                    problems.append(f"call {index}: progress {progress}")
            await wait_for(lambda: len(logs) >= CALLS // LANES * STEPS, timeout=10)
            await trio.sleep(0.2)  # nothing more arrives
            first = number * 1000
            expected_logs = [
                f"call {index} step {step}"
                for index in range(first, first + CALLS // LANES)
                for step in range(1, STEPS + 1)
            ]
            if logs != expected_logs:
                problems.append(f"lane {number}: logs differ ({len(logs)} vs {len(expected_logs)})")

    async with cluster(tmp_path) as running:
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for number in range(LANES):
                    nursery.start_soon(lane, number)
    assert problems == []
    assert all(len(pids) == 1 for pids in owners.values()), owners  # one owner per session
    assert len({pid for pids in owners.values() for pid in pids}) >= 2, owners  # sessions on several workers


async def test_elicitation_and_sampling_answered_through_any_worker(tmp_path: Path) -> None:
    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        index = params.message.removeprefix("value for ").removesuffix("?")
        return types.ElicitResult(action="accept", content={"value": f"v{index}"})

    async def on_sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        text = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"sampled {text}"), model="m"
        )

    async with (
        cluster(tmp_path) as running,
        legacy(running.url, elicitation_callback=on_elicit, sampling_callback=on_sample) as client,
    ):
        with trio.fail_after(60):
            for index in range(ROUND_TRIPS):
                result = await client.call_tool("question", {"index": index})
                assert not result.is_error, result
                assert result.structured_content["value"] == f"v{index}"
                assert result.structured_content["sampled"] == f"sampled say {index}"


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
async def test_resource_updates_raised_on_other_workers_reach_the_subscribed_session_once_each(tmp_path: Path) -> None:
    heard: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(message.params.uri)

    uris = [f"test://doc/{number}" for number in range(UPDATES)]
    async with (
        cluster(tmp_path) as running,
        legacy(running.url, message_handler=on_message) as subscriber,
        official(running.url) as raising,  # 2026-07-28: each call on whichever worker HAProxy picks
    ):
        with trio.fail_after(60):
            for uri in uris:
                await subscriber.subscribe_resource(uri)
            raisers = Counter()
            for uri in uris:
                raisers[(await raising.call_tool("touch", {"uri": uri})).structured_content["pid"]] += 1
            await wait_for(lambda: len(heard) >= UPDATES, timeout=10)
            await trio.sleep(0.3)  # nothing more arrives
        assert len(raisers) >= 2, raisers
        assert sorted(heard) == sorted(uris)  # each exactly once


async def open_session(http: RawHTTP) -> dict[str, str]:
    reply = await http.post(initialize_request(VERSION))
    assert reply.status == 200, reply
    headers = {"mcp-session-id": reply.headers["mcp-session-id"], "mcp-protocol-version": VERSION}
    assert (await http.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)).status == 202
    return headers


async def test_a_cut_post_stream_resumes_on_whichever_worker_the_get_reaches(tmp_path: Path) -> None:
    steps = 30
    async with cluster(tmp_path) as running:
        http = raw(running.url)
        session = await open_session(http)
        for attempt in range(6):  # each cut and resume lands on some worker
            call = {
                "jsonrpc": "2.0", "id": attempt, "method": "tools/call",
                "params": {"name": "slow_steps", "arguments": {"steps": steps, "pause": 0.02}, "_meta": {"progressToken": attempt}},
            }  # fmt: skip
            headers = {"accept": JSON_AND_SSE, "content-type": "application/json", **session}
            with trio.fail_after(30):
                async with http.open("POST", "/mcp", headers, call) as stream:
                    assert stream.status == 200
                    first = await stream.events(5)  # priming event + 4 progress notifications
                # cut: the socket is closed mid-stream
                last_id = first[-1].id
                seen = [json.loads(event.data) for event in first if event.data]
                resumed = {"accept": "text/event-stream", "last-event-id": last_id, **session}
                async with http.open("GET", "/mcp", resumed) as stream:
                    assert stream.status == 200, await stream.rest()
                    seen += await stream.messages()
            progress = [message["params"]["progress"] for message in seen if message.get("method")]
            assert progress == list(range(1, steps + 1)), progress  # none lost, none twice
            [answer] = [message for message in seen if "result" in message]
            assert answer["id"] == attempt and answer["result"]["content"][0]["text"].startswith(f"done {steps}")


async def test_the_official_client_resumes_a_call_whose_stream_the_proxy_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "mcp.client.streamable_http")
    steps = 40
    async with cluster(tmp_path) as running, legacy(running.url) as client:
        for attempt in range(3):  # each resumption lands on whichever worker HAProxy picks
            progress: list[float] = []
            cut = trio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)  # noqa: B023 - awaited within the iteration
                if value == steps // 4:
                    cut.set()  # noqa: B023

            async def cut_when_under_way() -> None:
                await cut.wait()  # noqa: B023
                await running.proxy.cut_every_connection()

            with trio.fail_after(30):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(cut_when_under_way)
                    result = await client.call_tool(
                        "slow_steps", {"steps": steps, "pause": 0.05}, progress_callback=on_progress
                    )
            assert cut.is_set(), attempt
            assert not result.is_error, result
            assert result.content[0].text.startswith(f"done {steps}"), result
            assert progress == [float(step) for step in range(1, steps + 1)], progress  # none lost, none twice
    assert caplog.text.count("SSE stream disconnected, reconnecting") >= 3  # the cuts were real


async def test_a_killed_owner_makes_its_session_answer_404_and_the_client_starts_again(tmp_path: Path) -> None:
    async with cluster(tmp_path) as running:
        async with legacy(running.url) as client:
            owner = (await client.call_tool("pid", {})).structured_content["result"]
            os.kill(owner, signal.SIGKILL)
            with trio.fail_after(15):  # the owner's presence expires within its lease
                try:
                    result = await client.call_tool("pid", {})
                except MCPError as exc:
                    refused = str(exc)
                else:
                    raise AssertionError(f"answered after its owner died: {result}")
        assert "404" in refused or "session" in refused.lower(), refused
        async with legacy(running.url) as again:  # a new session works
            with trio.fail_after(15):
                result = await again.call_tool("pid", {})
            assert result.structured_content["result"] != owner
        assert "is gone (it stopped, or its lease expired)" in running.log()
