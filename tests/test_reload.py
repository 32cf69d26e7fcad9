"""``trimcp serve --reload``: editing a tool's file serves the new code; a file that fails to
import waits for the fix; one signal stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

import trimcp

from .conftest import ROOT
from .ports import free_port, wait_until_listening_async

TOOL = """
import trimcp
server = trimcp.Server("reloaded")

@server.tool
async def version() -> str:
    return {answer!r}
"""


async def answer(url: str) -> str | None:
    """The tool's answer, or ``None`` while no server answers (or the old one, stopping for
    the reload, answers 503)."""
    try:
        async with trimcp.open_client(url, protocol_version="2026-07-28", timeout=5) as client:
            return (await client.call_tool("version"))["content"][0]["text"]
    except trimcp.ClientError:
        return None
    except trimcp.RequestFailed as exc:
        if "shutting down" not in exc.message:
            raise
        return None


async def wait_for_answer(url: str, expected: str) -> None:
    with trio.fail_after(20):
        while await answer(url) != expected:
            await trio.sleep(0.1)


async def test_an_edited_tool_is_served_and_a_broken_file_waits_for_its_fix(tmp_path: Path) -> None:
    source = tmp_path / "reloaded.py"
    source.write_text(TOOL.format(answer="first"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    command = [
        sys.executable, "-m", "trimcp", "serve", f"{source}:server", "--transport", "streamable-http",
        "--port", str(port), "--reload", "--graceful-timeout", "1",
    ]  # fmt: skip
    log = tmp_path / "stderr"
    with log.open("wb") as sink:
        process = await trio.lowlevel.open_process(
            command, cwd=ROOT, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        await wait_until_listening_async(port, process)
        await wait_for_answer(url, "first")
        source.write_text(TOOL.format(answer="second"))
        os.utime(source, (source.stat().st_atime, source.stat().st_mtime + 1))  # a coarse clock must see it
        await wait_for_answer(url, "second")

        source.write_text("this is not Python\n")
        with trio.fail_after(20):
            while "waiting for a file to change" not in log.read_text():
                await trio.sleep(0.1)
        source.write_text(TOOL.format(answer="third"))
        await wait_for_answer(url, "third")

        process.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            assert await process.wait() == 0
        assert "Restarting the server: a file changed" in log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
