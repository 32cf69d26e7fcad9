"""The ``http-relayed`` target: two servers share a real ``redis-server``; the workers open their
sessions on one (the owner) and send their cases to the other (the front), which relays every
request of those sessions to the owner (a tenth of the cases go to the owner directly; one
worker in four has the roles the other way round). Beside the generated cases: session ids
naming the owner but no session, resumptions (:mod:`tests.fuzz.http_resume`), bursts (requests
for one session at once through both servers, a DELETE among them), large calls, clients that
leave at once; two workers hold an HTTP+SSE session (:mod:`tests.fuzz.http_legacy`).

The oracle is the ``http`` one over both processes, plus: a relay warning in either log (a
worker found gone, an exchange ended or refused, Redis unreachable) is an ``error``, and so are
relayed exchanges still open once the run is over.
"""

from __future__ import annotations

import collections
import json
import random
import re
from typing import Any

import trio

from . import messages
from .http_cases import Case, Exchange, big_case, forged_ids, make_case
from .http_resume import chatty_case, judge_resume, resume_case, take_over, takeover_case
from .http_run import Run
from .http_sessions import events, post
from .http_worker import Worker
from .processes import RelayedServers
from .rawhttp import Connection, HTTPResponse, Malformed

#: The share of the cases sent straight to the owner; of those resuming a finished stream of the
#: worker's (``GET`` with ``Last-Event-ID``: or making one); of those whose client leaves at once.
TO_OWNER = 0.1
RESUME = 0.04
LEAVE = 0.03
#: The share of the cases that are a large ``echo`` call (up to 3 MB each way), and of those
#: that are a burst (requests for one session at the same time, through both servers).
BIG = 0.005
BURST = 0.02
#: The share of the cases resuming a stream while it runs (see :func:`take_over`).
TAKEOVER = 0.02
#: What the relay logs when an exchange is lost (none of it may happen in a fuzz run).
_RELAY_WARNING = re.compile(
    r"WARNING trimcp[\w.]*: ((?:A relayed exchange|A relay frame|The relay cannot|Worker \w+ is gone|"
    r"Redis at \S+ cannot be reached|A change notification was dropped|An event from Redis).*)"
)


def relay_warning(stderr: str) -> str:
    """The first relay warning in ``stderr``, names and numbers blurred ("" when none)."""
    found = _RELAY_WARNING.search(stderr)
    if found is None:
        return ""
    return re.sub(r"\b[0-9a-f]{12}\b", "<worker>", re.sub(r"\d+", "N", found.group(1)))[:120]


class RelayedRun(Run):
    """A run over :class:`RelayedServers`, whose logs must hold no relay warning either."""

    target = "http-relayed"
    relayed = True
    server: RelayedServers

    def judge_logs(self, case: Case, stderr: str, what: str) -> None:
        super().judge_logs(case, stderr, what)
        if warning := relay_warning(stderr):
            self.finding("errors", f"logged {warning}", case, f"{what}\nserver stderr:\n{stderr[-4000:]}")

    async def check_relays_closed(self) -> None:
        """Once the clients left, every relayed exchange ends on both sides (bounded wait)."""
        server = self.server
        counts: dict[str, int | None] = {}
        with trio.move_on_after(10):
            while True:
                for name, port in (("owner", server.owner_port), ("front", server.port)):
                    try:
                        counts[name] = await _open_relayed_requests(port)
                    except (OSError, Malformed, trio.BrokenResourceError):
                        counts[name] = None
                if all(count == 0 for count in counts.values()):
                    return
                await trio.sleep(0.2)
        if server.alive:
            detail = f"trimcp_relayed_requests after the run: {counts}\n{server.stderr()[-3000:]}"
            self.finding("errors", "relayed exchanges left open after the run", b"", detail)

    async def count_redis_xadds(self) -> None:
        """Record in the outcomes how many XADDs the redis-server ran (each relayed request is a few)."""
        assert self.server.redis is not None
        with trio.move_on_after(5):
            self.report.outcomes["redis XADD"] = await _redis_calls(self.server.redis.port, "xadd") or 0


async def _open_relayed_requests(port: int) -> int | None:
    """The ``trimcp_relayed_requests`` gauge of the server on ``port`` (``None``: unreadable)."""
    connection = await Connection.open(port)
    try:
        await connection.send(f"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())
        response = await connection.response(request_method="GET")
    finally:
        await connection.close()
    found = re.search(rb"^trimcp_relayed_requests (\d+)", response.body if response else b"", re.MULTILINE)
    return int(found.group(1)) if found else None


async def _redis_calls(port: int, command: str) -> int | None:
    """How many times the redis-server on ``port`` ran ``command`` (``INFO commandstats``)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(b"INFO commandstats\r\n")
        data = b""
        with trio.move_on_after(5):
            while not (data.count(b"\r\n") >= 2 and data.endswith(b"\r\n\r\n")):
                piece = await stream.receive_some(65536)
                if not piece:
                    break
                data += piece
    finally:
        await stream.aclose()
    found = re.search(rb"cmdstat_%s:calls=(\d+)" % command.encode(), data)
    return int(found.group(1)) if found else None


def burst_case(rng: random.Random, ports: tuple[int, int], sessions: dict[str, str]) -> Case:
    """Requests for one session at the same time, each to either server: calls with progress,
    pings, a GET stream, ``notifications/cancelled`` for one of the calls, sometimes a DELETE."""
    version, session = rng.choice(sorted(sessions.items()))
    extra = f"mcp-session-id: {session}\r\nmcp-protocol-version: {version}\r\n"
    parts = []
    calls = []
    for _ in range(rng.randint(3, 7)):
        port = rng.choice(ports)
        roll = rng.random()
        if roll < 0.12:
            head = f"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: text/event-stream\r\n{extra}\r\n"
            exchange = Exchange("GET", b"", [], False, set(), session, sent_session=session, stream=True)
            parts.append(Case("burst-get", head.encode(), [exchange], clean=True, port=port))
            continue
        if roll < 0.2:
            head = f"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n{extra}\r\n"
            exchange = Exchange("DELETE", b"", [], False, set(), session, sent_session=session)
            parts.append(Case("burst-delete", head.encode(), [exchange], clean=True, port=port))
            continue
        if roll < 0.3 and calls:
            params = {"requestId": rng.choice(calls), "reason": "burst"}
            message: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
        elif roll < 0.45:
            message = {"jsonrpc": "2.0", "id": messages.next_id(rng), "method": "ping"}
        else:
            params = {"name": "chatty", "arguments": {"steps": rng.randint(0, 5)}, "_meta": {"progressToken": "p"}}
            message = {"jsonrpc": "2.0", "id": messages.next_id(rng), "method": "tools/call", "params": params}
            calls.append(message["id"])
        body = json.dumps(message).encode()
        ids = [message["id"]] if "id" in message else []
        exchange = Exchange("POST", body, ids, False, set(), session, sent_session=session)
        parts.append(Case("burst-post", post(port, "/mcp", body, extra), [exchange], clean=True, port=port))
    # a call cancelled by a notification of the burst, or whose session a DELETE of the burst
    # ended, may go unanswered
    deleting = any(part.mode == "burst-delete" for part in parts)
    named = {json.loads(part.exchanges[0].body)["params"]["requestId"] for part in parts if b"cancelled" in part.data}
    for part in parts:
        part.exchanges[0].cancelled = set(calls) if deleting else named
    data = b"".join(part.data for part in parts)
    exchange = Exchange("POST", b"", [], False, set(), session, sent_session=session)
    return Case("burst", data, [exchange], clean=False, parts=parts)


class RelayedWorker(Worker):
    """A worker whose sessions live on the owner and whose cases go to the front (a tenth to
    the owner), with the relayed case kinds beside the generated ones."""

    run: RelayedRun

    def __init__(self, run: RelayedRun, number: int) -> None:
        super().__init__(run, number)
        #: One worker in four has the servers' roles the other way round (its sessions live on
        #: the front, its cases go to the owner), so each relays to the other.
        self.reverse = number % 4 == 3
        #: Recent finished POST streams (session, version, events), to resume.
        self.streams: collections.deque[tuple[str, str, list[Any]]] = collections.deque(maxlen=4)

    @property
    def home(self) -> int:
        """The port of the server where this worker opens its sessions (their owner)."""
        server = self.run.server
        return server.port if self.reverse else server.owner_port

    @property
    def away(self) -> int:
        """The port of the server its cases go to (the other one)."""
        server = self.run.server
        return server.owner_port if self.reverse else server.port

    def route(self, port: int) -> str | None:
        """How a request to ``port`` reaches this worker's sessions: "relayed" or "direct"."""
        return {self.away: "relayed", self.home: "direct"}.get(port)

    def to_owner(self, index: int) -> bool:
        """Whether case ``index`` goes straight to the owner of the sessions."""
        return random.Random(f"{self.run.seed}/http-route/{index}").random() < TO_OWNER

    async def _reset(self) -> None:
        await super()._reset()
        self.streams.clear()

    def _make_case(self, index: int) -> Case:
        to_owner = self.to_owner(index)
        port = self.home if to_owner else self.away
        rng = random.Random(f"{self.run.seed}/http/{index}")
        live = [stream for stream in self.streams if self.sessions.get(stream[1]) == stream[0]]
        if self.sessions and rng.random() < RESUME:  # resume a stream, or make one to resume
            case = resume_case(rng, port, *rng.choice(live)) if live else chatty_case(rng, port, self.sessions)
        elif self.sessions and rng.random() < BIG:
            case = big_case(rng, port, self.sessions)
        elif self.sessions and rng.random() < BURST:
            case = burst_case(rng, (self.away, self.home), self.sessions)
        elif self.sessions and rng.random() < TAKEOVER:
            case = takeover_case(rng, (self.away, self.home), self.sessions)
        else:
            forged = self._forged(index)
            paths = [f"/messages?sessionId={session}" for session in forged[:4]]
            case = make_case(rng, port, self.sessions, forged=forged, paths=paths)
            if rng.random() < LEAVE:
                case.mode, case.clean = f"leave-{case.mode}", False
        case.port, case.to_owner, case.sessions = port, to_owner, dict(self.sessions)
        if case.mode in ("resume", "chatty", "big", "burst", "takeover") or case.mode.startswith("leave-"):
            self.run.report.outcomes[f"mode {case.mode.split('-')[0]}"] += 1
        return case

    def _forged(self, index: int) -> list[str]:
        """Session ids like the worker's own (naming the owner) that name no session."""
        if not self.sessions:
            return []
        rng = random.Random(f"{self.run.seed}/forged/{index}")
        return forged_ids(rng.choice(sorted(self.sessions.values())), rng)

    async def _send(self, case: Case, stderr_from: Any) -> list[HTTPResponse] | None:
        if case.mode.startswith("leave-"):
            await self._leave(case, stderr_from)
        elif case.mode == "burst":
            await self._burst(case, stderr_from)
        elif case.mode == "takeover":
            label = f"POST {self.route(case.port)}, GET {self.route(case.parts[0].port)}"
            await take_over(self, case, stderr_from, label)
        else:
            return await super()._send(case, stderr_from)
        return None

    async def _burst(self, case: Case, stderr_from: Any) -> None:
        """Send the burst's requests at the same time, each on a connection of its own; each must
        be answered in time, without a 5xx; a 404 only once a DELETE of the burst ended it."""
        run = self.run
        generation = run.generation
        outcomes: list[tuple[Case, HTTPResponse | BaseException]] = []

        async def send(part: Case) -> None:
            connection = await Connection.open(part.port)
            try:
                await connection.send(part.data)
                response = await connection.response(
                    head_only_streams=part.exchanges[0].stream, request_method=part.exchanges[0].method
                )
                outcomes.append((part, response if response is not None else Malformed("closed, no answer")))
            except (OSError, Malformed, trio.BrokenResourceError) as exc:
                outcomes.append((part, exc))
            finally:
                await connection.close()

        with trio.move_on_after(run.timeout) as waiting:
            async with trio.open_nursery() as nursery:
                for part in case.parts:
                    nursery.start_soon(send, part)
        if generation != run.generation or not run.server.alive:
            return
        answered = [part for part, _ in outcomes]
        for part in case.parts if waiting.cancelled_caught else ():
            if part not in answered:
                detail = f"no answer within {run.timeout} s to {part.data!r}"[:4000]
                run.finding("hangs", f"burst: {part.mode} {self.route(part.port)}", case, detail)
        deleting = any(part.mode == "burst-delete" for part in case.parts)
        live = set() if deleting else set(self.sessions.values())
        for part, outcome in outcomes:
            if isinstance(outcome, BaseException):
                detail = f"{outcome!r} answering {part.data!r}"[:4000]
                run.finding("lost", f"burst: {part.mode} {self.route(part.port)}: connection closed", case, detail)
            else:
                await self.judge_exchange(case, part.exchanges[0], outcome, stderr_from, live)
        if deleting:  # the burst's session is gone
            session = case.exchanges[0].session
            self.sessions = {version: s for version, s in self.sessions.items() if s != session}

    async def _leave(self, case: Case, stderr_from: Any) -> None:
        """Send the case on a connection of its own and close it at once (or a moment later),
        without reading: the request ends wherever it got (on the owner, through the relay)."""
        connection = await Connection.open(case.port)
        try:
            await connection.send(case.data)
            await trio.sleep(random.Random(case.data).choice((0, 0, 0.001, 0.005, 0.02)))
        finally:
            await connection.close()
        await trio.sleep(0.05)
        self.run.judge_logs(case, self.run.server.stderr(stderr_from), f"mode {case.mode}: the client left")
        if case.exchanges[0].method == "DELETE":
            await self._tidy(case, [HTTPResponse(0, {})])  # it may have ended one of ours

    async def judge_exchange(
        self, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any, live: set[str]
    ) -> None:
        """As :meth:`Worker.judge_exchange`, plus a resumption's events; a finished POST stream of
        one of the worker's sessions is kept to be resumed."""
        await super().judge_exchange(case, exchange, response, stderr_from, live)
        if case.mode == "resume":
            judge_resume(self.run, case, response)
        version = next((v for v, session in self.sessions.items() if session == exchange.sent_session), None)
        if (
            version
            and exchange.method == "POST"
            and response.status == 200
            and response.headers.get("content-type", "").startswith("text/event-stream")
        ):
            stream = events(response.body)
            if any(event.id for event in stream):
                self.streams.append((exchange.sent_session, version, stream))  # type: ignore[arg-type]
