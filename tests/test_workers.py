"""``trimcp serve --workers N`` as a user runs it: real processes on 127.0.0.1, supervised,
restarted when they die, stopped gracefully by one signal, never left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

import trimcp

from .conftest import ROOT
from .ports import free_port, wait_until_listening_async

SERVER = """
import os, trio, trimcp
server = trimcp.Server("workers")

@server.tool
async def pid() -> int:
    return os.getpid()

@server.tool
async def linger(ctx: trimcp.Context) -> str:
    open(os.environ["LINGER_RECORD"] + ".started", "w").close()
    try:
        await trio.sleep(30)
        return "done"
    finally:
        with open(os.environ["LINGER_RECORD"], "a") as record:
            record.write(f"{ctx.cancel_reason}\\n")
"""


@asynccontextmanager
async def supervisor(tmp_path: Path, *flags: str) -> AsyncIterator[tuple[trio.Process, str, Path]]:
    """``trimcp serve --workers 2`` in its own process group; yields it, its URL and its log."""
    (tmp_path / "workers_server.py").write_text(SERVER)
    port = free_port()
    log = tmp_path / "stderr"
    command = [
        sys.executable, "-m", "trimcp", "serve", str(tmp_path / "workers_server.py:server"), "--transport",
        "streamable-http", "--port", str(port), "--workers", "2", "--graceful-timeout", "2", *flags,
    ]  # fmt: skip
    env = {**os.environ, "LINGER_RECORD": str(tmp_path / "record")}
    with log.open("wb") as sink:
        process = await trio.lowlevel.open_process(
            command, cwd=ROOT, env=env, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        await wait_until_listening_async(port, process)
        yield process, f"http://127.0.0.1:{port}/mcp", log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def pids_serving(url: str, calls: int = 30) -> set[int]:
    found = set()
    for _ in range(calls):
        async with trimcp.open_client(url, protocol_version="2026-07-28") as client:  # a new connection each time
            found.add((await client.call_tool("pid"))["structuredContent"]["result"])
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_workers_serve_and_one_signal_stops_both_gracefully(tmp_path: Path) -> None:
    async with supervisor(tmp_path) as (process, url, log):
        workers = await pids_serving(url)
        assert len(workers) == 2, workers
        async with trio.open_nursery() as nursery:

            async def call_linger() -> None:
                with contextlib.suppress(trimcp.ClientError):  # the server goes away under it
                    async with trimcp.open_client(url) as client:
                        await client.call_tool("linger")

            nursery.start_soon(call_linger)
            with trio.fail_after(10):
                while not (tmp_path / "record.started").exists():
                    await trio.sleep(0.02)
            signalled_at = trio.current_time()
            process.send_signal(signal.SIGINT)
            with trio.fail_after(10):
                assert await process.wait() == 0
            assert trio.current_time() - signalled_at < 2 + 2  # the grace, then out
            nursery.cancel_scope.cancel()
    assert (tmp_path / "record").read_text() == "shutdown\n"
    assert not [pid for pid in workers if alive(pid)]
    assert "Traceback" not in log.read_text()
    assert "--workers without --redis: a handshake-era session" in log.read_text()  # warned once


async def test_a_worker_that_dies_is_replaced_and_logged(tmp_path: Path) -> None:
    async with supervisor(tmp_path) as (process, url, log):
        workers = await pids_serving(url)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        with trio.fail_after(15):
            while True:
                now = await pids_serving(url, calls=10)
                if len(now) == 2 and victim not in now:
                    break
                await trio.sleep(0.1)
        assert f"(pid {victim}) exited with status -9; starting another" in log.read_text()
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await process.wait() == 0


async def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    async with supervisor(tmp_path) as (process, url, _):
        workers = await pids_serving(url)
        process.kill()  # the supervisor alone: the workers are in another session
        with trio.fail_after(10):
            while [pid for pid in workers if alive(pid)]:
                await trio.sleep(0.1)


async def test_several_workers_without_a_backend_are_refused_when_state_must_be_shared(tmp_path: Path) -> None:
    done = await trio.run_process(
        [sys.executable, "-m", "trimcp", "serve", "tests.servers.shared_tasks:server", "--transport",
         "streamable-http", "--port", str(free_port()), "--workers", "2"],
        cwd=ROOT, capture_stderr=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        "trimcp: --workers 2 needs --redis URL: this server's tasks must be shared by its workers"
    )
