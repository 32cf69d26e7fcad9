"""Handshakes per second, and memory per idle handshake-era session (with and without an open
GET stream), for trimcp and the official SDK.

    python benchmarks/sessions.py [--sessions 1000 10000]

Each measurement starts a fresh server pinned to CPU 0; memory is the server's RSS growth
divided by the number of sessions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import ensure_wrk, free_port, start
from tests.http_support import RawHTTP

SERVERS = [("official SDK", "mcp-sdk"), ("trimcp", "trimcp")]
HERE = Path(__file__).resolve().parent


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_sessions(http: RawHTTP, count: int) -> list[str]:
    ids: list[str] = []
    limiter = trio.CapacityLimiter(32)

    async def one() -> None:
        async with limiter:
            ids.append(await http.initialize())

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(one)
    return ids


async def measure(server: str, count: int) -> tuple[float, float]:
    """KiB per idle session without, then with, an open GET stream."""
    port = free_port()
    process = start(server, port)
    try:
        http = RawHTTP("127.0.0.1", port)
        await open_sessions(http, 50)  # warm up allocators and caches
        await trio.sleep(0.5)
        base = rss_kib(process.pid)
        ids = await open_sessions(http, count)
        await trio.sleep(0.5)
        idle = (rss_kib(process.pid) - base) / count
        opened = trio.Event()
        release = trio.Event()
        ready = 0

        limiter = trio.CapacityLimiter(64)  # connections being opened at once (the listen backlog)

        async def hold(session_id: str) -> None:
            nonlocal ready
            headers = {
                "mcp-session-id": session_id,
                "accept": "text/event-stream",
                "mcp-protocol-version": "2025-11-25",
            }
            opening = http.open("GET", headers=headers)
            async with limiter:
                stream = await opening.__aenter__()
            try:
                assert stream.status == 200
                ready += 1
                if ready == len(ids):
                    opened.set()
                await release.wait()
            finally:
                await opening.__aexit__(None, None, None)

        async with trio.open_nursery() as nursery:
            for session_id in ids:
                nursery.start_soon(hold, session_id)
            with trio.fail_after(120):
                await opened.wait()
            await trio.sleep(0.5)
            with_get = (rss_kib(process.pid) - base) / count
            release.set()
        return idle, with_get
    finally:
        process.kill()
        process.wait()


def handshakes(server: str) -> float:
    port = free_port()
    process = start(server, port)
    try:
        wrk = ensure_wrk()
        url = f"http://127.0.0.1:{port}/mcp"
        command = ["taskset", "-c", "1", wrk, "-t1", "-c16", "-d5s", "-s", str(HERE / "call.lua"), url]
        env = {**os.environ, "MCP_BENCH": "initialize"}
        output = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env).stdout
        line = next(line for line in output.splitlines() if line.startswith("RESULT"))
        requests, failures, _, _, micros = (float(x) for x in line.split()[1:])
        assert failures == 0, f"{failures:.0f} handshakes failed"
        return requests / (micros / 1e6)
    finally:
        process.kill()
        process.wait()


async def main(counts: list[int], only: list[str] | None) -> None:
    rows = [
        "| server | handshakes/s | sessions | KiB/idle session | KiB/idle session with GET stream |",
        "|---|---|---|---|---|",
    ]
    for label, server in SERVERS:
        if only and server not in only:
            continue
        rate = handshakes(server)
        for count in counts:
            idle, with_get = await measure(server, count)
            rows.append(f"| {label} | {rate:.0f} | {count} | {idle:.1f} | {with_get:.1f} |")
            print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--servers", nargs="+", choices=[name for _, name in SERVERS])
    arguments = parser.parse_args()
    trio.run(main, arguments.sessions, arguments.servers)
