"""A real HAProxy (Debian's ``haproxy``) in front of several servers, for the scale-out tests and
benchmarks: round-robin, no affinity, one backend connection per request (``option
http-server-close``), so successive requests of one client connection spread over the servers.
Timeouts are long enough for SSE streams (a ``subscriptions/listen`` stream may stay quiet)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from .ports import free_port, wait_until_listening_async

INSTALL_HINT = "haproxy is needed for the scale-out tests: apt-get install haproxy"

_CONFIG = """\
global
    maxconn 4096
    nbthread 1

defaults
    mode http
    option http-server-close
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 30s
    timeout http-keep-alive 30s

frontend mcp
    bind 127.0.0.1:{port}
    default_backend servers

backend servers
    balance roundrobin
{servers}
"""


def haproxy_config(port: int, backends: Sequence[int]) -> str:
    """The configuration of an HAProxy listening on 127.0.0.1:``port`` and balancing every
    request in turn over the servers on 127.0.0.1:``backends`` (no health checks, no
    stickiness: a server that is down makes its requests fail, which the tests want to see)."""
    servers = "\n".join(f"    server s{number} 127.0.0.1:{backend}" for number, backend in enumerate(backends))
    return _CONFIG.format(port=port, servers=servers)


@asynccontextmanager
async def running_haproxy(backends: Sequence[int]) -> AsyncIterator[str]:
    """HAProxy on a free port of 127.0.0.1 in front of ``backends`` for the duration of the
    block; yields its base URL (``http://127.0.0.1:PORT``). Fails the test (never skips) when
    haproxy is not installed; raises ``AssertionError`` when it exits at start and
    ``trio.TooSlowError`` when it does not listen within 10 s. It is killed on exit."""
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "haproxy.cfg"
        config.write_text(haproxy_config(port, backends))
        check = await trio.run_process([binary, "-c", "-q", "-f", str(config)], capture_stderr=True, check=False)
        assert check.returncode == 0, f"haproxy refused its configuration: {check.stderr.decode()}"
        process = await trio.lowlevel.open_process(
            [binary, "-db", "-f", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await wait_until_listening_async(port, process, timeout=10)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.kill()
            with trio.move_on_after(10):
                await process.wait()
