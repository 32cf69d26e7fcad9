"""trimcp's client gets its own tokens from a real authorization server: oidc-provider (npm, a
certified OpenID Provider, under the tests' node 22) with an interaction page that approves at
once; the "browser" of the authorization-code flow is an HTTP client that follows its redirects
with cookies. A trimcp server protected by that provider checks the tokens."""

from __future__ import annotations

import http.client
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import trio

import trimcp

from .ports import free_port
from .test_auth import bound_server
from .test_auth_real import authorization_server

REDIRECT = "http://127.0.0.1:8765/callback"


def browse(url: str, redirect: str = REDIRECT) -> str:
    """What a browser does with the authorization URL here: follow the redirects (keeping
    cookies) until one goes to the ``redirect`` URI, and return that URL."""
    cookies: dict[str, str] = {}
    for _ in range(12):
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=10)
        try:
            headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
            connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.split(";")[0].partition("=")
                cookies[key] = rest
        location = response.getheader("location")
        assert location, f"the authorization server answered {response.status} without a redirect: {body[-900:]!r}"
        url = urljoin(url, location)
        if url.startswith(redirect):
            return url
    raise AssertionError("more than 12 redirects")


class Browser:
    """The ``authorize`` callback: counts the user's steps and plays them with :func:`browse`."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, url: str) -> str:
        self.urls.append(url)
        return await trio.to_thread.run_sync(browse, url)


@asynccontextmanager
async def protected(issuer: str, port: int) -> AsyncIterator[str]:
    """A trimcp server needing the ``mcp`` scope (``admin_only`` needs ``admin`` too), checking
    the provider's JWTs; yields its URL."""
    resource = f"http://127.0.0.1:{port}/mcp"
    verifier = trimcp.JWTVerifier(issuer=issuer, audience=resource, jwks_url=f"{issuer}/jwks")
    auth = trimcp.AuthConfig(
        verifier=verifier,
        resource_url=resource,
        authorization_servers=[issuer],
        required_scopes=["mcp"],
        scopes_supported=["mcp"],
    )
    app = trimcp.asgi_app(bound_server(), auth=auth)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trimcp.serve_http(app, port=port, handle_signals=False, task_status=task_status)
        )
        yield resource
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("protocol_version", [None, "2025-11-25"])
async def test_authorization_code_refresh_and_step_up(protocol_version: str | None, tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    browser = Browser()
    store = trimcp.FileTokenStore(tmp_path / "tokens.json")
    oauth = trimcp.OAuth(authorize=browser, redirect_uri=REDIRECT, client_id="trimcp-code", store=store)
    async with authorization_server(resource, tmp_path / "oidc.log") as issuer, protected(issuer, port):
        with trio.fail_after(60):
            async with trimcp.open_client(resource, auth=oauth, protocol_version=protocol_version) as client:
                whoami = await client.call_tool("whoami", {})
                assert whoami["content"][0]["text"].startswith("alice mcp")
                assert len(browser.urls) == 1 and "code_challenge_method=S256" in browser.urls[0]
                tokens = await store.get("tokens " + resource)
                assert tokens is not None and tokens["refresh_token"] and tokens["issuer"] == issuer
                assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600

                await store.set("tokens " + resource, {**tokens, "expires_at": 0})  # as if it expired
                await client.call_tool("whoami", {})
                refreshed = await store.get("tokens " + resource)
                assert refreshed is not None and refreshed["access_token"] != tokens["access_token"]
                assert len(browser.urls) == 1  # refreshed, not asked again

                assert (await client.call_tool("admin_only", {}))["content"][0]["text"] == "admin things"
                assert len(browser.urls) == 2  # the step-up asked for what it had and what it lacked
                stepped = await store.get("tokens " + resource)
                assert stepped is not None and {"mcp", "admin"} <= set(stepped["requested"])
                assert whoami_scopes(await client.call_tool("whoami", {})) >= {"mcp", "admin"}


def whoami_scopes(result: dict) -> set[str]:
    return set(result["content"][0]["text"].split()[1:-1])


async def test_dynamic_registration_with_a_real_provider(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    browser = Browser()
    oauth = trimcp.OAuth(authorize=browser, redirect_uri=REDIRECT, client_name="trimcp dynamic")
    async with authorization_server(resource, tmp_path / "oidc.log") as issuer, protected(issuer, port):
        with trio.fail_after(60):
            async with trimcp.open_client(resource, auth=oauth) as client:
                assert (await client.call_tool("whoami", {}))["content"][0]["text"].startswith("alice mcp")
        registered = await oauth.store.get("client " + issuer)
        assert registered is not None and registered["client_id"] != "trimcp-code"
