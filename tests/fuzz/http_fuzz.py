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

Relayed mode (``relayed=True``): two servers share a real ``redis-server``; the workers open
their sessions on one (the owner) and send their cases to the other (the front), which relays
every request of those sessions to the owner (a tenth of the cases go to the owner directly;
one worker in four has the roles the other way round). Two of the workers hold an HTTP+SSE
session instead (``GET /sse`` on the owner), POST their cases to its ``/messages?sessionId=…``
on the front, and read the answers on the stream. Beside the generated cases: session ids
naming the owner but no session, resumptions (``GET`` + ``Last-Event-ID``) of finished streams,
take-overs (a stream resumed while it runs), bursts (requests for one session at once through
both servers, a DELETE among them), large calls, clients that leave at once. The oracle is the
same, over both processes (and the redis-server), plus: an answer missing from the HTTP+SSE
stream, a live session answered ``404``, a resumption replaying other events, a take-over
losing, repeating or reordering events or leaving a response open are ``lost`` (or ``hangs``);
a relay warning in either log (a worker found gone, an exchange ended or refused, Redis
unreachable) is an ``error``, and so are relayed exchanges still open once the run is over; a
server that does not exit within 10 s of SIGTERM is a ``hang``.
"""

from __future__ import annotations

import collections
import json
import random
import re
from typing import Any

import attrs
import trio

from trimcp.protocol.sse import SSEDecoder

from . import messages, values
from .findings import Finding, Report, traceback_signature
from .http_cases import Case, Exchange, big_case, forged_ids, make_case
from .processes import EXIT_WITHIN, RelayedServers, ServerProcess
from .rawhttp import Connection, HTTPResponse, Malformed
from .server import CRASH_MESSAGE

#: Relayed mode: the share of the cases sent straight to the owner; of those resuming a finished
#: stream of the worker's (``GET`` with ``Last-Event-ID``: or making one); of those whose client
#: leaves at once.
TO_OWNER = 0.1
RESUME = 0.04
LEAVE = 0.03
#: Relayed mode: the share of the cases that are a large ``echo`` call (up to 3 MB each way), and
#: of those that are a burst (requests for one session at the same time, through both servers).
BIG = 0.005
BURST = 0.02
#: Relayed mode: the share of the cases resuming a stream while it runs (see ``_takeover``).
TAKEOVER = 0.02
SHUTDOWN_HANG = f"no exit within {EXIT_WITHIN:g} s of SIGTERM"
#: What the relay logs when an exchange is lost (none of it may happen in a fuzz run).
_RELAY_WARNING = re.compile(
    r"WARNING trimcp[\w.]*: ((?:A relayed exchange|A relay frame|The relay cannot|Worker \w+ is gone|"
    r"Redis at \S+ cannot be reached|A change notification was dropped|An event from Redis).*)"
)
_NO_SUCH_SESSION = b"no such session"


def relay_warning(stderr: str) -> str:
    """The first relay warning in ``stderr``, names and numbers blurred ("" when none)."""
    found = _RELAY_WARNING.search(stderr)
    if found is None:
        return ""
    return re.sub(r"\b[0-9a-f]{12}\b", "<worker>", re.sub(r"\d+", "N", found.group(1)))[:120]


class _Run:
    """State shared by the workers: the server, its generation, the case counter, the report."""

    def __init__(self, cases: int, seed: int, timeout: float, extra_args: list[str], relayed: bool = False) -> None:
        self.cases = cases
        self.seed = seed
        self.timeout = timeout
        self.relayed = relayed
        self.server: ServerProcess | RelayedServers = (
            RelayedServers(extra_args) if relayed else ServerProcess(extra_args)
        )
        self.target = "http-relayed" if relayed else "http"
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
                        await _send_case(port, attrs.evolve(case, data=data), self.timeout)
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


def _post(port: int, target: str, body: bytes, headers: str = "") -> bytes:
    head = (
        f"POST {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"accept: application/json, text/event-stream\r\n{headers}content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _initialize(connection: Connection, port: int, version: str, rng: random.Random) -> str | None:
    await connection.send(_post(port, "/mcp", values.encode(messages.initialize(version, rng))))
    response = await connection.response()
    if response is None or response.status != 200:
        return None
    session = response.headers.get("mcp-session-id")
    note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    await connection.send(
        _post(port, "/mcp", note, f"mcp-session-id: {session}\r\nmcp-protocol-version: {version}\r\n")
    )
    await connection.response()
    return session


async def _delete(connection: Connection, port: int, session: str) -> None:
    head = f"DELETE /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nmcp-session-id: {session}\r\n\r\n"
    await connection.send(head.encode("latin-1", "replace"))
    await connection.response()


class _SSEStream:
    """The client's end of an HTTP+SSE session: its ``GET /sse`` stream, read event by event."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._decoder = SSEDecoder()
        self._pending: list[Any] = []
        self._response: HTTPResponse | None = None
        self.endpoint = ""
        self.session = ""

    @classmethod
    async def open(cls, port: int) -> _SSEStream:
        """Open the stream and read its ``endpoint`` event. Raises ``Malformed``."""
        stream = cls(await Connection.open(port))
        try:
            await stream.connection.send(
                f"GET /sse HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: text/event-stream\r\n\r\n".encode()
            )
            response = await stream.connection.response(request_method="GET")
            if response is None or not response.streaming:
                raise Malformed(f"GET /sse answered {response!r}")
            stream._response = response
            event = await stream.next_event()
            if event is None or event.event != "endpoint" or "sessionId=" not in event.data:
                raise Malformed(f"no endpoint event on the HTTP+SSE stream: {event!r}")
        except BaseException:
            await stream.connection.close()
            raise
        stream.endpoint = event.data
        stream.session = event.data.split("sessionId=", 1)[1]
        return stream

    async def next_event(self) -> Any:
        """The next event (``None`` once the stream ended)."""
        assert self._response is not None
        while not self._pending:
            piece = await self.connection.body_piece(self._response)
            if piece is None:
                return None
            self._pending.extend(self._decoder.feed(piece))
        return self._pending.pop(0)


def _answers_in(event: Any) -> list[Any]:
    """The JSON-RPC responses an SSE event carries (raises ``ValueError`` for data not JSON)."""
    if not event.data or event.event != "message":
        return []
    value = json.loads(event.data)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict) and "method" not in item]


async def _open_legacy_session(port: int, front: int, version: str, rng: random.Random) -> _SSEStream:
    """An HTTP+SSE session: its stream opened on ``port``, its ``initialize`` POSTed to ``front``
    and answered on the stream, then its ``notifications/initialized``. Raises ``Malformed``."""
    stream = await _SSEStream.open(port)
    try:
        initialize = messages.initialize(version, rng)
        note = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        for body in (values.encode(initialize), note):
            connection = await Connection.open(front)
            try:
                await connection.send(_post(front, stream.endpoint, body))
                response = await connection.response()
            finally:
                await connection.close()
            if response is None or response.status != 202:
                raise Malformed(f"a POST to the HTTP+SSE session's endpoint answered {response!r}")
            while body is not note:
                event = await stream.next_event()
                if event is None:
                    raise Malformed("the HTTP+SSE stream ended before initialize was answered")
                if any(answer.get("id") == initialize["id"] for answer in _answers_in(event)):
                    break
    except BaseException:
        await stream.connection.close()
        raise
    return stream


_HOSTS = re.compile(rb"(127\.0\.0\.1|localhost|LOCALHOST|\[::1\]|evil\.example):\d+")


async def replant(case: Case, server: ServerProcess | RelayedServers, held: list[Connection]) -> bytes:
    """``case``'s bytes for the fresh ``server``: its ports, and new sessions (opened on its owner;
    the connections that keep them are appended to ``held``) in place of the ones they named."""
    port = server.owner_port if case.to_owner else server.port
    data = _HOSTS.sub(rb"\1:%d" % port, case.data)
    rng = random.Random(0)
    for key, old in case.sessions.items():
        if key == "sse":
            stream = await _open_legacy_session(server.owner_port, server.port, "2024-11-05", rng)
            held.append(stream.connection)
            new: str | None = stream.session
        else:
            connection = await Connection.open(server.owner_port)
            held.append(connection)
            new = await _initialize(connection, server.owner_port, key, rng)
        if new:
            data = data.replace(old.encode("latin-1", "replace"), new.encode("latin-1", "replace"))
    return data


def _judge_logs(run: _Run, case: Case, stderr: str, what: str) -> None:
    """A traceback (but the ``crashes`` tool's) or a relay warning the servers logged is an error."""
    logged = traceback_signature(stderr)
    if logged and CRASH_MESSAGE not in logged:  # a failure answered well is still a bug (an observer's, say)
        run.finding("errors", f"logged {logged}", case, f"{what}\nserver stderr:\n{stderr[-4000:]}")
    if run.relayed and (warning := relay_warning(stderr)):
        run.finding("errors", f"logged {warning}", case, f"{what}\nserver stderr:\n{stderr[-4000:]}")


def _judge_status(run: _Run, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any) -> bool:
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
    _judge_logs(run, case, stderr, repr(response))
    if exchange.evil and response.status < 400:
        run.finding("errors", f"foreign Host/Origin accepted: {exchange.evil}", case, repr(response)[:2000])
    return 200 <= response.status < 300


def _judge_answers(
    run: _Run, case: Case, exchange: Exchange, response: HTTPResponse, answers: list[Any], where: str = ""
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


def _judge(run: _Run, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any) -> None:
    """Apply the oracle to one response (its answers in its body)."""
    if not _judge_status(run, case, exchange, response, stderr_from):
        return
    if not [request_id for request_id in exchange.ids if request_id not in exchange.cancelled]:
        return
    try:
        answers = response.messages()
    except ValueError as exc:
        run.finding("lost", f"unreadable {response.status} body", case, f"{exc}\n{response!r}")
        return
    _judge_answers(run, case, exchange, response, answers)


def _events(body: bytes) -> list[Any]:
    """The SSE events in a complete event-stream body."""
    return SSEDecoder().feed(body + b"\n\n")


def _resume_case(rng: random.Random, port: int, session: str, version: str, events: list[Any]) -> Case:
    """``GET`` with ``Last-Event-ID`` naming an event of a finished POST stream of ``session``
    (``replay``: the data of the events after it), or (a third of the time) a damaged id."""
    ids = [event.id for event in events if event.id]
    number = rng.randrange(len(ids))
    event_id, replay = ids[number], [event.data for event in events[number + 1 :] if event.data]
    if rng.random() < 0.3:
        parts = event_id.split("-")
        slot = rng.randrange(len(parts))
        parts[slot] = rng.choice((str(int(parts[slot]) + rng.choice((1, 1000, 2**40))), "0", "-1", "", "x"))
        damaged = "-".join(parts) if rng.random() < 0.8 else f"{event_id}-{rng.randrange(9)}"
        event_id, replay = damaged, None
    head = (
        f"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: text/event-stream\r\nmcp-session-id: {session}\r\n"
        f"mcp-protocol-version: {version}\r\nlast-event-id: {event_id}\r\n\r\n"
    )
    # a damaged id may name a stream still open (the GET stream is number 0): read the head only
    exchange = Exchange("GET", b"", [], False, set(), session, sent_session=session, stream=replay is None)
    return Case("resume", head.encode(), [exchange], clean=True, replay=replay)


def _chatty_case(rng: random.Random, port: int, sessions: dict[str, str]) -> Case:
    """A ``chatty`` call (logs and progress: answered on an event stream) in one of ``sessions``."""
    version, session = rng.choice(sorted(sessions.items()))
    params = {"name": "chatty", "arguments": {"steps": rng.randint(1, 5)}, "_meta": {"progressToken": "p"}}
    message = {"jsonrpc": "2.0", "id": messages.next_id(rng), "method": "tools/call", "params": params}
    body = json.dumps(message).encode()
    extra = f"mcp-session-id: {session}\r\nmcp-protocol-version: {version}\r\n"
    exchange = Exchange("POST", body, [message["id"]], False, set(), session, sent_session=session)
    return Case("chatty", _post(port, "/mcp", body, extra), [exchange], clean=True)


def _burst_case(rng: random.Random, ports: tuple[int, int], sessions: dict[str, str]) -> Case:
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
        parts.append(Case("burst-post", _post(port, "/mcp", body, extra), [exchange], clean=True, port=port))
    # a call cancelled by a notification of the burst, or whose session a DELETE of the burst
    # ended, may go unanswered
    deleting = any(part.mode == "burst-delete" for part in parts)
    named = {json.loads(part.exchanges[0].body)["params"]["requestId"] for part in parts if b"cancelled" in part.data}
    for part in parts:
        part.exchanges[0].cancelled = set(calls) if deleting else named
    data = b"".join(part.data for part in parts)
    exchange = Exchange("POST", b"", [], False, set(), session, sent_session=session)
    return Case("burst", data, [exchange], clean=False, parts=parts)


def _takeover_case(rng: random.Random, ports: tuple[int, int], sessions: dict[str, str]) -> Case:
    """A ``drip`` call (a stream that lasts a little) and, in ``parts``, the ``GET`` that will
    resume it while it runs, after its ``after``-th event (``{event_id}`` to fill in); each to
    either server."""
    version, session = rng.choice(sorted(sessions.items()))
    extra = f"mcp-session-id: {session}\r\nmcp-protocol-version: {version}\r\n"
    steps = rng.randint(2, 10)
    arguments = {"steps": steps, "delay": rng.choice((0, 0.001, 0.005, 0.01, 0.03))}
    params = {"name": "drip", "arguments": arguments, "_meta": {"progressToken": rng.choice(("p", 7))}}
    message = {"jsonrpc": "2.0", "id": messages.next_id(rng), "method": "tools/call", "params": params}
    body = json.dumps(message).encode()
    post_port, get_port = rng.choice(ports), rng.choice(ports)
    exchange = Exchange("POST", body, [message["id"]], False, set(), session, sent_session=session)
    get = (
        f"GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:{get_port}\r\naccept: text/event-stream\r\n{extra}"
        "last-event-id: {event_id}\r\n\r\n"
    )
    resume = Exchange("GET", b"", [], False, set(), session, sent_session=session)
    part = Case("takeover-get", get.encode(), [resume], clean=True, port=get_port)
    after = rng.randint(1, steps + 1)
    data = _post(post_port, "/mcp", body, extra)
    return Case("takeover", data, [exchange], clean=True, port=post_port, parts=[part], after=after)


def _sequence(event: Any) -> tuple[str, int] | None:
    """An event id's stream (``<session>-<stream>``) and number."""
    stream, _, seq = (event.id or "").rpartition("-")
    return (stream, int(seq)) if stream and seq.isdigit() else None


class _Worker:
    """One connection (per server) and one session per handshake-era revision, re-made after a
    restart. In relayed mode the sessions are opened on the owner, the cases sent to the front
    (a tenth to the owner)."""

    def __init__(self, run: _Run, number: int) -> None:
        self.run = run
        self.number = number
        self.rng = random.Random(f"{run.seed}/http-worker/{number}")
        self.generation = -1
        self.connections: dict[int, Connection] = {}
        self.sessions: dict[str, str] = {}
        self.previous: Case | None = None
        #: Relayed mode: one worker in four has the servers' roles the other way round (its
        #: sessions live on the front, its cases go to the owner), so each relays to the other.
        self.reverse = run.relayed and number % 4 == 3
        #: Relayed mode: recent finished POST streams (session, version, events), to resume.
        self.streams: collections.deque[tuple[str, str, list[Any]]] = collections.deque(maxlen=4)

    @property
    def home(self) -> int:
        """The port of the server where this worker opens its sessions (relayed: their owner)."""
        server = self.run.server
        return server.port if self.reverse else server.owner_port

    @property
    def away(self) -> int:
        """The port of the server its cases go to (relayed: the other one)."""
        server = self.run.server
        return server.owner_port if self.reverse else server.port

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
        self.streams.clear()

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
                    session = await _initialize(await self._connection(port), port, version, self.rng)
                except (OSError, trio.BrokenResourceError, Malformed):
                    if not reused:
                        raise
                    await self._drop(port)  # the server closed the idle keep-alive connection
                    session = await _initialize(await self._connection(port), port, version, self.rng)
                if session:
                    self.sessions[version] = session

    def _make_case(self, index: int) -> Case:
        run = self.run
        to_owner = run.relayed and random.Random(f"{run.seed}/http-route/{index}").random() < TO_OWNER
        port = self.home if to_owner else self.away
        rng = random.Random(f"{run.seed}/http/{index}")
        live = [stream for stream in self.streams if self.sessions.get(stream[1]) == stream[0]]
        if not run.relayed:
            case = make_case(rng, port, self.sessions)
        elif self.sessions and rng.random() < RESUME:  # resume a stream, or make one to resume
            case = _resume_case(rng, port, *rng.choice(live)) if live else _chatty_case(rng, port, self.sessions)
        elif self.sessions and rng.random() < BIG:
            case = big_case(rng, port, self.sessions)
        elif self.sessions and rng.random() < BURST:
            case = _burst_case(rng, (self.away, self.home), self.sessions)
        elif self.sessions and rng.random() < TAKEOVER:
            case = _takeover_case(rng, (self.away, self.home), self.sessions)
        else:
            forged = self._forged(index)
            paths = [f"/messages?sessionId={session}" for session in forged[:4]]
            case = make_case(rng, port, self.sessions, forged=forged, paths=paths)
            if rng.random() < LEAVE:
                case.mode, case.clean = f"leave-{case.mode}", False
        case.port, case.to_owner, case.sessions = port, to_owner, dict(self.sessions)
        if case.mode in ("resume", "chatty", "big", "burst", "takeover") or case.mode.startswith("leave-"):
            run.report.outcomes[f"mode {case.mode.split('-')[0]}"] += 1
        return case

    def _forged(self, index: int) -> list[str]:
        """Session ids like the worker's own (naming the owner) that name no session."""
        if not self.sessions:
            return []
        rng = random.Random(f"{self.run.seed}/forged/{index}")
        return forged_ids(rng.choice(sorted(self.sessions.values())), rng)

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

    async def _run_case(self, case: Case, stderr_from: Any) -> None:
        run = self.run
        generation = run.generation
        live = set(self.sessions.values())
        try:
            with trio.fail_after(run.timeout):
                if case.mode.startswith("leave-"):
                    await self._leave(case, stderr_from)
                    return
                elif case.mode == "burst":
                    await self._burst(case, stderr_from)
                    return
                elif case.mode == "takeover":
                    await self._takeover(case, stderr_from)
                    return
                elif case.clean:
                    responses = await self._clean(case)
                else:
                    await _send_case(case.port, case, run.timeout)
                    responses = []
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
            await self._judge_exchange(case, exchange, response, stderr_from, set() if deleted else live)
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

    async def _takeover(self, case: Case, stderr_from: Any) -> None:
        """Resume a POST's stream with ``GET`` + ``Last-Event-ID`` while it runs (each request to
        either server): the GET takes the stream over and replays what followed that event; the
        POST's response ends. Between them, every event of the stream once (an event seen on
        both is one event), in order, up to the call's response."""
        run = self.run
        part = case.parts[0]
        where = {self.away: "relayed", self.home: "direct"}
        label = f"POST {where.get(case.port)}, GET {where.get(part.port)}"
        posted = await Connection.open(case.port)
        resumed: Connection | None = None
        before: list[Any] = []
        rest: list[Any] = []
        replayed: list[Any] = []
        get_status: list[HTTPResponse] = []
        stage = ["POST: the response head"]
        post_ended = get_ended = False
        try:
            with trio.move_on_after(run.timeout * 0.8) as waiting:
                await posted.send(case.data)
                response = await posted.response(head_only_streams=True)
                if response is None:
                    raise Malformed("the connection closed without answering the POST")
                if not response.streaming:  # answered at once (as JSON): nothing to take over
                    await self._judge_exchange(case, case.exchanges[0], response, stderr_from, set())
                    return
                run.report.outcomes["takeover while streaming"] += 1
                stream = _SSEStream(posted)
                stream._response = response
                stage[0] = f"POST: its first {case.after} events"
                while len(before) < case.after and (event := await stream.next_event()) is not None:
                    before.append(event)
                if not before or not before[-1].id:
                    return
                resumed = await Connection.open(part.port)
                await resumed.send(part.data.replace(b"{event_id}", before[-1].id.encode()))
                stage[0] = "the POST's rest and the GET"

                async def read_post() -> None:
                    nonlocal post_ended
                    while (event := await stream.next_event()) is not None:
                        rest.append(event)
                    post_ended = True

                async def read_get() -> None:
                    nonlocal get_ended
                    assert resumed is not None
                    got = await resumed.response(head_only_streams=True, request_method="GET")
                    if got is None:
                        raise Malformed("the connection closed without answering the resuming GET")
                    get_status.append(got)
                    if got.streaming:
                        reader = _SSEStream(resumed)
                        reader._response = got
                        while (event := await reader.next_event()) is not None:
                            replayed.append(event)
                    get_ended = True

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_post)
                    nursery.start_soon(read_get)
        finally:
            await posted.close()
            if resumed is not None:
                await resumed.close()
        if waiting.cancelled_caught:
            if run.server.alive:
                late = [name for name, ended in (("the POST", post_ended), ("the GET", get_ended)) if not ended]
                what = " and ".join(late) if stage[0].startswith("the POST's rest") else stage[0]
                detail = f"{label}; waiting for {what}\nPOST: {before + rest!r}\nGET: {get_status!r} {replayed!r}"
                run.finding("hangs", f"take-over: {what} did not end ({label})", case, detail[:6000])
            return
        _judge_logs(run, case, run.server.stderr(stderr_from), f"take-over ({label})")
        self._judge_takeover(case, label, before, rest, replayed, get_status)

    def _judge_takeover(
        self,
        case: Case,
        label: str,
        before: list[Any],
        rest: list[Any],
        replayed: list[Any],
        get_status: list[HTTPResponse],
    ) -> None:
        run = self.run
        got = get_status[0] if get_status else None
        detail = f"{label}; resumed after {before[-1].id}\nPOST: {before + rest!r}\nGET: {got!r} {replayed!r}"[:6000]
        if got is None or got.status >= 500:
            run.finding("5xx", f"take-over: the resuming GET answered {got and got.status}", case, detail)
            return
        if got.status != 200:
            if not (got.status == 404 and b"no longer kept" in got.body):
                run.finding("lost", f"take-over: the resuming GET answered {got.status}", case, detail)
            return
        by_seq: dict[int, str] = {}
        streams = set()
        # (an event without data is a priming event: a resumed stream may begin with one
        # repeating the id it resumes after)
        for event in [event for event in before + rest + replayed if event.data]:
            found = _sequence(event)
            if found is None:
                run.finding("errors", f"take-over: an event id that is not the stream's ({label})", case, detail)
                return
            streams.add(found[0])
            if by_seq.setdefault(found[1], event.data) != event.data:
                run.finding("lost", f"take-over: one event id, two events ({label})", case, detail)
        after = _sequence(before[-1])[1]  # type: ignore[index]
        numbers = [_sequence(event)[1] for event in replayed if event.data]  # type: ignore[index]
        if len(streams) != 1 or numbers != sorted(set(numbers)) or any(number <= after for number in numbers):
            run.finding("lost", f"take-over: replayed events out of order or not after the id ({label})", case, detail)
        if not by_seq or sorted(by_seq) != list(range(1, max(by_seq) + 1)):
            run.finding("lost", f"take-over: events lost ({label})", case, detail)
        call_id = case.exchanges[0].ids[0]
        answers = [seq for seq, data in by_seq.items() if data and f'"id":{json.dumps(call_id)}' in data]
        if len(answers) != 1 or answers[0] != max(by_seq):
            kind = "lost" if not answers else "duplicated" if len(answers) > 1 else "not last"
            run.finding("lost", f"take-over: the call's response {kind} ({label})", case, detail)

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
        where = {self.away: "relayed", self.home: "direct"}
        for part in case.parts if waiting.cancelled_caught else ():
            if part not in answered:
                detail = f"no answer within {run.timeout} s to {part.data!r}"[:4000]
                run.finding("hangs", f"burst: {part.mode} {where.get(part.port)}", case, detail)
        deleting = any(part.mode == "burst-delete" for part in case.parts)
        live = set() if deleting else set(self.sessions.values())
        for part, outcome in outcomes:
            if isinstance(outcome, BaseException):
                detail = f"{outcome!r} answering {part.data!r}"[:4000]
                run.finding("lost", f"burst: {part.mode} {where.get(part.port)}: connection closed", case, detail)
            else:
                await self._judge_exchange(case, part.exchanges[0], outcome, stderr_from, live)
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
        _judge_logs(self.run, case, self.run.server.stderr(stderr_from), f"mode {case.mode}: the client left")
        if case.exchanges[0].method == "DELETE":
            await self._tidy(case, [HTTPResponse(0, {})])  # it may have ended one of ours

    async def _judge_exchange(
        self, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any, live: set[str]
    ) -> None:
        run = self.run
        _judge(run, case, exchange, response, stderr_from)
        if case.mode == "resume":
            self._judge_resume(case, response)
        version = next((v for v, session in self.sessions.items() if session == exchange.sent_session), None)
        if (
            run.relayed
            and version
            and exchange.method == "POST"
            and response.status == 200
            and response.headers.get("content-type", "").startswith("text/event-stream")
        ):
            events = _events(response.body)
            if any(event.id for event in events):
                self.streams.append((exchange.sent_session, version, events))  # type: ignore[arg-type]
        if (
            response.status == 404
            and exchange.sent_session in live
            and exchange.target == "/mcp"
            and _NO_SUCH_SESSION in response.body
        ):
            signature = f"404 for a live session ({exchange.method}{', relayed' if not case.to_owner else ''})"
            self.run.finding("lost", signature, case, f"{response!r}"[:4000])

    def _judge_resume(self, case: Case, response: HTTPResponse) -> None:
        """A finished stream resumed (on any worker): the events after the id, and its end; a
        damaged id: 404 (or whatever a well-formed id names)."""
        run = self.run
        body = response.body
        if case.replay is None or (response.status == 404 and b"no longer kept" in body):
            return
        if response.status != 200:
            run.finding("lost", f"resuming a finished stream answered {response.status}", case, repr(response)[:3000])
            return
        replayed = [event.data for event in _events(body) if event.data]
        if replayed != case.replay:
            detail = f"expected {case.replay!r}\n{response!r}"[:4000]
            run.finding("lost", "resumed events differ from the stream's", case, detail)

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
                await _delete(await self._connection(port), port, created)
            if exchange.method == "DELETE":
                # It may have ended one of ours: end them all and make new ones.
                for session in self.sessions.values():
                    await _delete(await self._connection(port), port, session)
                self.sessions = {}

    async def _clean(self, case: Case) -> list[HTTPResponse]:
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


class _LegacyWorker(_Worker):
    """Relayed mode: an HTTP+SSE session, its stream held on the owner (read by a task of its
    own), its cases POSTed to its endpoint on the front (a tenth on the owner); each request's
    answer must come on the stream."""

    def __init__(self, run: _Run, number: int) -> None:
        super().__init__(run, number)
        self.rng = random.Random(f"{run.seed}/http-sse-worker/{number}")
        self.stream: _SSEStream | None = None
        self._reader: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        #: Answers read from the stream since the case began: ids (repr) and id-less errors.
        self.answers: collections.Counter[str] = collections.Counter()
        self.null_errors = 0
        self.ended = False
        self._changed = trio.Event()

    async def loop(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await super().loop()
            finally:
                await self._reset()
                nursery.cancel_scope.cancel()

    async def _reset(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self.stream is not None:
            await self.stream.connection.close()
            self.stream = None
        self.sessions = {}

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _read(self, stream: _SSEStream, scope: trio.CancelScope) -> None:
        with scope:
            try:
                while (event := await stream.next_event()) is not None:
                    try:
                        answers = _answers_in(event)
                    except ValueError:
                        self.run.finding("errors", "an HTTP+SSE event that is not JSON", b"", repr(event)[:2000])
                        continue
                    for answer in answers:
                        if type(answer.get("id")) in (int, str):
                            self.answers[repr(answer["id"])] += 1
                        elif answer.get("id") is None and "error" in answer:
                            self.null_errors += 1
                    self._notify()
            except (OSError, trio.BrokenResourceError, Malformed):
                pass
            self.ended = True
            self._notify()

    async def _wait(self, done: Any) -> bool:
        """Wait (at most the timeout) until ``done()``; whether it is."""
        with trio.move_on_after(self.run.timeout):
            while not done():
                await self._changed.wait()
        return bool(done())

    async def _ensure_sessions(self) -> None:
        if self._fresh_generation():
            await self._connection(self.away)  # drops what belonged to the old server
        if self.stream is not None and not self.ended:
            return
        await self._reset()
        version = self.rng.choice(("2024-11-05", *messages.HANDSHAKE_VERSIONS))
        stream = await _open_legacy_session(self.home, self.away, version, self.rng)
        assert self._nursery is not None
        self.answers.clear()
        self.ended = False
        self.stream, self._reader = stream, trio.CancelScope()
        self._nursery.start_soon(self._read, stream, self._reader)
        self.sessions = {"sse": stream.session}

    def _session_failed(self, exc: BaseException, generation: int) -> None:
        if isinstance(exc, trio.TooSlowError) and generation == self.run.generation:
            detail = f"no answer within {self.run.timeout} s while opening an HTTP+SSE session: {exc!r}"
            self.run.finding("hangs", "opening an HTTP+SSE session through the front", b"", detail)

    def _make_case(self, index: int) -> Case:
        run = self.run
        assert self.stream is not None
        to_owner = random.Random(f"{run.seed}/http-route/{index}").random() < TO_OWNER
        port = self.home if to_owner else self.away
        endpoint = self.stream.endpoint
        forged = forged_ids(self.stream.session, random.Random(f"{run.seed}/forged/{index}"))
        paths = [f"/messages?sessionId={session}" for session in forged]
        paths += [f"{endpoint}&sessionId={self.stream.session}", endpoint.replace("sessionId", "session_id")]
        paths += [f"{endpoint}&x=%00", endpoint.replace("?", "/?"), endpoint + "#x", endpoint + "%20"]
        case = make_case(random.Random(f"{run.seed}/http/{index}"), port, {}, endpoint, forged, paths)
        case.port, case.to_owner, case.sessions = port, to_owner, dict(self.sessions)
        self.answers.clear()
        self.null_errors = 0
        return case

    async def _judge_exchange(
        self, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any, live: set[str]
    ) -> None:
        run = self.run
        answered = _judge_status(run, case, exchange, response, stderr_from)
        if self.stream is None or exchange.target != self.stream.endpoint:
            return
        if response.status == 404 and _NO_SUCH_SESSION in response.body and not self.ended:
            run.finding("lost", "404 for a live HTTP+SSE session", case, f"{response!r}"[:4000])
        if not answered:
            return
        expected = [request_id for request_id in exchange.ids if request_id not in exchange.cancelled]
        if response.status != 202 or not expected:
            return
        wanted = collections.Counter(repr(request_id) for request_id in expected)
        generation = run.generation

        def done() -> bool:  # (an id-less error: the batch refused as a whole)
            if self.ended or (exchange.batch and self.null_errors):
                return True
            return all(self.answers[key] >= count for key, count in wanted.items())

        await self._wait(done)
        if generation != run.generation or not run.server.alive:
            return
        if self.ended:
            run.finding("lost", "the HTTP+SSE stream ended", case, f"{response!r}"[:4000])
            return
        answers: list[Any] = []
        if exchange.batch and self.null_errors:
            self.null_errors -= 1
            answers.append({"id": None, "error": {}})
        for request_id in {repr(r): r for r in expected}.values():
            answers += [{"id": request_id, "result": {}}] * self.answers.pop(repr(request_id), 0)
        _judge_answers(run, case, exchange, response, answers, " + its HTTP+SSE stream")

    async def _tidy(self, case: Case, responses: list[HTTPResponse]) -> None:
        pass  # nothing a case sends ends an HTTP+SSE session


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


async def _check_relays_closed(run: _Run) -> None:
    """Once the clients left, every relayed exchange ends on both sides (bounded wait)."""
    server = run.server
    assert isinstance(server, RelayedServers)
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
        run.finding("errors", "relayed exchanges left open after the run", b"", detail)


async def run_http(
    cases: int,
    seed: int,
    *,
    workers: int = 8,
    timeout: float = 10.0,
    extra_args: list[str] = (),  # type: ignore[assignment]
    relayed: bool = False,
    legacy_workers: int = 2,
) -> Report:
    """Send ``cases`` cases to a fresh server with ``workers`` concurrent connections; relayed:
    to two fresh servers on a fresh redis-server, ``legacy_workers`` of the workers through an
    HTTP+SSE session."""
    run = _Run(cases, seed, timeout, list(extra_args), relayed)
    await run.server.start_http()
    try:
        async with trio.open_nursery() as nursery:
            for number in range(workers):
                legacy = relayed and number >= workers - legacy_workers
                nursery.start_soon((_LegacyWorker if legacy else _Worker)(run, number).loop)
        if isinstance(run.server, RelayedServers) and run.server.alive:
            await _check_relays_closed(run)
            assert run.server.redis is not None
            with trio.move_on_after(5):  # to see that the relay was used: each relayed request is a few XADDs
                run.report.outcomes["redis XADD"] = await _redis_calls(run.server.redis.port, "xadd") or 0
    finally:
        status = await run.stop()
        if status not in (0, -15, None) and run.report.counts["deaths"] == 0 and not run.server.killed:
            run.finding("deaths", f"exit status {status} at shutdown", b"", run.server.stderr()[-4000:])
        run.server.cleanup()
    return run.report


def main_sync(cases: int, seed: int, **options: Any) -> Report:
    return trio.run(lambda: run_http(cases, seed, **options))


async def replay(
    data: bytes,
    *,
    timeout: float = 10.0,
    extra_args: list[str] = (),  # type: ignore[assignment]
    relayed: bool = False,
    sessions: dict[str, str] | None = None,
    to_owner: bool = False,
) -> tuple[list[HTTPResponse], str, bool]:
    """Send saved request bytes (the port in them rewritten) to a fresh server (relayed: to the
    front of two fresh servers, ``sessions`` re-opened on the owner): the responses, the
    servers' stderr, and whether they are still alive."""
    server = RelayedServers(list(extra_args)) if relayed else ServerProcess(list(extra_args))
    await server.start_http()
    held: list[Connection] = []
    try:
        exchanges = [Exchange("POST", b"", [], False, set())]
        case = Case("replay", data, exchanges, clean=False, sessions=sessions or {}, to_owner=to_owner)
        data = await replant(case, server, held)
        responses: list[HTTPResponse] = []
        with trio.move_on_after(timeout):
            try:
                port = server.owner_port if to_owner else server.port
                responses = await _send_case(port, attrs.evolve(case, data=data), timeout)
            except (OSError, Malformed, trio.BrokenResourceError) as exc:
                print(f"connection: {exc!r}")
        await trio.sleep(0.5)
        return responses, server.stderr(), server.alive
    finally:
        for connection in held:
            await connection.close()
        await server.stop()
        server.cleanup()
