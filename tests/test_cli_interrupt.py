"""``trimcp call`` interrupted by Ctrl-C on every transport, and a server going away under it.

The client runs as a real subprocess in a session of its own and is signalled as a terminal
signals its foreground job (SIGINT to the whole process group); the server is a real stdio
subprocess, served in-process, or a real hypercorn on 127.0.0.1.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import h11
import pytest
import trio

import trimcp

from .conftest import ROOT
from .ports import free_port, wait_until_listening_async
from .servers.slow_tool import RECORD_VARIABLE

STDIO_SERVER = shlex.join([sys.executable, "-m", "trimcp", "serve", "tests.servers.slow_tool:server"])
IN_PROCESS = "tests/servers/slow_tool.py:server"
INTERRUPTED = "trimcp: interrupted"
CLOSED = "trimcp call: the server closed the connection before answering (it may be shutting down)"


class CallProcess:
    """A ``trimcp call`` subprocess leading a process group of its own; its stderr lines as read."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._partial = b""

    async def read_until(self, start: str, timeout: float = 20) -> None:
        """Read stderr until a line starts with ``start``; fails after ``timeout`` seconds."""
        with trio.fail_after(timeout):
            while not any(line.startswith(start) for line in self.lines):
                assert await self._read(), f"stderr ended before {start!r}: {self.lines}"

    async def exit_status(self, timeout: float = 10) -> int:
        """Read stderr to its end (the client and any server child sharing it are gone), then
        reap the client; its exit status."""
        with trio.fail_after(timeout):
            while await self._read():
                pass
            return await self.process.wait()

    def signal_group(self, signum: int = signal.SIGINT) -> None:
        """Signal the whole process group, as a terminal does on Ctrl-C."""
        os.killpg(self.process.pid, signum)

    async def _read(self) -> bool:
        assert self.process.stderr is not None
        chunk = await self.process.stderr.receive_some()
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        self.lines += [line.decode(errors="replace") for line in lines]
        return bool(chunk)


def environment(record: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), RECORD_VARIABLE: str(record)}


@asynccontextmanager
async def running_call(target: str, *arguments: str, record: Path) -> AsyncIterator[CallProcess]:
    """``trimcp call TARGET ARGUMENTS…`` in a new session; the group is killed on the way out."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trimcp", "call", target, *arguments],
        cwd=ROOT, env=environment(record), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        yield CallProcess(process)
    finally:
        await kill_group(process)


async def kill_group(process: trio.Process) -> None:
    """SIGKILL what is left of ``process``'s group, and reap ``process`` (bounded)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with trio.move_on_after(5):
        await process.wait()


async def wait_until_gone(probe: Callable[[int, int], None], pid: int, timeout: float = 5) -> None:
    """Until ``probe(pid, 0)`` (``os.kill`` or ``os.killpg``) finds no process; fails after ``timeout``."""
    with trio.fail_after(timeout):
        while True:
            try:
                probe(pid, 0)
            except ProcessLookupError:
                return
            await trio.sleep(0.02)


async def read_record(record: Path, timeout: float = 5) -> tuple[str, float, int]:
    """The tool's one ``finally`` record (waiting for it, up to ``timeout``): its cancel reason,
    when (``time.time()``) and its pid."""
    with trio.fail_after(timeout):
        while not (record.exists() and record.read_text().endswith("\n")):
            await trio.sleep(0.01)
    lines = record.read_text().splitlines()
    assert len(lines) == 1, lines
    reason, at, pid = lines[0].split("\t")
    return reason, float(at), int(pid)


async def interrupt_after_first_progress(call: CallProcess) -> float:
    """Ctrl-C once the call reports progress; when (``time.time()``) the signal was sent."""
    await call.read_until("progress ")
    signalled_at = time.time()
    call.signal_group()
    return signalled_at


def assert_interrupted_quietly(lines: list[str]) -> None:
    """One ``trimcp: interrupted`` line, and nothing of the call after it."""
    assert lines.count(INTERRUPTED) == 1, lines
    after = lines[lines.index(INTERRUPTED) + 1 :]
    assert not [line for line in after if line.startswith(("progress", "log ["))], lines
    assert not [line for line in lines if "Traceback" in line], lines


# -- Ctrl-C ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [STDIO_SERVER, IN_PROCESS], ids=["stdio", "in-process"])
async def test_ctrl_c_cancels_the_call_and_exits_130(target: str, tmp_path: Path) -> None:
    record = tmp_path / "record"
    async with running_call(target, "slow_tool", record=record) as call:
        signalled_at = await interrupt_after_first_progress(call)
        assert await call.exit_status() == 130, call.lines
        assert_interrupted_quietly(call.lines)
        reason, finished_at, server_pid = await read_record(record)
        assert reason == "client cancelled"
        assert finished_at - signalled_at < 0.5, "cancelled at once, well within a stdio server's 1 s grace"
        await wait_until_gone(os.killpg, call.process.pid)
        await wait_until_gone(os.kill, server_pid)


@pytest.mark.parametrize(
    ("era", "reason"),
    [("2026-07-28", "client disconnected"), ("2025-11-25", "client cancelled")],
    ids=["closing-the-stream", "notifications-cancelled"],
)
async def test_ctrl_c_cancels_a_call_over_streamable_http(era: str, reason: str, tmp_path: Path) -> None:
    record = tmp_path / "record"
    async with (
        running_hypercorn(tmp_path / "hypercorn.log", record) as (_, url),
        running_call(url, "slow_tool", "--protocol-version", era, record=record) as call,
    ):
        signalled_at = await interrupt_after_first_progress(call)
        assert await call.exit_status() == 130, call.lines
        assert_interrupted_quietly(call.lines)
        cancelled_for, finished_at, _ = await read_record(record)
        assert cancelled_for == reason
        assert finished_at - signalled_at < 0.5
        await wait_until_gone(os.killpg, call.process.pid)


async def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    # stubborn_tool takes 30 s to clean up: the first Ctrl-C alone would wait for it
    async with running_call(IN_PROCESS, "stubborn_tool", record=tmp_path / "record") as call:
        await interrupt_after_first_progress(call)
        await call.read_until(INTERRUPTED)
        await trio.sleep(0.3)
        assert call.process.poll() is None, "still shutting down after the first Ctrl-C"
        call.signal_group()
        assert await call.exit_status(timeout=3) == 130, call.lines
        assert_interrupted_quietly(call.lines)
        await wait_until_gone(os.killpg, call.process.pid)


# -- the server going away -----------------------------------------------------------------------


@asynccontextmanager
async def running_hypercorn(log: Path, record: Path) -> AsyncIterator[tuple[trio.Process, str]]:
    """``hypercorn --worker-class trio`` serving the slow tools on a free loopback port, in a
    session of its own (killed on the way out); yields it and the endpoint's URL."""
    port = free_port()
    hypercorn = Path(sys.executable).parent / "hypercorn"
    command = [
        str(hypercorn), "--worker-class", "trio", "--graceful-timeout", "1", "--bind", f"127.0.0.1:{port}",
        "tests.servers.slow_tool:app",
    ]  # fmt: skip
    with log.open("ab") as output:
        process = await trio.lowlevel.open_process(
            command, cwd=ROOT, env=environment(record), stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        try:
            await wait_until_listening_async(port, process, timeout=20)
        except AssertionError:
            raise AssertionError(log.read_text()) from None
        yield process, f"http://127.0.0.1:{port}/mcp"
    finally:
        await kill_group(process)


@pytest.mark.parametrize("era", ["2026-07-28", "2025-11-25"])
async def test_a_server_shutting_down_is_reported_as_such(era: str, tmp_path: Path) -> None:
    record = tmp_path / "record"
    async with running_hypercorn(tmp_path / "hypercorn.log", record) as (hypercorn, url):
        async with running_call(url, "slow_tool", "--protocol-version", era, record=record) as call:
            await call.read_until("progress ")
            hypercorn.send_signal(signal.SIGINT)
            # at once: a handshake-era client does not try to resume a stream nothing serves
            assert await call.exit_status(timeout=4) == 2, call.lines
            assert call.lines[-1] == CLOSED, call.lines
            assert not [line for line in call.lines if "malformed" in line or "Traceback" in line], call.lines
        with trio.fail_after(10):
            await hypercorn.wait()


async def read_request(stream: trio.SocketStream) -> None:
    """Read one HTTP request to its end (so that closing the socket sends no reset)."""
    connection = h11.Connection(h11.SERVER)
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await stream.receive_some())
        elif type(event) is h11.EndOfMessage:
            return


@asynccontextmanager
async def answering_once_with(answer: bytes) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that reads each request, writes ``answer`` and closes the
    connection; yields an MCP endpoint URL on it."""

    async def answer_then_close(stream: trio.SocketStream) -> None:
        async with stream:
            await read_request(stream)
            if answer:
                await stream.send_all(answer)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, answer_then_close, 0, host="127.0.0.1"))
        yield f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/mcp"
        nursery.cancel_scope.cancel()


CUT_SHORT = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n20\r\nevent"


@pytest.mark.parametrize("answer", [b"", CUT_SHORT], ids=["no-answer", "cut-short"])
async def test_a_connection_closed_before_the_answer_is_server_closed(answer: bytes) -> None:
    async with answering_once_with(answer) as url:
        with trio.fail_after(10), pytest.raises(trimcp.ServerClosed, match=r"^the server closed the connection before"):
            async with trimcp.open_client(url, protocol_version="2026-07-28"):
                pass


async def test_bytes_that_are_not_http_are_still_malformed() -> None:
    async with answering_once_with(b"SPAM SPAM SPAM\r\n\r\n") as url:
        with trio.fail_after(10), pytest.raises(trimcp.ConnectionFailed, match=r"^malformed HTTP response: "):
            async with trimcp.open_client(url, protocol_version="2026-07-28"):
                pass
