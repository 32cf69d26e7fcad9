"""JWT verification against a JWK set served over real HTTP (hypercorn on 127.0.0.1): caching,
one forced refresh for an unknown key id, an outage, and a slow endpoint that stalls nobody."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import hypercorn.trio
import pytest
import trio
from joserfc.jwk import RSAKey

import trimcp
from trimcp.protocol.auth import InvalidToken, VerificationUnavailable

from .test_auth import ISSUER, KEY, protected, token

ROTATED = RSAKey.generate_key(2048, parameters={"kid": "k2"})


class JWKSEndpoint:
    """An ASGI app serving a JWK set that the test changes: its keys, a delay, a failure."""

    def __init__(self) -> None:
        self.keys = [KEY.as_dict(private=False)]
        self.delay = 0.0
        self.status = 200
        self.requests = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.requests += 1
        await trio.sleep(self.delay)
        body = json.dumps({"keys": self.keys}).encode()
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def jwks_endpoint() -> AsyncIterator[tuple[JWKSEndpoint, str]]:
    endpoint = JWKSEndpoint()
    config = trimcp.HTTPConfig(port=0).hypercorn_config()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(lambda task_status: hypercorn.trio.serve(endpoint, config, task_status=task_status))
        yield endpoint, f"{binds[0]}/jwks.json"
        nursery.cancel_scope.cancel()


def verifier(url: str, **cache: Any) -> trimcp.JWTVerifier:
    return trimcp.JWTVerifier(issuer=ISSUER, audience="RESOURCE", jwks_url=trimcp.JWKSCache(url, **cache))


async def test_keys_are_fetched_once_and_an_unknown_kid_forces_one_refresh() -> None:
    async with jwks_endpoint() as (endpoint, url):
        cache = trimcp.JWKSCache(url, refresh_cooldown=0.2)
        check = trimcp.JWTVerifier(issuer=ISSUER, audience="RESOURCE", jwks_url=cache)
        assert (await check.verify(token(sub="a"))).subject == "a"
        assert (await check.verify(token(sub="b"))).subject == "b"
        assert cache.fetches == 1
        rotated = token(ROTATED, {"alg": "RS256", "kid": "k2"}, sub="c")
        endpoint.keys.append(ROTATED.as_dict(private=False))
        await trio.sleep(0.25)  # past the cooldown since the last fetch
        assert (await check.verify(rotated)).subject == "c"  # the unknown kid forced one refresh
        assert cache.fetches == 2
        stranger = token(RSAKey.generate_key(2048, parameters={"kid": "k9"}), {"alg": "RS256", "kid": "k9"})
        with pytest.raises(InvalidToken):
            await check.verify(stranger)  # too soon after the last fetch: refused without one
        assert cache.fetches == 2
        await trio.sleep(0.25)
        with pytest.raises(InvalidToken):
            await check.verify(stranger)  # one more refresh, still unknown
        with pytest.raises(InvalidToken):
            await check.verify(stranger)
        assert cache.fetches == 3


async def test_an_outage_keeps_the_cached_keys_and_without_any_it_is_unavailable() -> None:
    async with jwks_endpoint() as (endpoint, url):
        cache = trimcp.JWKSCache(url, ttl=0.1, refresh_cooldown=0.1, timeout=1)
        check = trimcp.JWTVerifier(issuer=ISSUER, audience="RESOURCE", jwks_url=cache)
        await check.verify(token(sub="before"))
        endpoint.status = 500
        await trio.sleep(0.2)  # the keys are stale now, and the endpoint broken
        assert (await check.verify(token(sub="during"))).subject == "during"
        assert cache.fetches == 2
        endpoint.keys = []
        empty = trimcp.JWTVerifier(issuer=ISSUER, audience="RESOURCE", jwks_url=trimcp.JWKSCache(url, timeout=1))
        with pytest.raises(VerificationUnavailable):
            await empty.verify(token())


async def test_a_slow_jwks_endpoint_stalls_no_request_with_a_known_token() -> None:
    async with jwks_endpoint() as (endpoint, url):
        cache = trimcp.JWKSCache(url, refresh_cooldown=0, timeout=10)
        check = trimcp.JWTVerifier(issuer=ISSUER, audience="RESOURCE", jwks_url=cache)
        known = token(sub="known")
        await check.verify(known)
        endpoint.delay = 3.0
        rotated = token(ROTATED, {"alg": "RS256", "kid": "k2"}, sub="new")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(check.verify, rotated)  # waits for the slow refresh (and fails after it)
            await trio.sleep(0.05)
            started = trio.current_time()
            assert (await check.verify(known)).subject == "known"
            assert (await check.verify(token(sub="other"))).subject == "other"  # cached keys, same kid
            assert trio.current_time() - started < 0.05
            nursery.cancel_scope.cancel()


async def test_the_endpoint_answers_503_when_no_keys_can_be_had() -> None:
    async with jwks_endpoint() as (endpoint, url):
        endpoint.status = 503
        async with protected(jwks_url=url) as (http, resource):
            reply = await http.post(
                {"jsonrpc": "2.0", "id": 0, "method": "ping"}, {"authorization": f"Bearer {token(aud=resource)}"}
            )
            assert reply.status == 503 and reply.headers["retry-after"] == "5"


async def test_trimcp_serve_with_jwt_and_api_key_flags(tmp_path: Any) -> None:
    from .http_support import RawHTTP, initialize_request
    from .ports import free_port
    from .test_http_process import serve_http_command, start

    async with jwks_endpoint() as (_, url):
        port = free_port()
        resource = f"http://127.0.0.1:{port}/mcp"
        flags = ["--auth-issuer", ISSUER, "--auth-jwks-url", url, "--auth-scope", "mcp"]
        process = await start(serve_http_command(port, *flags), None, port, tmp_path / "jwt.log")
        try:
            http = RawHTTP("127.0.0.1", port)
            refused = await http.post(initialize_request())
            assert refused.status == 401
            assert refused.headers["www-authenticate"] == (
                f'Bearer scope="mcp", resource_metadata="http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"'
            )
            accepted = await http.post(initialize_request(), {"authorization": f"Bearer {token(aud=resource)}"})
            assert accepted.status == 200
            metadata = (await http.request("GET", "/.well-known/oauth-protected-resource/mcp")).json()
            assert metadata["resource"] == resource and metadata["authorization_servers"] == [ISSUER]
        finally:
            process.terminate()
            with trio.fail_after(10):
                await process.wait()
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"k-123": {"subject": "robot", "scopes": []}}))
    port = free_port()
    process = await start(serve_http_command(port, "--api-key-file", str(keys)), None, port, tmp_path / "keys.log")
    try:
        http = RawHTTP("127.0.0.1", port)
        assert (await http.post(initialize_request(), {"authorization": "Bearer k-123"})).status == 200
        assert (await http.post(initialize_request(), {"authorization": "Bearer k-124"})).status == 401
    finally:
        process.terminate()
        with trio.fail_after(10):
            await process.wait()
