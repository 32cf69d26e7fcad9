"""``python -m tests.fuzz <target> --cases N --seed S``: the long runs of the fuzz harness.

Targets: ``core`` (every sans-IO target, round-robin) or one of ``core-jsonrpc``,
``core-envelope``, ``core-handshake``, ``core-headers``, ``core-header-values``, ``core-sse``,
``core-framing``; ``http`` (a live Streamable HTTP server); ``http-relayed`` (two servers on one
redis-server, every session request relayed from one to the other); ``stdio`` (live stdio
servers); ``all``. ``python -m tests.fuzz replay tests/fuzz/findings/<file>.json`` sends a saved HTTP or
stdio finding to a fresh server. Prints one summary line per target and exits with status 1 when anything was found
(findings are saved under ``tests/fuzz/findings/``).
"""

from __future__ import annotations

import argparse
import functools
import sys

import trio

from . import findings
from .core import TARGETS, replay_input, run_core
from .findings import Report, load, load_context
from .http_fuzz import replay as replay_http
from .http_fuzz import run_http
from .stdio_fuzz import replay as replay_stdio
from .stdio_fuzz import run_stdio


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    choices = ["core", *(f"core-{name}" for name in TARGETS), "http", "http-relayed", "stdio", "all"]
    parser.add_argument("target", choices=choices)
    parser.add_argument("--cases", type=int, default=100_000, help="cases (stdio: lines) per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8, help="http: concurrent connections")
    parser.add_argument(
        "--legacy-workers", type=int, default=2, help="http-relayed: how many of them hold an HTTP+SSE session"
    )
    parser.add_argument("--parallel", type=int, default=2, help="stdio: server processes at a time")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds an answer may take before it is a hang")
    parser.add_argument("--json-response", action="store_true", help="http: serve with --json-response")
    parser.add_argument("--progress", type=int, default=10_000, metavar="N", help="print progress every N cases")
    parser.add_argument("--show-case", type=int, metavar="INDEX", help="core-*: print the input of one case and exit")
    return parser


def _replay(path: str) -> int:
    """Send a saved HTTP or stdio finding to a fresh server and show what happens."""
    target, chunks = load(path)
    context = load_context(path)
    for data in chunks:
        if target.startswith("http"):
            options = {
                "relayed": target == "http-relayed",
                "sessions": context.get("sessions"),
                "to_owner": bool(context.get("to_owner")),
            }
            responses, stderr, alive = trio.run(functools.partial(replay_http, data, **options))
            for response in responses:
                print(response.status, response.headers, response.body[:2000])
        elif target == "stdio":
            stdout, stderr, status = trio.run(replay_stdio, data)
            print(stdout.decode("utf-8", "replace"))
            alive = status == 0
        else:
            print("core findings replay with --show-case (the case index is in 'detail')")
            return 2
        print(f"--- server {'alive' if alive else 'DEAD'}; stderr:\n{stderr[-4000:]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["replay"]:
        return _replay(argv[1])
    args = _parser().parse_args(argv)
    if args.show_case is not None:
        print(repr(replay_input(args.seed, args.target.removeprefix("core-"), args.show_case)))
        return 0
    findings.PROGRESS_EVERY = args.progress
    targets = ["core", "http", "http-relayed", "stdio"] if args.target == "all" else [args.target]
    reports: list[Report] = []
    for target in targets:
        if target == "core":
            report = run_core(list(TARGETS), args.cases, args.seed)
        elif target.startswith("core-"):
            report = run_core([target.removeprefix("core-")], args.cases, args.seed)
        elif target in ("http", "http-relayed"):
            extra = ["--json-response"] if args.json_response else []
            report = trio.run(
                functools.partial(
                    run_http,
                    args.cases,
                    args.seed,
                    workers=args.workers,
                    timeout=args.timeout,
                    extra_args=extra,
                    relayed=target == "http-relayed",
                    legacy_workers=args.legacy_workers,
                )
            )
        else:
            report = trio.run(
                functools.partial(run_stdio, args.cases, args.seed, timeout=args.timeout, parallel=args.parallel)
            )
        print(report.summary(), flush=True)
        if report.outcomes:
            print(f"  outcomes: {report.outcome_line()}", flush=True)
        reports.append(report)
    return 1 if any(report.failures for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
