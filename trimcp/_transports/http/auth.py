"""Authentication of HTTP requests (trimcp as an OAuth 2.1 resource server): the settings
(:class:`AuthConfig`), the protocol verifiers implement (``trimcp._auth`` has them), and the
:class:`Guard` of one app: its Protected Resource Metadata, the check every request to the
endpoint passes, and the per-tool scope check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import attrs

from ...protocol.auth import (
    WELL_KNOWN_PRM,
    InvalidToken,
    MalformedAuthorization,
    Principal,
    VerificationUnavailable,
    challenge,
    metadata_url_of,
    missing_scopes,
    protected_resource_metadata,
    read_bearer,
)
from ...protocol.errors import INVALID_REQUEST
from .asgi import Send, send_json, send_jsonrpc_error


class TokenVerifier(Protocol):
    """Turns a bearer token into the :class:`Principal` it stands for. Raises
    :class:`~trimcp.protocol.auth.InvalidToken` (with a reason fit for the client) otherwise,
    :class:`~trimcp.protocol.auth.VerificationUnavailable` when it cannot tell (its keys or
    introspection endpoint out of reach)."""

    async def verify(self, token: str) -> Principal: ...


@attrs.frozen(kw_only=True)
class AuthConfig:
    """How the HTTP endpoint authenticates its callers.

    ``resource_url`` is the endpoint's canonical URL (the ``resource`` of its Protected Resource
    Metadata; give it to the verifier as the audience tokens must name); ``authorization_servers``
    issue the tokens; ``required_scopes`` are needed for any request; ``scopes_supported`` are
    advertised.
    """

    verifier: TokenVerifier
    resource_url: str
    authorization_servers: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    required_scopes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    scopes_supported: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class Refusal:
    """Why a request is not let in: its HTTP status, its response headers (the challenge) and
    a message."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    message: str

    @classmethod
    def challenging(cls, status: int, www_authenticate: str, message: str) -> Refusal:
        return cls(status, ((b"www-authenticate", www_authenticate.encode()),), message)


def _token_in_query(query: bytes) -> bool:
    return any(part.split(b"=", 1)[0] == b"access_token" for part in query.split(b"&"))


def _target_of(server: Any, message: Any) -> Any:
    """The tool, prompt or resource a request names (``None`` for anything else)."""
    method, params = getattr(message, "method", None), getattr(message, "params", None)
    if type(params) is not dict:
        return None
    if method == "tools/call":
        return server.tools.get(params.get("name")) if type(params.get("name")) is str else None
    if method == "prompts/get":
        return server.prompts.get(params.get("name")) if type(params.get("name")) is str else None
    if method == "resources/read" and type(params.get("uri")) is str:
        try:
            found = server.find_resource(params["uri"])
        except ValueError:
            return None
        return found[0] if found is not None else None
    return None


class Guard:
    """The resource-server side of one app: where its Protected Resource Metadata is served
    (RFC 9728: before the endpoint's path, at the root, and where a mounted resource's URL puts
    it), the document, and the checks of each request."""

    def __init__(self, config: AuthConfig, endpoint_path: str | None) -> None:
        self.config = config
        self.metadata_url = metadata_url_of(config.resource_url)
        self._paths = {WELL_KNOWN_PRM + (endpoint_path or ""), WELL_KNOWN_PRM, urlsplit(self.metadata_url).path}
        document = protected_resource_metadata(
            config.resource_url, config.authorization_servers, config.scopes_supported
        )
        self._document = json.dumps(document).encode()

    def serves_metadata(self, local_path: str, full_path: str) -> bool:
        return local_path in self._paths or full_path in self._paths

    async def send_metadata(self, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        await send_json(send, 200, self._document, [(b"cache-control", b"max-age=300"), *cors])

    async def check(self, authorization: Sequence[str], query: bytes) -> Principal | Refusal:
        """The caller of a request with these ``Authorization`` values and query string, or why
        it is refused: 400 for a malformed header or a token in the query, 401 without a valid
        token, 403 without the scopes the endpoint needs, 503 (``Retry-After``) when the
        verifier cannot tell. Never raises for bad credentials."""
        config, metadata_url = self.config, self.metadata_url
        if _token_in_query(query):
            header = challenge(metadata_url, error="invalid_request", description="send the token in the header")
            return Refusal.challenging(
                400, header, "Bad Request: access tokens go in the Authorization header, not the URL"
            )
        try:
            token = read_bearer(authorization)
        except MalformedAuthorization as exc:
            header = challenge(metadata_url, error="invalid_request", description=str(exc))
            return Refusal.challenging(400, header, f"Bad Request: {exc}")
        if token is None:
            header = challenge(metadata_url, scopes=config.required_scopes)
            return Refusal.challenging(401, header, "Unauthorized: this server needs a bearer token")
        try:
            principal = await config.verifier.verify(token)
        except InvalidToken as exc:
            description = str(exc)
            header = challenge(
                metadata_url, scopes=config.required_scopes, error="invalid_token", description=description
            )
            return Refusal.challenging(401, header, f"Unauthorized: {exc}")
        except VerificationUnavailable as exc:
            return Refusal(503, ((b"retry-after", b"5"),), f"Service Unavailable: cannot verify tokens now ({exc})")
        missing = missing_scopes(principal.scopes, config.required_scopes)
        if missing:
            header = challenge(metadata_url, scopes=config.required_scopes, error="insufficient_scope")
            return Refusal.challenging(403, header, f"Forbidden: the token lacks the scopes {' '.join(missing)}")
        return principal

    def scope_refusal(self, server: Any, message: Any, caller: Any) -> Refusal | None:
        """A 403 ``insufficient_scope`` for a message whose tool, prompt or resource needs scopes
        the caller lacks (every scope the message needs is named), else ``None``. A batch needs
        what all its requests need."""
        needed: list[str] = []
        for item in message if isinstance(message, list) else [message]:
            offering = _target_of(server, item)
            if offering is not None and not offering.allows(caller.principal):
                needed.extend(offering.scopes)
        if not needed:
            return None
        header = challenge(self.metadata_url, scopes=needed, error="insufficient_scope")
        return Refusal.challenging(403, header, f"Forbidden: this needs the scopes {' '.join(sorted(set(needed)))}")


async def send_refusal(send: Send, refusal: Refusal) -> None:
    await send_jsonrpc_error(send, refusal.status, INVALID_REQUEST, refusal.message, headers=list(refusal.headers))
