"""``trimcp serve … --reload``: serve in a child process and start a new one whenever a Python
file of the project changes (for development; the files are polled, no dependency)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import trio

logger = logging.getLogger("trimcp")

#: Set for the child: it serves, and does not reload.
RELOADED = "TRIMCP_RELOADED_CHILD"
#: How often the files are looked at.
_POLL_SECONDS = 0.5
#: Directories never watched.
_SKIPPED = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def watched_root(target: str) -> Path:
    """Where the project of ``module:attribute`` or ``path/file.py:attribute`` lives: the
    file's directory, else the current directory."""
    module = target.partition(":")[0]
    if module.endswith(".py") or os.sep in module:
        return Path(module).resolve().parent
    return Path.cwd()


def python_files(root: Path) -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in _SKIPPED and not name.startswith(".")]
        for name in files:
            if name.endswith(".py"):
                yield Path(directory, name)


def snapshot(root: Path) -> dict[Path, float]:
    """Every Python file under ``root`` with its modification time."""
    found = {}
    for path in python_files(root):
        try:
            found[path] = path.stat().st_mtime
        except FileNotFoundError:
            continue
    return found


def run_reloader(argv: Sequence[str], target: str) -> int:
    """Serve ``trimcp <argv>`` in a child, restarted when a file under the target's project
    changes, until SIGINT/SIGTERM (passed on to the child); the child's last exit status."""
    root = watched_root(target)
    logger.info("Reloading on changes under %s", root)
    command = [sys.executable, "-m", "trimcp", *argv]
    return trio.run(_reload, command, {**os.environ, RELOADED: "1"}, root)


async def _reload(command: list[str], environment: dict[str, str], root: Path) -> int:
    status = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        while True:
            before = snapshot(root)
            process = await trio.lowlevel.open_process(command, env=environment, start_new_session=True,
                                                       stdin=subprocess.DEVNULL)  # fmt: skip
            reason = await _until_change_or_signal(process, root, before, signals)
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with trio.CancelScope(shield=True):
                status = await process.wait()
            if reason == "exited":  # a mistake being fixed, say: wait for the next change
                logger.warning("The server exited (status %s); waiting for a file to change", status)
                reason = await _until_change_or_signal(None, root, before, signals)
            if reason == "signal":
                return status
            logger.info("Restarting the server: a file changed")


async def _until_change_or_signal(
    process: trio.Process | None, root: Path, before: dict[Path, float], signals: object
) -> str:
    """``"changed"`` when a Python file changed, ``"signal"`` on SIGINT/SIGTERM, ``"exited"``
    when ``process`` ended by itself."""
    outcome = "exited"
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            nonlocal outcome
            while snapshot(root) == before:
                await trio.sleep(_POLL_SECONDS)
            outcome = "changed"
            nursery.cancel_scope.cancel()

        async def wait_signal() -> None:
            nonlocal outcome
            async for _ in signals:  # type: ignore[attr-defined]
                outcome = "signal"
                nursery.cancel_scope.cancel()

        async def wait_exit(process: trio.Process) -> None:
            await process.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        nursery.start_soon(wait_signal)
        if process is not None:
            nursery.start_soon(wait_exit, process)
    return outcome
