"""What relaying a handshake-era session's requests between workers costs (issue 18), in one run:

    python benchmarks/relay.py [--calls 1500] [--duration 1] [--rounds 8] [--concurrency 16]
        [--head HEAD] [--before REV]

(a) Two ``trimcp serve tests.servers.scale_out:server --redis URL`` processes, A (CPU 0) and B
    (CPU 1), one redis-server (CPU 1, nothing on disk). A 2025-11-25 session is opened on A; then
    ``add(1, 2)`` is sent directly to A and to B, which relays it to A through Redis:
    - at c=1, ``--calls`` calls each, interleaved one by one (A, B, B, A, ...) so machine noise
      hits both alike, on two keep-alive connections of a raw socket client (no HTTP library:
      a few microseconds a call, the same on both paths): p50, p99 and mean per call;
    - at c=``--concurrency``, wrk (``call.lua``, one session, every answer checked, on CPU 1),
      ``--rounds`` runs of ``--duration`` s each, direct and relayed alternating: calls/s, and
      the CPU ms per call of A, B and Redis;
    - Redis commands per call (``INFO commandstats``) during 500 sequential calls and during the
      wrk runs, less the background (leases, blocking reads) measured over an idle period;
    with the default answers (JSON when ready at once) and with ``--json-response``.
(b) "With the in-process backend and one worker, nothing is slower": the same server without
    ``--redis``, one process, at ``--before`` (by default the commit before the relay) and at
    ``--head``, both running at once on CPU 0: c=1 latency interleaved call by call, and
    calls/s at c=``--concurrency`` in alternating wrk runs.

Every server runs from a git worktree under /tmp (so uncommitted edits in this checkout are not
measured), removed at the end. The machine this was written on has 2 cores, hence the pinning:
at c=16 the relayed path shares CPU 1 between B, Redis and wrk, while the direct path has A
alone on CPU 0 (the CPU ms per call are the fairer figure there).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.run import ensure_wrk, load, open_session, post
from benchmarks.workers import percentile, redis_server
from tests.ports import free_port, wait_until_listening

SERVER = "tests.servers.scale_out:server"
STATE_KEY = "benchmark-state-key-shared-by-every-worker"
VERSION = "2025-11-25"
#: Sequential calls per path whose Redis commands are counted.
COUNTED_CALLS = 500


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by every thread of ``pid``, to the nanosecond (``schedstat``;
    ``/proc/PID/stat`` counts in ticks of 10 ms, too coarse for a c=1 phase)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


# -- worktrees and servers -------------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def relay_parent() -> str:
    """The commit before the one that added the relay (trimcp/_transports/http/relayed.py)."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", "trimcp/_transports/http/relayed.py").splitlines()
    if not added:
        raise SystemExit("no commit adds trimcp/_transports/http/relayed.py: pass --before")
    return git("rev-parse", "--short", f"{added[-1]}~1")


@contextlib.contextmanager
def worktree(rev: str, scratch: Path, name: str) -> Iterator[Path]:
    """A detached git worktree of ``rev`` (this checkout's index and files untouched), removed
    on exit."""
    path = scratch / name
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)


class Server:
    """``trimcp serve SERVER --transport streamable-http *flags`` importing trimcp from
    ``source`` (a worktree), pinned to ``cpus``; its stderr goes to a file in ``scratch``."""

    def __init__(self, name: str, source: Path, flags: list[str], cpus: str, scratch: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.log = scratch / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(source), "TRIMCP_STATE_KEY": STATE_KEY}
        probe = [sys.executable, "-c", "import trimcp; print(trimcp.__file__)"]
        imported = subprocess.run(probe, cwd=source, env=env, capture_output=True, text=True, timeout=60).stdout
        assert imported.startswith(str(source)), f"{name} would import trimcp from {imported!r}, not {source}"
        command = [
            "taskset", "-c", cpus, sys.executable, "-m", "trimcp", "serve", SERVER, "--transport", "streamable-http",
            "--port", str(self.port), *flags,
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=log)
        if not wait_until_listening(self.port, self.process):
            stop_all([self.process], [name])
            raise SystemExit(f"{name} did not start:\n{self.log.read_text()[-2000:]}")

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@contextlib.contextmanager
def serving(*servers: tuple[str, Path, list[str], str], scratch: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for name, source, flags, cpus in servers:
            started.append(Server(name, source, flags, cpus, scratch))
        yield started
    except BaseException:
        for server in started:
            print(f"-- {server.name}'s log:\n{server.log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        stop_all([server.process for server in started], [server.name for server in started])


def stop_all(processes: list[subprocess.Popen], names: list[str], grace: float = 5.0) -> None:
    """SIGTERM every one at once, then SIGKILL (saying so) those still running ``grace`` s later."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace
    for process, name in zip(processes, names, strict=True):
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  ({name} had not exited {grace:.0f} s after SIGTERM: killed)", flush=True)
            process.kill()
            process.wait()


# -- Redis ------------------------------------------------------------------------------------------


def redis_info(url: str, section: str) -> dict[str, str]:
    """``INFO section`` of the Redis at ``url`` as a dict (one short-lived connection)."""
    host, port = url.removeprefix("redis://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(f"INFO {section}\r\n".encode())
        reply = b""
        while b"\r\n" not in reply:
            reply += connection.recv(65536)
        header, _, reply = reply.partition(b"\r\n")
        size = int(header[1:])
        while len(reply) < size + 2:
            chunk = connection.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection mid-reply")
            reply += chunk
    lines = reply[:size].decode().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


def commands(url: str) -> dict[str, int]:
    """Commands processed so far by kind (``INFO commandstats``), without ``INFO`` itself."""
    counts = {}
    for key, value in redis_info(url, "commandstats").items():
        name = key.removeprefix("cmdstat_")
        if name != "info":
            counts[name] = int(value.split("calls=")[1].split(",")[0])
    return counts


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


class Background:
    """Commands Redis processes per second with nothing asked of the servers (leases renewed,
    blocking reads timing out), measured once over an idle period."""

    def __init__(self, url: str, seconds: float) -> None:
        before = commands(url)
        time.sleep(seconds)
        self.per_second = {name: count / seconds for name, count in difference(commands(url), before).items()}

    def per_call(self, counted: dict[str, int], seconds: float, calls: int) -> dict[str, float]:
        """``counted`` (commands during ``seconds`` in which ``calls`` calls were made) less the
        background, per call."""
        names = set(counted) | set(self.per_second)
        return {name: (counted.get(name, 0) - self.per_second.get(name, 0) * seconds) / calls for name in names}


# -- the c=1 client ---------------------------------------------------------------------------------


class KeepAlive:
    """One keep-alive HTTP/1.1 connection posting ``tools/call add(1, 2)`` in a session, with
    just enough parsing for trimcp's answers (``content-length`` or chunked)."""

    def __init__(self, port: int, session: str) -> None:
        self.port = port
        self.connection = self._connect()
        self.head = (
            f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            f"accept: application/json, text/event-stream\r\nmcp-session-id: {session}\r\n"
            f"mcp-protocol-version: {VERSION}\r\n"
        ).encode()
        self.buffer = b""
        self.serial = 0

    def _connect(self) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def fresh(self) -> KeepAlive:
        """A new connection (the server closes one idle past its keep-alive timeout), warmed
        by one call."""
        self.connection.close()
        self.connection, self.buffer = self._connect(), b""
        self.call()
        return self

    def call(self) -> float:
        """One call; its latency in ms. Raises ``AssertionError`` on a wrong answer."""
        self.serial += 1
        body = (
            b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
            % self.serial
        )
        request = self.head + b"content-length: %d\r\n\r\n" % len(body) + body
        started = time.perf_counter()
        self.connection.sendall(request)
        status, answer, close = self._response()
        elapsed = (time.perf_counter() - started) * 1000
        assert status == b"200" and b'"result":3' in answer, (status, answer[:300])
        if close:  # hypercorn closes a connection after 1,000 requests
            self.connection.close()
            self.connection, self.buffer = self._connect(), b""
        return elapsed

    def _response(self) -> tuple[bytes, bytes, bool]:
        """The status, the body, and whether the server closes the connection after it."""
        head = self._until(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ")[1]
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
        close = fields.get(b"connection", b"").lower() == b"close"
        if b"content-length" in fields:
            return status, self._exactly(int(fields[b"content-length"])), close
        assert fields.get(b"transfer-encoding", b"").lower() == b"chunked", head
        parts = []
        while size := int(self._until(b"\r\n").split(b";")[0], 16):
            parts.append(self._exactly(size))
            self._exactly(2)
        self._until(b"\r\n")
        return status, b"".join(parts), close

    def _fill(self) -> None:
        chunk = self.connection.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _until(self, marker: bytes) -> bytes:
        while (index := self.buffer.find(marker)) < 0:
            self._fill()
        found, self.buffer = self.buffer[:index], self.buffer[index + len(marker) :]
        return found

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found

    def close(self) -> None:
        self.connection.close()


def interleaved(clients: dict[str, KeepAlive], calls: int) -> dict[str, list[float]]:
    """``calls`` calls on each client, one at a time, the order turned around every round."""
    labels = list(clients)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for round_ in range(calls):
        for label in labels if round_ % 2 == 0 else labels[::-1]:
            times[label].append(clients[label].call())
    return times


def served_by(url: str, session: str) -> int:
    """The pid of the process that ran a ``pid`` tool call sent to ``url`` in ``session``."""
    body = {"jsonrpc": "2.0", "id": "pid", "method": "tools/call", "params": {"name": "pid", "arguments": {}}}
    _, answer = post(url, body, {"mcp-session-id": session, "mcp-protocol-version": VERSION})
    found = re.search(rb'"structuredContent":\{"result":(\d+)\}', answer)  # a JSON or an SSE body
    assert found, answer
    return int(found[1])


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p99": percentile(values, 0.99),
        "mean": statistics.fmean(values),
        "calls": len(values),
    }


# -- (a) the relay ----------------------------------------------------------------------------------


def relay_case(
    wrk: str, source: Path, redis: str, redis_pid: int, json_response: bool, args: argparse.Namespace, scratch: Path
) -> dict:
    """Direct and relayed calls, for one kind of answer: latency, throughput, Redis commands."""
    flags = ["--redis", redis, *(["--json-response"] if json_response else [])]
    with serving(("A", source, flags, "0"), ("B", source, flags, "1"), scratch=scratch) as (a, b):
        session = open_session(a.url)
        assert session.partition(".")[1], f"the session id names no home process: {session}"
        assert served_by(b.url, session) == served_by(a.url, session) == a.process.pid, "B did not relay to A"
        clients = {"direct": KeepAlive(a.port, session), "relayed": KeepAlive(b.port, session)}
        try:
            interleaved(clients, 200)  # warm up both paths
            # Redis commands: relayed calls alone, an idle period as long (the background), direct calls alone
            started = time.perf_counter()
            before = commands(redis)
            for _ in range(COUNTED_CALLS):
                clients["relayed"].call()
            relayed_seconds = time.perf_counter() - started
            relayed_counted = difference(commands(redis), before)
            background = Background(redis, max(relayed_seconds, 1.0))
            started = time.perf_counter()
            before = commands(redis)
            clients["direct"].fresh()
            for _ in range(COUNTED_CALLS):
                clients["direct"].call()
            direct_counted = difference(commands(redis), before)
            direct_seconds = time.perf_counter() - started
            ops = {
                ("c=1", "relayed"): background.per_call(relayed_counted, relayed_seconds, COUNTED_CALLS),
                ("c=1", "direct"): background.per_call(direct_counted, direct_seconds, COUNTED_CALLS),
            }
            times = interleaved({label: client.fresh() for label, client in clients.items()}, args.calls)
        finally:
            for client in clients.values():
                client.close()
        latency = {label: summary(values) for label, values in times.items()}
        # throughput: wrk, direct and relayed alternating
        env = {"MCP_SESSION": session}
        targets = {"direct": (a.url, env), "relayed": (b.url, env)}
        pids = {"A": a.process.pid, "B": b.process.pid, "Redis": redis_pid}
        tag = "json" if json_response else "default"
        throughput = alternating(wrk, targets, pids, args, tag, redis=redis, background=background)
        for label in targets:
            ops[(f"c={args.concurrency}", label)] = throughput[label]["ops"]
    return {"latency": latency, "throughput": throughput, "ops": ops, "background": background.per_second}


def alternating(
    wrk: str,
    targets: dict[str, tuple[str, dict[str, str]]],
    pids: dict[str, int],
    args: argparse.Namespace,
    tag: str,
    redis: str | None = None,
    background: Background | None = None,
) -> dict[str, dict]:
    """wrk against each of two targets (label: URL, environment for call.lua) in turn, the order
    turned around every round, ``args.rounds`` rounds: per target the median run's figures, the
    range of calls/s, the median CPU ms per call of each process in ``pids``, the Redis commands
    per call (less the background) and, for the second target, the median and range of its
    calls/s over the first's in the same round (machine noise that lasts a round hits both)."""
    for url, env in targets.values():
        load(wrk, url, args.concurrency, 1, env)  # warm up
    labels = list(targets)
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    for round_ in range(args.rounds):
        for label in labels if round_ % 2 == 0 else labels[::-1]:
            url, env = targets[label]
            time.sleep(0.3)  # the previous run's last exchanges settle (their Redis commands are its own)
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            before = commands(redis) if redis else {}
            figures = load(wrk, url, args.concurrency, args.duration, env)
            assert figures["failures"] == 0, figures
            calls = figures["requests"]
            figures["cpu_ms"] = {name: (cpu_seconds(pid) - cpu[name]) * 1000 / calls for name, pid in pids.items()}
            if redis and background:
                figures["ops"] = background.per_call(difference(commands(redis), before), args.duration, int(calls))
            runs[label].append(figures)
            print(f"  {tag} c={args.concurrency} {label:<22} {figures['calls']:7.0f} calls/s", flush=True)
    result = {}
    for label, figures in runs.items():
        ordered = sorted(figures, key=lambda f: f["calls"])
        result[label] = {
            **ordered[len(ordered) // 2],
            "low": ordered[0]["calls"],
            "high": ordered[-1]["calls"],
            "cpu_ms": {name: statistics.median(f["cpu_ms"][name] for f in figures) for name in pids},
            "ops": mean_of([f["ops"] for f in figures]) if redis else {},
        }
    ratios = sorted(b["calls"] / a["calls"] for a, b in zip(runs[labels[0]], runs[labels[1]], strict=True))
    result[labels[1]]["ratio"] = (statistics.median(ratios), ratios[0], ratios[-1])
    return result


def mean_of(dicts: list[dict[str, float]]) -> dict[str, float]:
    names = set().union(*dicts)
    return {name: statistics.fmean(d.get(name, 0.0) for d in dicts) for name in names}


# -- (b) nothing slower -------------------------------------------------------------------------------


def nothing_slower(wrk: str, sources: dict[str, Path], args: argparse.Namespace, scratch: Path) -> dict:
    """The in-process backend, one process, at each revision: c=1 interleaved, c=16 alternating."""
    specs = [(label, source, [], "0") for label, source in sources.items()]
    with serving(*specs, scratch=scratch) as servers:
        sessions = {server.name: open_session(server.url) for server in servers}
        clients = {server.name: KeepAlive(server.port, sessions[server.name]) for server in servers}
        try:
            interleaved(clients, 200)
            cpu = {server.name: server.cpu() for server in servers}
            latency = {label: summary(values) for label, values in interleaved(clients, args.calls).items()}
            for server in servers:  # CPU time, unlike wall time, does not count waiting for a core
                latency[server.name]["cpu_ms"] = (server.cpu() - cpu[server.name]) * 1000 / args.calls
        finally:
            for client in clients.values():
                client.close()
        targets = {server.name: (server.url, {"MCP_SESSION": sessions[server.name]}) for server in servers}
        pids = {server.name: server.process.pid for server in servers}
        throughput = alternating(wrk, targets, pids, args, "in-process")
        for server in servers:  # each one's own CPU
            throughput[server.name]["cpu_ms"] = throughput[server.name]["cpu_ms"][server.name]
    return {"latency": latency, "throughput": throughput}


# -- the report ---------------------------------------------------------------------------------------


def report(cases: dict[str, dict], slower: dict, labels: tuple[str, str], args: argparse.Namespace) -> str:
    c = args.concurrency
    lines = [
        "(a) handshake-era `add(1, 2)` on A (the session's owner) directly, or through B (relayed via Redis).",
        (
            f"c=1: {args.calls} calls per path, interleaved; c={c}: wrk, one session, the median of {args.rounds} "
            f"runs of {args.duration} s [range], direct and relayed alternating; median CPU ms per call of A / B / Redis."
        ),
        "",
        (
            f"| answers | path | c=1 p50 ms | c=1 p99 ms | c=1 mean ms | c={c} calls/s | c={c} p50 ms | c={c} p99 ms"
            " | CPU ms/call A / B / Redis |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for answers, case in cases.items():
        for path in ("direct", "relayed"):
            lat, thr = case["latency"][path], case["throughput"][path]
            cpu = thr["cpu_ms"]
            lines.append(
                f"| {answers} | {path} | {lat['p50']:.3f} | {lat['p99']:.3f} | {lat['mean']:.3f} "
                f"| {thr['calls']:.0f} [{thr['low']:.0f}-{thr['high']:.0f}] | {thr['p50']:.2f} | {thr['p99']:.2f} "
                f"| {cpu['A']:.3f} / {cpu['B']:.3f} / {cpu['Redis']:.3f} |"
            )
    lines += ["", "Relayed against direct:", ""]
    lines += [
        (
            "| answers | extra ms p50 | extra ms p99 | extra ms mean | latency × p50 | latency × p99 | calls/s × "
            f"(c={c}, per round: median [range]) | CPU ms/call × (all processes) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for answers, case in cases.items():
        d, r = case["latency"]["direct"], case["latency"]["relayed"]
        td, tr = case["throughput"]["direct"], case["throughput"]["relayed"]
        cpu_ratio = sum(tr["cpu_ms"].values()) / sum(td["cpu_ms"].values())
        lines.append(
            f"| {answers} | {r['p50'] - d['p50']:+.3f} | {r['p99'] - d['p99']:+.3f} | {r['mean'] - d['mean']:+.3f} "
            f"| {r['p50'] / d['p50']:.2f} | {r['p99'] / d['p99']:.2f} | {ratio(tr)} "
            f"| {cpu_ratio:.2f} |"
        )
    lines += [
        "",
        f"Redis commands per call, less the background ({COUNTED_CALLS} sequential calls; the c={c} wrk runs):",
        "",
        "| answers | load | path | commands/call | by command |",
        "|---|---|---|---|---|",
    ]
    for answers, case in cases.items():
        for (load_, path), ops in sorted(case["ops"].items(), key=lambda item: (item[0][0] != "c=1", item[0][1])):
            shown = ", ".join(f"{name} {value:.2f}" for name, value in sorted(ops.items()) if abs(value) >= 0.005)
            lines.append(f"| {answers} | {load_} | {path} | {sum(ops.values()):.2f} | {shown or '-'} |")
    background = next(iter(cases.values()))["background"]
    lines.append(
        "\nBackground, per second (both servers idle): "
        + ", ".join(f"{name} {value:.1f}" for name, value in sorted(background.items()))
    )
    before, head = labels
    lb, lh = slower["latency"][before], slower["latency"][head]
    tb, th = slower["throughput"][before], slower["throughput"][head]
    lines += [
        "",
        f"(b) in-process backend, one process, default answers: {before} against {head} (both on CPU 0 at once;",
        (
            f"c=1: {args.calls} calls each, interleaved; c={c}: wrk, median of {args.rounds} alternating runs of "
            f"{args.duration} s [range])."
        ),
        "",
        (
            f"| revision | c=1 p50 ms | c=1 p99 ms | c=1 mean ms | c=1 CPU ms/call | c={c} calls/s | c={c} p99 ms "
            f"| c={c} CPU ms/call |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, lat, thr in ((before, lb, tb), (head, lh, th)):
        lines.append(
            f"| {label} | {lat['p50']:.3f} | {lat['p99']:.3f} | {lat['mean']:.3f} | {lat['cpu_ms']:.3f} "
            f"| {thr['calls']:.0f} [{thr['low']:.0f}-{thr['high']:.0f}] | {thr['p99']:.2f} | {thr['cpu_ms']:.3f} |"
        )
    lines.append(
        f"\nratio {head} / {before}: c={c} calls/s {ratio(th)} (per round), c={c} CPU ms/call "
        f"{th['cpu_ms'] / tb['cpu_ms']:.3f}; c=1 p50 {lh['p50'] / lb['p50']:.3f}, mean {lh['mean'] / lb['mean']:.3f}, "
        f"CPU ms/call {lh['cpu_ms'] / lb['cpu_ms']:.3f}"
    )
    return "\n".join(lines)


def ratio(figures: dict) -> str:
    middle, low, high = figures["ratio"]
    return f"{middle:.2f} [{low:.2f}-{high:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1500, help="c=1 calls per path (interleaved)")
    parser.add_argument("--duration", type=int, default=1, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=8, help="wrk runs per path, alternating")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--head", default="HEAD", help="the revision with the relay (default: HEAD)")
    parser.add_argument("--before", help="the revision before it (default: the parent of the relay's commit)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    head = git("rev-parse", "--short", args.head)
    before = git("rev-parse", "--short", args.before) if args.before else relay_parent()
    os.sched_setaffinity(0, {1})  # the c=1 client beside B, Redis and wrk
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="trimcp-relay-") as directory,
        worktree(head, Path(directory), "head") as head_source,
        worktree(before, Path(directory), "before") as before_source,
    ):
        scratch = Path(directory)
        cases = {}
        with redis_server() as redis:
            redis_pid = int(redis_info(redis, "server")["process_id"])
            for answers, json_response in (("default", False), ("json", True)):
                cases[answers] = relay_case(wrk, head_source, redis, redis_pid, json_response, args, scratch)
        labels = (f"before ({before})", f"head ({head})")
        slower = nothing_slower(wrk, {labels[0]: before_source, labels[1]: head_source}, args, scratch)
    print(f"\n({time.monotonic() - started:.0f} s)\n")
    print(report(cases, slower, labels, args))


if __name__ == "__main__":
    main()
