"""Profile trimcp's own share of a ``tools/call add(1, 2)``: the ASGI app driven in-process (no
sockets, no HTTP parser), one call after another, in either era.

    python benchmarks/profile_calls.py [--era 2026-07-28|handshake] [--calls 5000] [--cprofile]
        [--concurrency 1] [--json-response]

Prints microseconds per call (wall time; noisy on a shared box). ``--cprofile`` prints the top
of a cProfile by internal time. For counts that repeat run to run, use callgrind, which counts
instructions::

    PYTHONHASHSEED=0 setarch -R valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        python benchmarks/profile_calls.py --calls 2000 --era 2026-07-28 --patient
    callgrind_annotate /tmp/cg.out | head

(the difference between two such runs of N and 3N calls, over 2N, is the cost of a call).
``--patient`` widens the quick-answer window to a second, as valgrind runs ~50× slower and the
2 ms window would otherwise pass before an answer is ready, and seeds trio's scheduler. The disconnect hook of trimcp's lean worker is offered, as ``trimcp serve`` does.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trimcp
from benchmarks.servers import trimcp_server
from trimcp._transports.http.asgi import DISCONNECT_EXTENSION

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


def _stop_watching() -> None:
    pass


def _watch(callback: Any) -> Any:
    return _stop_watching


async def post(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One POST through ``app``: its status and body (SSE events joined)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "extensions": {DISCONNECT_EXTENSION: {"watch": _watch}},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await trio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _headers(era: str, session: str | None) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
    ]
    if era == "2026-07-28":
        headers += [(b"mcp-protocol-version", b"2026-07-28"), (b"mcp-method", b"tools/call"), (b"mcp-name", b"add")]
    elif session is not None:
        headers += [(b"mcp-session-id", session.encode()), (b"mcp-protocol-version", b"2025-11-25")]
    return headers


async def _open_session(app: Any) -> str:
    captured: dict[str, str] = {}
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}).encode()

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            captured.update({k.decode(): v.decode() for k, v in message["headers"]})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": _headers("handshake", None)}
    await app(scope, receive, capture)
    session = captured["mcp-session-id"]
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    await post(app, note, _headers("handshake", session))
    return session


async def run(args: argparse.Namespace) -> None:
    if args.patient:
        from trimcp._transports.http import streaming

        streaming.QUICK_ANSWER = 1.0
    app = trimcp.asgi_app(trimcp_server(), json_response=args.json_response)
    lifespan_send, lifespan_receive = trio.open_memory_channel[dict](1)
    started = trio.Event()

    async def lifespan_out(message: dict[str, Any]) -> None:
        started.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(app, {"type": "lifespan"}, lifespan_receive.receive, lifespan_out)
        await lifespan_send.send({"type": "lifespan.startup"})
        with trio.fail_after(10):
            await started.wait()
        session = await _open_session(app) if args.era == "handshake" else None
        headers = _headers(args.era, session)
        params: dict[str, Any] = {"name": "add", "arguments": {"a": 1, "b": 2}}
        if args.era == "2026-07-28":
            params["_meta"] = META
        bodies = [
            json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}).encode()
            for i in range(args.calls)
        ]

        async def caller(share: list[bytes]) -> None:
            for body in share:
                status, answer = await post(app, body, headers)
                assert status == 200 and b'"result":3' in answer, (status, answer)

        async def all_calls() -> None:
            async with trio.open_nursery() as callers:
                for index in range(args.concurrency):
                    callers.start_soon(caller, bodies[index :: args.concurrency])

        await caller(bodies[:200])  # warm up
        profile = cProfile.Profile() if args.cprofile else None
        began = time.perf_counter()
        if profile is not None:
            profile.enable()
        await all_calls()
        if profile is not None:
            profile.disable()
        elapsed = time.perf_counter() - began
        print(f"{args.era}: {elapsed / args.calls * 1e6:.1f} µs per call ({args.calls} calls, c={args.concurrency})")
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--era", choices=["2026-07-28", "handshake"], default="2026-07-28")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--patient", action="store_true", help="a 1 s quick-answer window (under valgrind)")
    parser.add_argument("--top", type=int, default=35)
    trio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
