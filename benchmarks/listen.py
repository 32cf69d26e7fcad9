"""Memory per open 2026-07-28 ``subscriptions/listen`` stream (the per-request era's idle
client), beside an idle handshake-era GET stream, for trimcp.

    python benchmarks/listen.py [--streams 1000 10000]

A fresh server (benchmarks/servers.py ``trimcp``, pinned to CPU 0) gets ``--streams`` listen
POSTs, each on a connection of its own, each held open once its acknowledgement has arrived;
the figure is the server's RSS growth divided by the number of streams. One change
notification is then sent to all of them: the time until every stream has it is reported, and
the server's CPU time meanwhile (the client, reading every stream, bounds the wall time).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import cpu_seconds, free_port, start, stop
from benchmarks.sessions import rss_kib
from tests.http_support import RawHTTP, envelope, modern_headers


def listen_request(request_id: int) -> dict:
    params = {"notifications": {"toolsListChanged": True}, "_meta": envelope()}
    return {"jsonrpc": "2.0", "id": request_id, "method": "subscriptions/listen", "params": params}


async def measure(count: int) -> tuple[float, float, float]:
    """KiB per open listen stream, the seconds until a change reached every stream, and the
    server's CPU seconds meanwhile (the wall time is mostly the one client reading them all)."""
    port = free_port()
    process = start("trimcp-listen", port)
    try:
        http = RawHTTP("127.0.0.1", port)
        headers = {**modern_headers("subscriptions/listen"), "accept": "application/json, text/event-stream"}
        headers["content-type"] = "application/json"
        limiter = trio.CapacityLimiter(64)  # connections being opened at once (the listen backlog)
        opened, release, heard = trio.Event(), trio.Event(), trio.Event()
        counts = {"ready": 0, "heard": 0}
        target = {"n": 0}

        async def hold(request_id: int) -> None:
            opening = http.open("POST", headers=headers, body=listen_request(request_id))
            async with limiter:
                stream = await opening.__aenter__()
            try:
                assert stream.status == 200
                assert b"subscriptions/acknowledged" in await stream.chunk()
                counts["ready"] += 1
                if counts["ready"] == target["n"]:
                    opened.set()
                if target["n"] == count:
                    while b"tools/list_changed" not in (chunk := await stream.chunk()):
                        assert chunk.startswith(b":"), chunk  # keep-alive comments (opening 10k takes a while)
                    counts["heard"] += 1
                    if counts["heard"] == count:
                        heard.set()
                await release.wait()
            finally:
                await opening.__aexit__(None, None, None)

        async with trio.open_nursery() as nursery:
            target["n"] = 50  # warm up allocators and caches
            for request_id in range(50):
                nursery.start_soon(hold, request_id)
            with trio.fail_after(60):
                await opened.wait()
            release.set()
        await trio.sleep(0.5)
        base = rss_kib(process.pid)
        opened, release = trio.Event(), trio.Event()
        counts["ready"], target["n"] = 0, count
        async with trio.open_nursery() as nursery:
            for request_id in range(count):
                nursery.start_soon(hold, request_id)
            with trio.fail_after(300):
                await opened.wait()
            await trio.sleep(0.5)
            per_stream = (rss_kib(process.pid) - base) / count
            began, cpu_began = trio.current_time(), cpu_seconds(process.pid)
            await http.post(
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "change", "_meta": envelope()}},
                modern_headers("tools/call", "change"),
            )
            with trio.fail_after(300):
                await heard.wait()
            fan_out, fan_out_cpu = trio.current_time() - began, cpu_seconds(process.pid) - cpu_began
            release.set()
        return per_stream, fan_out, fan_out_cpu
    finally:
        stop(process)


async def main(counts: list[int]) -> None:
    rows = [
        "| streams | KiB/open listen stream | change reaching every stream, s | server CPU for it, s |",
        "|---|---|---|---|",
    ]
    for count in counts:
        per_stream, fan_out, fan_out_cpu = await measure(count)
        rows.append(f"| {count} | {per_stream:.1f} | {fan_out:.2f} | {fan_out_cpu:.2f} |")
        print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1000, 10000])
    trio.run(main, parser.parse_args().streams)
