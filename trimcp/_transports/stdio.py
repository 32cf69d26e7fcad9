"""The stdio transport: newline-delimited JSON-RPC on the process's stdin and stdout.

stdout belongs to the protocol. While serving, file descriptor 1 is pointed at stderr and the
protocol writes to a private duplicate, so a stray ``print()`` in a tool (or a subprocess it
starts) lands in stderr instead of corrupting the stream.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from .._runtime.watchdog import watch_event_loop
from .._server.server import Server
from .streams import MAX_MESSAGE_SIZE, ServedStream, serve_stream

logger = logging.getLogger("trimcp")


class _ThreadedFdStream(trio.abc.Stream):
    """Blocking reads and writes of a file descriptor in worker threads, for descriptors that
    cannot be polled (terminals, regular files)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await trio.to_thread.run_sync(os.read, self._fd, max_bytes or 65536, abandon_on_cancel=True)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = await trio.to_thread.run_sync(os.write, self._fd, view)
            view = view[written:]

    async def wait_send_all_might_not_block(self) -> None:
        return None

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)


def _stream_for(fd: int) -> trio.abc.Stream:
    """A Trio stream over a private duplicate of ``fd``."""
    mode = os.fstat(fd).st_mode
    duplicate = os.dup(fd)
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return trio.lowlevel.FdStream(duplicate)
    return _ThreadedFdStream(duplicate)


@contextmanager
def _stdout_redirected_to_stderr() -> Iterator[int]:
    """Point fd 1 at stderr for the duration; yield a private duplicate of the real stdout."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield protocol_fd
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(protocol_fd)


async def serve_stdio(
    server: Server,
    *,
    max_message_bytes: int = MAX_MESSAGE_SIZE,
    graceful_timeout_seconds: float = 1.0,
    handle_signals: bool = True,
    blocked_loop_warning_seconds: float | None = 0.5,
    task_status: trio.TaskStatus[ServedStream] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``server`` on this process's stdin/stdout until stdin closes.

    With ``handle_signals``, SIGINT/SIGTERM refuse new requests and give running requests
    ``graceful_timeout_seconds`` before cancelling them (reason: shutdown); a second signal cancels at once.
    With ``blocked_loop_warning_seconds``, a loop blocked that long is logged with the code it is
    stuck in (:func:`~trimcp._runtime.watchdog.watch_event_loop`).
    """
    with _stdout_redirected_to_stderr() as protocol_fd:
        receive_stream = _stream_for(0)
        send_stream = _stream_for(protocol_fd)
        try:
            async with trio.open_nursery() as nursery:

                async def serve(task_status: trio.TaskStatus[ServedStream]) -> None:
                    await serve_stream(
                        server,
                        receive_stream,
                        send_stream,
                        max_message_bytes=max_message_bytes,
                        graceful_timeout_seconds=graceful_timeout_seconds,
                        transport="stdio",
                        task_status=task_status,
                    )
                    nursery.cancel_scope.cancel(reason="stdin closed")  # stops the signal watcher

                connection: ServedStream = await nursery.start(serve)
                task_status.started(connection)
                if handle_signals:
                    nursery.start_soon(_stop_on_signals, connection, nursery.cancel_scope, graceful_timeout_seconds)
                if blocked_loop_warning_seconds is not None:
                    nursery.start_soon(watch_event_loop, blocked_loop_warning_seconds)
        finally:
            await receive_stream.aclose()
            await send_stream.aclose()


async def _stop_on_signals(connection: ServedStream, scope: trio.CancelScope, grace: float) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if connection.stopping:
                scope.cancel(reason="second signal")
                return
            logger.info(
                "Shutting down: running requests get up to %g s to finish (signal again to stop at once)", grace
            )
            connection.stop()
