"""``trimcp serve … --workers N``: N worker processes serving one listening socket, supervised.

The supervisor binds the socket, starts each worker (the same command line, told the socket's
descriptor through ``TRIMCP_WORKER_FD``) in a session of its own, so a terminal's Ctrl-C reaches
only the supervisor, restarts a worker that dies, and on SIGINT/SIGTERM sends SIGTERM to every
worker, which then shuts down gracefully (a second signal: at once). A worker whose supervisor
disappears shuts itself down.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence

import hypercorn.config
import trio

from ._server.server import Server
from ._transports import HTTPConfig, serve_http

logger = logging.getLogger("trimcp")

#: Set for a worker: the descriptor of the listening socket it serves.
WORKER_FD = "TRIMCP_WORKER_FD"
#: Set for a worker: its supervisor's pid (the worker stops when its parent is another).
SUPERVISOR_PID = "TRIMCP_SUPERVISOR_PID"
#: A worker that exits sooner than this after starting counts as a failed start.
_QUICK_EXIT_SECONDS = 2.0
#: Failed starts in a row after which the supervisor gives up.
_MAX_FAILED_STARTS = 5
#: How often a worker looks whether its supervisor is still there.
_SUPERVISOR_CHECK_SECONDS = 1.0


def refusal(server: Server, workers: int, redis_url: str | None) -> str | None:
    """Why ``server`` cannot be served by ``workers`` processes as configured, or ``None``."""
    if workers <= 1 or redis_url:
        return None
    uses = {"tasks": server.offers_tasks, "resource subscriptions": bool(server.resources or server.resource_templates)}
    shared = [what for what, used in uses.items() if used]
    if shared:
        return (
            f"--workers {workers} needs --redis URL: this server's {' and '.join(shared)} must be shared by its workers"
        )
    return None


#: Why ``--workers N`` without ``--redis`` fails handshake-era clients.
SESSIONS_NEED_REDIS = (
    "--workers without --redis: a handshake-era session (clients of 2025-11-25 and older) lives in the worker "
    "that opened it, and its requests that reach another worker get 404; add --redis URL to relay them"
)


def run_supervisor(argv: Sequence[str], config: HTTPConfig, workers: int) -> int:
    """Bind, start ``workers`` workers running ``trimcp <argv>``, supervise them until a signal
    stops them; the exit status (1 when workers keep failing to start). Raises ``OSError``
    when the address cannot be bound."""
    listener = _bind(config)
    environment = {**os.environ, WORKER_FD: str(listener.fileno()), SUPERVISOR_PID: str(os.getpid())}
    if "TRIMCP_STATE_KEY" not in os.environ:
        # one key for every worker of this machine (give the same TRIMCP_STATE_KEY to other machines)
        environment["TRIMCP_STATE_KEY"] = secrets.token_urlsafe(32)
    scheme = "https" if config.certfile else "http"
    host, port = listener.getsockname()[:2]
    logger.info("Starting %d workers on %s://%s:%d (pid %d supervises them)", workers, scheme, host, port, os.getpid())
    command = [sys.executable, "-m", "trimcp", *argv]
    return trio.run(_supervise, command, environment, listener.fileno(), workers)


def _bind(config: HTTPConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((config.host.strip("[]"), config.port))
    listener.listen(config.backlog)
    listener.set_inheritable(True)
    return listener


async def _supervise(command: list[str], environment: dict[str, str], fd: int, count: int) -> int:
    supervisor = _Supervisor(command, environment, fd)
    async with trio.open_nursery() as signals:
        signals.start_soon(supervisor.forward_signals)
        async with trio.open_nursery() as workers:
            for number in range(1, count + 1):
                workers.start_soon(supervisor.keep_running, number)
        signals.cancel_scope.cancel()
    return supervisor.status


class _Supervisor:
    def __init__(self, command: list[str], environment: dict[str, str], fd: int) -> None:
        self.command = command
        self.environment = environment
        self.fd = fd
        self.stopping = False
        self.status = 0
        self.processes: dict[int, trio.Process] = {}
        self._failed_starts = 0

    async def keep_running(self, number: int) -> None:
        """Run worker ``number``, starting it again whenever it dies, until stopping."""
        while not self.stopping:
            process = await trio.lowlevel.open_process(
                self.command, env=self.environment, pass_fds=(self.fd,), start_new_session=True,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            self.processes[number] = process
            started = trio.current_time()
            with trio.CancelScope(shield=True):  # a worker is never left behind
                status = await process.wait()
            del self.processes[number]
            if self.stopping:
                return
            quick = trio.current_time() - started < _QUICK_EXIT_SECONDS
            self._failed_starts = self._failed_starts + 1 if quick else 0
            logger.warning("Worker %d (pid %d) exited with status %s; starting another", number, process.pid, status)
            if self._failed_starts >= _MAX_FAILED_STARTS:
                logger.error("Workers keep exiting as they start: giving up (see the errors above)")
                self.status = 1
                self.stop()
                return
            await trio.sleep(min(0.1 * 2**self._failed_starts, 2.0))

    def stop(self, signum: int = signal.SIGTERM) -> None:
        self.stopping = True
        for process in list(self.processes.values()):
            if process.returncode is None:
                process.send_signal(signum)

    async def forward_signals(self) -> None:
        """SIGINT/SIGTERM: every worker gets SIGTERM (a graceful shutdown); again: again (at
        once). Runs until cancelled."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                if not self.stopping:
                    logger.info("Stopping %d workers (signal again to stop them at once)", len(self.processes))
                self.stop()


async def serve_worker(server: Server, config: HTTPConfig, fd: int, supervisor: int) -> None:
    """Serve ``server`` on the inherited listening socket ``fd`` until a signal (or the
    supervisor's disappearance) stops it."""
    listening: hypercorn.config.Config = config.hypercorn_config()
    listening.bind = [f"fd://{fd}"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_without, supervisor)
        await serve_http(server, config, hypercorn_config=listening)
        nursery.cancel_scope.cancel()


async def _stop_without(supervisor: int) -> None:
    """Start this worker's graceful shutdown once its parent is no longer ``supervisor``."""
    while os.getppid() == supervisor:
        await trio.sleep(_SUPERVISOR_CHECK_SECONDS)
    logger.warning("The supervisor (pid %d) is gone: shutting down", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)
