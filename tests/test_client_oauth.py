"""The client's OAuth against servers that misbehave: each case ends with a typed error in
bounded time, and no token reaches a server it was not issued for. The MCP server and the
authorization server are one small ASGI app served by hypercorn on loopback, answering each
path as the test says and recording every request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import trio

import trimcp

from .ports import free_port

Answer = tuple[int, dict[str, str], Any]


class Fake:
    """An ASGI app: ``routes[path](query)`` gives (status, headers, JSON body or ``None`` to
    never answer); every request is recorded as (method, path, headers)."""

    def __init__(self, routes: dict[str, Callable[[dict[str, str]], Answer]]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], scope["path"], headers))
        while (await receive()).get("more_body"):
            pass
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        status, extra, body = self.routes.get(scope["path"], lambda q: (404, {}, {"error": "nothing"}))(query)
        if body is None:
            await trio.sleep_forever()
        raw = [(k.encode(), v.encode()) for k, v in {"content-type": "application/json", **extra}.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    def bearers(self, prefix: str = "") -> list[str]:
        """The paths (starting with ``prefix``) that were sent a bearer token."""
        return [p for _, p, h in self.seen if p.startswith(prefix) and h.get("authorization", "").startswith("Bearer")]


@asynccontextmanager
async def serving(fake: Fake) -> AsyncIterator[str]:
    port = free_port()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trimcp.serve_http(fake, port=port, handle_signals=False, task_status=task_status)
        )
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


def challenge(base: str) -> Callable[[dict[str, str]], Answer]:
    header = f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp", scope="mcp"'
    return lambda q: (401, {"www-authenticate": header}, {"error": "unauthorized"})


def metadata(issuer: str, **changes: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        **changes,
    }


def mcp_and_as(base: str, *, prm: dict[str, Any] | None = None, **as_changes: Any) -> dict[str, Any]:
    """Routes of an MCP server at ``/mcp`` that always challenges, its resource metadata, and
    an authorization server at ``/as`` that issues ``token-1``."""
    issuer = f"{base}/as"
    document = prm or {"resource": f"{base}/mcp", "authorization_servers": [issuer]}
    return {
        "/mcp": challenge(base),
        "/.well-known/oauth-protected-resource/mcp": lambda q: (200, {}, document),
        "/.well-known/oauth-authorization-server/as": lambda q: (200, {}, metadata(issuer, **as_changes)),
        "/as/token": lambda q: (200, {}, {"access_token": "token-1", "token_type": "Bearer", "expires_in": 60}),
    }


class Redirector:
    """An ``authorize`` callback answering as the test's authorization server would."""

    def __init__(self, iss: str | None) -> None:
        self.iss = iss
        self.calls = 0

    async def __call__(self, url: str) -> str:
        self.calls += 1
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        answer = {"code": "code-1", "state": query["state"], **({"iss": self.iss} if self.iss else {})}
        return f"{query['redirect_uri']}?{urlencode(answer)}"


async def connect(url: str, oauth: trimcp.OAuth, within: float = 10) -> float:
    """Try to connect; how long it took. Raises what ``open_client`` raises."""
    started = trio.current_time()
    with trio.fail_after(within):
        async with trimcp.open_client(url, auth=oauth, protocol_version="2025-11-25", timeout=5):
            pass
    return trio.current_time() - started


async def test_metadata_for_another_resource_stops_before_the_authorization_server() -> None:
    fake = Fake({})
    async with serving(fake) as base:
        prm = {"resource": "https://elsewhere.example/mcp", "authorization_servers": [f"{base}/as"]}
        fake.routes = mcp_and_as(base, prm=prm)
        redirector = Redirector(iss=f"{base}/as")
        with pytest.raises(trimcp.OAuthError, match="elsewhere.example"):
            await connect(f"{base}/mcp", trimcp.OAuth(authorize=redirector, client_id="c"))
    assert redirector.calls == 0 and not [p for _, p, _ in fake.seen if p.startswith(("/as", "/.well-known/oauth-a"))]
    assert fake.bearers() == []


@pytest.mark.parametrize("iss", ["https://evil.example", None, "{issuer}/"])
async def test_an_authorization_response_from_another_issuer_is_refused(iss: str | None) -> None:
    fake = Fake({})
    async with serving(fake) as base:
        fake.routes = mcp_and_as(base)
        redirector = Redirector(iss=iss.format(issuer=f"{base}/as") if iss else None)
        with pytest.raises(trimcp.OAuthError, match="iss"):
            await connect(f"{base}/mcp", trimcp.OAuth(authorize=redirector, client_id="c"))
    assert redirector.calls == 1
    assert not [p for _, p, _ in fake.seen if p == "/as/token"]  # the code went nowhere
    assert fake.bearers() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"authorization_endpoint": "http://auth.example/authorize"},
        {"token_endpoint": "http://10.0.0.1/token"},
        {"code_challenge_methods_supported": ["plain"]},
        {"issuer": "https://attacker.example"},
    ],
)
async def test_unsafe_authorization_server_metadata_is_refused(changes: dict[str, Any]) -> None:
    fake = Fake({})
    async with serving(fake) as base:
        fake.routes = mcp_and_as(base, **changes)
        redirector = Redirector(iss=f"{base}/as")
        with pytest.raises(trimcp.OAuthError):
            await connect(f"{base}/mcp", trimcp.OAuth(authorize=redirector, client_id="c"))
    assert redirector.calls == 0 and fake.bearers() == []


async def test_a_metadata_redirect_loop_ends_with_a_typed_error() -> None:
    fake = Fake({})
    async with serving(fake) as base:
        fake.routes = mcp_and_as(base)
        loop = f"{base}/.well-known/oauth-authorization-server/as"
        for path in ("/.well-known/oauth-authorization-server/as", "/.well-known/openid-configuration/as"):
            fake.routes[path] = lambda q: (302, {"location": loop}, {})
        fake.routes["/as/.well-known/openid-configuration"] = lambda q: (302, {"location": loop}, {})
        with pytest.raises(trimcp.OAuthError, match="no metadata"):
            await connect(f"{base}/mcp", trimcp.OAuth(authorize=Redirector(None), client_id="c"))
    assert fake.bearers() == []


async def test_a_server_that_keeps_refusing_new_tokens_is_asked_a_bounded_number_of_times() -> None:
    fake = Fake({})
    async with serving(fake) as base:
        fake.routes = mcp_and_as(base)
        redirector = Redirector(iss=f"{base}/as")
        with pytest.raises(trimcp.AuthorizationRequired):
            await connect(f"{base}/mcp", trimcp.OAuth(authorize=redirector, client_id="c"))
    assert redirector.calls == 2  # the first token, then one more: never a loop
    assert set(fake.bearers()) == {"/mcp"}  # the token went to the server it was issued for only


async def test_an_authorization_server_that_never_answers_times_out_as_an_oauth_error() -> None:
    fake = Fake({})
    async with serving(fake) as base:
        fake.routes = mcp_and_as(base)
        fake.routes["/.well-known/oauth-authorization-server/as"] = lambda q: (200, {}, None)
        oauth = trimcp.OAuth(authorize=Redirector(None), client_id="c", timeout=0.5)
        started = trio.current_time()
        with pytest.raises(trimcp.OAuthError, match="did not answer within 0.5 s"):
            await connect(f"{base}/mcp", oauth)
        assert trio.current_time() - started < 3


async def test_a_user_who_says_no_is_an_authorization_denied() -> None:
    async def refuse(url: str) -> str:
        state = parse_qs(urlsplit(url).query)["state"][0]
        return f"http://127.0.0.1:8765/callback?error=access_denied&state={state}&iss={issuer}"

    fake = Fake({})
    async with serving(fake) as base:
        issuer = f"{base}/as"
        fake.routes = mcp_and_as(base)
        with pytest.raises(trimcp.AuthorizationDenied) as denied:
            await connect(f"{base}/mcp", trimcp.OAuth(authorize=refuse, client_id="c"))
    assert denied.value.error == "access_denied"


async def test_time_spent_authorizing_does_not_count_against_the_request() -> None:
    """A user who takes longer than the request timeout to approve still gets the answer's
    own timeout afterwards (here the server still refuses, so it ends with its 401)."""

    async def slow_user(url: str) -> str:
        await trio.sleep(1.5)
        return await Redirector(issuer)(url)

    fake = Fake({})
    async with serving(fake) as base:
        issuer = f"{base}/as"
        fake.routes = mcp_and_as(base)
        oauth = trimcp.OAuth(authorize=slow_user, client_id="c", max_step_ups=1)
        with pytest.raises(trimcp.AuthorizationRequired), trio.fail_after(10):
            async with trimcp.open_client(f"{base}/mcp", auth=oauth, protocol_version="2025-11-25", timeout=1):
                pass
