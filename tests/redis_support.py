"""A real ``redis-server`` for the tests of the Redis backend: each one on a free port of
127.0.0.1, keeping nothing on disk, stopped (or restarted) by the test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from .ports import free_port, wait_until_listening_async

INSTALL_HINT = "redis-server is needed for the Redis backend tests: apt-get install redis-server"


class RedisProcess:
    """One redis-server; :meth:`stop` and :meth:`start` again on the same port (a restart)."""

    def __init__(self, port: int, directory: str) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}"
        self._directory = directory
        self.process: trio.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(INSTALL_HINT, pytrace=False)
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", self._directory, "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = await trio.lowlevel.open_process(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        await wait_until_listening_async(self.port, self.process, timeout=10)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            with trio.fail_after(10):
                await self.process.wait()
        self.process = None


@asynccontextmanager
async def running_redis() -> AsyncIterator[RedisProcess]:
    """A fresh redis-server for the duration of the block."""
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisProcess(free_port(), directory)
        await redis.start()
        try:
            yield redis
        finally:
            await redis.stop()
