"""A blocked event loop is reported, naming the code that blocks it: in-process, and from a tool
that calls ``time.sleep`` under a real ``trimcp serve``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
import trio

import trimcp

from .conftest import ROOT
from .ports import free_port, wait_until_listening_async


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_a_blocked_loop_is_logged_with_where_it_is_stuck_and_again_when_it_runs() -> None:
    records = Records()
    logger = logging.getLogger("trimcp")
    logger.addHandler(records)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trimcp.watch_event_loop, 0.2))
            await trio.sleep(0.3)
            assert records.messages == []  # a loop that runs is not reported
            time.sleep(0.7)  # noqa: ASYNC251 - the blocking call the warning must name
            with trio.fail_after(5):
                while len(records.messages) < 2:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    finally:
        logger.removeHandler(records)
    blocked, runs_again = records.messages
    assert blocked.startswith("The event loop has been blocked for")
    assert "test_watchdog.py" in blocked and "time.sleep(0.7)  # noqa" in blocked
    assert "trio.to_thread.run_sync" in blocked
    assert runs_again.startswith("The event loop runs again after being blocked for")
    assert not [thread for thread in threading.enumerate() if thread.name == "trimcp loop watchdog"]


async def test_the_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        await trimcp.watch_event_loop(0)


BLOCKING_SERVER = trimcp.Server("blocking")


@BLOCKING_SERVER.tool
async def blocks_the_loop() -> str:
    time.sleep(1.0)  # noqa: ASYNC251 - a mistake the server must point at
    return "done, late"


@pytest.mark.parametrize("flag", [[], ["--blocked-loop-warning", "0"]], ids=["default", "off"])
async def test_a_tool_that_blocks_the_loop_is_named_in_the_servers_log(tmp_path: Path, flag: list[str]) -> None:
    port = free_port()
    stderr = tmp_path / "stderr"
    command = [
        sys.executable, "-m", "trimcp", "serve", "tests.test_watchdog:BLOCKING_SERVER", "--transport",
        "streamable-http", "--port", str(port), *flag,
    ]  # fmt: skip
    with stderr.open("wb") as sink:
        async with trio.open_nursery() as nursery:
            run = partial(trio.run_process, command, check=False, cwd=ROOT, stderr=sink)
            process = await nursery.start(run)
            try:
                await wait_until_listening_async(port, process)
                async with trimcp.open_client(f"http://127.0.0.1:{port}/mcp") as client:
                    result = await client.call_tool("blocks_the_loop", timeout=10)
                assert result["content"][0]["text"] == "done, late"
            finally:
                process.send_signal(signal.SIGINT)
    log = stderr.read_text()
    if flag:
        assert "blocked" not in log
    else:
        assert log.count("The event loop has been blocked for") == 1, log
        assert "test_watchdog.py" in log and "in blocks_the_loop" in log and "time.sleep(1.0)  # noqa" in log
