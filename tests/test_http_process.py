"""The HTTP server as users run it: ``trimcp serve --transport streamable-http`` and
``hypercorn --worker-class trio``, in real subprocesses, including graceful shutdown."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import trimcp

from .conftest import ROOT
from .http_support import JSON_AND_SSE, RawHTTP, initialize_request
from .ports import free_port, wait_until_listening_async


def serve_http_command(port: int, *options: str) -> list[str]:
    """``trimcp serve`` of the demo server over Streamable HTTP on 127.0.0.1:``port``."""
    serve = ["serve", "examples/demo.py:server", "--transport", "streamable-http", "--port", str(port)]
    return [sys.executable, "-m", "trimcp", *serve, *options]


async def start(
    command: list[str], nursery: trio.Nursery | None, port: int, log: Path, env: dict[str, str] | None = None
) -> trio.Process:
    """Start ``command`` (its output appended to ``log``) and wait until it listens on ``port``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    process = await trio.lowlevel.open_process(
        command, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    try:
        await wait_until_listening_async(port, process, timeout=20)
    except AssertionError:
        raise AssertionError(log.read_text()) from None
    return process


async def wait_for(log: Path, text: str, timeout: float = 10) -> float:
    with trio.fail_after(timeout):
        while text not in log.read_text():
            await trio.sleep(0.005)
    return trio.current_time()


def sleep_call(request_id: int, seconds: float) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "sleep", "arguments": {"seconds": seconds}},
    }


async def test_trimcp_serve_streamable_http_and_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    command = serve_http_command(port, "--graceful-timeout", "0.5")
    async with trio.open_nursery() as nursery:
        process = await start(command, nursery, port, log)
        http = RawHTTP("127.0.0.1", port)
        session_id = await http.initialize()
        headers = {"mcp-session-id": session_id, "accept": JSON_AND_SSE, "content-type": "application/json"}
        async with (
            http.open("POST", headers=headers, body=sleep_call(1, 30)) as long_call,
            http.open("POST", headers=headers, body=sleep_call(2, 0.2)) as short_call,
            http.open("GET", headers={"mcp-session-id": session_id, "accept": "text/event-stream"}) as idle_stream,
        ):
            await long_call.events(2)  # priming, "sleeping for 30 s"
            await short_call.events(2)
            await idle_stream.events(1)  # priming
            signalled_at = trio.current_time()
            process.send_signal(signal.SIGTERM)
            await wait_for(log, "Shutting down: running requests get up to 0.5 s to finish")
            with trio.fail_after(10):
                assert await idle_stream.messages() == []  # the idle GET stream ends at once, cleanly
                short = await short_call.messages()
                assert short[-1]["result"]["content"][0]["text"] == "slept 0.2 s"  # finished within the grace
                assert await long_call.messages() == []  # cancelled: a clean end of stream, no response
            finally_at = await wait_for(log, "sleep(30) finished; cancel reason: shutdown")
            assert 0.5 <= finally_at - signalled_at < 2.0
        with trio.fail_after(10):
            assert await process.wait() == 0
        nursery.cancel_scope.cancel()


async def test_hypercorn_worker_class_trio_serves_the_example(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "hypercorn.log"
    hypercorn = Path(sys.executable).parent / "hypercorn"
    command = [str(hypercorn), "--worker-class", "trio", "--bind", f"127.0.0.1:{port}", "examples/demo.py:app"]
    async with trio.open_nursery() as nursery:
        process = await start(command, nursery, port, log)
        http = RawHTTP("127.0.0.1", port)
        session_id = await http.initialize()
        reply = await http.post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": 2, "b": 3}},
            },
            {"mcp-session-id": session_id},
        )
        assert reply.status == 200 and b'"structuredContent":{"result":5}' in reply.body
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(15):
            await process.wait()
        nursery.cancel_scope.cancel()


async def test_tls_through_the_cli(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    log = tmp_path / "server.log"
    command = serve_http_command(port, "--certfile", str(cert), "--keyfile", str(key))
    async with trio.open_nursery() as nursery:
        process = await start(command, nursery, port, log)
        context = ssl.create_default_context(cafile=str(cert))
        http = RawHTTP("127.0.0.1", port, ssl_context=context)
        session_id = await http.initialize()
        assert session_id
        url = f"https://127.0.0.1:{port}/mcp"
        for version in (None, "2025-11-25"):  # trimcp's client over TLS, in both eras
            async with trimcp.open_client(url, verify=context, protocol_version=version) as client:
                assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
        with pytest.raises(trimcp.ConnectionFailed, match="cannot connect"):
            async with trimcp.open_client(url):  # the system's CAs do not know this certificate
                pass
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await process.wait() == 0
        nursery.cancel_scope.cancel()


async def test_trimcp_serve_sse_alone_and_beside_streamable_http(tmp_path: Path) -> None:
    from mcp import Client
    from mcp.client.sse import sse_client

    for extra in (["--transport", "sse"], ["--transport", "streamable-http", "--legacy-sse"]):
        port = free_port()
        log = tmp_path / f"server-{extra[1]}.log"
        command = [sys.executable, "-m", "trimcp", "serve", "examples/demo.py:server", "--port", str(port), *extra]
        async with trio.open_nursery() as nursery:
            process = await start(command, nursery, port, log)
            with trio.fail_after(30):
                async with Client(sse_client(f"http://127.0.0.1:{port}/sse"), mode="legacy", cache=None) as client:
                    assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
            streamable = await RawHTTP("127.0.0.1", port).post({"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert streamable.status == (404 if extra[1] == "sse" else 400)  # /mcp exists only beside
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                assert await process.wait() == 0
            nursery.cancel_scope.cancel()


def _connections_queued_while_stopped(port: int, attempts: int) -> int:
    """With the server stopped (SIGSTOP), open ``attempts`` connections at once and count those
    the kernel completed within a second: at most the listen backlog (plus one) can be."""
    import selectors
    import socket
    import time

    sockets = []
    try:
        with selectors.DefaultSelector() as selector:
            for _ in range(attempts):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                sockets.append(sock)
                selector.register(sock, selectors.EVENT_WRITE)
            connected = 0
            deadline = time.monotonic() + 1.0
            while connected < attempts and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    selector.unregister(key.fileobj)
                    if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:  # type: ignore[union-attr]
                        connected += 1
            return connected
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize(("options", "expected"), [([], (300,)), (["--backlog", "50"], (50, 51))])
async def test_the_listen_backlog_holds_a_burst_of_connections(tmp_path: Path, options: list, expected: tuple) -> None:
    # hypercorn's default backlog of 100 made a burst of 1,000 connections take 9 s (SYN retries).
    port = free_port()
    command = serve_http_command(port, *options)
    async with trio.open_nursery() as nursery:
        process = await start(command, nursery, port, tmp_path / "server.log")
        process.send_signal(signal.SIGSTOP)
        try:
            connected = await trio.to_thread.run_sync(_connections_queued_while_stopped, port, 300)
        finally:
            process.send_signal(signal.SIGCONT)
        assert connected in expected  # the kernel holds the backlog, or one more
        process.terminate()
        with trio.fail_after(10):
            await process.wait()
        nursery.cancel_scope.cancel()


async def test_the_command_line_limits_reach_the_server(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    command = serve_http_command(port, "--max-sessions", "1", "--max-body-bytes", "2000")
    async with trio.open_nursery() as nursery:
        process = await start(command, nursery, port, log)
        http = RawHTTP("127.0.0.1", port)
        try:
            with trio.fail_after(10):
                await http.initialize()
                refused = await http.post(initialize_request())
                assert refused.status == 503, refused.body
                big = await http.post({**initialize_request(), "padding": "x" * 3000})
                assert big.status == 413, big.body
        finally:
            process.terminate()
            with trio.fail_after(10):
                await process.wait()


async def test_trimcp_serve_logs_running_on_once(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    async with trio.open_nursery() as nursery:
        process = await start(serve_http_command(port), nursery, port, log)
        try:
            await wait_for(log, "Running on")
            await trio.sleep(0.2)
            assert log.read_text().count("Running on") == 1, log.read_text()  # hypercorn's handler printed it twice
        finally:
            process.terminate()
            with trio.fail_after(10):
                await process.wait()


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            serve_http_command(port), cwd=ROOT, capture_output=True, text=True, timeout=30,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == f"trimcp: cannot listen on 127.0.0.1:{port}: Address already in use"


async def test_trimcp_serve_reads_its_settings_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "trimcp", "serve", "examples/demo.py:server"]
    settings = {"TRIMCP_TRANSPORT": "streamable-http", "TRIMCP_PORT": str(port), "TRIMCP_MAX_SESSIONS": "1"}
    process = await start(command, None, port, tmp_path / "server.log", settings)
    try:
        http = RawHTTP("127.0.0.1", port)
        with trio.fail_after(10):
            await http.initialize()
            assert (await http.post(initialize_request())).status == 503  # TRIMCP_MAX_SESSIONS=1
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()
