"""What the workers of one HTTP fuzz run share: the server (or the relayed pair), the case
counter, the report, the handling of a death, and the oracle applied to each response."""

from __future__ import annotations

import collections
from typing import Any

import attrs
import trio

from . import messages
from .findings import Finding, Report, traceback_signature
from .http_cases import Case, Exchange
from .http_sessions import replant, send_case
from .processes import EXIT_WITHIN, RelayedServers, ServerProcess
from .rawhttp import Connection, HTTPResponse, Malformed
from .server import CRASH_MESSAGE

SHUTDOWN_HANG = f"no exit within {EXIT_WITHIN:g} s of SIGTERM"


class Run:
    """State shared by the workers: the server, its generation, the case counter, the report."""

    target = "http"
    relayed = False

    def __init__(self, cases: int, seed: int, timeout: float, server: ServerProcess | RelayedServers) -> None:
        self.cases = cases
        self.seed = seed
        self.timeout = timeout
        self.server = server
        self.generation = 0
        self.next_index = 0
        self.report = Report(self.target)
        self.inflight: dict[int, Case] = {}
        #: The cases completed last (a death may show only after its case finished).
        self.recent: collections.deque[Case] = collections.deque(maxlen=16)
        self.restart_lock = trio.Lock()
        #: Set while the server is up; workers wait on it while a death is handled.
        self.up = trio.Event()
        self.up.set()

    def take(self) -> int | None:
        if self.next_index >= self.cases:
            return None
        self.next_index += 1
        return self.next_index - 1

    def finding(self, kind: str, signature: str, data: Case | bytes | list[bytes], detail: str = "") -> None:
        """Record a finding; for a ``Case``, its bytes and what a replay needs (its sessions)."""
        context: dict[str, Any] = {}
        if isinstance(data, Case):
            context = {"sessions": data.sessions, "to_owner": data.to_owner, "relayed": self.relayed}
            data = data.data
        self.report.add(Finding(self.target, kind, signature, data, detail, self.seed, context))

    def judge_logs(self, case: Case, stderr: str, what: str) -> None:
        """A traceback the server logged (but the ``crashes`` tool's) is an error."""
        logged = traceback_signature(stderr)
        if logged and CRASH_MESSAGE not in logged:  # a failure answered well is still a bug (an observer's, say)
            self.finding("errors", f"logged {logged}", case, f"{what}\nserver stderr:\n{stderr[-4000:]}")

    async def stop(self, server: ServerProcess | RelayedServers | None = None) -> int | None:
        """Stop ``server`` (the run's by default); one that had to be killed is a hang."""
        server = server if server is not None else self.server
        status = await server.stop()
        if server.killed:
            self.finding("hangs", SHUTDOWN_HANG, b"", f"exit status {status}\n{server.stderr()[-4000:]}")
        return status

    async def server_died(self, generation: int, *, wedged: bool = False) -> None:
        """Record a death (once per generation), pin down the case, restart the server.
        ``wedged``: the process was stopped because it no longer served (already recorded)."""
        async with self.restart_lock:
            if generation != self.generation:
                return
            self.up = trio.Event()
            self.generation += 1  # what workers are doing now no longer counts
            status = self.server.returncode
            dead = self.server.dead() if isinstance(self.server, RelayedServers) else ""
            stderr = self.server.stderr()
            suspects = list(self.inflight.values()) + [
                c for c in reversed(self.recent) if c not in self.inflight.values()
            ]
            await self.stop()
            signature = traceback_signature(stderr) or f"exit status {status}"
            if dead:
                signature = f"{dead} died: {signature}"
            known = wedged or self.report.seen("deaths", signature)
            try:
                culprit = None if known else await self._pin_down(suspects)
            except RuntimeError:  # a fresh server would not start: leave the suspects unsorted
                culprit = None
            pinned = "already known" if known else culprit is not None
            detail = f"exit status {status}; {len(suspects)} suspects; pinned down: {pinned}\n{stderr[-5000:]}"
            if not wedged:
                self.finding("deaths", signature, culprit or [case.data for case in suspects], detail)
            await self.server.start_http()
            self.generation += 1
            self.up.set()

    async def _pin_down(self, suspects: list[Case]) -> Case | None:
        """Replay each suspect alone on a fresh server (not the workers'); the first that kills it."""
        if len(suspects) <= 1:
            return suspects[0] if suspects else None
        for case in suspects:
            server = self.server.fresh()
            held: list[Connection] = []
            data = case.data
            try:
                await server.start_http()
                with trio.move_on_after(self.timeout):
                    try:
                        data = await replant(case, server, held)
                        port = server.owner_port if case.to_owner else server.port
                        await send_case(port, attrs.evolve(case, data=data), self.timeout)
                    except (OSError, Malformed, trio.BrokenResourceError):
                        pass
                with trio.move_on_after(0.5):
                    while server.alive:
                        await trio.sleep(0.05)
                if not server.alive:
                    return attrs.evolve(case, data=data)
            finally:
                for connection in held:
                    await connection.close()
                await self.stop(server)
                server.cleanup()
        return None


def judge_status(run: Run, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any) -> bool:
    """Apply the oracle to one response's status and to what the servers logged meanwhile;
    whether the answers in it (or on its stream) are to be checked (a 2xx)."""
    era = "2026" if b"2026-07-28" in exchange.body else "handshake"
    run.report.outcomes[f"{exchange.method} {response.status} {era}"] += 1
    stderr = run.server.stderr(stderr_from)
    if response.status >= 500:
        trace = traceback_signature(stderr)
        signature = f"HTTP {response.status}" + (f" {trace}" if trace else f" {response.body[:80]!r}")
        detail = f"{response!r}\nserver stderr:\n{stderr[-4000:]}"
        run.finding("5xx", signature, case, detail)
        return False
    run.judge_logs(case, stderr, repr(response))
    if exchange.evil and response.status < 400:
        run.finding("errors", f"foreign Host/Origin accepted: {exchange.evil}", case, repr(response)[:2000])
    return 200 <= response.status < 300


def judge_answers(
    run: Run, case: Case, exchange: Exchange, response: HTTPResponse, answers: list[Any], where: str = ""
) -> None:
    """Each request with a valid id (not cancelled by the same body) answered exactly once."""
    expected = [request_id for request_id in exchange.ids if request_id not in exchange.cancelled]
    responses = [m for m in answers if isinstance(m, dict) and "method" not in m and ("result" in m or "error" in m)]
    if exchange.batch and len(responses) == 1 and responses[0].get("id") is None and "error" in responses[0]:
        return  # the batch refused as a whole (a revision without batches)
    for request_id in {repr(r): r for r in expected}.values():
        wanted = sum(1 for r in expected if repr(r) == repr(request_id))
        got = sum(1 for m in responses if repr(m.get("id")) == repr(request_id) and type(m.get("id")) in (int, str))
        if got != wanted:
            kind = "no response" if got == 0 else "duplicate responses"
            label = messages.describe(exchange.body, request_id)
            signature = f"{kind} in HTTP {response.status}{where} ({'batch' if exchange.batch else 'single'}): {label}"
            run.finding("lost", signature, case, f"id {request_id}\n{response!r}"[:4000])


def judge(run: Run, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any) -> None:
    """Apply the oracle to one response (its answers in its body)."""
    if not judge_status(run, case, exchange, response, stderr_from):
        return
    if not [request_id for request_id in exchange.ids if request_id not in exchange.cancelled]:
        return
    try:
        answers = response.messages()
    except ValueError as exc:
        run.finding("lost", f"unreadable {response.status} body", case, f"{exc}\n{response!r}")
        return
    judge_answers(run, case, exchange, response, answers)
