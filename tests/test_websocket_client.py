"""trimcp's client over a WebSocket (``open_client("ws://…")``) against trimcp's server on the
real hypercorn, in both eras: requests, progress, the server's questions, cancellation (a
``notifications/cancelled``: the connection is the session), credentials, refusals and the
server closing."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from wsproto import ConnectionState

import trimcp
from trimcp import CancelReason, Context

from .conftest import load_example
from .http_support import Probe, probe_server, running_server
from .test_client import ROOTS, assert_progress_and_logs, assert_questions_answered, elicit, sample
from .test_websocket import Keys

ERAS = ["2026-07-28", "2025-11-25"]


@asynccontextmanager
async def ws_url(server: trimcp.Server, **app_options: Any) -> AsyncIterator[tuple[str, trimcp.MCPApp]]:
    """``server`` on the real hypercorn with WebSocket on; yields its ``ws://`` URL and the app."""
    app = trimcp.asgi_app(server, **{"websocket": True, **app_options})
    async with running_server(app) as http:
        yield f"ws://127.0.0.1:{http.port}/mcp", app


@pytest.mark.parametrize("era", ERAS)
async def test_every_request_over_websocket(era: str) -> None:
    notifications: list[dict[str, Any]] = []
    options: dict[str, Any] = {"elicitation": elicit, "sampling": sample, "roots": ROOTS}
    with trio.fail_after(20):
        async with ws_url(load_example("demo").server) as (url, app):
            async with trimcp.open_client(
                url, protocol_version=era, message_handler=notifications.append, **options
            ) as client:
                assert (client.protocol_version, client.transport_name) == (era, "websocket")
                assert client.server_info["name"] == "trimcp-demo"
                assert {"add", "count_slowly", "book_table"} <= {tool["name"] for tool in await client.list_tools()}
                assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
                with pytest.raises(trimcp.RequestFailed) as unknown:
                    await client.call_tool("no-such-tool")
                assert unknown.value.code == -32602

                await client.set_logging_level("info")
                await assert_progress_and_logs(client, notifications)

                await assert_questions_answered(client)
            with trio.move_on_after(2):
                while app.sessions.statistics().live_requests:
                    await trio.sleep(0.01)
            assert app.sessions.statistics().live_requests == 0


async def test_the_era_is_negotiated_when_not_pinned() -> None:
    with trio.fail_after(10):
        async with ws_url(probe_server(Probe())) as (url, _), trimcp.open_client(url) as client:
            assert client.protocol_version == "2026-07-28"
            assert (await client.call_tool("add", {"a": 1, "b": 2}))["structuredContent"] == {"result": 3}
        assert client.transport._ws.state is ConnectionState.CLOSED, "closed with the close handshake"  # type: ignore[attr-defined]


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_timeout_cancels_the_tool_at_once(era: str) -> None:
    probe = Probe()
    with trio.fail_after(15):
        async with ws_url(probe_server(probe)) as (url, _), trimcp.open_client(url, protocol_version=era) as client:
            with pytest.raises(trimcp.ClientTimeout):
                await client.call_tool("sleep", timeout=0.3)
            timed_out = trio.current_time()
            await probe.finished.wait()
            assert probe.finally_at is not None and probe.finally_at - timed_out < 0.1
            assert probe.reason is CancelReason.CLIENT_CANCELLED  # notifications/cancelled, in both eras
            assert (await client.call_tool("sleep", {"seconds": 0}))["content"][0]["text"] == "slept"


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_the_caller_cancels_the_tool(era: str) -> None:
    probe = Probe()
    with trio.fail_after(15):
        async with ws_url(probe_server(probe)) as (url, _), trimcp.open_client(url, protocol_version=era) as client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.call_tool, "sleep")
                await probe.started.wait()
                cancelled_at = trio.current_time()
                nursery.cancel_scope.cancel()
            await probe.finished.wait()
            assert probe.finally_at is not None and probe.finally_at - cancelled_at < 0.1
            assert probe.reason is CancelReason.CLIENT_CANCELLED


async def test_the_bearer_token_and_headers_travel_with_the_upgrade() -> None:
    server = trimcp.Server("auth-ws")

    @server.tool
    def whoami(ctx: Context) -> str:
        return ctx.principal.subject  # type: ignore[union-attr]

    auth = trimcp.AuthConfig(verifier=Keys(), resource_url="http://127.0.0.1/mcp")
    with trio.fail_after(10):
        async with ws_url(server, auth=auth) as (url, _):
            with pytest.raises(trimcp.AuthorizationRequired) as refused:
                async with trimcp.open_client(url, auth="bad"):
                    pass
            assert refused.value.status == 401 and "resource_metadata" in refused.value.challenge
            async with trimcp.open_client(url, auth="good", headers={"x-extra": "1"}) as client:
                assert (await client.call_tool("whoami"))["content"][0]["text"] == "alice"
            async with trimcp.open_client(url, headers={"Authorization": "Bearer good"}) as client:
                assert (await client.call_tool("whoami"))["content"][0]["text"] == "alice"


async def test_a_refused_upgrade_is_a_clear_error() -> None:
    with trio.fail_after(10):
        async with ws_url(probe_server(Probe()), websocket=False) as (url, _):
            with pytest.raises(trimcp.HTTPStatusError, match="WebSocket upgrade was refused") as refused:
                async with trimcp.open_client(url):
                    pass
            assert refused.value.status == 403


async def test_nothing_listening_is_a_connection_failure() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    with trio.fail_after(10), pytest.raises(trimcp.ConnectionFailed, match="cannot connect"):
        async with trimcp.open_client(f"ws://127.0.0.1:{port}/mcp"):
            pass


async def test_the_server_closing_fails_the_waiting_call_with_server_closed() -> None:
    probe = Probe()
    with trio.fail_after(10):
        async with ws_url(probe_server(probe)) as (url, app), trimcp.open_client(url) as client:

            async def shut_down_once_started() -> None:
                await probe.started.wait()
                await app.shutdown(0.1)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(shut_down_once_started)
                with pytest.raises(trimcp.ServerClosed):
                    await client.call_tool("sleep")
            assert probe.reason is CancelReason.SHUTDOWN
            with pytest.raises(trimcp.ServerClosed):
                await client.call_tool("add", {"a": 1, "b": 2})


def test_ws_urls_pick_the_websocket_transport() -> None:
    from trimcp._client.open import _transport_of

    assert _transport_of("ws://h/mcp", None) == _transport_of("wss://h/mcp", None) == "websocket"
    assert _transport_of("http://h/mcp", "websocket") == "websocket"


async def test_wss_through_trio_tls_with_the_verify_option(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    app = trimcp.asgi_app(probe_server(Probe()), websocket=True)
    with trio.fail_after(15):
        async with running_server(app, certfile=str(cert), keyfile=str(key)) as http:
            url = f"wss://127.0.0.1:{http.port}/mcp"
            context = ssl.create_default_context(cafile=str(cert))
            async with trimcp.open_client(url, verify=context, protocol_version="2025-11-25") as client:
                assert (await client.call_tool("add", {"a": 2, "b": 3}))["structuredContent"] == {"result": 5}
            with pytest.raises(trimcp.ConnectionFailed, match="cannot connect"):
                async with trimcp.open_client(url):  # the system's CAs do not know this certificate
                    pass


async def test_trimcp_call_over_websocket_prints_progress_then_the_result() -> None:
    app = trimcp.asgi_app(load_example("demo").server, websocket=True)
    async with running_server(app) as http:
        url = f"ws://127.0.0.1:{http.port}/mcp"
        command = [sys.executable, "-m", "trimcp", "call", url, "count_slowly", "steps=2", "delay=0.05"]
        with trio.fail_after(30):
            done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "counted to 2"
    assert "progress 2/2: counted to 2" in done.stderr.decode()
