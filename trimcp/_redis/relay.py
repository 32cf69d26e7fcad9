"""The relay of a :class:`~.backend.RedisBackend`: conduits between processes through Redis.

Each process reads one stream of its own, its inbox (``<namespace>:relay:<name>``), and holds a
presence key (``<namespace>:relay-alive:<name>``) renewed a few times per lease. A frame for a
conduit is an entry on the other end's inbox: ``c`` names the conduit, ``k`` says what it is
(``open``, ``data``, ``end``), the rest is the frame. One reader per process hands each entry
to its conduit, in the inbox's order; a conduit whose peer's presence key expired ends as lost.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
from collections.abc import Callable

import coredis
import trio

from .._server.backend import BackendUnavailable
from .._server.relay import Frame, PeerGone, RelayStatistics
from .store import UNREACHABLE, unreachable_in

logger = logging.getLogger("trimcp")

#: Frames waiting for one conduit's reader beyond which the conduit is ended (a reader that
#: does not keep up, such as a client reading its SSE stream too slowly, loses its exchange
#: rather than holding every other conduit of the process back).
_CONDUIT_BUFFER = 1024
#: Conduits opened to this process waiting to be accepted.
_ACCEPT_BUFFER = 1024
#: The most entries an inbox keeps (a safety bound: the reader trims what it has read).
_INBOX_LENGTH = 100_000
#: How long one blocking read waits before it is made again (milliseconds).
_READ_BLOCK_MS = 1_000
#: Pauses between attempts to reach Redis again, in seconds (the last one repeats).
_RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0)
#: The reader trims what it read from its inbox after this many entries or seconds.
_TRIM_EVERY = 1000
_TRIM_SECONDS = 1.0
#: Seconds a peer seen alive is believed alive without asking Redis again.
_ALIVE_FOR = 0.5


class RedisConduit:
    """One conduit (see :class:`trimcp._server.relay.Conduit`), fed by the relay's reader."""

    def __init__(self, relay: RedisRelay, key: bytes, peer: str, opening: Frame) -> None:
        self.peer = peer
        self.opening = opening
        self.lost = False
        self._relay = relay
        self._key = key
        self._frames, self._incoming = trio.open_memory_channel[Frame](_CONDUIT_BUFFER)
        self._watchers: list[Callable[[], None]] = []
        self._ended = False

    async def send(self, frame: Frame) -> bool:
        if self._ended:
            return False
        try:
            await self._relay.write(self.peer, {b"c": self._key, b"k": b"data", **frame})
        except BackendUnavailable:
            self.end(lost=True)
            return False
        return not self._ended

    async def receive(self) -> Frame | None:
        try:
            return await self._incoming.receive()
        except trio.EndOfChannel:
            return None

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        if self._ended:
            callback()
            return lambda: None
        self._watchers.append(callback)

        def stop() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return stop

    def close(self, *, tell_peer: bool = True) -> None:
        if not self._ended:
            self.end(lost=False)
            if tell_peer:
                self._relay.write_nowait(self.peer, {b"c": self._key, b"k": b"end"})

    def deliver(self, frame: Frame) -> None:
        """A frame from the peer (the reader calls this)."""
        if self._ended:
            return
        try:
            self._frames.send_nowait(frame)
        except trio.WouldBlock:
            logger.warning(
                "A relayed exchange with %s was ended: its reader fell %d frames behind", self.peer, _CONDUIT_BUFFER
            )
            self.close()

    def end(self, *, lost: bool) -> None:
        """End here without telling the peer (it ended it, or is lost)."""
        if self._ended:
            return
        self._ended = True
        self.lost = lost
        self._frames.close()
        self._relay.forget(self._key, lost=lost)
        watchers, self._watchers = self._watchers, []
        for callback in watchers:
            callback()


class RedisRelay:
    """Conduits through the Redis at ``url`` (see :mod:`trimcp._server.relay`), for a
    ``RedisBackend``, which enters :attr:`client` and runs :meth:`run` beside its own tasks."""

    def __init__(self, url: str, namespace: str, lease_seconds: float) -> None:
        self.name = secrets.token_hex(6)
        self.url = url
        #: Its own connections: frames are bytes.
        self.client = _connect(url)
        self._namespace = namespace
        self._lease_ms = int(lease_seconds * 1000)
        self._inbox = self._inbox_of(self.name)
        self._conduits: dict[bytes, RedisConduit] = {}
        self._serials = itertools.count(1)
        self._accepted, self._acceptable = trio.open_memory_channel[RedisConduit](_ACCEPT_BUFFER)
        self._queued, self._queue = trio.open_memory_channel[tuple[str, Frame]](_ACCEPT_BUFFER)
        self._seen_alive: dict[str, float] = {}
        self._opened = self._accepted_count = self._lost = 0
        self._gone: set[str] = set()
        #: Until when a missing presence proves nothing: Redis came back (perhaps empty) and
        #: the other processes have not announced themselves again yet.
        self._unsure_until = 0.0

    def _inbox_of(self, name: str) -> str:
        return f"{self._namespace}:relay:{name}"

    def _presence_of(self, name: str) -> str:
        return f"{self._namespace}:relay-alive:{name}"

    # -- the Relay protocol ---------------------------------------------------------------------

    async def connect(self, peer: str, opening: Frame) -> RedisConduit:
        if not await self._alive(peer):
            raise PeerGone(peer)
        key = f"{self.name}.{next(self._serials)}".encode()
        conduit = self._conduits[key] = RedisConduit(self, key, peer, opening)
        self._opened += 1
        try:
            await self.write(peer, {b"c": key, b"k": b"open", b"from": self.name.encode(), **opening})
        except BaseException:
            conduit.end(lost=True)
            raise
        return conduit

    async def accept(self) -> RedisConduit:
        return await self._acceptable.receive()

    def gone(self, peer: str) -> bool:
        return peer in self._gone

    def statistics(self) -> RelayStatistics:
        return RelayStatistics(
            open_conduits=len(self._conduits), opened=self._opened, accepted=self._accepted_count, lost=self._lost
        )

    # -- writing ------------------------------------------------------------------------------------

    async def write(self, peer: str, entry: Frame) -> None:
        """Append ``entry`` to ``peer``'s inbox. Raises :class:`BackendUnavailable`."""
        try:
            await self.client.xadd(
                self._inbox_of(peer), entry, trim_strategy=coredis.PureToken.MAXLEN, threshold=_INBOX_LENGTH,
                trim_operator=coredis.PureToken.APPROXIMATELY,
            )  # fmt: skip
        except UNREACHABLE as exc:
            raise BackendUnavailable(f"Redis cannot be reached ({exc})") from None

    def write_nowait(self, peer: str, entry: Frame) -> None:
        """:meth:`write` in the background (after this process's other background writes)."""
        try:
            self._queued.send_nowait((peer, entry))
        except trio.WouldBlock:
            logger.warning("A relay frame for %s was dropped: too many waiting to reach Redis", peer)

    async def _write_queued(self) -> None:
        async for peer, entry in self._queue:
            try:
                await self.write(peer, entry)
            except BackendUnavailable:
                pass  # the peer's conduit ends when its presence (or Redis) is found lost

    # -- reading --------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Announce this process, then read its inbox and watch its peers until cancelled;
        withdraw the announcement on the way out. Raises what Redis raises at start (the
        backend reports it)."""
        await self._announce()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read)
                nursery.start_soon(self._write_queued)
                nursery.start_soon(self._watch_peers)
                task_status.started()
        finally:  # stopping: the others learn at once that this process's sessions are gone
            with trio.move_on_after(1, shield=True):
                await self._withdraw()

    async def _withdraw(self) -> None:
        """Delete this process's presence and inbox, on a connection of its own (the client's
        are being closed by the same cancellation). Best effort: else the presence expires."""
        try:
            async with _connect(self.url) as client:
                await client.delete([self._presence_of(self.name), self._inbox])
        except BaseException as exc:
            if (cause := unreachable_in(exc)) is None:
                raise
            logger.debug("The relay could not withdraw its presence (%s): it expires within the lease", cause)

    async def _announce(self) -> None:
        await self.client.set(self._presence_of(self.name), b"1", px=self._lease_ms)
        await self.client.pexpire(self._inbox, 3 * self._lease_ms)

    async def _read(self) -> None:
        after = b"0-0"
        failures = 0
        unread, trim_at = 0, trio.current_time() + _TRIM_SECONDS  # what was read and not yet trimmed
        while True:
            try:
                found = await self.client.xread({self._inbox: after}, count=500, block=_READ_BLOCK_MS)
            except UNREACHABLE as exc:
                if not failures:
                    logger.warning("The relay cannot reach Redis (%s): relayed exchanges end", exc)
                    self._unsure_until = math.inf
                    self._end_all()
                failures += 1
                await trio.sleep(_RETRY_DELAYS[min(failures, len(_RETRY_DELAYS)) - 1])
                continue
            if failures:
                failures = 0
                self._unsure_until = trio.current_time() + self._lease_ms / 1000
            if not found:
                continue
            for entries in found.values():
                for entry in entries:
                    after = entry.identifier  # type: ignore[assignment]
                    self._deliver(entry.field_values)  # type: ignore[arg-type]
                    unread += 1
            if unread >= _TRIM_EVERY or trio.current_time() >= trim_at:
                try:
                    await self.client.xtrim(self._inbox, trim_strategy=coredis.PureToken.MINID, threshold=after)
                    unread, trim_at = 0, trio.current_time() + _TRIM_SECONDS
                except UNREACHABLE:
                    pass  # trimmed after the next batch

    def _deliver(self, fields: Frame) -> None:
        key, kind = fields.pop(b"c", b""), fields.pop(b"k", b"")
        if kind == b"open":
            peer = fields.pop(b"from", b"").decode()
            conduit = self._conduits[key] = RedisConduit(self, key, peer, fields)
            self._accepted_count += 1
            try:
                self._accepted.send_nowait(conduit)
            except trio.WouldBlock:
                logger.warning("A relayed exchange from %s was refused: %d are waiting", peer, _ACCEPT_BUFFER)
                conduit.close()
            return
        conduit = self._conduits.get(key)
        if conduit is None:
            return  # it ended here already
        if kind == b"end":
            conduit.end(lost=False)
        else:
            conduit.deliver(fields)

    def forget(self, key: bytes, *, lost: bool) -> None:
        """A conduit ended (the conduit calls this)."""
        self._conduits.pop(key, None)
        self._lost += lost

    def _end_all(self) -> None:
        for conduit in list(self._conduits.values()):
            conduit.end(lost=True)

    # -- presence -----------------------------------------------------------------------------------

    async def _alive(self, peer: str) -> bool:
        """Whether ``peer`` holds its presence (believed for ``_ALIVE_FOR`` s once seen; a
        process found gone never comes back: its name was its own)."""
        if peer == self.name:
            return True
        if peer in self._gone or len(peer) != len(self.name) or not _is_hex(peer):
            return False  # gone, or never a process's name (a forged session id)
        now = trio.current_time()
        if self._seen_alive.get(peer, -1.0) > now:
            return True
        try:
            alive = bool(await self.client.exists([self._presence_of(peer)]))
        except UNREACHABLE as exc:
            raise BackendUnavailable(f"Redis cannot be reached ({exc})") from None
        if alive:
            self._seen_alive[peer] = now + _ALIVE_FOR
        elif now < self._unsure_until:
            raise BackendUnavailable("Redis is back but its workers have not all announced themselves yet")
        else:
            self._found_gone(peer)
        return alive

    def _found_gone(self, peer: str) -> None:
        if peer not in self._gone:
            if peer in self._seen_alive or any(conduit.peer == peer for conduit in self._conduits.values()):
                logger.warning("Worker %s is gone (it stopped, or its lease expired): its sessions answer 404", peer)
            if len(self._gone) > 10_000:
                self._gone.clear()
            self._gone.add(peer)
            self._seen_alive.pop(peer, None)
        for conduit in [c for c in self._conduits.values() if c.peer == peer]:
            conduit.end(lost=True)

    async def _watch_peers(self) -> None:
        """Renew this process's presence and end the conduits of peers that lost theirs, a few
        times per lease."""
        while True:
            await trio.sleep(self._lease_ms / 4000)
            try:
                await self._announce()
                peers = sorted({conduit.peer for conduit in self._conduits.values()} - {self.name})
                if not peers:
                    continue
                present = await self.client.mget([self._presence_of(peer) for peer in peers])
            except UNREACHABLE:
                continue  # the reader reports it
            if trio.current_time() < self._unsure_until:
                continue
            for peer, presence in zip(peers, present, strict=True):
                if presence is None:
                    self._found_gone(peer)


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdef" for character in text)


def _connect(url: str) -> coredis.Redis[bytes]:
    return coredis.Redis.from_url(url, decode_responses=False, connect_timeout=2.0, stream_timeout=5.0)
