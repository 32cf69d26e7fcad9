"""Soak test: connect / call / cancel / disconnect cycles in both protocol eras against a real
``trimcp serve examples/demo.py:server --transport streamable-http`` subprocess on 127.0.0.1,
with the server's RSS and open fds before, during and after.

    python benchmarks/soak.py [--cycles 100000] [--concurrency 8] [--seed 1]

Cycles (every answer checked; a 5xx, a wrong answer or a timeout fails the cycle):

- ``hs-call``: initialize, notifications/initialized, tools/call add, DELETE (2025-11-25)
- ``hs-cancel``: the same with a slow ``count_slowly`` cancelled by notifications/cancelled once
  its first progress arrived; its stream must end without a result
- ``hs-drop``: a slow call whose TCP connection is dropped mid-stream, then DELETE
- ``hs-abandon``: a slow call dropped mid-stream and the session never DELETEd; these live until
  the server's idle timeout (30 min, no ``trimcp serve`` flag), so they run only in the first half
  of warm-up (their slow calls, 2 s, end before it does)
- ``new-call``: tools/call add with the 2026-07-28 ``_meta`` envelope
- ``new-drop``: a 2026-07-28 slow call whose connection closes mid-stream (cancellation)

Passes when no cycle failed, the RSS at the end is within 5 % of its value after warm-up (the
first 10 % of cycles), the fds are back at their count before any client connected, and the
server's stderr holds no traceback or error. Exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import h11
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ports import free_port, wait_until_listening

HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
WEIGHTS = {"hs-call": 3, "hs-cancel": 1, "hs-drop": 1, "new-call": 4, "new-drop": 1}
SLOW = {"steps": 200, "delay": 0.01}  # 2 s in all: it never finishes before it is cancelled
BASE = [(b"accept", b"application/json, text/event-stream"), (b"content-type", b"application/json")]
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
SUSPICIOUS = re.compile(r"Traceback|\b(ERROR|CRITICAL|Exception)\b")


class Failure(Exception):
    """A wrong answer: the step and what was wrong."""


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise Failure(what)


# -- a lean HTTP/1.1 client ------------------------------------------------------------------------


class Connection:
    """A keep-alive HTTP/1.1 connection (h11 over a trio socket), (re)opened when needed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}".encode()
        self.socket: trio.SocketStream | None = None
        self.http = h11.Connection(h11.CLIENT)
        self.used = 0.0

    async def _ready(self) -> None:
        """Reuse the connection after a complete exchange unless idle for a second (the server's
        keep-alive timeout is 5 s); otherwise open a new one."""
        if self.socket is not None:
            done = self.http.our_state is h11.DONE and self.http.their_state is h11.DONE
            if done and trio.current_time() - self.used < 1.0:
                self.http.start_next_cycle()
                return
            await self.close()
        self.socket = await trio.open_tcp_stream("127.0.0.1", self.port)
        self.http = h11.Connection(h11.CLIENT)

    async def request(self, method: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict]:
        """Send a request; return the status and (lower-cased) headers of its response."""
        await self._ready()
        assert self.socket is not None
        head = [(b"host", self.host), *headers, (b"content-length", str(len(body)).encode())]
        data = self.http.send(h11.Request(method=method, target="/mcp", headers=head))
        data += self.http.send(h11.Data(data=body)) if body else b""
        data += self.http.send(h11.EndOfMessage())
        await self.socket.send_all(data)
        while True:
            event = await self._next()
            if isinstance(event, h11.Response):
                return event.status_code, dict(event.headers)

    async def chunk(self) -> bytes | None:
        """The next piece of the response body; ``None`` at its end."""
        event = await self._next()
        if isinstance(event, h11.EndOfMessage):
            self.used = trio.current_time()
            return None
        expect(isinstance(event, h11.Data), f"unexpected {type(event).__name__}")
        return bytes(event.data)

    async def body(self) -> bytes:
        parts = []
        while (part := await self.chunk()) is not None:
            parts.append(part)
        return b"".join(parts)

    async def _next(self) -> Any:
        assert self.socket is not None
        while (event := self.http.next_event()) is h11.NEED_DATA:
            self.http.receive_data(await self.socket.receive_some(65536))
        expect(not isinstance(event, h11.ConnectionClosed), "the server closed the connection")
        return event

    async def close(self) -> None:
        if self.socket is not None:
            socket, self.socket = self.socket, None
            await socket.aclose()


class Messages:
    """The JSON-RPC messages of one response body, JSON or SSE, as they arrive."""

    def __init__(self, connection: Connection, headers: dict) -> None:
        self.connection = connection
        self.sse = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        self.buffer = b""
        self.ready: list[dict] = []

    async def next(self) -> dict | None:
        """The next message; ``None`` at the end of the body."""
        while not self.ready:
            chunk = await self.connection.chunk()
            if chunk is None:
                expect(not self.buffer.strip(), "the body ended mid-event")
                return None
            self.buffer += chunk
            self._parse()
        return self.ready.pop(0)

    def _parse(self) -> None:
        if not self.sse:
            return
        *events, self.buffer = self.buffer.replace(b"\r\n", b"\n").split(b"\n\n")
        for event in events:
            data = b"\n".join(line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:"))
            if data:
                self.ready.append(json.loads(data))

    async def reply(self, request_id: int) -> dict:
        """The response to ``request_id``, having read the body to its end."""
        if not self.sse:
            body = self.buffer + await self.connection.body()
            self.buffer = b""
            return json.loads(body)
        found = None
        while (message := await self.next()) is not None:
            if message.get("id") == request_id and "method" not in message:
                found = message
        expect(found is not None, "no response in the stream")
        return found

    async def progress(self) -> None:
        """Read until the first progress notification."""
        while (message := await self.next()) is not None:
            if message.get("method") == "notifications/progress":
                return
        raise Failure("the stream ended before any progress")


# -- cycles ------------------------------------------------------------------------------------------


def call(request_id: int, name: str, arguments: dict, meta: dict | None = None) -> bytes:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}).encode()


INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}},
    }
).encode()
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


class Client:
    """One worker: a main connection (calls) and a side one (cancels, DELETEs)."""

    def __init__(self, port: int, rng: random.Random) -> None:
        self.main = Connection(port)
        self.side = Connection(port)
        self.rng = rng

    async def handshake(self) -> list[tuple[bytes, bytes]]:
        """Open a session; return the headers its requests carry."""
        status, headers = await self.main.request("POST", BASE, INITIALIZE)
        expect(status == 200, f"initialize: HTTP {status}")
        reply = await Messages(self.main, headers).reply(0)
        expect(reply.get("result", {}).get("protocolVersion") == HANDSHAKE, f"initialize: {reply}")
        session_id = headers.get(b"mcp-session-id")
        expect(session_id is not None, "initialize: no Mcp-Session-Id")
        session = [*BASE, (b"mcp-session-id", session_id), (b"mcp-protocol-version", b"2025-11-25")]
        status, _ = await self.main.request("POST", session, INITIALIZED)
        await self.main.body()
        expect(status == 202, f"initialized: HTTP {status}")
        return session

    async def delete(self, session: list[tuple[bytes, bytes]]) -> None:
        status, _ = await self.side.request("DELETE", session[2:])
        await self.side.body()
        expect(status == 200, f"DELETE: HTTP {status}")

    async def add(self, headers: list[tuple[bytes, bytes]], meta: dict | None) -> None:
        a, b = self.rng.randrange(1000), self.rng.randrange(1000)
        status, head = await self.main.request("POST", headers, call(1, "add", {"a": a, "b": b}, meta))
        expect(status == 200, f"tools/call add: HTTP {status}")
        result = (await Messages(self.main, head).reply(1)).get("result", {})
        expect(result.get("structuredContent") == {"result": a + b}, f"add({a}, {b}): {result}")
        expect(meta is None or result.get("resultType") == "complete", f"resultType: {result}")

    async def slow(self, headers: list[tuple[bytes, bytes]], meta: dict) -> Messages:
        """Start ``count_slowly`` and wait for its first progress."""
        status, head = await self.main.request("POST", headers, call(1, "count_slowly", SLOW, meta))
        expect(status == 200, f"tools/call count_slowly: HTTP {status}")
        messages = Messages(self.main, head)
        await messages.progress()
        return messages

    async def hs_call(self) -> None:
        session = await self.handshake()
        await self.add(session, None)
        await self.delete(session)

    async def hs_cancel(self) -> None:
        session = await self.handshake()
        messages = await self.slow(session, {"progressToken": "p"})
        cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}'
        status, _ = await self.side.request("POST", session, cancel)
        await self.side.body()
        expect(status == 202, f"notifications/cancelled: HTTP {status}")
        while (message := await messages.next()) is not None:
            expect("method" in message, f"a response after cancellation: {message}")
        await self.delete(session)

    async def hs_drop(self, abandon: bool = False) -> None:
        session = await self.handshake()
        await self.slow(session, {"progressToken": "p"})
        await self.main.close()
        if not abandon:
            await self.delete(session)

    async def new_call(self) -> None:
        await self.add([*BASE, *modern_headers("add")], ENVELOPE)

    async def new_drop(self) -> None:
        await self.slow([*BASE, *modern_headers("count_slowly")], {**ENVELOPE, "progressToken": "p"})
        await self.main.close()

    async def run(self, kind: str) -> None:
        """One cycle; half the time the main connection is closed afterwards (a new one next time)."""
        if kind == "hs-abandon":
            await self.hs_drop(abandon=True)
        else:
            await getattr(self, kind.replace("-", "_"))()
        if self.rng.random() < 0.5:
            await self.main.close()

    async def reset(self) -> None:
        await self.main.close()
        await self.side.close()


def modern_headers(tool: str) -> list[tuple[bytes, bytes]]:
    return [(b"mcp-protocol-version", MODERN.encode()), (b"mcp-method", b"tools/call"), (b"mcp-name", tool.encode())]


# -- the server and its resources ---------------------------------------------------------------------


def start_server(port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "trimcp", "serve", "examples/demo.py:server", "--transport", "streamable-http"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    if not wait_until_listening(port, process):
        process.kill()
        raise SystemExit(f"the server did not start; see {log}")
    return process


def stop_server(process: subprocess.Popen) -> int | None:
    """SIGINT (graceful shutdown), then SIGKILL after 15 s; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def resources(pid: int) -> dict[str, float]:
    """RSS (KiB), open fds, threads and CPU seconds (user + system) of ``pid``."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
    return {
        "rss": int(status["VmRSS"].split()[0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
        "cpu": sum(map(int, ticks)) / os.sysconf("SC_CLK_TCK"),
    }


# -- the soak -----------------------------------------------------------------------------------------


class Soak:
    """Runs the cycles over ``concurrency`` workers and samples the server as they go."""

    def __init__(self, args: argparse.Namespace, port: int, process: subprocess.Popen) -> None:
        self.args = args
        self.port = port
        self.process = process
        self.pid = process.pid
        self.warmup = max(1, args.cycles // 10)
        half = self.warmup // 2
        self.abandon_every = max(1, half // max(1, min(args.abandon, half // 10))) if args.abandon else 0
        self.next = 0
        self.done = 0
        self.errors: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.samples: list[tuple[str, int, float, dict[str, float], int]] = []
        self.start = 0.0

    def sample(self, label: str) -> None:
        elapsed = trio.current_time() - self.start if self.start else 0.0
        self.samples.append((label, self.done, elapsed, resources(self.pid), sum(self.errors.values())))

    def kind(self, index: int, rng: random.Random) -> str:
        if self.abandon_every and index < self.warmup // 2 and index % self.abandon_every == 0:
            return "hs-abandon"
        kinds = self.args.kinds
        return rng.choices(kinds, weights=[WEIGHTS[kind] for kind in kinds])[0]

    async def worker(self, number: int) -> None:
        rng = random.Random(self.args.seed * 1000 + number)
        client = Client(self.port, rng)
        while self.next < self.args.cycles:
            index, self.next = self.next, self.next + 1
            kind = self.kind(index, rng)
            self.kinds[kind] += 1
            try:
                with trio.fail_after(self.args.timeout):
                    await client.run(kind)
            except Exception as error:  # noqa: BLE001 - any failure of a cycle is counted; the soak goes on
                self.errors[f"{kind}: {type(error).__name__}: {str(error)[:160]}"] += 1
                await client.reset()
            self.done += 1
        await client.reset()

    async def monitor(self, scope: trio.CancelScope) -> None:
        """Sample after warm-up and at every further tenth of the cycles; stop everything if the
        server exits."""
        marks = [(self.warmup, "warm-up")] + [(self.args.cycles * k // 10, f"{k * 10} %") for k in range(2, 10)]
        for mark, label in marks:
            while self.done < mark:
                await trio.sleep(0.05)
                if self.process.poll() is not None:
                    self.errors[f"the server exited with status {self.process.returncode}"] += 1
                    scope.cancel()
                    return
            self.sample(label)

    async def settle(self, baseline: int) -> None:
        """Wait (at most ``--settle`` s) until the fds are back at ``baseline`` or stop dropping for 2 s."""
        with trio.move_on_after(self.args.settle):
            last, since = resources(self.pid)["fds"], trio.current_time()
            while last > baseline and trio.current_time() - since < 2:
                await trio.sleep(0.1)
                fds = resources(self.pid)["fds"]
                if fds < last:
                    last, since = fds, trio.current_time()
        await trio.sleep(1)  # let cancelled tools and buffers go

    async def baseline(self) -> None:
        """Sample the idle server: the fewest fds seen over a second (the start-up probe's
        connection may still be closing)."""
        lowest = resources(self.pid)
        for _ in range(20):
            await trio.sleep(0.05)
            now = resources(self.pid)
            lowest = now if now["fds"] <= lowest["fds"] else lowest
        self.samples.append(("baseline", 0, 0.0, lowest, 0))

    async def run(self) -> None:
        await self.baseline()
        self.start = trio.current_time()
        with trio.move_on_after(self.args.max_seconds) as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.monitor, scope)
                for number in range(self.args.concurrency):
                    nursery.start_soon(self.worker, number)
        if self.process.poll() is not None:
            return  # no end sample: the verdict fails
        if scope.cancelled_caught:
            self.errors[f"gave up after --max-seconds {self.args.max_seconds}"] += 1
        elapsed = trio.current_time() - self.start
        await self.settle(self.samples[0][3]["fds"])
        self.samples.append(("end (settled)", self.done, elapsed, resources(self.pid), sum(self.errors.values())))


def table(samples: list[tuple[str, int, float, dict[str, float], int]]) -> str:
    """One row per sample; cycles/s and server CPU per cycle are over the interval since the row before."""
    rows = ["| point | cycles | elapsed s | cycles/s | server CPU ms/cycle | RSS KiB | fds | threads | failed cycles |"]
    rows.append("|---" * 9 + "|")
    previous = samples[0]
    for label, done, elapsed, res, errors in samples:
        cycles, seconds = done - previous[1], elapsed - previous[2]
        rate = f"{cycles / seconds:.0f}" if seconds > 0 else "-"
        cpu = f"{(res['cpu'] - previous[3]['cpu']) * 1000 / cycles:.2f}" if cycles else "-"
        row = [label, done, f"{elapsed:.1f}", rate, cpu, res["rss"], res["fds"], res["threads"], errors]
        rows.append("| " + " | ".join(map(str, row)) + " |")
        previous = (label, done, elapsed, res, errors)
    return "\n".join(rows)


def suspicious_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if SUSPICIOUS.search(line)]


def verdict(soak: Soak, log: Path, exit_status: int | None) -> bool:
    """Print the checks; whether all passed."""
    warm = next((res["rss"] for label, _, _, res, _ in soak.samples if label == "warm-up"), None)
    end, base = soak.samples[-1][3], soak.samples[0][3]
    bad = suspicious_lines(log)
    checks = [
        (soak.samples[-1][0] == "end (settled)", f"the soak ran to its end: {soak.done} of {soak.args.cycles} cycles")
    ]
    if checks[0][0] and warm is not None:
        growth = (end["rss"] - warm) / warm * 100
        rss = f"RSS at the end vs after warm-up: {warm} -> {end['rss']} KiB ({growth:+.2f} %, limit 5 %)"
        checks += [
            (abs(growth) <= 5, rss),
            (end["fds"] <= base["fds"], f"fds at the end vs baseline: {end['fds']} vs {base['fds']}"),
        ]
    checks += [
        (not soak.errors, f"failed cycles: {sum(soak.errors.values())} of {soak.done}"),
        (not bad, f"suspicious lines in the server's stderr ({log}): {len(bad)}"),
        (exit_status == 0, f"server exit status after SIGINT: {exit_status}"),
    ]
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    for error, count in soak.errors.most_common(10):
        print(f"  {count} x {error}")
    for line in bad[:10]:
        print(f"  stderr: {line}")
    return all(ok for ok, _ in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8, help="client tasks (default 8)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", type=lambda text: text.split(","), default=list(WEIGHTS), help="cycle kinds to mix")
    parser.add_argument("--abandon", type=int, default=100, help="abandoned sessions, early in warm-up (default 100)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a cycle may take (default 10)")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds to wait for fds at the end (default 15)")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="give up after this long (default 3600)")
    parser.add_argument("--server-log", type=Path, help="where the server's stderr goes (default: a temp file)")
    args = parser.parse_args()
    if unknown := set(args.kinds) - set(WEIGHTS):
        parser.error(f"unknown kinds {sorted(unknown)}; known: {', '.join(WEIGHTS)}")
    log = args.server_log or Path(tempfile.mkstemp(prefix="trimcp-soak-", suffix=".log")[1])
    port = free_port()
    process = start_server(port, log)
    try:
        soak = Soak(args, port, process)
        trio.run(soak.run)
    finally:
        exit_status = stop_server(process)
    print(f"soak: {soak.done} cycles, concurrency {args.concurrency}, seed {args.seed}, port {port}")
    print("cycles: " + ", ".join(f"{kind} {count}" for kind, count in sorted(soak.kinds.items())))
    print(table(soak.samples))
    (_, _, _, first, _), (_, done, elapsed, last, _) = soak.samples[0], soak.samples[-1]
    if done:
        cpu = (last["cpu"] - first["cpu"]) * 1000 / done
        print(
            f"overall: {done} cycles in {elapsed:.1f} s, {done / elapsed:.0f} cycles/s, server CPU {cpu:.2f} ms/cycle"
        )
    sys.exit(0 if verdict(soak, log, exit_status) else 1)


if __name__ == "__main__":
    main()
