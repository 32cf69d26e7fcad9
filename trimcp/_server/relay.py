"""The relay between the processes serving one server: a request that reaches a process other
than the one holding the state it needs (a handshake-era session's home) travels there as a
:class:`Conduit`, a two-way pipe of frames in order.

A shared backend offers one (``Backend.relay``; ``trimcp.RedisBackend``'s goes through Redis);
the in-process backend has none, since every session is this process's own. What the frames
mean is the transport's business (HTTP: :mod:`trimcp._transports.http.relayed`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import attrs

#: One message of a conduit: named byte strings.
Frame = dict[bytes, bytes]


class PeerGone(Exception):
    """The process a conduit was to reach no longer holds its lease (it stopped or died)."""

    def __init__(self, peer: str) -> None:
        super().__init__(f"worker {peer} is gone")
        self.peer = peer


@attrs.frozen
class RelayStatistics:
    """``open_conduits`` now; over the relay's life, conduits ``opened`` to other processes,
    ``accepted`` from them, and ``lost`` (their peer or the backend went away)."""

    open_conduits: int
    opened: int
    accepted: int
    lost: int


class Conduit(Protocol):
    """One exchange between this process and ``peer``: frames both ways, each way in order.

    It ends when either side closes it or the peer process is lost (``lost`` then says so);
    after that :meth:`receive` returns ``None`` and :meth:`send` drops what it is given.
    """

    peer: str
    #: The first frame, as the side that opened the conduit sent it.
    opening: Frame
    #: Whether it ended because the peer process (or the backend) was lost.
    lost: bool

    async def send(self, frame: Frame) -> bool:
        """Send ``frame`` to the other end after the earlier ones; ``False`` (dropped) once the
        conduit has ended (then the watchers were told)."""

    async def receive(self) -> Frame | None:
        """The next frame from the other end; ``None`` once the conduit has ended."""

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once the conduit ends (at once if it has); returns the function
        that stops watching."""

    def close(self, *, tell_peer: bool = True) -> None:
        """End the conduit here; with ``tell_peer``, the other end learns of it (without
        waiting). Idempotent."""


class Relay(Protocol):
    """Conduits between the processes sharing a backend. ``name`` is this process's own, short
    and safe in an HTTP header (session ids carry it)."""

    name: str

    async def connect(self, peer: str, opening: Frame) -> Conduit:
        """Open a conduit to the process named ``peer`` with the frame ``opening``. Raises
        :class:`PeerGone`, and :class:`~.backend.BackendUnavailable` when the backend cannot
        be reached."""

    async def accept(self) -> Conduit:
        """The next conduit another process opened to this one."""

    def gone(self, peer: str) -> bool:
        """Whether the process named ``peer`` is known to have stopped."""

    def statistics(self) -> RelayStatistics:
        """Counts of conduits (see :class:`RelayStatistics`)."""
