"""``Server(lifespan=...)``: entered once before anything is served, exited after the last request
(a running tool's ``finally`` first), its value reachable as ``ctx.lifespan`` and injected by
type; in-process, over stdio and over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

import trimcp
from trimcp import Context

from .conftest import ROOT
from .http_support import running_server
from .ports import free_port, wait_until_listening_async


@attrs.define
class Pool:
    """What a lifespan makes once: a connection pool, say."""

    events: list[str]
    open: bool = True


def pooled_server(events: list[str]) -> trimcp.Server:
    @asynccontextmanager
    async def lifespan(server: trimcp.Server) -> AsyncIterator[Pool]:
        events.append("enter")
        pool = Pool(events)
        async with trio.open_nursery() as nursery:  # a lifespan may own tasks
            nursery.start_soon(trio.sleep_forever)
            try:
                yield pool
            finally:
                pool.open = False
                events.append("exit")
                nursery.cancel_scope.cancel()

    server = trimcp.Server("pooled", lifespan=lifespan)

    @server.tool
    async def query(pool: Pool, sql: str) -> str:
        assert pool.open
        return f"{sql} on an open pool"

    @server.tool
    async def same(ctx: Context, pool: Pool) -> bool:
        return ctx.lifespan is pool

    @server.tool
    async def linger(pool: Pool) -> str:
        try:
            await trio.sleep(30)
            return "done"
        finally:
            pool.events.append(f"linger finally, pool open: {pool.open}")

    return server


async def test_the_lifespan_type_is_injected_and_not_asked_of_the_client() -> None:
    server = pooled_server([])
    assert server.tools["query"].input_schema == {
        "type": "object",
        "properties": {"sql": {"type": "string"}},
        "required": ["sql"],
    }


async def test_in_process_the_value_is_shared_and_the_lifespan_exits_after_the_last_request() -> None:
    events: list[str] = []
    server = pooled_server(events)
    async with trimcp.open_client(server) as client:
        assert events == ["enter"]
        assert (await client.call_tool("query", {"sql": "select 1"}))["content"][0][
            "text"
        ] == "select 1 on an open pool"
        assert (await client.call_tool("same"))["structuredContent"] == {"result": True}
    assert events == ["enter", "exit"]


async def test_over_http_the_lifespan_outlives_every_request_and_ends_at_shutdown() -> None:
    events: list[str] = []
    app = trimcp.asgi_app(pooled_server(events))
    async with running_server(app, graceful_timeout_seconds=0.2) as http, trio.open_nursery() as nursery:
        url = f"http://127.0.0.1:{http.port}/mcp"
        async with trimcp.open_client(url) as client:
            assert (await client.call_tool("query", {"sql": "x"}))["content"][0]["text"] == "x on an open pool"

        async def call_linger() -> None:
            async with trimcp.open_client(url) as client:
                await client.call_tool("linger")

        nursery.start_soon(call_linger)
        await trio.sleep(0.3)
        await app.shutdown(0.1)
        nursery.cancel_scope.cancel()
    assert events == ["enter", "linger finally, pool open: True", "exit"]


async def test_a_lifespan_that_fails_to_start_stops_trimcp_serve_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(
        "import contextlib, trimcp\n"
        "@contextlib.asynccontextmanager\n"
        "async def lifespan(server):\n"
        "    raise ConnectionRefusedError('the database is down')\n"
        "    yield\n"
        "server = trimcp.Server('broken', lifespan=lifespan)\n"
    )
    command = [
        sys.executable, "-m", "trimcp", "serve", str(tmp_path / "broken.py:server"), "--transport", "streamable-http",
        "--port", str(free_port()),
    ]  # fmt: skip
    with trio.fail_after(20):
        done = await trio.run_process(command, cwd=ROOT, capture_stderr=True, check=False)
    assert done.returncode == 1
    last = done.stderr.decode().strip().splitlines()[-1]
    assert last == (
        "trimcp: cannot start: the server's lifespan failed: ConnectionRefusedError('the database is down')"
    ), done.stderr.decode()


STDIO_SERVER = """
import contextlib, os, trimcp
record = os.environ["LIFESPAN_RECORD"]

def note(text):
    with open(record, "a") as file:
        file.write(text + "\\n")

@contextlib.asynccontextmanager
async def lifespan(server):
    note("enter")
    try:
        yield {"greeting": "hello"}
    finally:
        note("exit")

server = trimcp.Server("stdio-lifespan", lifespan=lifespan)

@server.tool
async def greet(ctx: trimcp.Context) -> str:
    note("call")
    return ctx.lifespan["greeting"]
"""


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
async def test_a_served_process_enters_once_and_exits_after_its_last_request(transport: str, tmp_path: Path) -> None:
    (tmp_path / "lifespan_server.py").write_text(STDIO_SERVER)
    record = tmp_path / "record"
    env = {**os.environ, "LIFESPAN_RECORD": str(record)}
    target = str(tmp_path / "lifespan_server.py:server")
    if transport == "stdio":
        command = [sys.executable, "-m", "trimcp", "serve", target]
        async with trimcp.open_client(command, env=env) as client:
            for _ in range(2):
                assert (await client.call_tool("greet"))["content"][0]["text"] == "hello"
    else:
        port = free_port()
        command = [sys.executable, "-m", "trimcp", "serve", target, "--transport", transport, "--port", str(port)]
        process = await trio.lowlevel.open_process(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
        try:
            await wait_until_listening_async(port, process)
            async with trimcp.open_client(f"http://127.0.0.1:{port}/mcp") as client:
                for _ in range(2):
                    assert (await client.call_tool("greet"))["content"][0]["text"] == "hello"
            process.send_signal(signal.SIGINT)
            with trio.fail_after(10):
                assert await process.wait() == 0
        finally:
            process.kill()
    with trio.fail_after(5):
        while "exit" not in record.read_text():
            await trio.sleep(0.02)
    assert record.read_text().split() == ["enter", "call", "call", "exit"]
