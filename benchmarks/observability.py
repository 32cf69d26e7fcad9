"""What observing a server costs: tools/call over Streamable HTTP with every observer off, then
with the access log, metrics, tracing and all three on, in both eras, in one run; and, with
``--before REV``, the same server at an earlier commit with everything off (is "off" free?).

    python benchmarks/observability.py [--duration 5] [--concurrency 16] [--before a630177]

As run.py: the server pinned to CPU 0, wrk (checking every answer) to CPU 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.run import cpu_seconds, ensure_wrk, load, open_session, stop
from tests.ports import free_port, wait_until_listening

#: (label, server name in servers.py)
CASES = [
    ("all off", "trimcp"),
    ("access log (file)", "trimcp-access-log"),
    ("metrics", "trimcp-metrics"),
    ("tracing (SDK, batch)", "trimcp-tracing"),
    ("all on", "trimcp-observed"),
]
ERAS = ("2026-07-28", "handshake")


def start(server: str, port: int, source: Path | None) -> subprocess.Popen:
    """``servers.py server port`` on CPU 0, importing trimcp from ``source`` when given."""
    env = {**os.environ, "PYTHONPATH": str(source)} if source is not None else None
    command = ["taskset", "-c", "0", sys.executable, str(HERE / "servers.py"), server, str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if wait_until_listening(port, process):
        return process
    process.kill()
    raise SystemExit(f"{server} did not start")


def measure(wrk: str, server: str, era: str, args: argparse.Namespace, source: Path | None = None) -> dict:
    port = free_port()
    process = start(server, port, source)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        env = {"MCP_SESSION": open_session(url)} if era == "handshake" else {"MCP_ERA": era}
        load(wrk, url, 16, 1, env)  # warm up
        before = cpu_seconds(process.pid)
        figures = load(wrk, url, args.concurrency, args.duration, env)
        figures["cpu_ms"] = (cpu_seconds(process.pid) - before) * 1000 / max(figures["requests"], 1)
        return figures
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--before", metavar="REV", help="also measure trimcp at this commit, everything off")
    args = parser.parse_args()
    wrk = ensure_wrk()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        before: Path | None = None
        if args.before:
            before = Path(scratch) / "before"
            subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], check=True)
        try:
            for era in ERAS:
                cases = [*([(f"before ({args.before}), all off", "trimcp")] if before else []), *CASES]
                for label, server in cases:
                    figures = measure(wrk, server, era, args, before if label.startswith("before") else None)
                    rows.append((era, label, figures))
                    print(f"{era:<11} {label:<32} {figures['calls']:7.0f} calls/s  cpu {figures['cpu_ms']:.3f} ms/call")
        finally:
            if before is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(before)], check=True)
    print()
    print("| era | observers | calls/s | server CPU ms/call | calls/s ÷ all off |")
    print("|---|---|---|---|---|")
    for era in ERAS:
        base = next(figures for e, label, figures in rows if e == era and label == "all off")
        for e, label, figures in rows:
            if e == era:
                ratio = figures["calls"] / base["calls"]
                print(f"| {era} | {label} | {figures['calls']:.0f} | {figures['cpu_ms']:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
