"""Authentication of HTTP requests (trimcp as an OAuth 2.1 resource server): the settings
(:class:`AuthConfig`), the verifier protocol and the verifiers that need no network (API keys,
JWTs signed with given keys), and the check every request to the endpoint passes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from ...protocol.auth import (
    InvalidToken,
    MalformedAuthorization,
    Principal,
    challenge,
    metadata_url_of,
    missing_scopes,
    read_bearer,
)


class TokenVerifier(Protocol):
    """Turns a bearer token into the :class:`Principal` it stands for. Raises
    :class:`~trimcp.protocol.auth.InvalidToken` (with a reason fit for the client) otherwise."""

    async def verify(self, token: str) -> Principal: ...


@attrs.frozen(kw_only=True)
class AuthConfig:
    """How the HTTP endpoint authenticates its callers.

    ``resource_url`` is the endpoint's canonical URL (the ``resource`` of its Protected Resource
    Metadata, and the audience tokens must name); ``authorization_servers`` issue the tokens;
    ``required_scopes`` are needed for any request; ``scopes_supported`` are advertised.
    """

    verifier: TokenVerifier
    resource_url: str
    authorization_servers: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    required_scopes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    scopes_supported: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class Refusal:
    """Why a request is not let in: its HTTP status, its ``WWW-Authenticate`` and a message."""

    status: int
    www_authenticate: str
    message: str


async def authenticate(
    config: AuthConfig, authorization: Sequence[str], query: bytes, metadata_url: str
) -> Principal | Refusal:
    """The caller of a request with these ``Authorization`` values and query string, or why it
    is refused: 400 for a malformed header or a token in the query, 401 without a valid token,
    403 without the scopes the endpoint needs. Never raises for bad credentials."""
    if _token_in_query(query):
        header = challenge(metadata_url, error="invalid_request", description="send the token in the header")
        return Refusal(400, header, "Bad Request: access tokens go in the Authorization header, not the URL")
    try:
        token = read_bearer(authorization)
    except MalformedAuthorization as exc:
        return Refusal(
            400, challenge(metadata_url, error="invalid_request", description=str(exc)), f"Bad Request: {exc}"
        )
    if token is None:
        header = challenge(metadata_url, scopes=config.required_scopes)
        return Refusal(401, header, "Unauthorized: this server needs a bearer token")
    try:
        principal = await config.verifier.verify(token)
    except InvalidToken as exc:
        header = challenge(metadata_url, scopes=config.required_scopes, error="invalid_token", description=str(exc))
        return Refusal(401, header, f"Unauthorized: {exc}")
    missing = missing_scopes(principal.scopes, config.required_scopes)
    if missing:
        header = challenge(metadata_url, scopes=config.required_scopes, error="insufficient_scope")
        return Refusal(403, header, f"Forbidden: the token lacks the scopes {' '.join(missing)}")
    return principal


def _token_in_query(query: bytes) -> bool:
    return any(part.split(b"=", 1)[0] == b"access_token" for part in query.split(b"&"))


class APIKeyVerifier:
    """Static API keys, each standing for a principal with its scopes. Keys are kept only as
    SHA-256 digests and compared in constant time.

    ``keys`` maps a key to its principal; :meth:`from_file` reads a JSON object
    ``{"<key>": {"subject": "...", "scopes": ["..."]}}``, :meth:`from_environment` one such
    object from an environment variable.
    """

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self._keys = [(_digest(key), principal) for key, principal in keys.items()]

    @classmethod
    def from_mapping(cls, entries: Mapping[str, Any]) -> APIKeyVerifier:
        """Raises ``ValueError`` for an entry without a string ``subject`` or a list of scopes."""
        keys = {}
        for key, entry in entries.items():
            subject, scopes = (entry or {}).get("subject"), (entry or {}).get("scopes", [])
            if type(subject) is not str or not isinstance(scopes, list) or not all(type(s) is str for s in scopes):
                raise ValueError("each API key needs a string subject and a list of string scopes")
            keys[key] = Principal(subject=subject, scopes=frozenset(scopes))
        return cls(keys)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> APIKeyVerifier:
        with open(path, encoding="utf-8") as file:
            return cls.from_mapping(json.load(file))

    @classmethod
    def from_environment(cls, variable: str = "TRIMCP_API_KEYS") -> APIKeyVerifier:
        return cls.from_mapping(json.loads(os.environ[variable]))

    async def verify(self, token: str) -> Principal:
        digest = _digest(token)
        found = None
        for known, principal in self._keys:  # every key is compared: the time says nothing
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None:
            raise InvalidToken("unknown API key")
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class JWTVerifier:
    """JSON Web Tokens signed with given keys (a JWK set): signature with one of
    ``algorithms`` (``none`` and HMAC are never accepted), ``iss``, ``aud`` including
    ``audience`` (RFC 8707), ``exp`` and ``nbf`` within ``leeway`` seconds, and the
    ``required_claims``. Scopes come from ``scope`` (space-separated) or ``scp``.

    Raises ``ImportError`` without the ``auth`` extra (``pip install trimcp[auth]``).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: Mapping[str, Any],
        algorithms: Iterable[str] = ("RS256", "ES256", "PS256", "EdDSA"),
        leeway: float = 30.0,
        required_claims: Iterable[str] = ("exp", "sub"),
    ) -> None:
        from joserfc.jwk import KeySet

        self.algorithms = [alg for alg in algorithms if alg != "none" and not alg.startswith("HS")]
        if not self.algorithms:
            raise ValueError("a JWT verifier needs an asymmetric algorithm (none and HMAC are refused)")
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.required_claims = tuple(required_claims)
        self._keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]

    async def verify(self, token: str) -> Principal:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            decoded = jwt.decode(token, self._keys, algorithms=self.algorithms)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(f"the token cannot be verified ({type(exc).__name__})") from None
        return self._principal(decoded.claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        for name in self.required_claims:
            if name not in claims:
                raise InvalidToken(f"the token has no {name!r} claim")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token comes from another issuer")
        audience = claims.get("aud")
        if self.audience not in (audience if isinstance(audience, list) else [audience]):
            raise InvalidToken("the token is for another audience")
        now = time.time()
        expires, not_before = claims.get("exp"), claims.get("nbf")
        if expires is not None and (not _is_number(expires) or expires + self.leeway <= now):
            raise InvalidToken("the token has expired")
        if not_before is not None and (not _is_number(not_before) or not_before - self.leeway > now):
            raise InvalidToken("the token is not valid yet")
        scopes = claims.get("scope", claims.get("scp", ""))
        scopes = scopes.split() if isinstance(scopes, str) else scopes if isinstance(scopes, list) else []
        client_id = claims.get("client_id", claims.get("azp"))
        return Principal(
            subject=str(claims.get("sub", client_id or "")),
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=frozenset(scope for scope in scopes if isinstance(scope, str)),
            claims=claims,
            expires_at=float(expires) if _is_number(expires) else None,
        )


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def scope_refusal(server: Any, config: AuthConfig, message: Any, caller: Any) -> Refusal | None:
    """A 403 ``insufficient_scope`` for a message whose tool, prompt or resource needs scopes
    the caller lacks (every scope the message needs is named), else ``None``. A batch needs
    what all its requests need."""
    items = message if isinstance(message, list) else [message]
    needed: list[str] = []
    for item in items:
        offering = _target_of(server, item)
        if offering is not None and not offering.allows(caller.principal):
            needed.extend(offering.scopes)
    if not needed:
        return None
    header = challenge(metadata_url_of(config.resource_url), scopes=needed, error="insufficient_scope")
    return Refusal(403, header, f"Forbidden: this needs the scopes {' '.join(sorted(set(needed)))}")


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
