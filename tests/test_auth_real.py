"""Authorization against a real authorization server: oidc-provider (npm, a certified OpenID
Provider, run by the tests' node 22) issues RS256 JWT access tokens through the client
credentials grant, trimcp verifies them with the provider's JWK set, and the official ``mcp``
client calls protected tools with them in both eras."""

from __future__ import annotations

import base64
import subprocess
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

import trimcp

from .http_support import RawHTTP, initialize_request
from .node_peers import INTEROP, ensure_installed
from .ports import free_port, wait_until_listening_async
from .test_auth import bound_server

CLIENT = ("trimcp-tests", "trimcp-tests-secret-0123456789abcdef")


@asynccontextmanager
async def authorization_server(resource: str, log: Path) -> AsyncIterator[str]:
    """oidc-provider on 127.0.0.1 issuing tokens for ``resource``; yields its issuer URL."""
    port = free_port()
    command = [str(ensure_installed()), str(INTEROP / "oidc_provider.mjs"), str(port), resource]
    process = await trio.lowlevel.open_process(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        await wait_until_listening_async(port, process, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()


async def access_token(issuer: str, resource: str, scope: str) -> str:
    """A token from the provider's token endpoint (client credentials, RFC 8707 resource)."""
    host, port = urllib.parse.urlsplit(issuer).hostname, urllib.parse.urlsplit(issuer).port
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope, "resource": resource})
    basic = base64.b64encode(":".join(CLIENT).encode()).decode()
    headers = {"authorization": f"Basic {basic}", "content-type": "application/x-www-form-urlencoded"}
    reply = await RawHTTP(host or "", port or 80).request("POST", "/token", headers, form.encode())
    assert reply.status == 200, reply.body
    return reply.json()["access_token"]


@asynccontextmanager
async def protected_by(issuer: str, port: int) -> AsyncIterator[str]:
    resource = f"http://127.0.0.1:{port}/mcp"
    verifier = trimcp.JWTVerifier(issuer=issuer, audience=resource, jwks_url=f"{issuer}/jwks")
    auth = trimcp.AuthConfig(verifier=verifier, resource_url=resource, authorization_servers=[issuer])
    app = trimcp.asgi_app(bound_server(), auth=auth)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trimcp.serve_http(app, port=port, handle_signals=False, task_status=task_status)
        )
        yield resource
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_official_client_calls_protected_tools_with_real_tokens(mode: str, tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    async with authorization_server(resource, tmp_path / "oidc.log") as issuer, protected_by(issuer, port):
        plain = await access_token(issuer, resource, "mcp tools:read")
        headers = {"authorization": f"Bearer {plain}", "x-trace": "real"}
        with trio.fail_after(30):
            async with Client(
                streamable_http_client(resource, http_client=httpx2.AsyncClient(headers=headers)), mode=mode
            ) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                assert "whoami" in tools and "admin_only" not in tools
                answer = await client.call_tool("whoami", {})
                assert answer.content[0].text == "trimcp-tests mcp tools:read real"
        admin = await access_token(issuer, resource, "mcp admin")
        with trio.fail_after(30):
            headers = {"authorization": f"Bearer {admin}"}
            async with Client(
                streamable_http_client(resource, http_client=httpx2.AsyncClient(headers=headers)), mode=mode
            ) as client:
                assert (await client.call_tool("admin_only", {})).content[0].text == "admin things"


async def test_a_token_for_another_resource_is_refused(tmp_path: Path) -> None:
    port = free_port()
    async with authorization_server("http://127.0.0.1:1/elsewhere", tmp_path / "oidc.log") as issuer:
        elsewhere = await access_token(issuer, "http://127.0.0.1:1/elsewhere", "mcp")
        async with protected_by(issuer, port):
            reply = await RawHTTP("127.0.0.1", port).post(
                initialize_request(), {"authorization": f"Bearer {elsewhere}"}
            )
            assert reply.status == 401 and 'error="invalid_token"' in reply.headers["www-authenticate"]


async def test_opaque_tokens_by_introspection_and_a_revoked_one_is_refused(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/opaque"
    async with authorization_server(resource, tmp_path / "oidc.log") as issuer:
        verifier = trimcp.IntrospectionVerifier(
            f"{issuer}/token/introspection",
            client_id=CLIENT[0],
            client_secret=CLIENT[1],
            audience=resource,
            cache_seconds=0,  # ask every time: a revocation counts at once
        )
        auth = trimcp.AuthConfig(verifier=verifier, resource_url=resource, authorization_servers=[issuer])
        app = trimcp.asgi_app(bound_server(), path="/opaque", auth=auth)
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: trimcp.serve_http(app, port=port, handle_signals=False, task_status=task_status)
            )
            http = RawHTTP("127.0.0.1", port)
            opaque = await access_token(issuer, resource, "mcp")
            assert "." not in opaque  # not a JWT: only the server that issued it can tell
            bearer = {"authorization": f"Bearer {opaque}"}
            assert (await http.post(initialize_request(), bearer, path="/opaque")).status == 200
            basic = base64.b64encode(":".join(CLIENT).encode()).decode()
            form = urllib.parse.urlencode({"token": opaque}).encode()
            revoke = {"authorization": f"Basic {basic}", "content-type": "application/x-www-form-urlencoded"}
            host, provider_port = urllib.parse.urlsplit(issuer).hostname, urllib.parse.urlsplit(issuer).port
            revoked = await RawHTTP(host or "", provider_port or 80).request("POST", "/token/revocation", revoke, form)
            assert revoked.status == 200
            refused = await http.post(initialize_request(), bearer, path="/opaque")
            assert refused.status == 401
            assert (
                'error="invalid_token", error_description="the token is not active'
                in refused.headers["www-authenticate"]
            )
            nursery.cancel_scope.cancel()
