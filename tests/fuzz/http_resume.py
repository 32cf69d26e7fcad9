"""Resumptions in the ``http-relayed`` target: ``GET`` + ``Last-Event-ID`` resuming a finished
POST stream (or a damaged id), and take-overs, a stream resumed while it runs; the cases, the
take-over's exchange, and their oracle."""

from __future__ import annotations

import json
import random
from typing import Any

import trio

from . import messages
from .http_cases import Case, Exchange
from .http_run import Run
from .http_sessions import SSEStream, events, post
from .http_worker import Worker
from .rawhttp import Connection, HTTPResponse, Malformed


def resume_case(rng: random.Random, port: int, session: str, version: str, stream: list[Any]) -> Case:
    """``GET`` with ``Last-Event-ID`` naming an event of a finished POST ``stream`` of ``session``
    (``replay``: the data of the events after it), or (a third of the time) a damaged id."""
    ids = [event.id for event in stream if event.id]
    number = rng.randrange(len(ids))
    event_id, replay = ids[number], [event.data for event in stream[number + 1 :] if event.data]
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


def chatty_case(rng: random.Random, port: int, sessions: dict[str, str]) -> Case:
    """A ``chatty`` call (logs and progress: answered on an event stream) in one of ``sessions``."""
    version, session = rng.choice(sorted(sessions.items()))
    params = {"name": "chatty", "arguments": {"steps": rng.randint(1, 5)}, "_meta": {"progressToken": "p"}}
    message = {"jsonrpc": "2.0", "id": messages.next_id(rng), "method": "tools/call", "params": params}
    body = json.dumps(message).encode()
    extra = f"mcp-session-id: {session}\r\nmcp-protocol-version: {version}\r\n"
    exchange = Exchange("POST", body, [message["id"]], False, set(), session, sent_session=session)
    return Case("chatty", post(port, "/mcp", body, extra), [exchange], clean=True)


def takeover_case(rng: random.Random, ports: tuple[int, int], sessions: dict[str, str]) -> Case:
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
    data = post(post_port, "/mcp", body, extra)
    return Case("takeover", data, [exchange], clean=True, port=post_port, parts=[part], after=after)


def judge_resume(run: Run, case: Case, response: HTTPResponse) -> None:
    """A finished stream resumed (on any worker): the events after the id, and its end; a
    damaged id: 404 (or whatever a well-formed id names)."""
    body = response.body
    if case.replay is None or (response.status == 404 and b"no longer kept" in body):
        return
    if response.status != 200:
        run.finding("lost", f"resuming a finished stream answered {response.status}", case, repr(response)[:3000])
        return
    replayed = [event.data for event in events(body) if event.data]
    if replayed != case.replay:
        detail = f"expected {case.replay!r}\n{response!r}"[:4000]
        run.finding("lost", "resumed events differ from the stream's", case, detail)


async def take_over(worker: Worker, case: Case, stderr_from: Any, label: str) -> None:
    """Resume a POST's stream with ``GET`` + ``Last-Event-ID`` while it runs (each request to
    either server, as ``label`` says): the GET takes the stream over and replays what followed
    that event; the POST's response ends. Between them, every event of the stream once (an
    event seen on both is one event), in order, up to the call's response."""
    run = worker.run
    part = case.parts[0]
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
                await worker.judge_exchange(case, case.exchanges[0], response, stderr_from, set())
                return
            run.report.outcomes["takeover while streaming"] += 1
            stream = SSEStream(posted, response)
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
                    reader = SSEStream(resumed, got)
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
    run.judge_logs(case, run.server.stderr(stderr_from), f"take-over ({label})")
    _judge_takeover(run, case, label, before, rest, replayed, get_status)


def _sequence(event: Any) -> tuple[str, int] | None:
    """An event id's stream (``<session>-<stream>``) and number."""
    stream, _, seq = (event.id or "").rpartition("-")
    return (stream, int(seq)) if stream and seq.isdigit() else None


def _judge_takeover(
    run: Run,
    case: Case,
    label: str,
    before: list[Any],
    rest: list[Any],
    replayed: list[Any],
    get_status: list[HTTPResponse],
) -> None:
    """The oracle of a take-over: ``before`` and ``rest`` the POST's events, ``replayed`` the GET's."""
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
