"""Fuzz a live Streamable HTTP server (a real ``trimcp serve`` subprocess) over raw sockets.

Several workers share one server; each keeps a keep-alive connection and one initialized session
per handshake-era revision, and sends cases from :mod:`tests.fuzz.http_cases`. Findings:

- ``deaths``: the server process exited (for a new signature, the cases in flight and the last
  ones finished are replayed one by one on fresh servers to find the one that kills it; the
  server is restarted and the run goes on);
- ``hangs``: no complete answer within the timeout (or a dirty case's connection not closed);
- ``lost``: a request with a valid id whose 2xx answer does not carry exactly one response
  with that id (``202`` included); a foreign Host/Origin that was not refused counts as ``errors``;
- ``5xx``: any 5xx status.
"""

from __future__ import annotations

import collections
import random
import re
from typing import Any

import trio

from . import messages, values
from .findings import Finding, Report, traceback_signature
from .http_cases import Case, Exchange, make_case
from .processes import ServerProcess
from .rawhttp import Connection, HTTPResponse, Malformed
from .server import CRASH_MESSAGE


class _Run:
    """State shared by the workers: the server, its generation, the case counter, the report."""

    def __init__(self, cases: int, seed: int, timeout: float, extra_args: list[str]) -> None:
        self.cases = cases
        self.seed = seed
        self.timeout = timeout
        self.server = ServerProcess(extra_args)
        self.generation = 0
        self.next_index = 0
        self.report = Report("http")
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

    async def server_died(self, generation: int, *, wedged: bool = False) -> None:
        """Record a death (once per generation), pin down the case, restart the server.
        ``wedged``: the process was stopped because it no longer served (already recorded)."""
        async with self.restart_lock:
            if generation != self.generation:
                return
            self.up = trio.Event()
            self.generation += 1  # what workers are doing now no longer counts
            status = self.server.process.returncode if self.server.process else None
            stderr = self.server.stderr()
            suspects = list(self.inflight.values()) + [
                c for c in reversed(self.recent) if c not in self.inflight.values()
            ]
            await self.server.stop()
            signature = traceback_signature(stderr) or f"exit status {status}"
            known = wedged or self.report.seen("deaths", signature)
            try:
                culprit = None if known else await self._pin_down(suspects)
            except RuntimeError:  # a fresh server would not start: leave the suspects unsorted
                culprit = None
            data = [culprit.data] if culprit else [case.data for case in suspects]
            pinned = "already known" if known else culprit is not None
            detail = f"exit status {status}; {len(suspects)} suspects; pinned down: {pinned}\n{stderr[-5000:]}"
            if not wedged:
                self.report.add(Finding("http", "deaths", signature, data, detail, self.seed))
            await self.server.start_http()
            self.generation += 1
            self.up.set()

    async def _pin_down(self, suspects: list[Case]) -> Case | None:
        """Replay each suspect alone on a fresh server (not the workers'); the first that kills it."""
        if len(suspects) <= 1:
            return suspects[0] if suspects else None
        for case in suspects:
            server = ServerProcess(self.server.args)
            try:
                await server.start_http()
                with trio.move_on_after(self.timeout):
                    try:
                        await _send_case(server.port, case, self.timeout)
                    except (OSError, Malformed, trio.BrokenResourceError):
                        pass
                with trio.move_on_after(0.5):
                    while server.alive:
                        await trio.sleep(0.05)
                if not server.alive:
                    return case
            finally:
                await server.stop()
                server.cleanup()
        return None


async def _send_case(port: int, case: Case, timeout: float) -> list[HTTPResponse]:
    connection = await Connection.open(port)
    try:
        await connection.send(case.data)
        await connection.half_close()
        responses = []
        while (response := await connection.response(request_method=case.exchanges[0].method)) is not None:
            responses.append(response)
            if response.streaming:
                break
        return responses
    finally:
        await connection.close()


async def _initialize(connection: Connection, port: int, version: str, rng: random.Random) -> str | None:
    body = values.encode(messages.initialize(version, rng))
    head = (
        f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"accept: application/json, text/event-stream\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    await connection.send(head.encode() + body)
    response = await connection.response()
    if response is None or response.status != 200:
        return None
    session = response.headers.get("mcp-session-id")
    note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    head = (
        f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"accept: application/json, text/event-stream\r\nmcp-session-id: {session}\r\n"
        f"mcp-protocol-version: {version}\r\ncontent-length: {len(note)}\r\n\r\n"
    )
    await connection.send(head.encode() + note)
    await connection.response()
    return session


async def _delete(connection: Connection, port: int, session: str) -> None:
    head = f"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nmcp-session-id: {session}\r\n\r\n"
    await connection.send(head.encode("latin-1", "replace"))
    await connection.response()


def _judge(run: _Run, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: int) -> None:
    """Apply the oracle to one response."""
    era = "2026" if b"2026-07-28" in exchange.body else "handshake"
    run.report.outcomes[f"{exchange.method} {response.status} {era}"] += 1
    if response.status >= 500:
        trace = traceback_signature(run.server.stderr(stderr_from))
        signature = f"HTTP {response.status}" + (f" {trace}" if trace else f" {response.body[:80]!r}")
        detail = f"{response!r}\nserver stderr:\n{run.server.stderr(stderr_from)[-4000:]}"
        run.report.add(Finding("http", "5xx", signature, case.data, detail, run.seed))
        return
    logged = traceback_signature(run.server.stderr(stderr_from))
    if logged and CRASH_MESSAGE not in logged:  # a failure answered well is still a bug (an observer's, say)
        detail = f"{response!r}\nserver stderr:\n{run.server.stderr(stderr_from)[-4000:]}"
        run.report.add(Finding("http", "errors", f"logged {logged}", case.data, detail, run.seed))
    if exchange.evil and response.status < 400:
        signature = f"foreign Host/Origin accepted: {exchange.evil}"
        run.report.add(Finding("http", "errors", signature, case.data, repr(response)[:2000], run.seed))
    expected = [request_id for request_id in exchange.ids if request_id not in exchange.cancelled]
    if not expected or not 200 <= response.status < 300:
        return
    try:
        answers = response.messages()
    except ValueError as exc:
        run.report.add(Finding("http", "lost", f"unreadable {response.status} body", case.data, f"{exc}\n{response!r}"))
        return
    responses = [m for m in answers if isinstance(m, dict) and "method" not in m and ("result" in m or "error" in m)]
    if exchange.batch and len(responses) == 1 and responses[0].get("id") is None and "error" in responses[0]:
        return  # the batch refused as a whole (a revision without batches)
    for request_id in {repr(r): r for r in expected}.values():
        wanted = sum(1 for r in expected if repr(r) == repr(request_id))
        got = sum(1 for m in responses if repr(m.get("id")) == repr(request_id) and type(m.get("id")) in (int, str))
        if got != wanted:
            kind = "no response" if got == 0 else "duplicate responses"
            label = messages.describe(exchange.body, request_id)
            signature = f"{kind} in HTTP {response.status} ({'batch' if exchange.batch else 'single'}): {label}"
            run.report.add(
                Finding("http", "lost", signature, case.data, f"id {request_id}\n{response!r}"[:4000], run.seed)
            )


class _Worker:
    """One connection and one session per handshake-era revision, re-made after a restart."""

    def __init__(self, run: _Run, number: int) -> None:
        self.run = run
        self.number = number
        self.rng = random.Random(f"{run.seed}/http-worker/{number}")
        self.generation = -1
        self.connection: Connection | None = None
        self.sessions: dict[str, str] = {}
        self.previous: Case | None = None

    async def _connection(self) -> Connection:
        if self.generation != self.run.generation:
            await self._drop()
            self.sessions = {}
            self.generation = self.run.generation
        if self.connection is None:
            self.connection = await Connection.open(self.run.server.port)
        return self.connection

    async def _drop(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None

    async def _ensure_sessions(self) -> None:
        for version in messages.HANDSHAKE_VERSIONS:
            if version not in self.sessions:
                session = await _initialize(await self._connection(), self.run.server.port, version, self.rng)
                if session:
                    self.sessions[version] = session

    async def loop(self) -> None:
        run = self.run
        while (index := run.take()) is not None:
            await run.up.wait()
            generation = run.generation
            try:
                with trio.fail_after(run.timeout):
                    await self._ensure_sessions()
            except (trio.TooSlowError, OSError, Malformed, trio.BrokenResourceError):
                await self._drop()
                if not run.server.alive:
                    await run.server_died(generation)
                continue
            case = make_case(random.Random(f"{run.seed}/http/{index}"), run.server.port, self.sessions)
            run.inflight[self.number] = case
            stderr_from = run.server.stderr_size()
            try:
                await self._run_case(case, stderr_from)
            finally:
                run.inflight.pop(self.number, None)
                run.recent.append(case)
                self.previous = case if case.clean and self.connection is not None else None
            run.report.count()
            if not run.server.alive:
                await run.server_died(generation)

    async def _run_case(self, case: Case, stderr_from: int) -> None:
        run = self.run
        generation = run.generation
        try:
            with trio.fail_after(run.timeout):
                if case.clean:
                    responses = await self._clean(case)
                else:
                    await _send_case(run.server.port, case, run.timeout)
                    responses = []
        except trio.TooSlowError:
            await self._drop()
            if run.server.alive and generation == run.generation:
                detail = f"mode {case.mode}; no answer within {run.timeout} s; previous case on this connection:\n"
                detail += repr(self.previous.data[:3000]) if self.previous else "none"
                chunks = (
                    case.data.count(b"\r\n") - case.data.split(b"\r\n\r\n", 1)[0].count(b"\r\n")
                    if "chunked" in case.mode
                    else 0
                )
                many = ", 10+ body chunks" if chunks >= 20 else ""
                signature = f"{case.mode} {case.exchanges[0].method.upper()}{many}"
                run.report.add(Finding("http", "hangs", signature, case.data, detail, run.seed))
            return
        except (OSError, trio.BrokenResourceError, Malformed) as exc:
            await self._drop()
            if not run.server.alive or generation != run.generation:
                return
            if "attempts to connect" in str(exc):
                # Alive but not accepting: as good as dead. Record it, then restart the server.
                run.report.add(
                    Finding(
                        "http",
                        "hangs",
                        "the live server refuses connections",
                        case.data,
                        f"{exc!r}\n{run.server.stderr()[-4000:]}",
                        run.seed,
                    )
                )
                await run.server.stop()
                await run.server_died(generation, wedged=True)
            elif case.clean:
                where = str(exc).rsplit("answering ", 1)[-1] if "answering" in str(exc) else type(exc).__name__
                run.report.add(Finding("http", "lost", f"connection closed: {where}", case.data, f"{exc!r}", run.seed))
            return
        for exchange, response in zip(case.exchanges, responses, strict=False):
            _judge(run, case, exchange, response, stderr_from)
        try:
            with trio.fail_after(run.timeout):
                await self._tidy(case, responses)
        except trio.TooSlowError:
            await self._drop()
            if run.server.alive and generation == run.generation:
                detail = f"a session DELETE after this case got no answer within {run.timeout} s"
                run.report.add(Finding("http", "hangs", "DELETE after the case", case.data, detail, run.seed))
        except (OSError, trio.BrokenResourceError, Malformed):
            await self._drop()

    async def _tidy(self, case: Case, responses: list[HTTPResponse]) -> None:
        """End sessions the case created (or may have ended), so that none leak."""
        for exchange, response in zip(case.exchanges, responses, strict=False):
            if response.status == 404 and exchange.session in self.sessions.values():
                self.sessions = {v: s for v, s in self.sessions.items() if s != exchange.session}
            created = response.headers.get("mcp-session-id")
            if created and created not in self.sessions.values() and self.connection is not None:
                await _delete(self.connection, self.run.server.port, created)
            if exchange.method == "DELETE" and self.connection is not None:
                # It may have ended one of ours: end them all and make new ones.
                for session in self.sessions.values():
                    await _delete(self.connection, self.run.server.port, session)
                self.sessions = {}

    async def _clean(self, case: Case) -> list[HTTPResponse]:
        reused = self.connection is not None and self.generation == self.run.generation
        connection = await self._connection()
        try:
            await connection.send(case.data)
        except (OSError, trio.BrokenResourceError):
            pass  # the server may have answered early (431, 413…) and closed: read that answer
        first = await connection.response(
            head_only_streams=case.exchanges[0].stream, request_method=case.exchanges[0].method
        )
        if first is None and reused and not connection.buffer:
            # The server closed the idle keep-alive connection: send again on a fresh one.
            await self._drop()
            connection = await self._connection()
            await connection.send(case.data)
            first = await connection.response(
                head_only_streams=case.exchanges[0].stream, request_method=case.exchanges[0].method
            )
        responses = []
        for number, exchange in enumerate(case.exchanges):
            if number == 0:
                response = first
            else:
                response = await connection.response(head_only_streams=exchange.stream, request_method=exchange.method)
            if response is None:
                raise Malformed(
                    f"the connection closed without answering request {number + 1} of {len(case.exchanges)}"
                )
            responses.append(response)
            if response.streaming or response.headers.get("connection", "").lower() == "close":
                await self._drop()
                break
        return responses


async def run_http(
    cases: int, seed: int, *, workers: int = 8, timeout: float = 10.0, extra_args: list[str] = ()
) -> Report:  # type: ignore[assignment]
    """Send ``cases`` cases to a fresh server with ``workers`` concurrent connections."""
    run = _Run(cases, seed, timeout, list(extra_args))
    await run.server.start_http()
    try:
        async with trio.open_nursery() as nursery:
            for number in range(workers):
                nursery.start_soon(_Worker(run, number).loop)
    finally:
        status = await run.server.stop()
        if status not in (0, -15, None) and run.report.counts["deaths"] == 0:
            run.report.add(
                Finding("http", "deaths", f"exit status {status} at shutdown", b"", run.server.stderr()[-4000:])
            )
        run.server.cleanup()
    return run.report


def main_sync(cases: int, seed: int, **options: Any) -> Report:
    return trio.run(lambda: run_http(cases, seed, **options))


async def replay(
    data: bytes, *, timeout: float = 10.0, extra_args: list[str] = ()
) -> tuple[list[HTTPResponse], str, bool]:  # type: ignore[assignment]
    """Send saved request bytes (the port in them rewritten) to a fresh server: the responses,
    the server's stderr, and whether it is still alive."""
    server = ServerProcess(list(extra_args))
    await server.start_http()
    try:
        data = re.sub(rb"(127\.0\.0\.1|localhost|\[::1\]|evil\.example):\d+", rb"\1:%d" % server.port, data)
        case = Case("replay", data, [Exchange("POST", b"", [], False, set())], clean=False)
        responses: list[HTTPResponse] = []
        with trio.move_on_after(timeout):
            try:
                responses = await _send_case(server.port, case, timeout)
            except (OSError, Malformed, trio.BrokenResourceError) as exc:
                print(f"connection: {exc!r}")
        await trio.sleep(0.5)
        return responses, server.stderr(), server.alive
    finally:
        await server.stop()
        server.cleanup()
