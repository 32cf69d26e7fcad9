"""Serving one MCP connection over a byte stream with newline-delimited JSON-RPC: the framing
of the stdio transport, usable over any Trio stream (pipes, sockets, in-memory pairs)."""

from __future__ import annotations

import logging

import trio

from .._runtime import CancelReason, Outbox, Outgoing, Session, open_session, split_before_final
from .._server.connection import Connection
from .._server.server import Server
from ..protocol import jsonrpc
from ..protocol.errors import INVALID_REQUEST
from ..protocol.framing import LineBuffer, OversizedLine

logger = logging.getLogger("trimcp")

#: Default bound on one incoming message.
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
_READ_SIZE = 65536


class StreamConnection:
    """A running stream connection: its session, and a way to stop it gracefully."""

    def __init__(self, session: Session, server: Server) -> None:
        self.session = session
        self.stopping = False
        self._server = server
        self._read_scope = trio.CancelScope()

    def stop(self) -> None:
        """Stop reading and end listen streams; running requests get the grace period, then
        are cancelled (shutdown)."""
        self.stopping = True
        self._server.close_listeners()
        self._read_scope.cancel(reason="shutdown")


async def serve_stream(
    server: Server,
    receive_stream: trio.abc.ReceiveStream,
    send_stream: trio.abc.SendStream,
    *,
    max_message_bytes: int = MAX_MESSAGE_SIZE,
    outbound_buffer_messages: int = 256,
    graceful_timeout_seconds: float = 1.0,
    task_status: trio.TaskStatus[StreamConnection] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve one connection until the peer closes its side, :meth:`StreamConnection.stop` is
    called, or the call is cancelled.

    Each line is one JSON-RPC message (or a batch); a line over ``max_message_bytes`` is
    skipped without being buffered and answered with -32600. When input ends the client is
    gone: running requests are cancelled at once with reason "client disconnected" (what is
    already queued is still written). On :meth:`StreamConnection.stop` they get
    ``graceful_timeout_seconds`` to finish and send their responses, then are cancelled with reason "shutdown";
    cancelled from outside, at once. ``task_status.started()`` receives the
    :class:`StreamConnection`.
    """
    outbox = Outbox(outbound_buffer_messages)
    async with trio.open_nursery() as nursery:
        async with open_session(Connection(server, outbox), outbox) as session:
            connection = StreamConnection(session, server)
            nursery.start_soon(_write_loop, outbox, send_stream, session)
            task_status.started(connection)
            try:
                with connection._read_scope:
                    await _read_loop(session, receive_stream, max_message_bytes)
                if connection.stopping:
                    with trio.move_on_after(graceful_timeout_seconds):
                        await session.wait_idle()
                session.close(CancelReason.SHUTDOWN if connection.stopping else CancelReason.CLIENT_DISCONNECTED)
            except trio.Cancelled:
                session.close(CancelReason.SHUTDOWN)
                raise
        outbox.close()


async def _read_loop(session: Session, stream: trio.abc.ReceiveStream, max_message_bytes: int) -> None:
    lines = LineBuffer(max_message_bytes)
    while True:
        try:
            chunk = await stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            chunk = b""
        if not chunk:
            last = lines.flush()
            if last is not None:
                await _receive_line(session, last, max_message_bytes)
            return
        for line in lines.feed(chunk):
            await _receive_line(session, line, max_message_bytes)


async def _receive_line(session: Session, line: bytes | OversizedLine, max_message_bytes: int) -> None:
    if type(line) is OversizedLine:
        error = {
            "code": INVALID_REQUEST,
            "message": f"Invalid Request: message of {line.size} bytes exceeds the limit of {max_message_bytes} bytes",
        }
        await session.outbox.send(Outgoing(jsonrpc.error_bytes(None, error), final=True))
    else:
        await session.receive_bytes(line)  # type: ignore[arg-type]


async def _write_loop(outbox: Outbox, stream: trio.abc.SendStream, session: Session) -> None:
    """Write queued messages, one write per batch (a response that follows other messages
    starts a write of its own: :func:`~trimcp._runtime.split_before_final`), then
    close the stream once the outbox is closed and drained. If the peer stops reading, or
    writing fails otherwise, the session ends."""
    try:
        async for batch in outbox.batches():
            for part in split_before_final(batch):
                await stream.send_all(b"\n".join(item.data for item in part) + b"\n")
        await stream.aclose()
    except Exception as exc:
        if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError, OSError)):
            logger.info("Output stream closed (%s); ending the session", exc)
        else:
            logger.exception("Writing to the output stream failed; ending the session")
        outbox.abort()
        session.close(CancelReason.CLIENT_DISCONNECTED)
