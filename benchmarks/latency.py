"""Cancellation latency and progress streaming, on the real hypercorn-trio server (in-process,
so the client's clock and the tool's clock are the same).

    python benchmarks/latency.py [--rounds 50]

- cancel → ``finally``: 2026-07-28 closing the POST stream; handshake era
  ``notifications/cancelled`` (HTTP); 2026-07-28 ``notifications/cancelled`` over stdio framing.
- 1,000 progress notifications and the result: time from sending the call to the last byte.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import trio
import trio.testing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trimcp
from tests.http_support import JSON_AND_SSE, envelope, modern_headers, running_server
from trimcp import Context

started = trio.Event()
finished_at: list[float] = []


def bench_server() -> trimcp.Server:
    server = trimcp.Server("latency")

    @server.tool
    async def sleep(ctx: Context) -> str:
        started.set()
        try:
            await trio.sleep(30)
            return "slept"
        finally:
            finished_at.append(trio.current_time())

    @server.tool
    async def progress(ctx: Context, count: int = 1000) -> str:
        for step in range(1, count + 1):
            await ctx.progress(step, count)
        return "done"

    return server


async def cancel_by_disconnect(http, rounds: int) -> list[float]:
    global started
    latencies = []
    headers = {**modern_headers("tools/call", "sleep"), "accept": JSON_AND_SSE, "content-type": "application/json"}
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "sleep", "arguments": {}, "_meta": envelope()},
    }
    for _ in range(rounds):
        started = trio.Event()
        async with http.open("POST", headers=headers, body=body) as stream:
            await started.wait()
            closed_at = trio.current_time()
            await stream.close()
        while len(finished_at) < len(latencies) + 1:
            await trio.sleep(0.0005)
        latencies.append(finished_at[-1] - closed_at)
    return latencies


async def cancel_by_notification_http(http, rounds: int) -> list[float]:
    global started
    latencies = []
    session = await http.initialize()
    headers = {"mcp-session-id": session, "accept": JSON_AND_SSE, "content-type": "application/json"}
    before = len(finished_at)
    for request_id in range(1, rounds + 1):
        started = trio.Event()
        call = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "sleep", "arguments": {}},
        }
        async with http.open("POST", headers=headers, body=call) as stream:
            await started.wait()
            sent_at = trio.current_time()
            await http.post(
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}},
                {"mcp-session-id": session},
            )
            while len(finished_at) < before + request_id:
                await trio.sleep(0.0005)
            latencies.append(finished_at[-1] - sent_at)
            await stream.rest()
    return latencies


async def cancel_by_notification_stdio(server: trimcp.Server, rounds: int) -> list[float]:
    global started
    latencies = []
    client, peer = trio.testing.memory_stream_pair()
    before = len(finished_at)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trimcp.serve_stream, server, peer.receive_stream, peer.send_stream)
        for request_id in range(1, rounds + 1):
            started = trio.Event()
            params = {"name": "sleep", "arguments": {}, "_meta": envelope()}
            await client.send_all(
                json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}).encode()
                + b"\n"
            )
            await started.wait()
            sent_at = trio.current_time()
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
            await client.send_all(json.dumps(cancel).encode() + b"\n")
            while len(finished_at) < before + request_id:
                await trio.sleep(0.0005)
            latencies.append(finished_at[-1] - sent_at)
        nursery.cancel_scope.cancel()
    return latencies


async def progress_stream(http, modern: bool, rounds: int) -> list[float]:
    durations = []
    for request_id in range(1, rounds + 1):
        params: dict = {"name": "progress", "arguments": {"count": 1000}, "_meta": {"progressToken": "p"}}
        if modern:
            params["_meta"].update(envelope())
            headers = modern_headers("tools/call", "progress")
        else:
            headers = {"mcp-session-id": await http.initialize()}
        call = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
        sent_at = trio.current_time()
        async with http.open(
            "POST", headers={**headers, "accept": JSON_AND_SSE, "content-type": "application/json"}, body=call
        ) as stream:
            messages = await stream.messages()
        durations.append(trio.current_time() - sent_at)
        assert len(messages) == 1001 and messages[-1]["result"]["content"][0]["text"] == "done"
    return durations


def describe(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"| {label} | {statistics.median(ms):.2f} | {ms[int(len(ms) * 0.99) - 1]:.2f} | {len(ms)} |"


async def main(rounds: int) -> None:
    server = bench_server()
    app = trimcp.asgi_app(server, event_store=None)
    rows = ["| measurement | median ms | p99 ms | rounds |", "|---|---|---|---|"]
    async with running_server(app) as http:
        rows.append(
            describe("cancel → finally: 2026-07-28 stream closed (HTTP)", await cancel_by_disconnect(http, rounds))
        )
        rows.append(
            describe(
                "cancel → finally: notifications/cancelled, handshake era (HTTP)",
                await cancel_by_notification_http(http, rounds),
            )
        )
        rows.append(
            describe(
                "1,000 progress notifications + result, handshake era (HTTP)",
                await progress_stream(http, False, max(5, rounds // 5)),
            )
        )
        rows.append(
            describe(
                "1,000 progress notifications + result, 2026-07-28 (HTTP)",
                await progress_stream(http, True, max(5, rounds // 5)),
            )
        )
    rows.append(
        describe(
            "cancel → finally: notifications/cancelled, 2026-07-28 (stdio framing)",
            await cancel_by_notification_stdio(server, rounds),
        )
    )
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    trio.run(main, parser.parse_args().rounds)
