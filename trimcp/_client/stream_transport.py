"""Newline-delimited JSON-RPC over a byte stream: a stdio subprocess, or a server in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from ..protocol import jsonrpc
from ..protocol.errors import ProtocolError
from ..protocol.framing import LineBuffer, OversizedLine
from .core import ClientCore
from .errors import ServerClosed

if TYPE_CHECKING:
    from .._transports.streams import ServedStream

MAX_LINE = 64 * 1024 * 1024


class StreamTransport:
    """Writes each message as a line; a reader task dispatches every line that comes back."""

    def __init__(self, send_stream: trio.abc.SendStream, receive_stream: trio.abc.ReceiveStream) -> None:
        self._send_stream = send_stream
        self._receive_stream = receive_stream
        self._lock = trio.StrictFIFOLock()

    async def send_request(self, request_id: Any, message: dict[str, Any], data: bytes) -> None:
        await self.write(data + b"\n")

    async def send_message(self, message: dict[str, Any], data: bytes) -> None:
        await self.write(data + b"\n")

    def abandon(self, request_id: Any) -> bool:
        return False  # one stream for everything: cancellation is a notification

    async def write(self, data: bytes) -> None:
        """Write ``data`` as it is (whole, never interleaved with another write). Raises
        :class:`ServerClosed` when the server's input is closed."""
        async with self._lock:
            try:
                await self._send_stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise ServerClosed("the server's input is closed") from None

    async def read_into(self, client: ClientCore) -> None:
        """Dispatch every message until the server closes its output; then the client closes."""
        lines = LineBuffer(MAX_LINE)
        try:
            while True:
                try:
                    chunk = await self._receive_stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not chunk:
                    return
                for line in lines.feed(chunk):
                    if type(line) is OversizedLine:
                        continue  # beyond MAX_LINE: dropped unread (its request times out)
                    try:
                        message = jsonrpc.loads(line)
                    except ProtocolError:
                        continue  # not JSON (a server printing to stdout): skipped
                    await client.dispatch(message)
        finally:
            client.close()


class InProcessTransport(StreamTransport):
    """A :class:`StreamTransport` to a server in this process; ``served`` is the
    server's end of it (tests read its session's statistics)."""

    def __init__(self, client_end: trio.StapledStream, served: ServedStream) -> None:
        super().__init__(client_end.send_stream, client_end.receive_stream)
        self.served = served


@asynccontextmanager
async def open_subprocess(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    stderr: Any = None,
    grace: float = 2.0,
) -> AsyncIterator[StreamTransport]:
    """Start ``command`` with pipes for stdin/stdout; on exit close its stdin, give it ``grace``
    seconds to end, then terminate (and kill) it. Its stderr goes to ours unless ``stderr``.

    The server runs in a session of its own, as the official SDKs start it: a terminal's Ctrl-C
    reaches only the client, whose cancellation (``notifications/cancelled``, then end of input)
    the server would no longer read once its own signal handling had stopped it reading."""
    process = await trio.lowlevel.open_process(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else sys.stderr,
        env={**os.environ, **env} if env else None,
        cwd=cwd,
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        yield StreamTransport(process.stdin, process.stdout)
    finally:
        with trio.CancelScope(shield=True):
            await process.stdin.aclose()
            with trio.move_on_after(grace):
                await process.wait()
            if process.returncode is None:
                process.terminate()
                with trio.move_on_after(grace):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


@asynccontextmanager
async def open_in_process(server: Any, **serve_options: Any) -> AsyncIterator[InProcessTransport]:
    """Serve ``server`` (a :class:`trimcp.Server`) in this process over a memory stream pair,
    with ``serve_options`` for :func:`trimcp.serve_stream`; yields once the server is ready.

    Resource handling: owns the server's task, which the caller's cancellation does not reach:
    as a server in another process would, it learns of the client's cancellations through the
    protocol (``notifications/cancelled``, end of input). On exit the client's side is closed
    (end of input: the server finishes), then the server gets 5 seconds before it is cancelled.
    """
    from .._transports.streams import serve_stream

    client_end, server_end = trio.testing.memory_stream_pair()
    finished = trio.Event()
    server_scope = trio.CancelScope(shield=True)

    async def serve(task_status: trio.TaskStatus[ServedStream]) -> None:
        with server_scope:
            try:
                await serve_stream(
                    server,
                    server_end.receive_stream,
                    server_end.send_stream,
                    task_status=task_status,
                    **{"transport": "in-process", **serve_options},
                )
            finally:
                finished.set()

    async with trio.open_nursery() as nursery:
        connection = await nursery.start(serve)
        try:
            yield InProcessTransport(client_end, connection)
        finally:
            with trio.CancelScope(shield=True):
                await client_end.send_stream.aclose()  # end of input: the server finishes
                with trio.move_on_after(5):
                    await finished.wait()
            server_scope.cancel()
