"""A worker of the ``http`` target: one keep-alive connection and one initialized session per
handshake-era revision, cases from :mod:`tests.fuzz.http_cases` sent one at a time and judged.
The relayed target's workers (:mod:`tests.fuzz.http_relayed`) build on it."""

from __future__ import annotations

import random
from typing import Any

import trio

from . import messages
from .http_cases import Case, Exchange, make_case
from .http_run import Run, judge
from .http_sessions import delete, initialize, send_case
from .rawhttp import Connection, HTTPResponse, Malformed

#: What a server answers for a session it does not know.
NO_SUCH_SESSION = b"no such session"


class Worker:
    """One connection (per server) and one session per handshake-era revision, re-made after a
    restart; its sessions on :attr:`home`, its cases to :attr:`away` (one server: the same)."""

    def __init__(self, run: Run, number: int) -> None:
        self.run = run
        self.number = number
        self.rng = random.Random(f"{run.seed}/http-worker/{number}")
        self.generation = -1
        self.connections: dict[int, Connection] = {}
        self.sessions: dict[str, str] = {}
        self.previous: Case | None = None

    @property
    def home(self) -> int:
        """The port of the server where this worker opens its sessions."""
        return self.run.server.owner_port

    @property
    def away(self) -> int:
        """The port of the server its cases go to."""
        return self.run.server.port

    def _fresh_generation(self) -> bool:
        """Whether the server was restarted since this worker last used it."""
        return self.generation != self.run.generation

    async def _connection(self, port: int) -> Connection:
        if self._fresh_generation():
            await self._drop()
            await self._reset()
            self.generation = self.run.generation
        if port not in self.connections:
            self.connections[port] = await Connection.open(port)
        return self.connections[port]

    async def _reset(self) -> None:
        """Forget the sessions (the server was restarted)."""
        self.sessions = {}

    async def _drop(self, port: int | None = None) -> None:
        """Close the connection to ``port`` (all of them by default)."""
        for number in list(self.connections) if port is None else [port]:
            connection = self.connections.pop(number, None)
            if connection is not None:
                await connection.close()

    async def _ensure_sessions(self) -> None:
        port = self.home
        for version in messages.HANDSHAKE_VERSIONS:
            if version not in self.sessions:
                reused = port in self.connections
                try:
                    session = await initialize(await self._connection(port), port, version, self.rng)
                except (OSError, trio.BrokenResourceError, Malformed):
                    if not reused:
                        raise
                    await self._drop(port)  # the server closed the idle keep-alive connection
                    session = await initialize(await self._connection(port), port, version, self.rng)
                if session:
                    self.sessions[version] = session

    def _make_case(self, index: int) -> Case:
        port = self.away
        case = make_case(random.Random(f"{self.run.seed}/http/{index}"), port, self.sessions)
        case.port, case.sessions = port, dict(self.sessions)
        return case

    async def loop(self) -> None:
        try:
            await self._loop()
        finally:
            await self._drop()

    async def _loop(self) -> None:
        run = self.run
        while (index := run.take()) is not None:
            await run.up.wait()
            generation = run.generation
            try:
                with trio.fail_after(run.timeout):
                    await self._ensure_sessions()
            except (trio.TooSlowError, OSError, Malformed, trio.BrokenResourceError) as exc:
                await self._drop()
                run.report.outcomes[f"opening sessions failed: {type(exc).__name__}"] += 1
                if not run.server.alive:
                    await run.server_died(generation)
                else:
                    self._session_failed(exc, generation)
                continue
            case = self._make_case(index)
            run.inflight[self.number] = case
            stderr_from = run.server.stderr_size()
            try:
                await self._run_case(case, stderr_from)
            finally:
                run.inflight.pop(self.number, None)
                run.recent.append(case)
                self.previous = case if case.clean and case.port in self.connections else None
            run.report.count()
            if not run.server.alive:
                await run.server_died(generation)

    def _session_failed(self, exc: BaseException, generation: int) -> None:
        """Opening the sessions failed with the server alive (retried with the next case)."""

    async def _send(self, case: Case, stderr_from: Any) -> list[HTTPResponse] | None:
        """Send ``case``: the responses to judge (``None``: the case was judged as it ran)."""
        if case.clean:
            return await self._clean(case)
        await send_case(case.port, case, self.run.timeout)
        return []

    async def _run_case(self, case: Case, stderr_from: Any) -> None:
        run = self.run
        generation = run.generation
        live = set(self.sessions.values())
        try:
            with trio.fail_after(run.timeout):
                responses = await self._send(case, stderr_from)
                if responses is None:
                    return
        except trio.TooSlowError:
            await self._drop(case.port)
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
                run.finding("hangs", signature, case, detail)
            return
        except (OSError, trio.BrokenResourceError, Malformed) as exc:
            await self._drop(case.port)
            if not run.server.alive or generation != run.generation:
                return
            if "attempts to connect" in str(exc):
                # Alive but not accepting: as good as dead. Record it, then restart the server.
                detail = f"{exc!r}\n{run.server.stderr()[-4000:]}"
                run.finding("hangs", "the live server refuses connections", case, detail)
                await run.stop()
                await run.server_died(generation, wedged=True)
            elif case.clean:
                where = str(exc).rsplit("answering ", 1)[-1] if "answering" in str(exc) else type(exc).__name__
                run.finding("lost", f"connection closed: {where}", case, f"{exc!r}")
            return
        deleted = False
        for exchange, response in zip(case.exchanges, responses, strict=False):
            await self.judge_exchange(case, exchange, response, stderr_from, set() if deleted else live)
            deleted = deleted or exchange.method == "DELETE"
        try:
            with trio.fail_after(run.timeout):
                await self._tidy(case, responses)
        except trio.TooSlowError:
            await self._drop()
            if run.server.alive and generation == run.generation:
                detail = f"a session DELETE after this case got no answer within {run.timeout} s"
                run.finding("hangs", "DELETE after the case", case, detail)
        except (OSError, trio.BrokenResourceError, Malformed):
            await self._drop()

    async def judge_exchange(
        self, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any, live: set[str]
    ) -> None:
        """Apply the oracle to one response; a ``404`` for one of the ``live`` sessions is lost."""
        judge(self.run, case, exchange, response, stderr_from)
        if (
            response.status == 404
            and exchange.sent_session in live
            and exchange.target == "/mcp"
            and NO_SUCH_SESSION in response.body
        ):
            signature = f"404 for a live session ({exchange.method}{', relayed' if not case.to_owner else ''})"
            self.run.finding("lost", signature, case, f"{response!r}"[:4000])

    async def _tidy(self, case: Case, responses: list[HTTPResponse]) -> None:
        """End sessions the case created (or may have ended), so that none leak."""
        port = self.away
        if not case.clean and case.exchanges[0].method == "DELETE":
            responses = [HTTPResponse(0, {})]  # it may have ended one of ours: renew them below
        for exchange, response in zip(case.exchanges, responses, strict=False):
            if response.status == 404 and exchange.session in self.sessions.values():
                self.sessions = {v: s for v, s in self.sessions.items() if s != exchange.session}
            created = response.headers.get("mcp-session-id")
            if created and created not in self.sessions.values():
                await delete(await self._connection(port), port, created)
            if exchange.method == "DELETE":
                # It may have ended one of ours: end them all and make new ones.
                for session in self.sessions.values():
                    await delete(await self._connection(port), port, session)
                self.sessions = {}

    async def _clean(self, case: Case) -> list[HTTPResponse]:
        """Send a clean case on the keep-alive connection: one response per request."""
        port = case.port
        reused = port in self.connections and not self._fresh_generation()
        connection = await self._connection(port)
        try:
            await connection.send(case.data)
        except (OSError, trio.BrokenResourceError):
            pass  # the server may have answered early (431, 413…) and closed: read that answer
        first = await connection.response(
            head_only_streams=case.exchanges[0].stream, request_method=case.exchanges[0].method
        )
        if first is None and reused and not connection.buffer:
            # The server closed the idle keep-alive connection: send again on a fresh one.
            await self._drop(port)
            connection = await self._connection(port)
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
                await self._drop(port)
                break
        return responses
