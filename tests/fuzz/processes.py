"""The live fuzz targets as real subprocesses: ``trimcp serve tests/fuzz/server.py:server`` over
Streamable HTTP on a free loopback port, or over stdio; stderr goes to a file so a crash's
traceback can be read back."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import trio

from ..ports import free_port, wait_until_listening_async

#: The source tree whose ``trimcp`` the servers run: this checkout, or ``TRIMCP_FUZZ_ROOT`` (for
#: instance an exported older commit, to check that the harness finds what was fixed since).
ROOT = Path(os.environ.get("TRIMCP_FUZZ_ROOT", Path(__file__).resolve().parents[2]))
TARGET = f"{Path(__file__).resolve().parent / 'server.py'}:server"
#: Every observer on, so that what the fuzzer sends goes through them too (their failures are
#: logged with a traceback, which the oracle reports).
OBSERVED = ["--access-log", os.devnull, "--tracing"]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


class ServerProcess:
    """One server subprocess and its stderr log."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.process: trio.Process | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="trimcp-fuzz-", suffix=".log", delete=False)  # noqa: SIM115 - closed by cleanup()
        self.port = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr(self, since: int = 0) -> str:
        """The server's stderr so far (from byte ``since``)."""
        with open(self._log.name, "rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", "replace")

    def stderr_size(self) -> int:
        return os.path.getsize(self._log.name)

    async def start_http(self, extra: list[str] = ()) -> None:  # type: ignore[assignment]
        """Start on a free port (a few tries: a port can be taken between choosing and binding)."""
        for attempt in range(3):
            self.port = free_port()
            command = [
                sys.executable,
                "-m",
                "trimcp",
                "serve",
                TARGET,
                "--transport",
                "streamable-http",
                "--port",
                str(self.port),
                "--log-level",
                "WARNING",
                "--graceful-timeout",
                "1",
                *OBSERVED,
                "--metrics-path",
                "/metrics",
                *self.args,
                *extra,
            ]
            self.process = await trio.lowlevel.open_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                env=_environment(),
                cwd=str(ROOT),
            )
            try:
                await wait_until_listening_async(self.port, self.process)
                return
            except AssertionError:
                if attempt == 2:
                    raise RuntimeError(f"the server does not start:\n{self.stderr()[-3000:]}") from None

    async def start_stdio(self) -> None:
        command = [sys.executable, "-m", "trimcp", "serve", TARGET, "--log-level", "WARNING", *OBSERVED, *self.args]
        self.process = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=_environment(), cwd=str(ROOT)
        )

    async def stop(self) -> int | None:
        """Terminate (if still running) and reap; the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            with trio.move_on_after(15):
                await self.process.wait()
            if self.process.poll() is None:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    def cleanup(self) -> None:
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass
