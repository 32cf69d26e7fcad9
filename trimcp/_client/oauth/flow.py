"""One server's OAuth state for one connection: the token to send, and getting a new one when
the server challenges (discovery, client identification, authorization code with PKCE,
refresh). The rules each answer is checked against live in :mod:`trimcp.protocol.oauth`."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import attrs
import trio

from ...protocol import oauth as rules
from .assertion import JWT_BEARER_ASSERTION, client_assertion
from .config import OAuth
from .errors import AuthorizationDenied, OAuthError
from .fetch import Fetcher

#: Refresh a token this many seconds before it expires.
_EARLY = 30.0


@attrs.frozen
class Discovered:
    """Where to get a token for the server: its authorization server's checked metadata, the
    resource to ask for, and the scopes the resource lists."""

    metadata: dict[str, Any]
    resource: str
    scopes_supported: Any

    @property
    def issuer(self) -> str:
        return self.metadata["issuer"]


class OAuthSession:
    """The tokens of one MCP server (``server_url``) under one :class:`OAuth` configuration.
    Only :meth:`bearer` hands a token out, and only for this server; every other request this
    object makes (metadata, registration, tokens) carries none. Resource handling: owns the
    :class:`Fetcher` (closed by :meth:`aclose`)."""

    def __init__(self, config: OAuth, server_url: str, fetcher: Fetcher) -> None:
        self.config = config
        self.server_url = server_url
        self.http = fetcher
        self.key = "tokens " + rules.canonical_resource(server_url)
        self.pause: Callable[[], AbstractContextManager[None]] = nullcontext
        self._lock = trio.Lock()

    async def bearer(self) -> str | None:
        """The access token to send to the server (``None`` before any), refreshed first when it
        is about to expire and a refresh token is at hand."""
        tokens = await self.config.store.get(self.key)
        if tokens is None:
            return None
        expires = tokens.get("expires_at")
        if tokens.get("refresh_token") and expires is not None and expires - _EARLY < time.time():
            async with self._lock:
                tokens = await self.config.store.get(self.key) or tokens
                if tokens.get("expires_at") == expires:
                    with contextlib.suppress(OAuthError, rules.OAuthViolation):  # the server's 401 will say
                        tokens = await self._refresh(tokens, None) or tokens
        return tokens.get("access_token")

    async def challenged(self, status: int, challenge: dict[str, str], sent: str | None) -> None:
        """The server refused ``sent`` (``None``: no token) with a 401, or a 403
        ``insufficient_scope``: get a token that should do. A flow at a time; a token another
        request already replaced is not replaced again. The waiting requests' timeouts pause
        meanwhile. Raises :class:`OAuthError` when no token can be had."""
        async with self._lock:
            current = await self.config.store.get(self.key)
            if current is not None and current.get("access_token") != sent:
                return  # renewed while this request was on its way
            with self.pause():
                try:
                    await self._renew(status, challenge, current)
                except rules.AuthorizationError as exc:
                    raise AuthorizationDenied(str(exc), exc.error) from None
                except rules.OAuthViolation as exc:
                    raise OAuthError(str(exc)) from None

    async def _renew(self, status: int, challenge: dict[str, str], current: dict[str, Any] | None) -> None:
        found = await self.discover(challenge.get("resource_metadata"))
        mine = current if current is not None and current.get("issuer") == found.issuer else None
        if status == 401 and mine is not None and mine.get("refresh_token") and await self._refresh(mine, found):
            return
        previous = [*self.config.scopes, *(mine.get("requested", []) if mine is not None else [])]
        scopes = rules.scopes_to_request(
            challenge.get("scope"), found.scopes_supported, previous, found.metadata.get("scopes_supported")
        )
        if self.config.client_credentials:
            form = {"grant_type": "client_credentials", "resource": found.resource}
            if scopes:
                form["scope"] = " ".join(scopes)
            tokens = await self._token(found, await self._client(found), form)
            if tokens is None:
                raise OAuthError("the token endpoint refused the client's credentials")
            await self._keep(tokens, found, scopes)
            return
        await self._authorization_code(found, scopes)

    # -- discovery --------------------------------------------------------------------------------

    async def discover(self, resource_metadata: str | None) -> Discovered:
        """The server's Protected Resource Metadata (the challenge's, else the well-known URLs),
        then its first authorization server's metadata (RFC 8414 and OpenID Connect URLs in the
        spec's order). Without any resource metadata, the 2025-03-26 rules: the server's origin
        is the authorization server, with default endpoints when it has no metadata either.
        Raises :class:`rules.OAuthViolation` for a document that fails its checks."""
        document = None
        for url in rules.prm_urls(self.server_url, resource_metadata):
            status, body = await self.http.get_json(url)
            if status == 200:
                document = rules.check_protected_resource(body, self.server_url)
                break
        if document is None:
            if resource_metadata:
                raise rules.OAuthViolation(f"the server's resource metadata {resource_metadata} could not be read")
            url, defaults = rules.legacy_metadata(self.server_url)
            status, body = await self.http.get_json(url)
            metadata = rules.check_authorization_server(body if status == 200 else defaults, defaults["issuer"])
            return Discovered(metadata, rules.canonical_resource(self.server_url), None)
        issuer = document["authorization_servers"][0]
        rules.require_secure(issuer, "authorization server")
        for url in rules.metadata_urls(issuer):
            status, body = await self.http.get_json(url)
            if status == 200:
                metadata = rules.check_authorization_server(body, issuer)
                return Discovered(metadata, document["resource"], document.get("scopes_supported"))
        raise rules.OAuthViolation(f"the authorization server {issuer} publishes no metadata")

    # -- client identification -------------------------------------------------------------------

    async def _client(self, found: Discovered) -> dict[str, Any]:
        """Who this client is at ``found``'s authorization server, in the spec's order:
        pre-registered, a client ID metadata document, a stored or new dynamic registration
        (kept per issuer: never shown to another authorization server)."""
        config, metadata = self.config, found.metadata
        supported = metadata.get("token_endpoint_auth_methods_supported")
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
        status, body = await self.http.exchange("POST", endpoint, headers, json.dumps(request).encode())
        if status not in (200, 201) or not isinstance(body, dict) or not isinstance(body.get("client_id"), str):
            raise rules.OAuthViolation(f"the registration was refused ({status}: {rules.token_error(body)})")
        secret = body.get("client_secret") if isinstance(body.get("client_secret"), str) else None
        registered = body.get("token_endpoint_auth_method")
        method = rules.auth_method(registered if isinstance(registered, str) else None, [wanted], secret is not None)
        return {"client_id": body["client_id"], "client_secret": secret, "method": method}

    # -- grants ------------------------------------------------------------------------------------

    async def _authorization_code(self, found: Discovered, scopes: list[str]) -> None:
        """The user's step through ``authorize``, then the code for tokens, which are stored."""
        if self.config.authorize is None:
            raise OAuthError("the server needs the user's authorization: give OAuth(authorize=...)")
        client = await self._client(found)
        verifier, challenge = rules.pkce_pair()
        state = secrets.token_urlsafe(16)
        url = rules.authorization_url(
            found.metadata["authorization_endpoint"],
            client_id=client["client_id"],
            redirect_uri=self.config.redirect_uri,
            state=state,
            challenge=challenge,
            resource=found.resource,
            scopes=scopes,
        )
        try:
            with trio.fail_after(self.config.authorize_timeout):
                redirected = await self.config.authorize(url)
        except trio.TooSlowError:
            raise OAuthError(f"no authorization within {self.config.authorize_timeout:g} s") from None
        iss_supported = found.metadata.get("authorization_response_iss_parameter_supported") is True
        code = rules.authorization_code(redirected, state=state, issuer=found.issuer, iss_supported=iss_supported)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": verifier,
            "resource": found.resource,
        }
        tokens = await self._token(found, client, form)
        if tokens is None:
            raise OAuthError("the token endpoint refused the authorization code")
        await self._keep(tokens, found, scopes)

    async def _refresh(self, tokens: dict[str, Any], found: Discovered | None) -> dict[str, Any] | None:
        """New tokens for the refresh token (stored and returned), ``None`` when refused."""
        if found is None:
            found = await self.discover(None)
            if found.issuer != tokens.get("issuer"):
                return None
        client = await self._client(found)
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "resource": found.resource}
        fresh = await self._token(found, client, form)
        if fresh is None:
            return None
        fresh["refresh_token"] = fresh["refresh_token"] or tokens["refresh_token"]
        return await self._keep(fresh, found, tokens.get("requested", []))

    async def _token(self, found: Discovered, client: dict[str, Any], form: dict[str, str]) -> dict[str, Any] | None:
        """The token endpoint's answer to ``form`` as tokens; ``None`` for a refused refresh.
        Raises :class:`OAuthError` for any other refusal."""
        if client["method"] == "private_key_jwt":
            assert self.config.private_key is not None
            signed = client_assertion(
                client["client_id"], found.issuer, self.config.private_key, self.config.signing_algorithm
            )
            form = {**form, "client_assertion_type": JWT_BEARER_ASSERTION, "client_assertion": signed}
        body, headers = rules.token_request(
            form, client_id=client["client_id"], client_secret=client.get("client_secret"), method=client["method"]
        )
        status, answer = await self.http.exchange("POST", found.metadata["token_endpoint"], headers, body)
        if status != 200:
            if status in (400, 401) and form["grant_type"] == "refresh_token":
                return None
            raise OAuthError(f"the token endpoint answered {status}: {rules.token_error(answer)}")
        return rules.check_token_response(answer, time.time())

    async def _keep(self, tokens: dict[str, Any], found: Discovered, requested: list[str]) -> dict[str, Any]:
        record = {**tokens, "issuer": found.issuer, "resource": found.resource, "requested": list(requested)}
        await self.config.store.set(self.key, record)
        return record

    async def aclose(self) -> None:
        await self.http.aclose()
