"""What the user of the client decides about OAuth: who the client is, how the user's
browser step happens, where tokens are kept."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import trio

#: ``authorize(url)``: send the user to the authorization URL and return the URL the
#: authorization server redirected the browser to (``redirect_uri?code=…&state=…``).
Authorize = Callable[[str], Awaitable[str]]
#: A JWT the client presents, as it is or from an async function called for each token request
#: (which may read a file a platform keeps fresh, such as a projected service-account token).
JWTSource = str | Callable[[], Awaitable[str]]


async def jwt_of(source: JWTSource) -> str:
    """The JWT ``source`` gives now."""
    return source if isinstance(source, str) else await source()


class TokenStore(Protocol):
    """Where the client keeps what it obtained: tokens per resource, client registrations per
    authorization server (keys are opaque strings; values JSON objects; ``None`` forgets)."""

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any] | None) -> None: ...


class MemoryTokenStore:
    """Tokens for the life of the process (the default)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._values.get(key)

    async def set(self, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value


class FileTokenStore:
    """Tokens in one JSON file that only its owner may read (created 0600, replaced
    atomically), for command-line use across runs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def get(self, key: str) -> dict[str, Any] | None:
        return (await trio.to_thread.run_sync(self._load)).get(key)

    async def set(self, key: str, value: dict[str, Any] | None) -> None:
        await trio.to_thread.run_sync(self._update, key, value)

    def _load(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _update(self, key: str, value: dict[str, Any] | None) -> None:
        values = self._load()
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(values, file)
        os.replace(partial, self.path)


class EnterpriseIdP:
    """Enterprise-managed authorization (the ``io.modelcontextprotocol/enterprise-managed-
    authorization`` extension): the organisation's identity provider, whose ``token_endpoint``
    exchanges the user's ``id_token`` from single sign-on (a string, or an async function
    returning the current one) for an ID-JAG (RFC 8693 token exchange), which the MCP server's
    authorization server takes as a JWT grant (RFC 7523) instead of sending the user to its
    own login. ``client_id`` (and ``client_secret``) identify the client at the identity
    provider."""

    def __init__(
        self, *, token_endpoint: str, id_token: JWTSource, client_id: str, client_secret: str | None = None
    ) -> None:
        self.token_endpoint = token_endpoint
        self.id_token = id_token
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth:
    """OAuth 2.1 for :func:`trimcp.open_client` (``auth=OAuth(...)``): on a server's 401 the
    client discovers its authorization server, identifies itself, runs the authorization code
    flow with PKCE and sends the token it got with every request; on a 403
    ``insufficient_scope`` it asks for the scopes it had plus the ones challenged (at most
    ``max_step_ups`` times for one request); it refreshes tokens that expire.

    - ``authorize``: the user's step (see :data:`Authorize`); without it a flow that needs the
      user fails with :class:`trimcp.OAuthError`.
    - ``redirect_uri``: where the authorization server sends the browser back (a loopback URL
      for a native client).
    - Client identity, in the spec's order of preference: ``client_id`` (and
      ``client_secret``) registered beforehand with the authorization server ``issuer`` (when
      not given, the first one the client meets: credentials are never shown to another, which
      raises :class:`trimcp.AuthorizationServerChanged`); else ``client_metadata_url`` (an
      HTTPS URL serving the client's metadata document) when the authorization server accepts
      those; else dynamic registration as ``client_name`` with ``application_type``.
    - Grants without the user's browser step (one at most): ``client_credentials=True``, the
      client acts on its own behalf, authenticated by ``client_secret`` or, with
      ``private_key`` (PEM) and ``signing_algorithm``, by a signed JWT (``private_key_jwt``,
      needs ``trimcp[auth]``); ``assertion``, a JWT that proves the workload's identity
      (workload identity federation: the RFC 7523 JWT-bearer grant, see :data:`JWTSource`);
      ``enterprise``, an :class:`EnterpriseIdP` (enterprise-managed authorization). A refused
      grant is not retried.
    - ``dpop``: bind tokens to a key of the client's (RFC 9449, ES256, needs
      ``trimcp[auth]``), so that a stolen token is useless without it: ``None`` (the default)
      when the MCP server's challenge asks for DPoP, ``True`` always, ``False`` never. Every
      request then carries a fresh proof; a server's ``DPoP-Nonce`` is used as it asks.
    - ``scopes``: asked for in addition to what the server's challenge names.
    - ``store``: tokens and registrations (:class:`MemoryTokenStore` by default).
    - ``timeout`` bounds each exchange with an authorization server or metadata endpoint;
      ``authorize_timeout`` the user's step. While a flow runs, the requests waiting for it do
      not time out.

    Raises ``ValueError`` for options that do not go together (two grants; credentials, an
    ``issuer`` or a grant without the user but no ``client_id``).
    """

    def __init__(
        self,
        *,
        authorize: Authorize | None = None,
        redirect_uri: str = "http://127.0.0.1:8765/callback",
        client_name: str = "trimcp",
        client_id: str | None = None,
        client_secret: str | None = None,
        client_metadata_url: str | None = None,
        token_endpoint_auth_method: str | None = None,
        application_type: str = "native",
        issuer: str | None = None,
        client_credentials: bool = False,
        private_key: str | None = None,
        signing_algorithm: str = "ES256",
        assertion: JWTSource | None = None,
        enterprise: EnterpriseIdP | None = None,
        dpop: bool | None = None,
        scopes: Sequence[str] = (),
        store: TokenStore | None = None,
        timeout: float = 30.0,
        authorize_timeout: float = 300.0,
        max_step_ups: int = 2,
    ) -> None:
        grants = [client_credentials, assertion is not None, enterprise is not None]
        if sum(grants) > 1:
            raise ValueError("client_credentials, assertion and enterprise are different grants: give one")
        if (client_secret is not None or private_key is not None or issuer is not None or any(grants)) and (
            client_id is None
        ):
            raise ValueError("client_secret, private_key, issuer and the grants without a user need client_id")
        self.authorize = authorize
        self.redirect_uri = redirect_uri
        self.client_name = client_name
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_metadata_url = client_metadata_url
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.application_type = application_type
        self.issuer = issuer
        self.client_credentials = client_credentials
        self.private_key = private_key
        self.signing_algorithm = signing_algorithm
        self.assertion = assertion
        self.enterprise = enterprise
        self.dpop = dpop
        self.scopes = list(scopes)
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.timeout = timeout
        self.authorize_timeout = authorize_timeout
        self.max_step_ups = max_step_ups

    @property
    def unattended(self) -> bool:
        """Whether tokens come from a grant without the user's browser step."""
        return self.client_credentials or self.assertion is not None or self.enterprise is not None
