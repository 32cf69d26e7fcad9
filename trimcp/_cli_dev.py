"""``trimcp dev module:server``: the server over Streamable HTTP with ``--reload``, and the MCP
Inspector's web UI pointed at it (Node.js 22 or newer; ``npx`` fetches the Inspector)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from typing import Any

import trio

logger = logging.getLogger("trimcp")

#: The Inspector release ``trimcp dev`` runs (the one trimcp's tests run).
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
#: A command to run instead of ``npx -y INSPECTOR`` (a local installation, say).
INSPECTOR_VARIABLE = "TRIMCP_INSPECTOR"


def add_dev_command(commands: Any) -> None:
    dev = commands.add_parser("dev", help="serve with --reload and open the MCP Inspector on it")
    dev.add_argument("target", help="module:attribute (or path/to/file.py:attribute) of the Server")
    dev.add_argument("--port", type=int, default=8000, help="the server's port on 127.0.0.1 (default: 8000)")
    dev.add_argument("--inspector-port", type=int, default=6274, help="the Inspector's port (default: 6274)")
    dev.add_argument("--no-browser", action="store_true", help="do not open a browser on the Inspector")


def inspector_command() -> list[str]:
    """How to start the Inspector. Raises ``SystemExit`` without Node.js."""
    if override := os.environ.get(INSPECTOR_VARIABLE):
        return shlex.split(override)
    npx = shutil.which("npx")
    if npx is None:
        raise SystemExit("trimcp dev: the MCP Inspector needs Node.js 22 or newer (npx was not found on PATH)")
    return [npx, "-y", INSPECTOR]


def run_dev(args: argparse.Namespace) -> int:
    """Run the server and the Inspector until Ctrl-C or until either exits; the exit status."""
    url = f"http://127.0.0.1:{args.port}/mcp"
    server = [sys.executable, "-m", "trimcp", "serve", args.target, "--transport", "streamable-http",
              "--port", str(args.port), "--reload"]  # fmt: skip
    inspector = [*inspector_command(), "--web", "--transport", "http", "--server-url", url, "--protocol-era", "auto"]
    inspector_env = {
        **os.environ,
        "CLIENT_PORT": str(args.inspector_port),
        "MCP_AUTO_OPEN_ENABLED": "false" if args.no_browser else "true",
    }
    logger.info("Serving %s at %s; the MCP Inspector at http://127.0.0.1:%d", args.target, url, args.inspector_port)
    return trio.run(_run_both, server, inspector, inspector_env)


async def _run_both(server: list[str], inspector: list[str], inspector_env: dict[str, str]) -> int:
    processes = [
        await trio.lowlevel.open_process(server, start_new_session=True, stdin=subprocess.DEVNULL),
        await trio.lowlevel.open_process(
            inspector, env=inspector_env, start_new_session=True, stdin=subprocess.DEVNULL
        ),
    ]
    status = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def until_exit(process: trio.Process) -> None:
                nonlocal status
                status = await process.wait() or status
                nursery.cancel_scope.cancel()

            async def until_signal() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()

            for process in processes:
                nursery.start_soon(until_exit, process)
            nursery.start_soon(until_signal)
        for process in processes:  # each leads a process group of its own (the Inspector's children too)
            _signal_group(process, signal.SIGTERM)
        with trio.move_on_after(10) as waited:
            for process in processes:
                await process.wait()
        if waited.cancelled_caught:
            for process in processes:
                _signal_group(process, signal.SIGKILL)
                await process.wait()
    return status


def _signal_group(process: trio.Process, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
