"""The ``http-relayed`` target's HTTP+SSE workers: the session's stream held on the owner, its
cases POSTed to its ``/messages?sessionId=…`` endpoint on the front; each request's answer must
come on the stream (an answer missing from it is ``lost``, and so is a ``404`` for the live
session)."""

from __future__ import annotations

import collections
import random
from typing import Any

import trio

from . import messages
from .http_cases import Case, Exchange, forged_ids, make_case
from .http_relayed import RelayedRun, RelayedWorker
from .http_run import judge_answers, judge_status
from .http_sessions import SSEStream, answers_in, open_legacy_session
from .http_worker import NO_SUCH_SESSION
from .rawhttp import HTTPResponse, Malformed


class LegacyWorker(RelayedWorker):
    """An HTTP+SSE session, its stream held on the owner (read by a task of its own), its cases
    POSTed to its endpoint on the front (a tenth on the owner)."""

    def __init__(self, run: RelayedRun, number: int) -> None:
        super().__init__(run, number)
        self.rng = random.Random(f"{run.seed}/http-sse-worker/{number}")
        self.stream: SSEStream | None = None
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

    async def _read(self, stream: SSEStream, scope: trio.CancelScope) -> None:
        with scope:
            try:
                while (event := await stream.next_event()) is not None:
                    try:
                        answers = answers_in(event)
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
        stream = await open_legacy_session(self.home, self.away, version, self.rng)
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
        to_owner = self.to_owner(index)
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

    async def judge_exchange(
        self, case: Case, exchange: Exchange, response: HTTPResponse, stderr_from: Any, live: set[str]
    ) -> None:
        """The status as for any response; the answers to a request POSTed to the session's
        endpoint (``202``) on its stream."""
        run = self.run
        answered = judge_status(run, case, exchange, response, stderr_from)
        if self.stream is None or exchange.target != self.stream.endpoint:
            return
        if response.status == 404 and NO_SUCH_SESSION in response.body and not self.ended:
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
        judge_answers(run, case, exchange, response, answers, " + its HTTP+SSE stream")

    async def _tidy(self, case: Case, responses: list[HTTPResponse]) -> None:
        pass  # nothing a case sends ends an HTTP+SSE session
