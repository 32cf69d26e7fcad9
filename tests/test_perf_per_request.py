"""The 2026-07-28 POST path after its speed-up (issue 21): every POST's request runs in one
dispatcher shared by all POSTs, yet each still lives within its POST."""

from __future__ import annotations

from typing import Any

import trio

import trimcp
from trimcp import CancelReason

from .http_support import Probe, envelope, modern_headers, probe_server, running_server


def modern_call(request_id: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments, "_meta": envelope()}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def test_posts_with_the_same_request_id_run_side_by_side() -> None:
    # ids belong to each client: the shared dispatcher must not refuse one as "already in use"
    app = trimcp.asgi_app(probe_server(Probe()))
    answers: list[Any] = []
    async with running_server(app) as http:

        async def post(seconds: float) -> None:
            reply = await http.post(
                modern_call(1, "sleep", {"seconds": seconds}), modern_headers("tools/call", "sleep")
            )
            answers.append((reply.status, reply.json()))

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(post, 0.2)
    assert len(answers) == 3
    for status, body in answers:
        assert status == 200 and body["id"] == 1 and body["result"]["content"][0]["text"] == "slept"


async def test_a_stopping_server_waits_for_its_per_request_tools_to_unwind() -> None:
    probe = Probe()
    app = trimcp.asgi_app(probe_server(probe))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery, running_server(app) as http:
            headers = modern_headers("tools/call", "sleep")
            nursery.start_soon(http.post, modern_call(1, "sleep", {"seconds": 30}), headers)
            await probe.started.wait()
            nursery.cancel_scope.cancel()  # the client's task; the server stops as the block ends
        # serve_http has returned: the tool's finally ran before, not later in a leftover task
        assert probe.finished.is_set() and probe.reason is CancelReason.SHUTDOWN
        assert not app.per_request.runtimes()


def test_an_app_serves_per_request_posts_in_a_second_trio_run() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))

    async def one_run() -> None:
        async with running_server(app) as http:
            with trio.fail_after(10):
                reply = await http.post(modern_call(7, "add", {"a": 1, "b": 2}), modern_headers("tools/call", "add"))
            assert reply.status == 200 and reply.json()["result"]["structuredContent"] == {"result": 3}

    trio.run(one_run)
    trio.run(one_run)
