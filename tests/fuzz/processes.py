"""The live fuzz targets as real subprocesses: ``trimcp serve tests/fuzz/server.py:server`` over
Streamable HTTP on a free loopback port, or over stdio; stderr goes to a file so a crash's
traceback can be read back. :class:`RelayedServers` is two such HTTP servers sharing a real
``redis-server`` (``--redis``), so that a session opened on one is served through the other."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from ..ports import free_port, wait_until_listening_async
from ..redis_support import INSTALL_HINT, RedisProcess

#: The source tree whose ``trimcp`` the servers run: this checkout, or ``TRIMCP_FUZZ_ROOT`` (for
#: instance an exported older commit, to check that the harness finds what was fixed since).
ROOT = Path(os.environ.get("TRIMCP_FUZZ_ROOT", Path(__file__).resolve().parents[2]))
TARGET = f"{Path(__file__).resolve().parent / 'server.py'}:server"
#: Every observer on, so that what the fuzzer sends goes through them too (their failures are
#: logged with a traceback, which the oracle reports).
OBSERVED = ["--access-log", os.devnull, "--tracing"]


#: Seconds a server may take to exit after SIGTERM (it serves with ``--graceful-timeout 1``)
#: before it is killed and counted as a shutdown that hangs.
EXIT_WITHIN = 10.0


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(extra or {})}


class ServerProcess:
    """One server subprocess and its stderr log (``env``: more environment variables)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = env
        self.process: trio.Process | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="trimcp-fuzz-", suffix=".log", delete=False)  # noqa: SIM115 - closed by cleanup()
        self.port = 0
        #: :meth:`stop` had to kill it: it did not exit within :data:`EXIT_WITHIN` of SIGTERM.
        self.killed = False

    @property
    def owner_port(self) -> int:
        """Where sessions are opened (for one server: where the cases go too)."""
        return self.port

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process else None

    def fresh(self) -> ServerProcess:
        """A new server like this one (not started)."""
        return ServerProcess(self.args, self.env)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr(self, since: int = 0) -> str:
        """The server's stderr so far (from byte ``since``). Read through the log's open file
        descriptor, so that it survives someone cleaning the temporary directory meanwhile."""
        if self._log.closed:
            return ""
        size = os.fstat(self._log.fileno()).st_size
        return os.pread(self._log.fileno(), max(0, size - since), since).decode("utf-8", "replace")

    def stderr_size(self) -> int:
        return 0 if self._log.closed else os.fstat(self._log.fileno()).st_size

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
                env=_environment(self.env),
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

    async def stop(self, within: float = EXIT_WITHIN) -> int | None:
        """Terminate (if still running) and reap; the exit status. Killed (see :attr:`killed`)
        if still running ``within`` seconds after SIGTERM."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            with trio.move_on_after(within):
                await self.process.wait()
            if self.process.poll() is None:
                self.killed = True
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    def cleanup(self) -> None:
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass


class RelayedServers:
    """Two HTTP servers sharing one ``redis-server`` (``--redis``, the same ``TRIMCP_STATE_KEY``,
    ``--legacy-sse``): the fuzzer opens its sessions on ``owner`` (A) and sends its cases to
    ``front`` (B), which relays every request of A's sessions to A. Quacks like
    :class:`ServerProcess` for the HTTP fuzzer: ``port`` is the front's, a stderr mark is a pair.

    ``redis``: a running one to share (:meth:`fresh` shares this one's); by default its own, on
    a free port, keeping nothing on disk."""

    ARGS = ("--legacy-sse",)

    def __init__(self, args: list[str], redis: RedisProcess | None = None) -> None:
        self.args = args
        self.redis = redis
        self._own_redis = redis is None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        env = {"TRIMCP_STATE_KEY": secrets.token_urlsafe(32)}
        self.owner = ServerProcess([*self.ARGS, *args], env)
        self.front = ServerProcess([*self.ARGS, *args], env)

    @property
    def port(self) -> int:
        return self.front.port

    @property
    def owner_port(self) -> int:
        return self.owner.port

    @property
    def killed(self) -> bool:
        return self.owner.killed or self.front.killed

    @property
    def redis_alive(self) -> bool:
        return self.redis is not None and self.redis.process is not None and self.redis.process.poll() is None

    @property
    def alive(self) -> bool:
        return self.owner.alive and self.front.alive and self.redis_alive

    @property
    def returncode(self) -> int | None:
        """The exit status of the first of the two found dead (else the front's)."""
        for server in (self.owner, self.front):
            if server.process is not None and server.process.poll() is not None:
                return server.returncode
        return self.front.returncode

    def dead(self) -> str:
        """Which process is dead ("owner", "front", "redis-server"; "" when none)."""
        names = [name for name, server in (("owner", self.owner), ("front", self.front)) if not server.alive]
        if not self.redis_alive:
            names.append("redis-server")
        return " and ".join(names)

    def fresh(self) -> RelayedServers:
        return RelayedServers(self.args, self.redis if self.redis_alive else None)

    def stderr(self, since: tuple[int, int] = (0, 0)) -> str:
        """Both servers' stderr so far (from the mark ``since``), each under its name."""
        parts = []
        for name, server, start in (("owner", self.owner, since[0]), ("front", self.front, since[1])):
            text = server.stderr(start)
            if text:
                parts.append(f"--- {name} (port {server.port}) ---\n{text}")
        return "\n".join(parts)

    def stderr_size(self) -> tuple[int, int]:
        return self.owner.stderr_size(), self.front.stderr_size()

    async def start_http(self, extra: list[str] = ()) -> None:  # type: ignore[assignment]
        if not self.redis_alive:
            if shutil.which("redis-server") is None:
                raise RuntimeError(INSTALL_HINT)
            if self._directory is None:
                self._directory = tempfile.TemporaryDirectory(prefix="trimcp-fuzz-redis-")
            self.redis = RedisProcess(free_port(), self._directory.name)
            self._own_redis = True
            await self.redis.start()
        assert self.redis is not None
        backend = ["--redis", self.redis.url, *extra]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.owner.start_http, backend)
            nursery.start_soon(self.front.start_http, backend)

    async def stop(self, within: float = EXIT_WITHIN) -> int | None:
        """Stop both servers (at the same time); the worse exit status. The redis-server runs on
        until :meth:`cleanup`."""
        statuses: list[int | None] = []

        async def stop_one(server: ServerProcess) -> None:
            statuses.append(await server.stop(within))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_one, self.owner)
            nursery.start_soon(stop_one, self.front)
        bad = [status for status in statuses if status not in (0, -15, None)]
        return bad[0] if bad else statuses[0]

    def cleanup(self) -> None:
        """Remove the logs; kill the redis-server this started (synchronously: no checkpoint)."""
        self.owner.cleanup()
        self.front.cleanup()
        if self._own_redis and self.redis is not None and self.redis.process is not None:
            if self.redis.process.poll() is None:
                self.redis.process.kill()
                for _ in range(200):  # reap it (SIGKILL takes effect at once)
                    if self.redis.process.poll() is not None:
                        break
                    time.sleep(0.01)
            self.redis = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None
