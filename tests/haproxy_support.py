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

import attrs
import pytest
import trio

from .ports import free_port, wait_until_listening_async

INSTALL_HINT = "haproxy is needed for the scale-out tests: apt-get install haproxy"

_CONFIG = """\
global
    maxconn 4096
    nbthread 1
{admin}
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


def haproxy_config(port: int, backends: Sequence[int], admin: Path | None = None) -> str:
    """The configuration of an HAProxy listening on 127.0.0.1:``port`` and balancing every
    request in turn over the servers on 127.0.0.1:``backends`` (no health checks, no
    stickiness: a server that is down makes its requests fail, which the tests want to see),
    with its admin socket at ``admin`` if given."""
    servers = "\n".join(f"    server s{number} 127.0.0.1:{backend}" for number, backend in enumerate(backends))
    socket = f"    stats socket {admin} mode 600 level admin\n" if admin is not None else ""
    return _CONFIG.format(port=port, servers=servers, admin=socket)


@attrs.frozen
class HAProxy:
    """A running HAProxy: its base ``url`` (``http://127.0.0.1:PORT``)."""

    url: str
    admin: Path
    servers: int

    async def cut_every_connection(self) -> None:
        """Close every connection it holds to the servers, and so their clients' (a proxy cut:
        the admin socket's ``shutdown sessions server``)."""
        for number in range(self.servers):
            socket = await trio.open_unix_socket(str(self.admin))
            async with socket:
                await socket.send_all(f"shutdown sessions server servers/s{number}\n".encode())
                while await socket.receive_some(4096):
                    pass


@asynccontextmanager
async def running_haproxy(backends: Sequence[int]) -> AsyncIterator[HAProxy]:
    """HAProxy on a free port of 127.0.0.1 in front of ``backends`` for the duration of the
    block. Fails the test (never skips) when
    haproxy is not installed; raises ``AssertionError`` when it exits at start and
    ``trio.TooSlowError`` when it does not listen within 10 s. It is killed on exit."""
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "haproxy.cfg"
        admin = Path(directory) / "admin.sock"
        config.write_text(haproxy_config(port, backends, admin))
        check = await trio.run_process([binary, "-c", "-q", "-f", str(config)], capture_stderr=True, check=False)
        assert check.returncode == 0, f"haproxy refused its configuration: {check.stderr.decode()}"
        process = await trio.lowlevel.open_process(
            [binary, "-db", "-f", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await wait_until_listening_async(port, process, timeout=10)
            yield HAProxy(f"http://127.0.0.1:{port}", admin, len(backends))
        finally:
            process.kill()
            with trio.move_on_after(10):
                await process.wait()
