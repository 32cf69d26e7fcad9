"""Serving one MCP connection over a byte stream with newline-delimited JSON-RPC: the framing
of the stdio transport, usable over any Trio stream (pipes, sockets, in-memory pairs)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from .._runtime import CancelReason, Dispatcher, Outbox, Outgoing, open_dispatcher, split_before_final
from .._server.method_table import MethodTable
from .._server.server import Server
from ..protocol import jsonrpc
from ..protocol.errors import INVALID_REQUEST
from ..protocol.framing import LineBuffer, OversizedLine

logger = logging.getLogger("trimcp")

#: Default bound on one incoming message.
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
_READ_SIZE = 65536


class ServedStream:
    """One connection being served over a byte stream: its dispatcher, and a way to stop it
    gracefully."""

    def __init__(self, dispatcher: Dispatcher, server: Server) -> None:
        self.dispatcher = dispatcher
        self.stopping = False
        self._server = server
        self._read_scope = trio.CancelScope()
        self._stop_requested = trio.Event()

    def stop(self) -> None:
        """Refuse new requests and end listen streams; running requests get the grace period
        (their cancellations and the client's answers are still read), then are cancelled
        (shutdown)."""
        if self.stopping:
            return
        self.stopping = True
        self._server.close_listeners()
        self.dispatcher.drain()
        self._stop_requested.set()

    async def _end_after_grace(self, grace: float) -> None:
        """Once stopped: wait until nothing runs, or ``grace`` seconds, then stop reading."""
        await self._stop_requested.wait()
        with trio.move_on_after(grace):
            await self.dispatcher.wait_idle()
        self._read_scope.cancel(reason="shutdown")


async def serve_stream(
    server: Server,
    receive_stream: trio.abc.ReceiveStream,
    send_stream: trio.abc.SendStream,
    *,
    max_message_bytes: int = MAX_MESSAGE_SIZE,
    outbound_buffer_messages: int = 256,
    graceful_timeout_seconds: float = 1.0,
    transport: str = "stream",
    task_status: trio.TaskStatus[ServedStream] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve one connection until the peer closes its side, :meth:`ServedStream.stop` is
    called, or the call is cancelled.

    Each line is one JSON-RPC message (or a batch); a line over ``max_message_bytes`` is
    skipped without being buffered and answered with -32600. When input ends the client is
    gone: running requests are cancelled at once with reason "client disconnected" (what is
    already queued is still written). On :meth:`ServedStream.stop` new requests are refused
    and running ones get ``graceful_timeout_seconds`` to finish (input is still read, so a
    cancellation or an answer to the server's question arrives), then are cancelled with
    reason "shutdown";
    cancelled from outside, at once. ``transport`` names the transport to observers
    (:meth:`Server.observe`). ``task_status.started()`` receives the :class:`ServedStream`.
    """
    outbox = Outbox(outbound_buffer_messages)
    async with trio.open_nursery() as nursery, server.lifespan_running(nursery):
        async with open_dispatcher(
            MethodTable(server, outbox), outbox, observer=server.observer, transport=transport
        ) as dispatcher:
            served = ServedStream(dispatcher, server)
            nursery.start_soon(_write_loop, outbox, send_stream, dispatcher)
            grace = trio.CancelScope()
            nursery.start_soon(_in_scope, grace, served._end_after_grace, graceful_timeout_seconds)
            task_status.started(served)
            try:
                with served._read_scope:
                    await _read_loop(dispatcher, receive_stream, max_message_bytes)
                grace.cancel()
                gone = not served._read_scope.cancelled_caught  # input ended: the client left
                dispatcher.close(CancelReason.CLIENT_DISCONNECTED if gone else CancelReason.SHUTDOWN)
            except trio.Cancelled:
                dispatcher.close(CancelReason.SHUTDOWN)
                raise
        outbox.close()


async def _in_scope(scope: trio.CancelScope, run: Callable[..., Awaitable[None]], *args: object) -> None:
    with scope:
        await run(*args)


async def _read_loop(dispatcher: Dispatcher, stream: trio.abc.ReceiveStream, max_message_bytes: int) -> None:
    lines = LineBuffer(max_message_bytes)
    while True:
        try:
            chunk = await stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            chunk = b""
        if not chunk:
            last = lines.flush()
            if last is not None:
                await _receive_line(dispatcher, last, max_message_bytes)
            return
        for line in lines.feed(chunk):
            await _receive_line(dispatcher, line, max_message_bytes)


async def _receive_line(dispatcher: Dispatcher, line: bytes | OversizedLine, max_message_bytes: int) -> None:
    if type(line) is OversizedLine:
        error = {
            "code": INVALID_REQUEST,
            "message": f"Invalid Request: message of {line.size} bytes exceeds the limit of {max_message_bytes} bytes",
        }
        await dispatcher.outbox.send(Outgoing(jsonrpc.error_bytes(None, error), final=True))
    else:
        await dispatcher.receive_bytes(line)  # type: ignore[arg-type]


async def _write_loop(outbox: Outbox, stream: trio.abc.SendStream, dispatcher: Dispatcher) -> None:
    """Write queued messages, one write per batch (a response that follows other messages
    starts a write of its own: :func:`~trimcp._runtime.split_before_final`), then
    close the stream once the outbox is closed and drained. If the peer stops reading, or
    writing fails otherwise, the connection ends."""
    try:
        async for batch in outbox.batches():
            for part in split_before_final(batch):
                await stream.send_all(b"\n".join(item.data for item in part) + b"\n")
        await stream.aclose()
    except Exception as exc:
        if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError, OSError)):
            logger.info("Output stream closed (%s); ending the connection", exc)
        else:
            logger.exception("Writing to the output stream failed; ending the connection")
        outbox.abort()
        dispatcher.close(CancelReason.CLIENT_DISCONNECTED)
