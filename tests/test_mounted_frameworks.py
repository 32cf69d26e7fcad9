"""trimcp mounted in other ASGI frameworks (examples/mounted/: Starlette, FastAPI, quart-trio),
as users run them: a real ``hypercorn --worker-class trio`` subprocess, trimcp's client and
the official ``mcp`` client at the mounted URL, the framework's own route beside it, and
SIGINT, with and without a call still running."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

import trimcp

from .conftest import ROOT
from .http_support import RawHTTP
from .ports import free_port, wait_until_listening_async

#: example -> (the module it needs, the package that provides it)
FRAMEWORKS = {
    "starlette": ("starlette", "starlette"),
    "fastapi": ("fastapi", "fastapi"),
    "quart": ("quart_trio", "quart-trio"),
}
MOUNTED = "/mcp-app/mcp"
#: hypercorn's own --graceful-timeout in these runs (its default is 3 s)
HYPERCORN_GRACE = 1


def require(framework: str) -> str:
    """``framework``; fails (not skips) with a one-line install hint when it is not installed.
    Called from synchronous fixtures, outside Trio, so that the hint is not wrapped in an
    exception group's traceback."""
    module, package = FRAMEWORKS[framework]
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{package} is not installed: pip install -e '.[test]' (or: pip install {package})", pytrace=False)
    return framework


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return require(request.param)


@pytest.fixture
def starlette() -> str:
    return require("starlette")


class Served:
    """A server subprocess on 127.0.0.1, its stderr in a file."""

    def __init__(self, process: trio.Process, port: int, stderr: Path) -> None:
        self.process = process
        self.port = port
        self.stderr = stderr
        self.http = RawHTTP("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{port}{MOUNTED}"

    def log(self) -> str:
        return self.stderr.read_text()

    async def wait_for_log(self, text: str, timeout: float = 10) -> None:
        with trio.fail_after(timeout):
            while text not in self.log():
                assert self.process.poll() is None, f"the server exited:\n{self.log()}"
                await trio.sleep(0.02)

    async def interrupt(
        self, signum: int = signal.SIGINT, *, again_after: float | None = None, timeout: float = 15
    ) -> float:
        """Send ``signum`` (and again after ``again_after`` seconds); wait (bounded) until the
        process exits 0 with a clean stderr; the seconds it took from the first signal."""
        signalled_at = trio.current_time()
        self.process.send_signal(signum)
        if again_after is not None:
            await trio.sleep(again_after)
            self.process.send_signal(signum)
        with trio.fail_after(timeout):
            status = await self.process.wait()
        took = trio.current_time() - signalled_at
        log = self.log()
        assert status == 0, f"exit status {status}:\n{log}"
        assert "Traceback" not in log and "failed" not in log, log
        return took


@asynccontextmanager
async def serve(command: list[str], tmp_path: Path, port: int) -> AsyncIterator[Served]:
    """Run ``command`` in the repository, wait until it listens on ``port``; kill it on exit."""
    stderr = tmp_path / "stderr.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with stderr.open("wb") as errors:
        process = await trio.lowlevel.open_process(
            command, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
        )
    try:
        try:
            await wait_until_listening_async(port, process, timeout=30)
        except (AssertionError, trio.TooSlowError):
            raise AssertionError(f"the server did not start:\n{stderr.read_text()}") from None
        yield Served(process, port, stderr)
    finally:
        if process.poll() is None:
            process.kill()
        with trio.move_on_after(10):
            await process.wait()


def hypercorn_command(framework: str, port: int) -> list[str]:
    hypercorn = str(Path(sys.executable).parent / "hypercorn")
    return [
        hypercorn, "--worker-class", "trio", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", str(HYPERCORN_GRACE), "--log-config", "json:examples/mounted/logging.json",
        f"examples/mounted/{framework}_app.py:app",
    ]  # fmt: skip


async def test_mounted_endpoint_beside_the_frameworks_route(framework: str, tmp_path: Path) -> None:
    from mcp import Client

    port = free_port()
    async with serve(hypercorn_command(framework, port), tmp_path, port) as served:
        with trio.fail_after(60):
            home = await served.http.request("GET", "/")
            assert home.status == 200 and home.json()["app"] == {"quart": "quart-trio"}.get(framework, framework)
            health = await served.http.request("GET", "/mcp-app/healthz")
            assert (health.status, health.json()) == (200, {"status": "ready"})
            assert (await served.http.request("GET", "/mcp")).status == 404  # only under the mount
            for version in (None, "2025-11-25"):  # negotiated (2026-07-28), and the handshake era
                async with trimcp.open_client(served.url, protocol_version=version) as client:
                    assert client.protocol_version == (version or "2026-07-28")
                    assert {tool["name"] for tool in await client.list_tools()} == {"add", "slow"}
                    assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
            for mode in ("legacy", "auto"):
                async with Client(served.url, mode=mode, cache=None) as official:
                    assert official.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
                    assert {tool.name for tool in (await official.list_tools()).tools} == {"add", "slow"}
                    assert (await official.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42}
        assert await served.interrupt() < 10


async def test_sigint_cancels_running_calls_with_reason_shutdown(framework: str, tmp_path: Path) -> None:
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    port = free_port()
    failures: dict[int, BaseException] = {}

    async def call_slow(seconds: int, version: str | None) -> None:
        try:
            async with trimcp.open_client(served.url, protocol_version=version) as client:
                await client.call_tool("slow", {"seconds": seconds})
        except trimcp.ClientError as exc:  # the server went away before answering
            failures[seconds] = exc

    async def official_call_slow(seconds: int, mode: str) -> None:
        try:
            async with Client(served.url, mode=mode, cache=None) as official:
                await official.call_tool("slow", {"seconds": seconds})
        except* MCPError as group:  # in exception groups: the stream ended unanswered
            failures[seconds] = group

    async with serve(hypercorn_command(framework, port), tmp_path, port) as served:
        with trio.fail_after(40):  # the clients give up on their own once the server is gone
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call_slow, 60, None)  # 2026-07-28: the call lives in its POST's task
                nursery.start_soon(call_slow, 61, "2025-11-25")  # handshake era: in the session's nursery
                nursery.start_soon(official_call_slow, 62, "legacy")
                nursery.start_soon(official_call_slow, 63, "auto")
                for seconds in (60, 61, 62, 63):
                    await served.wait_for_log(f"slow({seconds}) started")
                took = await served.interrupt()
        log = served.log()
        for seconds in (60, 61, 62, 63):
            assert f"slow({seconds}) ended; cancel reason: shutdown" in log, log
        assert set(failures) == {60, 61, 62, 63}
        # hypercorn gives the open streams its --graceful-timeout, then cancels them
        assert HYPERCORN_GRACE <= took < HYPERCORN_GRACE + 8


async def test_starlette_run_programmatically_ends_streams_gracefully(starlette: str, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "examples/mounted/starlette_app.py", f"127.0.0.1:{port}"]
    async with serve(command, tmp_path, port) as served:
        results: dict[str, object] = {}

        async def call_slow(seconds: int, version: str | None) -> None:
            try:
                async with trimcp.open_client(served.url, protocol_version=version) as client:
                    results[str(seconds)] = await client.call_tool("slow", {"seconds": seconds})
            except trimcp.ClientError as exc:
                results[str(seconds)] = exc

        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call_slow, 60, None)
                nursery.start_soon(call_slow, 2, None)  # finishes within the grace period
                await served.wait_for_log("slow(60) started")
                await served.wait_for_log("slow(2) started")
                took = await served.interrupt(signal.SIGTERM)
        log = served.log()
        assert "slow(60) ended; cancel reason: shutdown" in log and "slow(2) ended; cancel reason: None" in log, log
        assert results["2"]["content"][0]["text"] == "waited 2 s"  # type: ignore[index]
        # the cancelled call's stream ended properly (not cut: no malformed chunked body)
        assert str(results["60"]) == "the server's stream ended before the answer", results["60"]
        assert 5 <= took < 9  # the app's graceful_timeout_seconds (5), then hypercorn stops at once


async def test_starlette_run_programmatically_stops_at_once_on_a_second_signal(starlette: str, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "examples/mounted/starlette_app.py", f"127.0.0.1:{port}"]
    async with serve(command, tmp_path, port) as served:
        outcome: list[BaseException] = []

        async def call_slow() -> None:
            try:
                async with trimcp.open_client(served.url, protocol_version="2025-11-25") as client:
                    await client.call_tool("slow", {"seconds": 60})
            except trimcp.ClientError as exc:
                outcome.append(exc)

        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call_slow)
                await served.wait_for_log("slow(60) started")
                took = await served.interrupt(again_after=0.5)
        assert "slow(60) ended; cancel reason: shutdown" in served.log(), served.log()
        assert len(outcome) == 1
        assert took < 3  # not the 5 s of grace
