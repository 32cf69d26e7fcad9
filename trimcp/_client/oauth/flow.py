"""One server's OAuth state for one connection: the credentials to send, and getting new ones
when the server challenges (discovery, client identification, the grant, refresh). The rules
each answer is checked against live in :mod:`trimcp.protocol.oauth` and
:mod:`trimcp.protocol.dpop`; the token endpoint in :mod:`.grants`."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import trio

from ...protocol import dpop
from ...protocol import oauth as rules
from .config import OAuth
from .dpop import DPoPKey
from .errors import AuthorizationDenied, AuthorizationServerChanged, OAuthError
from .fetch import Fetcher
from .grants import Discovered, TokenEndpoint

#: Refresh a token this many seconds before it expires.
_EARLY = 30.0


class Credentials(NamedTuple):
    """What one request to the MCP server carries: the access token (``None`` before any), its
    headers (``Authorization``, and a fresh ``DPoP`` proof for a bound token) and the DPoP
    nonce the proof used."""

    token: str | None
    headers: list[tuple[str, str]]
    nonce: str | None = None


class OAuthSession:
    """The tokens of one MCP server (``server_url``) under one :class:`OAuth` configuration.
    Only :meth:`credentials` hands a token out, and only for this server; every other request
    this object makes (metadata, registration, tokens) carries none. Resource handling: owns
    the :class:`Fetcher` (closed by :meth:`aclose`)."""

    def __init__(self, config: OAuth, server_url: str, fetcher: Fetcher) -> None:
        self.config = config
        self.server_url = server_url
        self.http = fetcher
        self.tokens = TokenEndpoint(config, fetcher)
        self.key = "tokens " + rules.canonical_resource(server_url)
        self.pause: Callable[[], AbstractContextManager[None]] = nullcontext
        self._lock = trio.Lock()

    async def credentials(self, method: str, url: str) -> Credentials:
        """What a ``method`` request to ``url`` (on this server) carries, the token refreshed
        first when it is about to expire and a refresh token is at hand."""
        tokens = await self.config.store.get(self.key)
        if tokens is None:
            return Credentials(None, [])
        expires = tokens.get("expires_at")
        if tokens.get("refresh_token") and expires is not None and expires - _EARLY < time.time():
            async with self._lock:
                tokens = await self.config.store.get(self.key) or tokens
                if tokens.get("expires_at") == expires:
                    with contextlib.suppress(OAuthError, rules.OAuthViolation):  # the server's 401 will say
                        tokens = await self._refresh(tokens, None) or tokens
        token = tokens["access_token"]
        if tokens.get("token_type") != dpop.SCHEME:
            return Credentials(token, [("authorization", f"Bearer {token}")])
        nonce = self.tokens.nonces.get(dpop.target_uri(url))
        proof = DPoPKey(tokens["dpop_key"]).proof(method, url, access_token=token, nonce=nonce)
        return Credentials(token, [("authorization", f"DPoP {token}"), ("dpop", proof)], nonce)

    def resource_nonce(self, url: str, nonce: str | None) -> None:
        """Keep the DPoP nonce the MCP server at ``url`` gave (RFC 9449 §9), for the next proofs."""
        if nonce:
            self.tokens.nonces[dpop.target_uri(url)] = nonce

    async def challenged(self, status: int, scheme: str, challenge: dict[str, str], sent: str | None) -> None:
        """The server refused ``sent`` (``None``: no token) with a 401, or a 403
        ``insufficient_scope``, in a ``scheme`` (``"bearer"`` or ``"dpop"``) challenge: get a
        token that should do. A flow at a time; a token another request already replaced is
        not replaced again. The waiting requests' timeouts pause meanwhile. Raises
        :class:`OAuthError` when no token can be had."""
        async with self._lock:
            current = await self.config.store.get(self.key)
            if current is not None and current.get("access_token") != sent:
                return  # renewed while this request was on its way
            with self.pause():
                try:
                    await self._renew(status, scheme, challenge, current)
                except rules.AuthorizationError as exc:
                    raise AuthorizationDenied(str(exc), exc.error) from None
                except rules.OAuthViolation as exc:
                    raise OAuthError(str(exc)) from None

    async def _renew(self, status: int, scheme: str, challenge: dict[str, str], current: dict[str, Any] | None) -> None:
        found = await self.discover(challenge.get("resource_metadata"))
        mine = current if current is not None and current.get("issuer") == found.issuer else None
        if status == 401 and mine is not None and mine.get("refresh_token") and await self._refresh(mine, found):
            return
        previous = [*self.config.scopes, *(mine.get("requested", []) if mine is not None else [])]
        scopes = rules.scopes_to_request(
            challenge.get("scope"), found.scopes_supported, previous, found.metadata.get("scopes_supported")
        )
        if not self.config.unattended and self.config.authorize is None:
            raise OAuthError("the server needs the user's authorization: give OAuth(authorize=...)")
        key = self._new_key(found, scheme)
        client = await self._client(found)
        if self.config.unattended:
            form = await self.tokens.unattended_grant(found, scopes)
        else:
            form = await self.tokens.user_grant(found, client, scopes)
        tokens = await self.tokens.request(found, client, form, key)
        assert tokens is not None  # only a refresh is refused with None
        await self._keep(tokens, found, scopes, key)

    def _new_key(self, found: Discovered, scheme: str) -> DPoPKey | None:
        """A key to bind the new tokens to, when DPoP is wanted (``OAuth(dpop=...)``, by default
        when the server's challenge is a DPoP one). Raises :class:`dpop.DPoPUnsupported` when
        the authorization server cannot bind tokens to it."""
        wanted = self.config.dpop if self.config.dpop is not None else scheme == "dpop"
        if not wanted:
            return None
        dpop.check_support(found.metadata)
        return DPoPKey()

    # -- discovery --------------------------------------------------------------------------------

    async def discover(self, resource_metadata: str | None) -> Discovered:
        """The server's Protected Resource Metadata (the challenge's, else the well-known URLs),
        then its first authorization server's metadata (RFC 8414 and OpenID Connect URLs in the
        spec's order). Without any resource metadata, the 2025-03-26 rules: the server's origin
        is the authorization server, with default endpoints when it has no metadata either.
        Raises :class:`rules.OAuthViolation` for a document that fails its checks."""
        document = None
        for url in rules.prm_urls(self.server_url, resource_metadata):
            answer = await self.http.get_json(url)
            if answer.status == 200:
                document = rules.check_protected_resource(answer.body, self.server_url)
                break
        if document is None:
            if resource_metadata:
                raise rules.OAuthViolation(f"the server's resource metadata {resource_metadata} could not be read")
            url, defaults = rules.legacy_metadata(self.server_url)
            answer = await self.http.get_json(url)
            legacy = answer.body if answer.status == 200 else defaults
            metadata = rules.check_authorization_server(legacy, defaults["issuer"])
            return Discovered(metadata, rules.canonical_resource(self.server_url), None)
        issuer = document["authorization_servers"][0]
        rules.require_secure(issuer, "authorization server")
        for url in rules.metadata_urls(issuer):
            answer = await self.http.get_json(url)
            if answer.status == 200:
                metadata = rules.check_authorization_server(answer.body, issuer)
                return Discovered(metadata, document["resource"], document.get("scopes_supported"))
        raise rules.OAuthViolation(f"the authorization server {issuer} publishes no metadata")

    # -- client identification -------------------------------------------------------------------

    async def _client(self, found: Discovered) -> dict[str, Any]:
        """Who this client is at ``found``'s authorization server, in the spec's order:
        pre-registered, a client ID metadata document, a stored or new dynamic registration
        (kept per issuer: never shown to another authorization server)."""
        config, metadata = self.config, found.metadata
        supported = metadata.get("token_endpoint_auth_methods_supported")
        if config.client_id is not None:
            await self._check_registered_issuer(found.issuer)
        if config.private_key is not None:
            return {"client_id": config.client_id, "client_secret": None, "method": "private_key_jwt"}
        if config.client_id is not None:
            method = rules.auth_method(config.token_endpoint_auth_method, supported, config.client_secret is not None)
            return {"client_id": config.client_id, "client_secret": config.client_secret, "method": method}
        if config.client_metadata_url and metadata.get("client_id_metadata_document_supported") is True:
            return {"client_id": config.client_metadata_url, "client_secret": None, "method": "none"}
        stored = await config.store.get("client " + found.issuer)
        if stored is not None:
            return stored
        endpoint = metadata.get("registration_endpoint")
        if not isinstance(endpoint, str):
            raise rules.OAuthViolation(
                f"the authorization server {found.issuer} takes no registrations: give OAuth(client_id=...)"
            )
        client = await self._register(endpoint, supported)
        await config.store.set("client " + found.issuer, client)
        return client

    async def _check_registered_issuer(self, issuer: str) -> None:
        """Pre-registered credentials go to their own authorization server only: the one given
        as ``OAuth(issuer=...)``, else the first one they were used with (kept in the store).
        Raises :class:`AuthorizationServerChanged` for another."""
        client_id = self.config.client_id
        assert client_id is not None
        registered_with = self.config.issuer
        if registered_with is None:
            recorded = await self.config.store.get("issuer " + client_id)
            registered_with = recorded.get("issuer") if recorded is not None else None
            if registered_with is None:
                await self.config.store.set("issuer " + client_id, {"issuer": issuer})
                return
        if registered_with != issuer:
            raise AuthorizationServerChanged(client_id, registered_with, issuer)

    async def _register(self, endpoint: str, supported: Any) -> dict[str, Any]:
        """Dynamic client registration (RFC 7591) as a native client that wants refresh tokens."""
        listed = supported if isinstance(supported, list) else ["client_secret_basic"]
        wanted = next((m for m in ("none", "client_secret_basic", "client_secret_post") if m in listed), "none")
        request = {
            "client_name": self.config.client_name,
            "redirect_uris": [self.config.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": wanted,
            "application_type": self.config.application_type,
        }
        headers = [("content-type", "application/json"), ("accept", "application/json")]
        status, body, _ = await self.http.exchange("POST", endpoint, headers, json.dumps(request).encode())
        if status not in (200, 201) or not isinstance(body, dict) or not isinstance(body.get("client_id"), str):
            raise rules.OAuthViolation(f"the registration was refused ({status}: {rules.token_error(body)})")
        secret = body.get("client_secret") if isinstance(body.get("client_secret"), str) else None
        registered = body.get("token_endpoint_auth_method")
        method = rules.auth_method(registered if isinstance(registered, str) else None, [wanted], secret is not None)
        return {"client_id": body["client_id"], "client_secret": secret, "method": method}

    # -- tokens ----------------------------------------------------------------------------------

    async def _refresh(self, tokens: dict[str, Any], found: Discovered | None) -> dict[str, Any] | None:
        """New tokens for the refresh token (stored and returned; bound to the same DPoP key as
        the old ones), ``None`` when refused."""
        if found is None:
            found = await self.discover(None)
            if found.issuer != tokens.get("issuer"):
                return None
        client = await self._client(found)
        key = DPoPKey(tokens["dpop_key"]) if isinstance(tokens.get("dpop_key"), dict) else None
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "resource": found.resource}
        fresh = await self.tokens.request(found, client, form, key)
        if fresh is None:
            return None
        fresh["refresh_token"] = fresh["refresh_token"] or tokens["refresh_token"]
        return await self._keep(fresh, found, tokens.get("requested", []), key)

    async def _keep(
        self, tokens: dict[str, Any], found: Discovered, requested: list[str], key: DPoPKey | None
    ) -> dict[str, Any]:
        record = {**tokens, "issuer": found.issuer, "resource": found.resource, "requested": list(requested)}
        if key is not None:
            record["dpop_key"] = key.jwk
        await self.config.store.set(self.key, record)
        return record

    async def aclose(self) -> None:
        await self.http.aclose()
