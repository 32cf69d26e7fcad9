"""Resumable SSE events kept in Redis instead of the worker's memory: one Redis stream per SSE
stream (``<namespace>:sse:<process>:<session>:<stream>``), its last events only, expiring a while
after its last event. The process that serves a session is the only one that reads and writes
its events (other processes relay to it), so they only need to outlive its memory, not it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .store import UNREACHABLE

if TYPE_CHECKING:
    from .backend import RedisBackend

logger = logging.getLogger("trimcp")

#: Appends one event and pushes the stream's expiry back, in one step.
#: KEYS: the stream; ARGV: the event's number, the event, the events to keep, the expiry (ms).
_APPEND = """
redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[3], "*", "seq", ARGV[1], "event", ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return 1
"""


class RedisEventStore:
    """An event store (``HTTPConfig(event_store=...)``) in the Redis of ``backend``, which must be
    the server's backend (it connects as the server starts): at least the last
    ``max_events_per_stream`` events of each stream, forgotten ``ttl_seconds`` after the stream's
    last event or when its session ends. While Redis cannot be reached, events are not kept (a
    client resuming then is told the missed events are gone) and streaming goes on."""

    def __init__(self, backend: RedisBackend, *, max_events_per_stream: int = 1000, ttl_seconds: float = 3600) -> None:
        if max_events_per_stream < 1 or ttl_seconds <= 0:
            raise ValueError("max_events_per_stream and ttl_seconds must be positive")
        self._client = backend.relay.client
        self._prefix = f"{backend.namespace}:sse:{backend.relay.name}:"
        self.max_events_per_stream = max_events_per_stream
        self._ttl_ms = int(ttl_seconds * 1000)
        self._append = self._client.register_script(_APPEND)
        #: The streams written, by session: what :meth:`forget` deletes.
        self._streams: dict[int, set[int]] = {}
        self._failing = False

    def _key(self, session: int, stream: int) -> str:
        return f"{self._prefix}{session}:{stream}"

    async def append(self, session: int, stream: int, seq: int, event: bytes) -> None:
        self._streams.setdefault(session, set()).add(stream)
        arguments = [seq, event, self.max_events_per_stream, self._ttl_ms]
        try:
            await self._append(keys=[self._key(session, stream)], args=arguments)
        except UNREACHABLE as exc:
            self._failed(exc)
        else:
            self._failing = False

    async def replay(self, session: int, stream: int, after: int) -> list[bytes] | None:
        try:
            entries = await self._client.xrange(self._key(session, stream))
        except UNREACHABLE as exc:
            self._failed(exc)
            return None
        events = [(int(entry.field_values[b"seq"]), entry.field_values[b"event"]) for entry in entries]
        if not events or events[0][0] > after + 1:
            return None  # some of the missed events are no longer kept
        return [event for seq, event in events if seq > after]  # type: ignore[misc]

    async def forget(self, session: int) -> None:
        streams = self._streams.pop(session, set())
        if streams:
            try:
                await self._client.delete([self._key(session, stream) for stream in streams])
            except UNREACHABLE as exc:
                self._failed(exc)  # they expire by themselves

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            logger.warning("SSE events cannot be kept in Redis (%s): streams go on, not resumable meanwhile", exc)
