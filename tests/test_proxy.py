"""``trimcp.proxy``: the demo server (in-process, over the real hypercorn, as a stdio
subprocess; either era upstream) served through a proxy on the real hypercorn, to trimcp's
client and the official ``mcp`` client in both eras: listings, calls, reads, prompts and
completions cross it, with progress, logs and questions; change notifications and resource
updates are passed on; cancelling or leaving downstream cancels the upstream tool at once."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types
import pytest
import trio
from mcp import Client as OfficialClient

import trimcp
from trimcp import CancelReason

from .conftest import ROOT, load_example
from .http_support import Probe, probe_server, running_server
from .servers.slow_tool import RECORD_VARIABLE
from .test_client import assert_progress_and_logs, assert_questions_answered

ERAS = ["2026-07-28", "2025-11-25"]
DEMO_COMMAND = [sys.executable, "-m", "trimcp", "serve", str(ROOT / "examples" / "demo.py:server")]


async def elicit(params: dict[str, Any]) -> dict[str, Any]:
    assert "how many guests" in params["message"]
    return {"action": "accept", "content": {"guests": 4, "time": "dinner"}}


async def sample(params: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": {"type": "text", "text": "an old silent pond"}, "model": "test"}


ROOTS = [{"uri": "file:///work/project", "name": "project"}]


@asynccontextmanager
async def upstream(kind: str, server: trimcp.Server) -> AsyncIterator[Any]:
    """A target for ``trimcp.proxy``: ``server`` itself, or its URL on the real hypercorn."""
    if kind == "in-process":
        yield server
    else:
        async with running_server(trimcp.asgi_app(server)) as http:
            yield f"http://127.0.0.1:{http.port}/mcp"


@asynccontextmanager
async def served(proxy: trimcp.Server) -> AsyncIterator[str]:
    """``proxy`` on the real hypercorn; its URL."""
    async with running_server(trimcp.asgi_app(proxy)) as http:
        yield f"http://127.0.0.1:{http.port}/mcp"


@asynccontextmanager
async def through_proxy(target: Any, upstream_era: str | None, **options: Any) -> AsyncIterator[trimcp.Client]:
    """trimcp's client (with ``options``) to a proxy of ``target`` served on the real hypercorn."""
    async with (
        served(trimcp.proxy(target, protocol_version=upstream_era)) as url,
        trimcp.open_client(url, **options) as client,
    ):
        yield client


@asynccontextmanager
async def demo_target(kind: str) -> AsyncIterator[Any]:
    if kind == "stdio":
        yield DEMO_COMMAND
    else:
        async with upstream(kind, load_example("demo").server) as target:
            yield target


@pytest.mark.parametrize("downstream_era", ERAS)
@pytest.mark.parametrize("upstream_era", [None, "2025-11-25"])
@pytest.mark.parametrize("kind", ["in-process", "streamable-http", "stdio"])
async def test_everything_crosses_the_proxy(kind: str, upstream_era: str | None, downstream_era: str) -> None:
    notifications: list[dict[str, Any]] = []
    with trio.fail_after(30):
        async with (
            demo_target(kind) as target,
            through_proxy(
                target,
                upstream_era,
                protocol_version=downstream_era,
                elicitation=elicit,
                sampling=sample,
                roots=ROOTS,
                message_handler=notifications.append,
                log_level="info",
            ) as client,
        ):
            assert client.server_info["name"] == "trimcp-demo", "the proxy presents itself as the upstream"
            assert client.instructions and client.instructions.startswith("Demo tools")
            tools = {tool["name"]: tool for tool in await client.list_tools()}
            assert set(tools) == {"add", "divide", "count_slowly", "sleep", "book_table", "haiku", "show_roots"}
            assert tools["divide"]["annotations"] == {"readOnlyHint": True}
            assert tools["divide"]["outputSchema"]["required"] == ["quotient", "remainder"]
            assert tools["count_slowly"]["inputSchema"]["properties"]["steps"]["description"] == "how many steps"

            assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
            failed = await client.call_tool("divide", {"dividend": 1, "divisor": 0})
            assert failed["isError"] is True and "cannot divide by zero" in failed["content"][0]["text"]
            invalid = await client.call_tool("add", {"a": "two"})  # the upstream validates
            assert invalid["isError"] is True and "Invalid arguments" in invalid["content"][0]["text"]

            await assert_progress_and_logs(client, notifications)

            await assert_questions_answered(client)

            assert [r["uri"] for r in await client.list_resources()] == ["demo://readme"]
            assert (await client.read_resource("demo://readme"))["contents"][0]["text"].startswith("# trimcp demo")
            templates = await client.list_resource_templates()
            assert [t["uriTemplate"] for t in templates] == ["demo://greeting/{name}"]
            greeting = await client.read_resource("demo://greeting/Ada")
            assert greeting["contents"] == [
                {"uri": "demo://greeting/Ada", "mimeType": "text/plain", "text": "Hello, Ada!"}
            ]
            with pytest.raises(trimcp.RequestFailed) as unknown:
                await client.read_resource("nowhere://at-all")
            assert unknown.value.code == (-32602 if downstream_era == "2026-07-28" else -32002)
            completion = await client.complete({"type": "ref/resource", "uri": "demo://greeting/{name}"}, "name", "a")
            assert completion["values"] == ["Ada", "Alan"]

            [prompt] = await client.list_prompts()
            assert prompt["name"] == "review_code" and prompt["title"] == "Review code"
            assert [a["name"] for a in prompt["arguments"]] == ["code", "style"]
            review = await client.get_prompt("review_code", {"code": "x = 1", "style": "thorough"})
            assert review["messages"][0]["content"]["text"].startswith("Please give a thorough review")
            with pytest.raises(trimcp.RequestFailed) as bad:
                await client.get_prompt("review_code", {"style": "long"})  # the upstream's own error
            assert bad.value.code == -32602 and "review_code" in bad.value.message


async def on_elicit(context: Any, params: mcp_types.ElicitRequestParams) -> mcp_types.ElicitResult:
    return mcp_types.ElicitResult(action="accept", content={"guests": 3, "time": "lunch"})


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_official_client_through_the_proxy(mode: str) -> None:
    logs: list[Any] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: mcp_types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    with trio.fail_after(30):
        async with (
            upstream("streamable-http", load_example("demo").server) as target,
            served(trimcp.proxy(target)) as url,
            OfficialClient(
                url, mode=mode, elicitation_callback=on_elicit, logging_callback=on_log, log_level="debug", cache=None
            ) as client,
        ):
            assert {t.name for t in (await client.list_tools()).tools} >= {"add", "book_table"}
            counted = await client.call_tool("count_slowly", {"steps": 3, "delay": 0.01}, progress_callback=on_progress)
            assert counted.content[0].text == "counted to 3"
            assert [p[0] for p in progress] == [1, 2, 3] and logs[-1] == "step 3 of 3"
            booked = await client.call_tool("book_table", {})
            assert booked.content[0].text == "Booked Chez trimcp for 3 at lunch."
            greeting = await client.read_resource("demo://greeting/Ada")
            assert greeting.contents[0].text == "Hello, Ada!"
            prompt = await client.get_prompt("review_code", {"code": "pass"})
            assert prompt.messages[0].content.text.startswith("Please give a brief review")


@pytest.mark.parametrize("how", ["cancel", "disconnect"])
@pytest.mark.parametrize("downstream_era", ERAS)
@pytest.mark.parametrize(("kind", "upstream_era"), [("in-process", None), ("streamable-http", None),
                                                     ("streamable-http", "2025-11-25"), ("in-process", "2025-11-25")])  # fmt: skip
async def test_leaving_downstream_cancels_the_upstream_tool(
    kind: str, upstream_era: str | None, downstream_era: str, how: str
) -> None:
    probe = Probe()
    cancelled_at: list[float] = []
    with trio.fail_after(15):
        async with (
            upstream(kind, probe_server(probe)) as target,
            served(trimcp.proxy(target, protocol_version=upstream_era)) as url,
            trio.open_nursery() as nursery,
        ):

            async def call(client_scope: trio.CancelScope) -> None:
                with client_scope:
                    async with trimcp.open_client(url, protocol_version=downstream_era) as client:
                        async with trio.open_nursery() as calls:
                            calls.start_soon(client.call_tool, "sleep")
                            await probe.started.wait()
                            cancelled_at.append(trio.current_time())
                            (calls.cancel_scope if how == "cancel" else client_scope).cancel()
                        await trio.sleep_forever()  # after cancelling the call, the client stays

            nursery.start_soon(call, trio.CancelScope())
            await probe.finished.wait()
            assert probe.finally_at is not None and probe.finally_at - cancelled_at[0] < 0.5
            assert probe.reason in (CancelReason.CLIENT_CANCELLED, CancelReason.CLIENT_DISCONNECTED)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("downstream_era", ERAS)
async def test_leaving_downstream_cancels_a_stdio_upstream_tool(downstream_era: str, tmp_path: Path) -> None:
    record = tmp_path / "record.tsv"
    command = [sys.executable, "-m", "trimcp", "serve", "tests/servers/slow_tool.py:server"]
    proxy = trimcp.proxy(command, cwd=str(ROOT), env={RECORD_VARIABLE: str(record)})
    with trio.fail_after(20):
        async with served(proxy) as url, trimcp.open_client(url, protocol_version=downstream_era) as client:
            steps: list[float] = []
            with trio.move_on_after(30) as scope:

                async def progressed(done: float, total: float | None, message: str | None) -> None:
                    steps.append(done)
                    if len(steps) == 2:
                        scope.cancel()  # the tool is running upstream: leave it

                await client.call_tool("slow_tool", on_progress=progressed)
            left_at = time.time()
            while not record.exists():
                await trio.sleep(0.01)
            reason, finished_at, _ = record.read_text().split("\t")
            assert reason == "client cancelled" and float(finished_at) - left_at < 0.5


def asking_server(callers: int) -> trimcp.Server:
    """``ask`` elicits once ``callers`` calls of it are running, and says what came back."""
    server = trimcp.Server("asking")
    running: list[None] = []
    together = trio.Event()

    @server.tool
    async def ask(ctx: trimcp.Context) -> str:
        running.append(None)
        if len(running) >= callers:
            together.set()
        await together.wait()
        try:
            answer = await ctx.elicit("How many guests?", {"type": "object", "properties": {}})
        except trimcp.RequestFailed as exc:
            return f"refused: {exc.message}"
        return answer.action

    return server


async def test_two_questions_from_a_handshake_era_upstream_over_one_reader_are_refused() -> None:
    """In-process (as over stdio) a 2025-11-25 upstream's questions cannot be told apart with
    two calls in flight: each is refused, saying why; a call alone is answered."""
    answered: list[str] = []

    async def accept(params: dict[str, Any]) -> dict[str, Any]:
        answered.append(params["message"])
        return {"action": "accept", "content": {}}

    with trio.fail_after(15):
        async with through_proxy(asking_server(callers=2), "2025-11-25", elicitation=accept) as client:
            results: list[dict[str, Any]] = []

            async def ask() -> None:
                results.append(await client.call_tool("ask"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                nursery.start_soon(ask)
            texts = [result["content"][0]["text"] for result in results]
            assert len(texts) == 2 and answered == []
            assert all("cannot tell which request this elicitation/create belongs to" in t for t in texts), texts
            assert (await client.call_tool("ask"))["content"][0]["text"] == "accept"  # alone: routed
            assert answered == ["How many guests?"]


@pytest.mark.parametrize("downstream_era", ERAS)
@pytest.mark.parametrize("upstream_era", [None, "2025-11-25"])
async def test_upstream_changes_reach_the_proxys_clients(upstream_era: str | None, downstream_era: str) -> None:
    demo = load_example("demo")
    with trio.fail_after(15):
        async with through_proxy(demo.server, upstream_era, protocol_version=downstream_era) as client:
            assert "shout" not in {tool["name"] for tool in await client.list_tools()}
            async with _changes(client, downstream_era, "demo://readme") as changes:

                @demo.server.tool
                def shout(text: str) -> str:
                    return text.upper()

                assert (await changes.receive())["method"] == "notifications/tools/list_changed"
                assert (await client.call_tool("shout", {"text": "hi"}))["content"][0]["text"] == "HI"
                demo.server.remove_tool("add")
                assert (await changes.receive())["method"] == "notifications/tools/list_changed"
                assert "add" not in {tool["name"] for tool in await client.list_tools()}
                await demo.server.notify_resource_updated("demo://readme")
                updated = await changes.receive()
                assert updated["method"] == "notifications/resources/updated"
                assert updated["params"]["uri"] == "demo://readme"


@asynccontextmanager
async def _changes(client: trimcp.Client, era: str, uri: str) -> AsyncIterator[Any]:
    """The proxy's change notifications to ``client`` (tools and ``uri``'s updates)."""
    if era == "2026-07-28":
        async with client.listen(tools=True, resource_uris=[uri]) as subscription:
            yield subscription
        return
    send, receive = trio.open_memory_channel[dict[str, Any]](16)
    client.message_handler = send.send_nowait
    await client.subscribe_resource(uri)
    yield receive


def test_the_proxy_answers_questions_itself() -> None:
    with pytest.raises(TypeError, match="elicitation"):
        trimcp.proxy("http://127.0.0.1:1/mcp", elicitation=elicit)


async def test_a_tool_of_the_proxys_own_receives_the_upstream_client() -> None:
    proxy = trimcp.proxy(load_example("demo").server, name="front")

    @proxy.tool
    async def upstream_name(upstream: trimcp.Client) -> str:
        return str(upstream.server_info["name"])

    with trio.fail_after(15):
        async with trimcp.open_client(proxy) as client:
            assert client.server_info["name"] == "front"
            assert "upstream_name" in {tool["name"] for tool in await client.list_tools()}
            assert (await client.call_tool("upstream_name"))["content"][0]["text"] == "trimcp-demo"
