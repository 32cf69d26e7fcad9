"""Handshake-era HTTP sessions: each one a dispatcher (a nursery) living in the app's host
nursery, found by its ``Mcp-Session-Id``, ended by DELETE, idle expiry or shutdown."""

from __future__ import annotations

import itertools
import math
import secrets
from collections.abc import Callable

import attrs
import trio

from ..._runtime import CancelReason, Dispatcher, Outbox, open_dispatcher
from ..._server.method_table import MethodTable
from ..._server.server import Server
from .config import HTTPConfig
from .events import EventStore, SSEStream

#: Finished streams a session remembers for replay, beyond which the oldest are forgotten.
_MAX_FINISHED_STREAMS = 64


@attrs.frozen
class SessionManagerStatistics:
    live_sessions: int
    max_sessions: int
    sessions_created: int
    sessions_expired: int
    sessions_deleted: int
    live_requests: int


class HTTPSession:
    """One handshake-era session. Its dispatcher (and so every request of it) lives in a
    task of the host nursery until :meth:`close` or idle expiry."""

    def __init__(
        self,
        session_id: str,
        serial: int,
        connection: MethodTable,
        config: HTTPConfig,
        store: EventStore | None,
    ) -> None:
        self.id = session_id
        self.serial = serial
        #: The principal the session belongs to; only its requests reach it.
        self.owner: str | None = None
        self.connection = connection
        self.idle_timeout = config.session_idle_timeout_seconds
        self.store = store
        self.resume_window = config.resume_window_seconds
        #: Set by :meth:`run` before the session is published.
        self.runtime: Dispatcher
        #: The standalone (GET) stream, number 0: server-initiated messages go here.
        connection.outbox = Outbox(config.outbound_buffer_messages)
        self.standalone = SSEStream(serial, 0, connection.outbox, store)
        self.streams: dict[int, SSEStream] = {0: self.standalone}
        self._stream_numbers = itertools.count(1)
        self._helpers: trio.Nursery
        self._exchanges = 0
        self._last_seen = trio.current_time()
        self._changed = trio.Event()
        self._close_reason: CancelReason | str | None = None
        #: The idle timer sleeps without a deadline while an exchange outlived the timeout.
        self._timer_parked = False
        self.ended = trio.Event()

    def begin_exchange(self) -> None:
        """An HTTP request or stream of this session started: it is not idle."""
        self._exchanges += 1

    def end_exchange(self) -> None:
        self._exchanges -= 1
        self._last_seen = trio.current_time()
        if not self._exchanges and self._timer_parked:
            self._wake()

    @property
    def protocol_version(self) -> str | None:
        return self.connection.lifecycle.protocol_version

    def open_stream(self, outbox: Outbox) -> SSEStream:
        """Number a new SSE stream (a POST's answer) and remember it for resumption."""
        stream = SSEStream(self.serial, next(self._stream_numbers), outbox, self.store)
        self.streams[stream.number] = stream
        if len(self.streams) > 2 * _MAX_FINISHED_STREAMS:  # amortised: a scan every so often
            finished = [number for number, s in self.streams.items() if s.finished]
            for number in finished[: max(0, len(finished) - _MAX_FINISHED_STREAMS)]:
                del self.streams[number]
        return stream

    def detach(self, stream: SSEStream) -> None:
        """A stream's response went away. The GET stream's messages wait in its outbox for the
        next GET (what does not fit is dropped: they are notifications). A POST's stream keeps
        its requests running and records their events for replay for ``resume_window``
        seconds; without an event store, its requests are cancelled."""
        stream.attached = False
        if self.closing or self.ended.is_set():
            stream.outbox.abort()  # the session is over: nothing to resume
            return
        if stream is self.standalone:
            return
        if self.store is None:
            self.runtime.cancel_requests_on(stream.outbox, CancelReason.CLIENT_DISCONNECTED)
            stream.outbox.abort()
            return
        stream.start_draining(self._helpers, self.resume_window, self._expiry_of(stream))

    def _expiry_of(self, stream: SSEStream) -> Callable[[], None]:
        def expire() -> None:
            self.runtime.cancel_requests_on(stream.outbox, CancelReason.CLIENT_DISCONNECTED)
            stream.outbox.abort()

        return expire

    def close(self, reason: CancelReason | str) -> None:
        """End the session: its requests are cancelled with ``reason``, its streams end."""
        if self._close_reason is None:
            self._close_reason = reason
            self._wake()

    @property
    def closing(self) -> bool:
        return self._close_reason is not None

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _idle(self) -> bool:
        return not self._exchanges and trio.current_time() >= self._last_seen + self.idle_timeout

    async def run(self, task_status: trio.TaskStatus[None]) -> CancelReason | str:
        """Own the dispatcher until closed or idle for ``idle_timeout``; return why it ended."""
        outbox = self.standalone.outbox
        try:
            async with (
                open_dispatcher(
                    self.connection, outbox, observer=self.connection.server.observer, session=self.id, transport="http"
                ) as runtime,
                trio.open_nursery() as helpers,
            ):
                self.runtime = runtime
                self._helpers = helpers
                task_status.started()
                # Activity only pushes the deadline later, so it wakes nothing: the timer looks
                # again when the deadline it slept towards has passed. An exchange still open
                # then (a long tool, a GET stream) parks it until the last exchange ends.
                while self._close_reason is None:
                    changed = self._changed
                    deadline = self._last_seen + self.idle_timeout
                    self._timer_parked = bool(self._exchanges) and trio.current_time() >= deadline
                    with trio.move_on_at(math.inf if self._timer_parked else deadline):
                        await changed.wait()
                    self._timer_parked = False
                    if self._close_reason is None and self._idle():
                        self._close_reason = CancelReason.SESSION_EXPIRED
                runtime.close(self._close_reason)
                for stream in self.streams.values():
                    stream.outbox.abort()
                helpers.cancel_scope.cancel()
            return self._close_reason
        finally:
            outbox.abort()
            if self.store is not None:
                await self.store.forget(self.serial)
            self.ended.set()


class SessionManager:
    """The live handshake-era sessions of one app, bounded in number, reclaimed when idle."""

    def __init__(
        self,
        server: Server,
        config: HTTPConfig,
        store: EventStore | None,
    ) -> None:
        self.server = server
        self.config = config
        self.max_sessions = config.max_sessions
        self.store = store
        self._serials = itertools.count(1)
        self._sessions: dict[str, HTTPSession] = {}
        self._created = 0
        self._expired = 0
        self._deleted = 0

    @property
    def live_sessions(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> HTTPSession | None:
        session = self._sessions.get(session_id)
        return None if session is None or session.closing else session

    async def create(self, nursery: trio.Nursery, connection: MethodTable, owner: str | None) -> HTTPSession:
        """Start a session for ``connection`` (whose ``initialize`` succeeded) in ``nursery``,
        belonging to the principal ``owner`` (``None`` without authentication). Its id names
        this process when other processes may receive its requests (``<process>.<random>``)."""
        session_id = secrets.token_urlsafe(24)
        if (relay := self.server.backend.relay) is not None:
            session_id = f"{relay.name}.{session_id}"
        session = HTTPSession(session_id, next(self._serials), connection, self.config, self.store)
        session.owner = owner
        await nursery.start(self._run, session)
        self._sessions[session_id] = session
        self._created += 1
        return session

    async def _run(self, session: HTTPSession, task_status: trio.TaskStatus[None]) -> None:
        try:
            reason = await session.run(task_status)
            if reason is CancelReason.SESSION_EXPIRED:
                self._expired += 1
        finally:
            self._sessions.pop(session.id, None)

    def delete(self, session: HTTPSession) -> None:
        self._deleted += 1
        session.close(CancelReason.SESSION_ENDED)

    def runtimes(self) -> list[Dispatcher]:
        return [session.runtime for session in self._sessions.values()]

    def end_standalone_streams(self) -> None:
        """Close every session's GET stream (its response ends cleanly)."""
        for session in self._sessions.values():
            session.standalone.outbox.close()

    def close_all(self, reason: CancelReason | str) -> None:
        for session in list(self._sessions.values()):
            session.close(reason)

    def statistics(self) -> SessionManagerStatistics:
        return SessionManagerStatistics(
            live_sessions=len(self._sessions),
            max_sessions=self.max_sessions,
            sessions_created=self._created,
            sessions_expired=self._expired,
            sessions_deleted=self._deleted,
            live_requests=sum(runtime.statistics().live_requests for runtime in self.runtimes()),
        )
