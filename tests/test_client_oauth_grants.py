"""Grants without the user's browser step (a workload's JWT, enterprise-managed authorization
with an ID-JAG) and pre-registered credentials kept to their own authorization server. A trimcp
MCP server reached only with the token the test's authorization server issued, and that
authorization server (and an identity provider), served by hypercorn on loopback; every
request is recorded with its form."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
import trio

import trimcp
from trimcp.protocol.oauth import ID_JAG_TYPE, ID_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT

from .test_client_oauth import Redirector, metadata, serving
from .test_client_oauth_dpop import body_of, mcp_server, reply

Route = Callable[[dict[str, str], dict[str, str]], tuple[int, Any]]


class Servers:
    """``/mcp`` (trimcp's app, reached with ``Bearer <valid>`` only; else a challenge naming
    the authorization server ``issuer_path``), its resource metadata, the metadata of ``/as``
    and ``/as2``, and ``routes[path](headers, form)`` for the rest. ``seen`` holds every
    request's (path, headers, form)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.app = trimcp.asgi_app(mcp_server())
        self.routes = routes
        self.valid = "token-1"
        self.issuer_path = "/as"
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        base, path = f"http://{headers['host']}", scope["path"]
        if path == "/mcp":
            self.seen.append((path, headers, {}))
            if headers.get("authorization") == f"Bearer {self.valid}":
                return await self.app(scope, receive, send)
            challenge = f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
            return await reply(send, 401, {}, {"www-authenticate": challenge})
        form = {k: v[0] for k, v in parse_qs((await body_of(receive)).decode()).items()}
        self.seen.append((path, headers, form))
        if path == "/.well-known/oauth-protected-resource/mcp":
            return await reply(
                send, 200, {"resource": f"{base}/mcp", "authorization_servers": [base + self.issuer_path]}
            )
        if path.startswith("/.well-known/oauth-authorization-server/"):
            issuer = base + path.removeprefix("/.well-known/oauth-authorization-server")
            return await reply(
                send, 200, metadata(issuer, token_endpoint_auth_methods_supported=["client_secret_basic"])
            )
        status, answer = self.routes.get(path, lambda h, f: (404, {"error": "not_found"}))(headers, form)
        await reply(send, status, answer)

    def requests(self, path: str) -> list[dict[str, str]]:
        """The forms of the requests to ``path``."""
        return [form for seen, _, form in self.seen if seen == path]


def issue(valid: str) -> Route:
    return lambda headers, form: (200, {"access_token": valid, "token_type": "Bearer", "expires_in": 600})


async def call_echo(url: str, oauth: trimcp.OAuth) -> str:
    with trio.fail_after(10):
        async with trimcp.open_client(url, auth=oauth, protocol_version="2025-11-25", timeout=5) as client:
            return (await client.call_tool("echo", {"text": "hi"}))["content"][0]["text"]


async def test_a_workloads_jwt_is_the_grant() -> None:
    jwts = iter(["workload-jwt-1", "workload-jwt-2"])

    async def current_jwt() -> str:  # as a platform's projected token, read at each request
        return next(jwts)

    servers = Servers({"/as/token": issue("token-1")})
    async with serving(servers) as base:
        assert await call_echo(f"{base}/mcp", trimcp.OAuth(client_id="workload", assertion=current_jwt)) == "hi"
    [form] = servers.requests("/as/token")
    assert form == {
        "grant_type": JWT_BEARER_GRANT,
        "assertion": "workload-jwt-1",
        "resource": f"{base}/mcp",
        "client_id": "workload",
    }


async def test_a_refused_workload_grant_is_an_error_and_not_retried() -> None:
    servers = Servers({"/as/token": lambda h, f: (400, {"error": "invalid_grant", "error_description": "expired"})})
    async with serving(servers) as base:
        with pytest.raises(trimcp.OAuthError, match="invalid_grant: expired"):
            await call_echo(f"{base}/mcp", trimcp.OAuth(client_id="workload", assertion="expired-jwt"))
    assert len(servers.requests("/as/token")) == 1  # no second try, no other grant


async def test_enterprise_managed_authorization_exchanges_the_id_token_for_an_id_jag() -> None:
    def exchange(headers: dict[str, str], form: dict[str, str]) -> tuple[int, Any]:
        return 200, {"issued_token_type": ID_JAG_TYPE, "access_token": "id-jag-1", "token_type": "N_A"}

    def jwt_bearer(headers: dict[str, str], form: dict[str, str]) -> tuple[int, Any]:
        basic = base64.b64encode(b"mcp-client:mcp-secret").decode()
        if headers.get("authorization") != f"Basic {basic}" or form.get("assertion") != "id-jag-1":
            return 401, {"error": "invalid_client"}
        return issue("token-1")(headers, form)

    servers = Servers({"/idp/token": exchange, "/as/token": jwt_bearer})
    async with serving(servers) as base:
        idp = trimcp.EnterpriseIdP(token_endpoint=f"{base}/idp/token", id_token="id-token-1", client_id="idp-client")
        oauth = trimcp.OAuth(client_id="mcp-client", client_secret="mcp-secret", enterprise=idp)
        assert await call_echo(f"{base}/mcp", oauth) == "hi"
    assert servers.requests("/idp/token") == [
        {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "requested_token_type": ID_JAG_TYPE,
            "audience": f"{base}/as",
            "resource": f"{base}/mcp",
            "subject_token": "id-token-1",
            "subject_token_type": ID_TOKEN_TYPE,
            "client_id": "idp-client",
        }
    ]
    [grant] = servers.requests("/as/token")
    assert grant["grant_type"] == JWT_BEARER_GRANT and "client_secret" not in grant


async def test_an_identity_provider_that_refuses_is_an_oauth_error() -> None:
    servers = Servers({"/idp/token": lambda h, f: (400, {"error": "invalid_grant"}), "/as/token": issue("token-1")})
    async with serving(servers) as base:
        idp = trimcp.EnterpriseIdP(token_endpoint=f"{base}/idp/token", id_token="old", client_id="idp-client")
        with pytest.raises(trimcp.OAuthError, match="identity provider refused"):
            await call_echo(f"{base}/mcp", trimcp.OAuth(client_id="mcp-client", enterprise=idp))
    assert servers.requests("/as/token") == []


async def test_pre_registered_credentials_go_to_the_issuer_they_belong_to_only() -> None:
    servers = Servers({"/as2/token": issue("token-1")})
    servers.issuer_path = "/as2"
    async with serving(servers) as base:
        redirector = Redirector(f"{base}/as2")
        oauth = trimcp.OAuth(authorize=redirector, client_id="c", client_secret="s", issuer=f"{base}/as")
        with pytest.raises(trimcp.AuthorizationServerChanged) as changed:
            await call_echo(f"{base}/mcp", oauth)
    assert (changed.value.registered_with, changed.value.found) == (f"{base}/as", f"{base}/as2")
    assert redirector.calls == 0 and servers.requests("/as2/token") == []


async def test_the_first_issuer_of_pre_registered_credentials_is_remembered() -> None:
    servers = Servers({"/as/token": issue("token-1"), "/as2/token": issue("token-2")})
    store = trimcp.MemoryTokenStore()
    async with serving(servers) as base:
        redirectors = {path: Redirector(f"{base}{path}") for path in ("/as", "/as2")}
        first = trimcp.OAuth(authorize=redirectors["/as"], client_id="c", client_secret="s", store=store)
        assert await call_echo(f"{base}/mcp", first) == "hi"
        servers.issuer_path, servers.valid = "/as2", "token-2"  # the server moved to another authorization server
        later = trimcp.OAuth(authorize=redirectors["/as2"], client_id="c", client_secret="s", store=store)
        with pytest.raises(trimcp.AuthorizationServerChanged, match="/as2"):
            await call_echo(f"{base}/mcp", later)
    assert redirectors["/as2"].calls == 0
    assert [path for path, _, _ in servers.seen if "as2" in path] == ["/.well-known/oauth-authorization-server/as2"]
