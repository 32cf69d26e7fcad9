"""Asking the client (elicitation, sampling, roots) in both eras, the sealed requestState of
2026-07-28, and change notifications (list changes, resource subscriptions, listen streams)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import pytest
import trio
import trio.testing

import trimcp
from trimcp import CancelReason, Context, ToolError
from trimcp.testing import RequestFailed, open_test_client

from .conftest import assert_valid

CAPABLE = {"elicitation": {"form": {}, "url": {}}, "sampling": {}, "roots": {}}


@dataclasses.dataclass
class Booking:
    party: int
    when: Literal["lunch", "dinner"]
    outdoor: bool = False


class Probe:
    def __init__(self) -> None:
        self.runs = 0
        self.waiting = trio.Event()
        self.finished = trio.Event()
        self.reason: object = None


def asking_server(probe: Probe | None = None, **options: Any) -> trimcp.Server:
    probe = probe or Probe()
    server = trimcp.Server("asking", **options)

    @server.tool
    async def book(ctx: Context) -> str:
        probe.runs += 1
        answer = await ctx.elicit("How many, and when?", Booking, key="booking")
        if answer.action != "accept":
            return f"no booking ({answer.action})"
        assert isinstance(answer.content, Booking)
        return f"table for {answer.content.party} at {answer.content.when}"

    @server.tool
    async def plan(ctx: Context, topic: str) -> str:
        """Two questions in a row: a form, then the model."""
        probe.runs += 1
        ok = await ctx.elicit(
            f"Plan {topic}?", {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
        )
        if not ok.content or not ok.content["ok"]:
            raise ToolError("not planned")
        sampled = await ctx.sample(f"Plan {topic}", max_tokens=50, system_prompt="be brief")
        roots = await ctx.list_roots()
        return f"{sampled.text} in {[root.uri for root in roots]}"

    @server.tool
    async def login(ctx: Context) -> str:
        answer = await ctx.elicit_url("Log in please", "https://example.com/login", elicitation_id="e1")
        return answer.action

    @server.tool
    async def wait_for_user(ctx: Context) -> str:
        probe.waiting.set()
        try:
            await ctx.elicit("Take your time", {"type": "object", "properties": {}})
            return "answered"
        finally:
            probe.reason = ctx.cancel_reason
            probe.finished.set()

    @server.resource("test://doc/{name}")
    def doc(name: str) -> str:
        return f"doc {name}"

    @server.prompt
    async def ask_style(ctx: Context) -> str:
        answer = await ctx.elicit("Which style?", {"type": "object", "properties": {"style": {"type": "string"}}})
        return f"write in {answer.content['style']} style" if answer.content else "write"

    return server


async def accept_booking(params: dict[str, Any]) -> dict[str, Any]:
    assert params["message"] == "How many, and when?"
    assert params["requestedSchema"]["properties"]["when"] == {"type": "string", "enum": ["lunch", "dinner"]}
    return {"action": "accept", "content": {"party": 4, "when": "dinner"}}


async def accept_ok(params: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"ok": True, "style": "plain"}}


async def model(params: dict[str, Any]) -> dict[str, Any]:
    assert params["maxTokens"] == 50 and params["systemPrompt"] == "be brief"
    assert params["messages"] == [{"role": "user", "content": {"type": "text", "text": "Plan picnic"}}]
    return {"role": "assistant", "content": {"type": "text", "text": "a plan"}, "model": "m", "stopReason": "endTurn"}


async def roots(params: dict[str, Any]) -> dict[str, Any]:
    return {"roots": [{"uri": "file:///work", "name": "work"}]}


ANSWERS = {"sampling/createMessage": model, "roots/list": roots}


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
async def test_elicitation_in_both_eras(version: str) -> None:
    probe = Probe()
    answers = {"elicitation/create": accept_booking}
    async with open_test_client(
        asking_server(probe), protocol_version=version, client_capabilities=CAPABLE, answers=answers
    ) as client:
        result = await client.call_tool("book")
        assert result["content"][0]["text"] == "table for 4 at dinner"
        if version == "2026-07-28":
            assert len(client.input_required) == 1 and client.asked == []
            assert probe.runs == 2  # asked, stopped, ran again with the answer
            first = client.input_required[0]
            (key,) = first["inputRequests"]
            assert key == "booking"  # named by the tool
            assert first["inputRequests"][key]["params"]["mode"] == "form"
            assert_valid("2026-07-28", "InputRequiredResult", first)
        else:
            assert [m["method"] for m in client.asked] == ["elicitation/create"]
            assert_valid("2025-11-25", "ElicitRequest", client.asked[0])
            assert probe.runs == 1


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
async def test_a_scalar_elicitation_asks_for_one_value_and_returns_it(version: str) -> None:
    server = trimcp.Server("scalar")

    @server.tool
    async def name_it(ctx: Context) -> str:
        name = await ctx.elicit("Your name?", str, key="name")
        count = await ctx.elicit("How many?", int, key="count")
        return f"{name.content} x{count.content + 1}"

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        schema = params["requestedSchema"]
        assert schema["required"] == ["value"] and set(schema["properties"]) == {"value"}
        value = "Ada" if schema["properties"]["value"]["type"] == "string" else 2
        return {"action": "accept", "content": {"value": value}}

    async with open_test_client(
        server, protocol_version=version, client_capabilities=CAPABLE, answers={"elicitation/create": answer}
    ) as client:
        result = await client.call_tool("name_it")
    assert result["content"][0]["text"] == "Ada x3"


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_declined_or_cancelled_elicitation(action: str) -> None:
    async def refuse(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": action}

    async with open_test_client(
        asking_server(), client_capabilities=CAPABLE, answers={"elicitation/create": refuse}
    ) as client:
        assert (await client.call_tool("book"))["content"][0]["text"] == f"no booking ({action})"


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
async def test_form_then_sampling_then_roots(version: str) -> None:
    answers = {"elicitation/create": accept_ok, **ANSWERS}
    async with open_test_client(
        asking_server(), protocol_version=version, client_capabilities=CAPABLE, answers=answers
    ) as client:
        result = await client.call_tool("plan", {"topic": "picnic"})
        assert result["content"][0]["text"] == "a plan in ['file:///work']"
        if version == "2026-07-28":
            kinds = [[key.split("-")[0] for key in r["inputRequests"]] for r in client.input_required]
            assert kinds == [["elicitation"], ["sampling"], ["roots"]]
        else:
            assert [m["method"] for m in client.asked] == ["elicitation/create", "sampling/createMessage", "roots/list"]
            for request in client.asked:
                assert_valid("2025-11-25", "ServerRequest", request)


async def test_url_elicitation() -> None:
    async def visited(params: dict[str, Any]) -> dict[str, Any]:
        assert params == {
            "mode": "url",
            "message": "Log in please",
            "url": "https://example.com/login",
            "elicitationId": "e1",
        }
        return {"action": "accept"}

    async with open_test_client(
        asking_server(), client_capabilities=CAPABLE, answers={"elicitation/create": visited}
    ) as client:
        assert (await client.call_tool("login"))["content"][0]["text"] == "accept"


async def test_prompts_can_ask_too() -> None:
    answers = {"elicitation/create": accept_ok}
    async with open_test_client(
        asking_server(), protocol_version="2026-07-28", client_capabilities=CAPABLE, answers=answers
    ) as client:
        result = await client.get_prompt("ask_style")
        assert result["messages"][0]["content"]["text"] == "write in plain style"


async def test_missing_capability() -> None:
    async with open_test_client(asking_server()) as client:
        result = await client.call_tool("book")
        assert result["isError"] is True and "'elicitation'" in result["content"][0]["text"]
        assert client.asked == []
    async with open_test_client(
        asking_server(), protocol_version="2026-07-28", client_capabilities={"sampling": {}}
    ) as client:
        with pytest.raises(RequestFailed) as info:
            await client.call_tool("book")
        assert info.value.code == -32021
        assert info.value.data == {"requiredCapabilities": {"elicitation": {"form": {}}}}


async def test_a_bad_answer_is_an_error_result() -> None:
    async def nonsense(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"party": "many", "when": "dinner"}}

    async def failing(params: dict[str, Any]) -> dict[str, Any]:
        raise RequestFailed({"code": -1, "message": "user closed the window"})

    for answerer in (nonsense, failing):
        async with open_test_client(
            asking_server(), client_capabilities=CAPABLE, answers={"elicitation/create": answerer}
        ) as client:
            result = await client.call_tool("book")
            assert result["isError"] is True and "the client's answer was unusable" in result["content"][0]["text"]


async def test_cancelling_a_tool_waiting_for_an_answer() -> None:
    probe = Probe()
    never = trio.Event()

    async def stall(params: dict[str, Any]) -> dict[str, Any]:
        await never.wait()
        return {"action": "cancel"}

    async with open_test_client(
        asking_server(probe), client_capabilities=CAPABLE, answers={"elicitation/create": stall}
    ) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.call_tool, "wait_for_user")
            with trio.fail_after(5):
                await probe.waiting.wait()
                while not client.asked:
                    await trio.sleep(0.001)
            cancelled_at = trio.current_time()
            nursery.cancel_scope.cancel()
        with trio.fail_after(5):
            await probe.finished.wait()
            while not any(n["method"] == "notifications/cancelled" for n in client.notifications):
                await trio.sleep(0.001)
        assert trio.current_time() - cancelled_at < 0.1
        assert probe.reason is CancelReason.CLIENT_CANCELLED
        (cancel,) = [n for n in client.notifications if n["method"] == "notifications/cancelled"]
        assert cancel["params"]["requestId"] == client.asked[0]["id"]
        assert client.dispatcher.statistics().live_requests == 0


# -- requestState ----------------------------------------------------------------------------------


async def first_round(client: Any, name: str = "book", arguments: dict | None = None) -> dict[str, Any]:
    result = await client.request("tools/call", {"name": name, "arguments": arguments or {}}, follow_input=False)
    assert result["resultType"] == "input_required"
    return result


BOOKING_KEY = "booking"


def retry(name: str, state: str, key: str | None = None, arguments: dict | None = None) -> dict[str, Any]:
    answer = {"action": "accept", "content": {"party": 2, "when": "lunch"}}
    return {
        "name": name,
        "arguments": arguments or {},
        "requestState": state,
        "inputResponses": {key or BOOKING_KEY: answer},
    }


async def test_request_state_round_trip_and_tampering() -> None:
    async with open_test_client(asking_server(), protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        state = (await first_round(client))["requestState"]
        done = await client.request("tools/call", retry("book", state), follow_input=False)
        assert done["content"][0]["text"] == "table for 2 at lunch"
        body, signature = state.split(".")
        for tampered in (
            body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature,  # one byte of the body
            body + "." + signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1],
            "not-a-state",
        ):
            with pytest.raises(RequestFailed) as info:
                await client.request("tools/call", retry("book", tampered), follow_input=False)
            assert info.value.code == -32602 and "requestState" in info.value.message
        other = (await first_round(client, "plan", {"topic": "x"}))["requestState"]
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", retry("book", other), follow_input=False)
        assert "another request" in info.value.message
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", retry("plan", other, arguments={"topic": "y"}), follow_input=False)
        assert "another request" in info.value.message  # same tool, other arguments
        # answers without a state are first-round answers: used when they answer what is asked
        answers = {"booking": {"action": "accept", "content": {"party": 3, "when": "dinner"}}, "unasked": {}}
        unsealed = await client.request("tools/call", {"name": "book", "inputResponses": answers}, follow_input=False)
        assert unsealed["content"][0]["text"] == "table for 3 at dinner"
        again = await client.request(
            "tools/call", {"name": "book", "inputResponses": {"other": {}}}, follow_input=False
        )
        assert again["resultType"] == "input_required"  # nothing it asked was answered: it asks again
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", {"name": "book", "inputResponses": [1]}, follow_input=False)
        assert info.value.code == -32602


async def test_the_state_binds_the_arguments_as_sent_not_as_the_tool_left_them() -> None:
    server = asking_server()

    @server.tool
    async def tally(ctx: Context, items: list[str]) -> str:
        items.append("changed by the tool")  # the digest was taken before the tool ran
        answer = await ctx.elicit("Count them?", {"type": "object", "properties": {}}, key="count")
        return f"{answer.action}: {len(items)}"

    @server.tool
    def plain(word: str) -> str:
        return word  # cannot ask: its calls take no digest, but a state it is given is checked

    async with open_test_client(server, protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        arguments = {"items": ["a", "b"]}
        state = (await first_round(client, "tally", arguments))["requestState"]
        done = await client.request("tools/call", retry("tally", state, "count", arguments), follow_input=False)
        assert done["content"][0]["text"] == "accept: 3"
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", retry("plain", state, "count", {"word": "x"}), follow_input=False)
        assert info.value.code == -32602 and "another request" in info.value.message
        plain_result = await client.request("tools/call", {"name": "plain", "arguments": {"word": "x"}})
        assert plain_result["content"][0]["text"] == "x"


async def test_expired_and_foreign_key_states_are_refused() -> None:
    expiring = asking_server(state_key=b"k" * 32, input_state_ttl=-1)
    async with open_test_client(expiring, protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        state = (await first_round(client))["requestState"]
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", retry("book", state), follow_input=False)
        assert "expired" in info.value.message
    first = asking_server(state_key=b"a" * 32)
    second_same_key, second_other_key = asking_server(state_key=b"a" * 32), asking_server(state_key=b"b" * 32)
    async with open_test_client(first, protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        state = (await first_round(client))["requestState"]
    async with open_test_client(second_same_key, protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        done = await client.request("tools/call", retry("book", state), follow_input=False)
        assert done["content"][0]["text"] == "table for 2 at lunch"  # another process, the same key
    async with open_test_client(second_other_key, protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        with pytest.raises(RequestFailed) as info:
            await client.request("tools/call", retry("book", state), follow_input=False)
        assert "altered or sealed by another server" in info.value.message


# -- change notifications ----------------------------------------------------------------------------


async def test_list_changes_and_resource_subscriptions_in_the_handshake_era() -> None:
    server = asking_server()
    async with open_test_client(server) as client, open_test_client(server) as other:
        caps = client.initialize_result["capabilities"]
        assert caps["tools"] == {"listChanged": True} and caps["resources"]["subscribe"] is True
        assert await client.request("resources/subscribe", {"uri": "test://doc/a"}) == {}

        @server.tool
        def added() -> str:
            return "new"

        server.remove_tool("added")
        server.notify_prompts_changed()
        await server.notify_resource_updated("test://doc/a")
        await server.notify_resource_updated("test://doc/b")
        assert await client.request("resources/unsubscribe", {"uri": "test://doc/a"}) == {}
        await server.notify_resource_updated("test://doc/a")
        await client.request("ping")
        await other.request("ping")
        methods = [(n["method"], n.get("params")) for n in client.notifications]
        assert methods == [
            ("notifications/tools/list_changed", None),
            ("notifications/tools/list_changed", None),
            ("notifications/prompts/list_changed", None),
            ("notifications/resources/updated", {"uri": "test://doc/a"}),
        ]
        assert [n["method"] for n in other.notifications] == [m for m, _ in methods[:3]]  # no subscription
        for notification in client.notifications:
            assert_valid("2025-11-25", "ServerNotification", notification)
        with pytest.raises(RequestFailed) as info:
            await client.request("resources/subscribe", {"uri": "test://nothing"})
        assert info.value.code == -32002


async def test_listen_streams_in_2026() -> None:
    server = asking_server()
    async with open_test_client(server, protocol_version="2026-07-28") as client:
        results: list[dict] = []

        async def listen() -> None:
            filters = {"toolsListChanged": True, "promptsListChanged": True, "resourceSubscriptions": ["test://doc/a"]}
            results.append(await client.request("subscriptions/listen", {"notifications": filters}))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            with trio.fail_after(5):
                while server.subscribers.listeners == 0:
                    await trio.sleep(0.001)
            server.notify_tools_changed()
            server.notify_resources_changed()  # not asked for
            await server.notify_resource_updated("test://doc/b")  # not asked for
            await server.notify_resource_updated("test://doc/a")
            server.close_listeners()
        acknowledged, *rest = client.notifications
        assert acknowledged["method"] == "notifications/subscriptions/acknowledged"
        listen_id = acknowledged["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
        assert acknowledged["params"]["notifications"] == {
            "toolsListChanged": True,
            "promptsListChanged": True,
            "resourceSubscriptions": ["test://doc/a"],
        }
        assert [n["method"] for n in rest] == ["notifications/tools/list_changed", "notifications/resources/updated"]
        assert all(n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen_id for n in rest)
        for notification in client.notifications:
            assert_valid("2026-07-28", "ServerNotification", notification)
        (result,) = results
        assert result["resultType"] == "complete"
        assert result["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen_id
        assert_valid("2026-07-28", "SubscriptionsListenResult", result)


async def test_listen_ends_gracefully_when_a_stdio_server_stops() -> None:
    server = asking_server()
    client_stream, server_stream = trio.testing.memory_stream_pair()
    listen = (
        b'{"jsonrpc":"2.0","id":"l","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},'
        b'"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}\n'
    )
    received = b""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            connection = await nursery.start(
                lambda task_status: trimcp.serve_stream(
                    server, server_stream.receive_stream, server_stream.send_stream, task_status=task_status
                )
            )
            await client_stream.send_all(listen)
            while b"acknowledged" not in received:
                received += await client_stream.receive_some()
            connection.stop()
            while chunk := await client_stream.receive_some():
                received += chunk
    last = received.splitlines()[-1]
    assert last.startswith(b'{"jsonrpc":"2.0","id":"l","result":{"_meta":{"io.modelcontextprotocol/subscriptionId":"l"')


async def test_completion_receives_the_other_arguments() -> None:
    server = trimcp.Server("completion")

    @server.prompt
    def trip(country: str, city: str) -> str:
        return f"{city}, {country}"

    @server.completion(prompt="trip", argument="city")
    def cities(value: str, arguments: dict[str, str]) -> trimcp.Completion:
        known = {"fr": ["Paris", "Lyon"], "de": ["Berlin"]}[arguments.get("country", "fr")]
        matches = [c for c in known if c.lower().startswith(value.lower())]
        return trimcp.Completion(matches, total=len(matches), has_more=False)

    async with open_test_client(server) as client:
        ref = {"type": "ref/prompt", "name": "trip"}
        assert await client.complete(ref, "city", "", {"country": "de"}) == {
            "values": ["Berlin"],
            "total": 1,
            "hasMore": False,
        }
        assert (await client.complete(ref, "city", "l", {"country": "fr"}))["values"] == ["Lyon"]


def gathering_server() -> trimcp.Server:
    server = trimcp.Server("gathering")

    @server.tool
    async def survey(ctx: Context) -> str:
        name, poem, places = await ctx.gather(
            ctx.elicit("Name?", {"type": "object", "properties": {"name": {"type": "string"}}}, key="user_name"),
            ctx.sample("A poem", max_tokens=50, system_prompt="be brief"),
            ctx.list_roots(),
        )
        return f"{name.content['name']} / {poem.text} / {len(places)} root(s)"

    @server.tool
    def announce() -> str:  # a sync tool, in a worker thread
        server.notify_tools_changed()
        return "announced"

    return server


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
async def test_several_questions_at_once(version: str) -> None:
    async def named(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    async def poem(params: dict[str, Any]) -> dict[str, Any]:
        return {"role": "assistant", "content": {"type": "text", "text": "a poem"}, "model": "m"}

    answers = {"elicitation/create": named, "sampling/createMessage": poem, "roots/list": roots}
    async with open_test_client(
        gathering_server(), protocol_version=version, client_capabilities=CAPABLE, answers=answers
    ) as client:
        result = await client.call_tool("survey")
        assert result["content"][0]["text"] == "Ada / a poem / 1 root(s)"
        if version == "2026-07-28":
            (round_,) = client.input_required  # all three in one round
            assert "user_name" in round_["inputRequests"] and len(round_["inputRequests"]) == 3
            assert_valid("2026-07-28", "InputRequiredResult", round_)
        else:
            assert sorted(m["method"] for m in client.asked) == [
                "elicitation/create",
                "roots/list",
                "sampling/createMessage",
            ]


async def test_a_sync_tool_can_announce_changes() -> None:
    async with open_test_client(gathering_server()) as client:
        assert (await client.call_tool("announce"))["content"][0]["text"] == "announced"
        await client.request("ping")
        assert [n["method"] for n in client.notifications] == ["notifications/tools/list_changed"]


async def test_an_unusable_answer_is_asked_again_in_2026() -> None:
    async with open_test_client(asking_server(), protocol_version="2026-07-28", client_capabilities=CAPABLE) as client:
        for garbage in (12345, {"action": "accept", "content": {"party": "many", "when": "dinner"}}):
            again = await client.request(
                "tools/call", {"name": "book", "inputResponses": {"booking": garbage}}, follow_input=False
            )
            assert again["resultType"] == "input_required" and list(again["inputRequests"]) == ["booking"]
