"""What sharing state through Redis and running several workers cost (issue 17), in one run:

    python benchmarks/workers.py [--duration 5] [--concurrency 16] [--updates 300]

(a) a plain 2026-07-28 ``tools/call`` with ``--redis`` against without (it should not touch Redis);
(b) change-notification latency, raise (in the tool) to delivery on a ``subscriptions/listen``
    stream, on another process and on the raising one (both go through Redis), p50 and p99;
(c) ``--workers 2`` against ``--workers 1`` as calls per CPU-second (the CPU of every worker,
    from /proc).

As run.py: ``trimcp serve tests/servers/scale_out.py`` pinned to CPU 0 (its workers too), wrk
checking every answer (``call.lua``) on CPU 1, redis-server on CPU 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import trimcp
from benchmarks.run import cpu_seconds, ensure_wrk, load
from tests.http_support import JSON_AND_SSE, RawHTTP, modern_headers
from tests.ports import children, free_port, wait_until_listening

SERVER = "tests.servers.scale_out:server"


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on CPU 1 keeping nothing on disk; yields its URL, killed on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed: apt-get install redis-server")
    port = free_port()
    command = [
        "taskset",
        "-c",
        "1",
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
    try:
        if not wait_until_listening(port, process, timeout=10):
            raise SystemExit("redis-server did not start")
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def serving(*flags: str, cpus: str = "0") -> Iterator[tuple[subprocess.Popen, int]]:
    """``trimcp serve`` of the scale-out server with ``flags`` on ``cpus``; yields the process
    and its port. Stopped with SIGTERM on exit (its workers with it), killed after 10 s."""
    port = free_port()
    command = [
        "taskset", "-c", cpus, sys.executable, "-m", "trimcp", "serve", SERVER, "--transport", "streamable-http",
        "--port", str(port), *flags,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        if not wait_until_listening(port, process):
            raise SystemExit(f"trimcp serve {' '.join(flags)} did not start")
        yield process, port
    finally:
        workers = children(process.pid)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            for pid in [process.pid, *workers]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.wait()


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its children (a supervisor and its workers)."""
    return sum(cpu_seconds(each) for each in [pid, *children(pid)])


def redis_commands(url: str) -> int:
    """How many commands the Redis at ``url`` has processed so far (``INFO stats``)."""
    host, port = url.removeprefix("redis://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"INFO stats\r\n")
        reply = b""
        while b"total_commands_processed:" not in reply or not reply.endswith(b"\r\n"):
            reply += connection.recv(65536)
    return int(reply.split(b"total_commands_processed:")[1].split(b"\r\n")[0])


def calls(wrk: str, flags: list[str], args: argparse.Namespace, redis: str) -> dict[str, float]:
    """wrk's figures for ``add(1, 2)`` against ``trimcp serve … flags``, with the CPU seconds
    of all its processes during the measured run, the calls per CPU-second, and the commands
    Redis processed meanwhile (each process renews its lease and polls the events stream, a
    few commands a second, whatever the load)."""
    with serving(*flags) as (process, port):
        url = f"http://127.0.0.1:{port}/mcp"
        env = {"MCP_ERA": "2026-07-28"}
        load(wrk, url, args.concurrency, 2, env)  # warm up (every worker)
        before, commands = tree_cpu(process.pid), redis_commands(redis)
        figures = load(wrk, url, args.concurrency, args.duration, env)
        figures["cpu_s"] = tree_cpu(process.pid) - before
        figures["redis_commands"] = redis_commands(redis) - commands
        figures["per_cpu_s"] = figures["requests"] / max(figures["cpu_s"], 1e-9)
        assert figures["failures"] == 0, figures
        return figures


# -- (b) notification latency ---------------------------------------------------------------------


async def listen(port: int, uris: list[str], heard: dict[str, float], task_status: trio.TaskStatus[None]) -> None:
    """A raw ``subscriptions/listen`` stream on ``port``: when (``time.monotonic()``) each URI
    updated was delivered. Runs until cancelled."""
    params = {"notifications": {"resourceSubscriptions": uris}}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {**params, "_meta": meta}}
    headers = {"accept": JSON_AND_SSE, "content-type": "application/json", **modern_headers("subscriptions/listen")}
    async with RawHTTP("127.0.0.1", port).open("POST", "/mcp", headers, body) as stream:
        while chunk := await stream.chunk():
            for event in stream.decoder.feed(chunk):
                message = json.loads(event.data) if event.data else {}
                if message.get("method") == "notifications/subscriptions/acknowledged":
                    task_status.started()
                elif message.get("method") == "notifications/resources/updated":
                    heard[message["params"]["uri"]] = time.monotonic()


async def latencies(raising: int, listening: int, updates: int) -> dict[str, list[float]]:
    """Raise ``updates`` updates one after another through ``touch`` on port ``raising``; the
    delays (ms) until a listener on ``listening`` and one on ``raising`` heard each."""
    uris = [f"test://doc/{number}" for number in range(updates)]
    raised: dict[str, float] = {}
    heard: dict[str, dict[str, float]] = {"another process": {}, "the raising process": {}}
    async with trio.open_nursery() as nursery:
        await nursery.start(listen, listening, uris, heard["another process"])
        await nursery.start(listen, raising, uris, heard["the raising process"])
        url = f"http://127.0.0.1:{raising}/mcp"
        async with trimcp.open_client(url, protocol_version="2026-07-28") as client:
            for uri in uris:
                raised[uri] = (await client.call_tool("touch", {"uri": uri}))["structuredContent"]["raised_at"]
                await trio.sleep(0.005)  # one at a time, not a burst
        with trio.fail_after(10):
            while any(len(times) < updates for times in heard.values()):
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    return {where: [(times[uri] - raised[uri]) * 1000 for uri in uris] for where, times in heard.items()}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# -- the run --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of (a) and (c), best kept")
    args = parser.parse_args()
    wrk = ensure_wrk()
    os.environ.setdefault("TRIMCP_STATE_KEY", "benchmark-state-key-shared-by-every-worker")
    with redis_server() as redis:
        cases = {
            "no backend": [],
            "--redis": ["--redis", redis],
            "--workers 1 --redis": ["--workers", "1", "--redis", redis],
            "--workers 2 --redis": ["--workers", "2", "--redis", redis],
        }
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in cases}
        for _ in range(args.rounds):
            for label, flags in cases.items():
                runs[label].append(calls(wrk, flags, args, redis))
                last = runs[label][-1]
                print(f"{label:<22} {last['calls']:7.0f} calls/s  {last['per_cpu_s']:7.0f} calls/CPU-s", flush=True)
        best = {label: max(figures, key=lambda f: f["calls"]) for label, figures in runs.items()}
        with serving("--redis", redis, cpus="0") as (_, a), serving("--redis", redis, cpus="1") as (_, b):
            delays = trio.run(latencies, a, b, args.updates)
    print()
    print(report(best, delays, args))


def report(best: dict[str, dict[str, float]], delays: dict[str, list[float]], args: argparse.Namespace) -> str:
    """Markdown tables of (a), (b) and (c), each with its ratio."""
    plain, redis = best["no backend"], best["--redis"]
    one, two = best["--workers 1 --redis"], best["--workers 2 --redis"]
    lines = [
        f"(a) plain tools/call, c={args.concurrency}, {args.duration} s, best of {args.rounds}:",
        "",
        "| server | calls/s | p50 ms | p99 ms | CPU ms/call |",
        "|---|---|---|---|---|",
    ]
    for label, figures in (("no backend", plain), ("--redis", redis)):
        cpu_ms = figures["cpu_s"] * 1000 / figures["requests"]
        lines.append(
            f"| {label} | {figures['calls']:.0f} | {figures['p50']:.2f} | {figures['p99']:.2f} | {cpu_ms:.3f} |"
        )
    lines += [
        (
            f"\nratio --redis / no backend: calls/s {redis['calls'] / plain['calls']:.3f}, "
            f"calls per CPU-second {redis['per_cpu_s'] / plain['per_cpu_s']:.3f}"
        ),
        (
            f"\nRedis commands during the measured run: {redis['redis_commands']} for {redis['requests']:.0f} calls"
            f" (no backend: {plain['redis_commands']})"
        ),
        f"\n(b) notification latency, raise -> delivered, {args.updates} updates raised one at a time:",
        "",
        "| listener on | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    for where, values in delays.items():
        lines.append(
            f"| {where} | {statistics.median(values):.2f} | {percentile(values, 0.99):.2f} | {max(values):.2f} |"
        )
    lines += [
        "\n(c) workers, all pinned to CPU 0, calls per CPU-second (every worker's CPU):",
        "",
        "| server | calls/s | CPU s | calls per CPU-second |",
        "|---|---|---|---|",
    ]
    for label, figures in (("--workers 1", one), ("--workers 2", two)):
        lines.append(f"| {label} | {figures['calls']:.0f} | {figures['cpu_s']:.2f} | {figures['per_cpu_s']:.0f} |")
    lines.append(
        f"\nratio --workers 2 / --workers 1: calls per CPU-second {two['per_cpu_s'] / one['per_cpu_s']:.3f}, "
        f"calls/s {two['calls'] / one['calls']:.3f}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
