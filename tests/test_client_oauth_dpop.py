"""DPoP (RFC 9449) in the client: a trimcp MCP server behind a resource-server check of every
proof, and its authorization server, both asking for nonces, served by hypercorn on loopback.
Every proof is verified as a DPoP-enforcing server would (joserfc): its signature by the key
it carries, ``htm``, ``htu``, ``iat``, a ``jti`` never seen before, the ``ath`` of the token it
comes with, the key the token is bound to, the nonce asked for."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
import trio
from joserfc import jws, jwt
from joserfc.jwk import ECKey

import trimcp
from trimcp.protocol.dpop import proof_claims, target_uri, token_hash

from .test_client_oauth import Redirector, metadata, serving

AS_NONCE, RS_NONCE = "as-nonce-1", "rs-nonce-1"


def mcp_server() -> trimcp.Server:
    server = trimcp.Server("dpop-bound")

    @server.tool
    def echo(text: str) -> str:
        return text

    return server


class DPoPServers:
    """``/mcp`` (trimcp's app, reached only with a valid DPoP-bound token and proof) and the
    authorization server at ``/as`` (DPoP-bound tokens only). ``algorithms`` is what its
    metadata lists. Records each proof's (path, claims) and what was wrong."""

    def __init__(self, algorithms: list[str]) -> None:
        self.app = trimcp.asgi_app(mcp_server())
        self.algorithms = algorithms
        self.proofs: list[tuple[str, dict[str, Any]]] = []
        self.problems: list[str] = []
        self.grants: list[str] = []
        self.schemes: set[str] = set()
        self.base = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.base = f"http://{headers['host']}"
        path = scope["path"]
        if path == "/.well-known/oauth-protected-resource/mcp":
            return await reply(send, 200, {"resource": f"{self.base}/mcp", "authorization_servers": [self.as_]})
        if path == "/.well-known/oauth-authorization-server/as":
            return await reply(send, 200, metadata(self.as_, dpop_signing_alg_values_supported=self.algorithms))
        if path == "/as/token":
            return await self._token(headers, await body_of(receive), send)
        if path == "/mcp":
            return await self._resource(scope, headers, receive, send)
        await reply(send, 404, {})

    @property
    def as_(self) -> str:
        return f"{self.base}/as"

    async def _token(self, headers: dict[str, str], body: bytes, send: Any) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self.grants.append(form["grant_type"])
        claims, thumbprint = self._check(headers.get("dpop"), "POST", f"{self.as_}/token", None)
        if claims is None:
            return await reply(send, 400, {"error": "invalid_dpop_proof"})
        if claims.get("nonce") != AS_NONCE:
            return await reply(send, 400, {"error": "use_dpop_nonce"}, {"dpop-nonce": AS_NONCE})
        if form["grant_type"] == "refresh_token" and form["refresh_token"] != f"rt-{thumbprint}":
            self.problems.append("a refresh token presented with another key")
        token = {"access_token": f"at-{thumbprint}-{len(self.grants)}", "token_type": "DPoP", "expires_in": 600}
        await reply(send, 200, {**token, "refresh_token": f"rt-{thumbprint}"})

    async def _resource(self, scope: dict[str, Any], headers: dict[str, str], receive: Any, send: Any) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if not token:
            challenge = f'DPoP algs="ES256", resource_metadata="{self.base}/.well-known/oauth-protected-resource/mcp"'
            return await reply(send, 401, {}, {"www-authenticate": challenge})
        self.schemes.add(scheme)
        claims, thumbprint = self._check(headers.get("dpop"), scope["method"], f"{self.base}/mcp", token)
        if claims is None or scheme != "DPoP" or not token.startswith(f"at-{thumbprint}-"):
            self.problems.append(f"{scheme} token {token} not bound to the proof's key") if claims else None
            return await reply(send, 401, {}, {"www-authenticate": 'DPoP error="invalid_token"'})
        if claims.get("nonce") != RS_NONCE:
            challenge = 'DPoP error="use_dpop_nonce", error_description="nonce needed"'
            return await reply(send, 401, {}, {"www-authenticate": challenge, "dpop-nonce": RS_NONCE})
        scope = {
            **scope,
            "headers": [(k, v) for k, v in scope["headers"] if k.lower() not in (b"authorization", b"dpop")],
        }
        await self.app(scope, receive, send)

    def _check(self, proof: str | None, method: str, uri: str, token: str | None) -> tuple[dict | None, str]:
        """The proof's claims and its key's thumbprint; ``None`` claims (and a problem noted)
        when it is not a valid proof for this request."""
        if proof is None:
            self.problems.append(f"{method} {uri}: no proof")
            return None, ""
        header = jws.extract_compact(proof.encode()).protected
        key = ECKey.import_key(header["jwk"])
        claims = jwt.decode(proof, key, algorithms=["ES256"]).claims
        self.proofs.append((uri, claims))
        wrong = [
            what
            for what, bad in [
                ("typ", header.get("typ") != "dpop+jwt"),
                ("private key shown", "d" in header["jwk"]),
                ("htm", claims.get("htm") != method),
                ("htu", claims.get("htu") != uri),
                ("iat", abs(claims.get("iat", 0) - time.time()) > 60),
                ("jti reused", [c.get("jti") for _, c in self.proofs].count(claims.get("jti")) != 1),
                ("ath", token is not None and claims.get("ath") != token_hash(token)),
                ("ath at the token endpoint", token is None and "ath" in claims),
            ]
            if bad
        ]
        if wrong:
            self.problems.append(f"{method} {uri}: {', '.join(wrong)}")
            return None, ""
        return claims, key.thumbprint()


async def body_of(receive: Any) -> bytes:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            return body


async def reply(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = [(k.encode(), v.encode()) for k, v in {"content-type": "application/json", **(headers or {})}.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@pytest.mark.parametrize("protocol_version", ["2025-11-25", "2026-07-28"])
async def test_tokens_bound_to_the_clients_key_with_a_fresh_proof_per_request(protocol_version: str) -> None:
    servers = DPoPServers(["ES256"])
    store = trimcp.MemoryTokenStore()
    async with serving(servers) as base:
        oauth = trimcp.OAuth(authorize=Redirector(f"{base}/as"), client_id="c", store=store)
        with trio.fail_after(20):
            async with trimcp.open_client(f"{base}/mcp", auth=oauth, protocol_version=protocol_version) as client:
                assert (await client.call_tool("echo", {"text": "bound"}))["content"][0]["text"] == "bound"
                key = f"tokens {base}/mcp"
                tokens = await store.get(key)
                assert tokens is not None and tokens["token_type"] == "DPoP" and "d" in tokens["dpop_key"]
                await store.set(key, {**tokens, "expires_at": 0})  # as if it expired: refreshed, same key
                assert (await client.call_tool("echo", {"text": "again"}))["content"][0]["text"] == "again"
    assert servers.problems == []
    assert servers.schemes == {"DPoP"}  # never presented as a Bearer token
    assert servers.grants == ["authorization_code", "authorization_code", "refresh_token"]  # once more with the nonce
    nonces = [claims.get("nonce") for uri, claims in servers.proofs if uri.endswith("/mcp")]
    assert nonces[0] is None and set(nonces[1:]) == {RS_NONCE}  # asked once, then always sent


async def test_an_authorization_server_without_es256_is_an_oauth_error() -> None:
    servers = DPoPServers(["RS256"])
    async with serving(servers) as base:
        oauth = trimcp.OAuth(authorize=Redirector(f"{base}/as"), client_id="c")
        with pytest.raises(trimcp.OAuthError, match="ES256"), trio.fail_after(10):
            async with trimcp.open_client(f"{base}/mcp", auth=oauth, protocol_version="2025-11-25"):
                pass
    assert servers.grants == []


def test_a_proofs_claims() -> None:
    claims = proof_claims("post", "https://mcp.example/mcp?x=1#f", now=1000.9, access_token="t", nonce="n")
    assert claims["htm"] == "POST" and claims["htu"] == "https://mcp.example/mcp" and claims["iat"] == 1000
    assert claims["ath"] == token_hash("t") and claims["nonce"] == "n" and len(claims["jti"]) >= 16
    assert (
        proof_claims("GET", "https://a.example", now=0)["jti"] != proof_claims("GET", "https://a.example", now=0)["jti"]
    )
    assert "ath" not in proof_claims("POST", "https://as.example/token", now=0)
    assert target_uri("https://a.example") == "https://a.example/"
    assert token_hash("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
