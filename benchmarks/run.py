"""Benchmark tools/call over Streamable HTTP: trimcp beside the official Python and TypeScript
SDKs and raw HTTP floors, in one run, each figure also as a ratio.

    python benchmarks/run.py [--duration 5] [--concurrency 1 16 64]

The server runs pinned to CPU 0 (``taskset``), wrk to CPU 1, with every answer checked by
``call.lua``. Needs wrk (Debian's ``wrk``; installed with apt-get when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.ports import free_port, wait_until_listening

#: (label, server, era): era "handshake" opens a session first; "2026-07-28" sends envelopes;
#: "streamed" calls add_streamed with a progress token (a progress event, then the answer: SSE).
CASES = [
    ("official SDK, SSE", "mcp-sdk", "handshake"),
    ("official SDK, JSON", "mcp-sdk-json", "handshake"),
    ("trimcp, handshake era (default)", "trimcp", "handshake"),
    ("trimcp, handshake era, json_response", "trimcp-json", "handshake"),
    ("trimcp, 2026-07-28", "trimcp", "2026-07-28"),
    ("trimcp, 2026-07-28, json_response", "trimcp-json", "2026-07-28"),
    ("trimcp, 2026-07-28, SSE (progress first)", "trimcp", "2026-07-28 streamed"),
    ("trimcp, handshake era, SSE (progress first)", "trimcp", "handshake streamed"),
    ("trimcp, handshake era, hypercorn's trio worker", "trimcp-stock-hypercorn", "handshake"),
    ("TypeScript SDK, SSE", "ts-sdk", "handshake"),
    ("TypeScript SDK, JSON", "ts-sdk-json", "handshake"),
    ("raw ASGI app, lean worker (floor)", "raw-lean", "raw"),
    ("raw ASGI app, hypercorn's trio worker", "raw-hypercorn-trio", "raw"),
    ("raw ASGI app, hypercorn's asyncio worker", "raw-hypercorn-asyncio", "raw"),
    ("raw ASGI app, uvicorn", "raw-uvicorn", "raw"),
    ("bare trio + h11 loop, fixed bytes", "raw-trio-h11", "raw"),
]
FLOOR = "raw ASGI app, lean worker (floor)"


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=600)
        wrk = shutil.which("wrk")
    assert wrk is not None, "wrk is needed (Debian package wrk)"
    return wrk


def ensure_typescript_sdk() -> None:
    """node 22 (tests/node_peers) and the TypeScript SDK pinned in benchmarks/ts."""
    from tests.node_peers import ensure_installed

    ensure_installed()
    ts = HERE / "ts"
    if not (ts / "node_modules" / ".package-lock.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=ts, check=True, timeout=900)


def start(server: str, port: int) -> subprocess.Popen:
    command = ["taskset", "-c", "0", sys.executable, str(HERE / "servers.py"), server, str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait_until_listening(port, process):
        return process
    process.kill()
    raise SystemExit(f"{server} did not start")


def post(url: str, body: dict, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "accept": "application/json, text/event-stream", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {k.lower(): v for k, v in response.headers.items()}, response.read()


def open_session(url: str) -> str:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    headers, _ = post(url, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}, {})
    session = headers["mcp-session-id"]
    post(
        url,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"},
    )
    return session


def stop(process: subprocess.Popen) -> None:
    """Terminate a server, and kill it if it has not exited 5 s later."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    wrk: str, url: str, concurrency: int, duration: int, env: dict[str, str], script: str = "call.lua"
) -> dict[str, float]:
    """Run wrk with ``script`` (benchmarks/) against ``url``: calls/s, failures, p50 and p99 (ms)."""
    command = [
        "taskset",
        "-c",
        "1",
        wrk,
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, duration)}s",
        "--latency",
        "-s",
        str(HERE / script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=duration + 60)
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")
    requests, failures, p50, p99, micros = (float(x) for x in line.split()[1:])
    return {
        "calls": requests / (micros / 1e6),
        "failures": failures,
        "p50": p50 / 1000,
        "p99": p99 / 1000,
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--only", nargs="+", metavar="WORD", help="run only the cases whose label holds a WORD")
    args = parser.parse_args()
    cases = [case for case in CASES if not args.only or any(word in case[0] for word in args.only)]
    wrk = ensure_wrk()
    if any(server.startswith("ts-") for _, server, _ in cases):
        ensure_typescript_sdk()
    results: dict[tuple[str, int], dict[str, float]] = {}
    for label, server, era in cases:
        port = free_port()
        process = start(server, port)
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            env = {"MCP_STREAMED": "1"} if era.endswith("streamed") else {}
            if era.startswith("handshake"):
                env["MCP_SESSION"] = open_session(url)
            elif era.startswith("2026-07-28"):
                env["MCP_ERA"] = "2026-07-28"
            load(wrk, url, 16, 1, env)  # warm up
            for concurrency in args.concurrency:
                before = cpu_seconds(process.pid)
                figures = load(wrk, url, concurrency, args.duration, env)
                figures["cpu_ms"] = (cpu_seconds(process.pid) - before) * 1000 / max(figures["requests"], 1)
                results[(label, concurrency)] = figures
                print(
                    f"{label:<40} c={concurrency:<3} {figures['calls']:8.0f} calls/s  p50 {figures['p50']:6.2f} ms"
                    f"  p99 {figures['p99']:6.2f} ms  cpu {figures['cpu_ms']:.2f} ms/call  failures {figures['failures']:.0f}",
                    flush=True,
                )
        finally:
            stop(process)
    print()
    print(report(results, args.concurrency))
    print()
    print(targets(results, args.concurrency))


def report(results: dict[tuple[str, int], dict[str, float]], concurrencies: list[int]) -> str:
    """A markdown table; ratios against the official SDK (same answer type) and the raw floor."""
    lines = [
        (
            "| server | concurrency | calls/s | p50 ms | p99 ms | server CPU ms/call | × official SDK (SSE) | × SDK (JSON) "
            "| × TypeScript SDK (JSON) | × lean floor |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    references = ["official SDK, SSE", "official SDK, JSON", "TypeScript SDK, JSON", FLOOR]
    for label, _, _ in CASES:
        for concurrency in concurrencies:
            figures = results.get((label, concurrency))
            if figures is None:
                continue
            ratios = " | ".join(
                f"{figures['calls'] / results[(reference, concurrency)]['calls']:.2f}"
                if (reference, concurrency) in results
                else "-"
                for reference in references
            )
            lines.append(
                f"| {label} | {concurrency} | {figures['calls']:.0f} | {figures['p50']:.2f} | {figures['p99']:.2f} "
                f"| {figures['cpu_ms']:.2f} | {ratios} |"
            )
    return "\n".join(lines)


def targets(results: dict[tuple[str, int], dict[str, float]], concurrencies: list[int]) -> str:
    """Issue 21's targets in this run: the 2026-07-28 path against the handshake path, trimcp's
    own CPU per call over the lean floor, and the tail (p99 ÷ p50)."""
    modern, handshake = "trimcp, 2026-07-28", "trimcp, handshake era (default)"
    lines = []
    for concurrency in concurrencies:
        got = {label: results.get((label, concurrency)) for label in (modern, handshake, FLOOR)}
        if got[modern] and got[handshake]:
            ratio = got[modern]["calls"] / got[handshake]["calls"]
            lines.append(f"c={concurrency}: 2026-07-28 ÷ handshake era = {ratio:.2f}× calls/s (target ≥ 1.0 at c=16)")
        if got[FLOOR]:
            for label in (modern, handshake):
                if got[label]:
                    own = got[label]["cpu_ms"] - got[FLOOR]["cpu_ms"]
                    lines.append(f"c={concurrency}: {label}: {own:.2f} ms CPU/call over the floor (target ≤ 0.15)")
        for label in (modern, handshake):
            if got[label]:
                tail = got[label]["p99"] / got[label]["p50"]
                lines.append(f"c={concurrency}: {label}: p99 = {tail:.1f}× p50 (target ≤ 3 at c=64)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
