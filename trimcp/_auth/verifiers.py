"""Verifiers of bearer tokens: static API keys, and JWTs checked with joserfc against given keys
or a JWK set fetched from its URL (:class:`~.jwks.JWKSCache`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..protocol.auth import InvalidToken, Principal, names_audience, principal_from_claims
from .jwks import JWKSCache
from .shared import TokenMemory


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
    """JSON Web Tokens: signature with one of ``algorithms`` (``none`` and HMAC are never
    accepted) by a key of ``jwks`` (a JWK set) or of the set at ``jwks_url`` (fetched, cached and
    refreshed by a :class:`JWKSCache`), ``iss``, ``aud`` including ``audience`` (RFC 8707),
    ``exp`` and ``nbf`` within ``leeway`` seconds, and the ``required_claims``. Scopes come
    from ``scope`` (space-separated) or ``scp``. A verified token is remembered until it
    expires.

    Raises ``ImportError`` without the ``auth`` extra (``pip install trimcp[auth]``).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: Mapping[str, Any] | None = None,
        jwks_url: str | JWKSCache | None = None,
        algorithms: Iterable[str] = ("RS256", "ES256", "PS256", "EdDSA"),
        leeway: float = 30.0,
        required_claims: Iterable[str] = ("exp", "sub"),
    ) -> None:
        import joserfc  # noqa: F401 - fail now, not on the first request, without the extra

        if (jwks is None) == (jwks_url is None):
            raise ValueError("give the keys (jwks) or where they are (jwks_url), one of them")
        self.algorithms = [alg for alg in algorithms if alg != "none" and not alg.startswith("HS")]
        if not self.algorithms:
            raise ValueError("a JWT verifier needs an asymmetric algorithm (none and HMAC are refused)")
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.required_claims = tuple(required_claims)
        self._jwks = dict(jwks) if jwks is not None else None
        self._cache = JWKSCache(jwks_url) if isinstance(jwks_url, str) else jwks_url
        self._remembered = TokenMemory()

    async def verify(self, token: str) -> Principal:
        """Raises :class:`InvalidToken`, or ``VerificationUnavailable`` when the JWK set at
        ``jwks_url`` cannot be had and none is cached."""
        remembered = self._remembered.recall(token)
        if remembered is not None:
            return remembered
        principal = self._principal(await self._verified_claims(token))
        self._remembered.keep(token, principal, (principal.expires_at or 0.0) - self.leeway)
        return principal

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        from joserfc import jws, jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
        except (JoseError, ValueError, TypeError):
            raise InvalidToken("the token is not a JWT") from None
        jwks = self._jwks if self._jwks is not None else await self._cache.key_set(kid)  # type: ignore[union-attr]
        try:
            return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=self.algorithms).claims  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(f"the token cannot be verified ({type(exc).__name__})") from None

    def _principal(self, claims: dict[str, Any]) -> Principal:
        for name in self.required_claims:
            if name not in claims:
                raise InvalidToken(f"the token has no {name!r} claim")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token comes from another issuer")
        if not names_audience(claims, self.audience):
            raise InvalidToken("the token is for another audience")
        now = time.time()
        expires, not_before = claims.get("exp"), claims.get("nbf")
        if expires is not None and (not _is_number(expires) or expires + self.leeway <= now):
            raise InvalidToken("the token has expired")
        if not_before is not None and (not _is_number(not_before) or not_before - self.leeway > now):
            raise InvalidToken("the token is not valid yet")
        return principal_from_claims(claims)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)
