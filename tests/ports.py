"""Loopback ports for the harnesses that start servers as subprocesses (tests, the conformance
runner, the benchmarks): a free port, waiting until something listens on it, and the processes
a server started (the workers of ``trimcp serve --workers N``)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import trio


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (none once it is gone), whichever of its threads started
    them (Trio starts processes from a worker thread)."""
    found = []
    for thread in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (thread / "children").read_text().split()]
    return found


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> bool:
    """Block until 127.0.0.1:``port`` accepts a connection (``True``), ``process`` exits or
    ``timeout`` passes (``False``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


async def wait_until_listening_async(port: int, process: trio.Process, timeout: float = 30) -> None:
    """As :func:`wait_until_listening`, in Trio; raises ``AssertionError`` if ``process`` exits
    and ``trio.TooSlowError`` after ``timeout``."""
    with trio.fail_after(timeout):
        while True:
            assert process.poll() is None, f"the server exited with status {process.returncode}"
            try:
                await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                return
            except OSError:
                await trio.sleep(0.05)
