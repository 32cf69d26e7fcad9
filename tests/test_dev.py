"""``trimcp dev``: the server (with --reload) and the real MCP Inspector's web UI (the pinned
release, under node 22) both answer on their ports; one signal stops both."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import trio

import trimcp

from .conftest import ROOT
from .http_support import RawHTTP
from .node_peers import node_environment, package_bin
from .ports import free_port, wait_until_listening_async


async def test_dev_serves_the_server_and_the_inspector_until_one_signal(tmp_path: Path) -> None:
    port, inspector_port = free_port(), free_port()
    inspector = package_bin("@modelcontextprotocol/inspector", "clients/launcher/build/index.js")
    env = {**node_environment(), "TRIMCP_INSPECTOR": shlex.join(inspector)}
    command = [
        sys.executable, "-m", "trimcp", "dev", "examples/demo.py:server", "--port", str(port),
        "--inspector-port", str(inspector_port), "--no-browser",
    ]  # fmt: skip
    log = tmp_path / "stderr"
    with log.open("wb") as sink:
        process = await trio.lowlevel.open_process(
            command, cwd=ROOT, env=env, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        with trio.fail_after(60):
            await wait_until_listening_async(port, process, timeout=60)
            await wait_until_listening_async(inspector_port, process, timeout=60)
        async with trimcp.open_client(f"http://127.0.0.1:{port}/mcp") as client:
            assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
        page = await RawHTTP("127.0.0.1", inspector_port).request("GET", "/")
        assert page.status == 200 and b"<html" in page.body.lower(), page
        process.send_signal(signal.SIGINT)
        with trio.fail_after(15):
            await process.wait()
        with trio.fail_after(10):  # nothing of it is left listening
            while _listening(port) or _listening(inspector_port):
                await trio.sleep(0.1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
