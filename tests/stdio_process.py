"""A real ``trimcp serve`` subprocess speaking newline-delimited JSON-RPC on its stdio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import trio

from .conftest import ROOT


class StdioProcess:
    """Drive a server subprocess: write lines, read decoded messages, watch stderr."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stderr_lines: list[tuple[float, str]] = []
        self._stdout = b""
        self._stderr_changed = trio.Event()

    async def send(self, message: Any) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        assert self.process.stdin is not None
        await self.process.stdin.send_all(data)

    async def receive(self, timeout: float = 10) -> Any:
        """The next message the server wrote to stdout."""
        assert self.process.stdout is not None
        with trio.fail_after(timeout):
            while b"\n" not in self._stdout:
                chunk = await self.process.stdout.receive_some(1 << 20)
                assert chunk, "the server closed stdout"
                self._stdout += chunk
        line, _, self._stdout = self._stdout.partition(b"\n")
        return json.loads(line)

    async def response(self, request_id: Any, timeout: float = 10) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read until the response for ``request_id``; also return what came before it."""
        before = []
        while True:
            message = await self.receive(timeout)
            if message.get("id", object()) == request_id and "method" not in message:
                return message, before
            before.append(message)

    async def request(self, request_id: Any, method: str, params: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return (await self.response(request_id))[0]

    async def initialize(self, version: str = "2025-11-25") -> dict[str, Any]:
        params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
        reply = await self.request("init", "initialize", params)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    async def watch_stderr(self) -> None:
        assert self.process.stderr is not None
        buffer = b""
        while chunk := await self.process.stderr.receive_some(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self.stderr_lines.append((trio.current_time(), line.decode(errors="replace")))
            self._stderr_changed.set()
            self._stderr_changed = trio.Event()

    async def wait_for_stderr(self, text: str, timeout: float = 10) -> float:
        """When (``trio.current_time()``) a stderr line containing ``text`` arrived."""
        with trio.fail_after(timeout):
            while True:
                for at, line in self.stderr_lines:
                    if text in line:
                        return at
                await self._stderr_changed.wait()


async def open_stdio_server(nursery: trio.Nursery, target: str, *extra: str) -> StdioProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trimcp", "serve", target, *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )
    driver = StdioProcess(process)
    nursery.start_soon(driver.watch_stderr)
    return driver
