"""A JWK set fetched from its URL with trimcp's trio HTTP client, cached, refreshed without
stalling anyone who can be served from the cache, and kept through an outage."""

from __future__ import annotations

import math
import ssl
from typing import Any

import trio

from .._client.http import Origin
from ..protocol.auth import VerificationUnavailable
from .shared import FETCH_ERRORS, fetch_json


class JWKSCache:
    """The keys at ``url``: fetched on first use, kept ``ttl`` seconds, then fetched again by
    whoever needs them first (the others keep the cached ones meanwhile). A ``kid`` the cached
    set lacks forces one fetch, at most every ``refresh_cooldown`` seconds. A fetch takes at
    most ``timeout`` seconds; when it fails the cached keys stay in use, and with none
    :class:`~trimcp.protocol.auth.VerificationUnavailable` is raised."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        refresh_cooldown: float = 30.0,
        timeout: float = 5.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.url, self.ttl, self.refresh_cooldown, self.timeout = url, ttl, refresh_cooldown, timeout
        self._origin = Origin(url)
        self._verify = verify
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = self._attempted_at = -math.inf
        self._error = "no JWK set fetched yet"
        self._lock = trio.Lock()
        #: Fetches done (for tests and statistics).
        self.fetches = 0

    async def key_set(self, kid: str | None) -> dict[str, Any]:
        """A JWK set to verify a token whose header names ``kid`` (raises
        :class:`~trimcp.protocol.auth.VerificationUnavailable` when there is none at all)."""
        jwks, now = self._jwks, trio.current_time()
        known = jwks is not None and (kid is None or _has_kid(jwks, kid))
        recently_tried = now - self._attempted_at < self.refresh_cooldown
        if known and (now - self._fetched_at < self.ttl or self._lock.locked() or recently_tried):
            return jwks  # type: ignore[return-value]  # fresh; or stale while it is being (or was just) refreshed
        if jwks is not None and recently_tried:
            return jwks  # an unknown kid asked for again too soon: its token is refused
        async with self._lock:
            if self._attempted_at < now:  # nobody fetched while we waited
                self._attempted_at = trio.current_time()
                try:
                    self._jwks = await self._fetch()
                    self._fetched_at = trio.current_time()
                except FETCH_ERRORS as exc:
                    self._error = f"the JWK set at {self.url} is out of reach ({exc})"
        if self._jwks is None:
            raise VerificationUnavailable(self._error)
        return self._jwks

    async def _fetch(self) -> dict[str, Any]:
        self.fetches += 1
        jwks = await fetch_json(self._origin, timeout=self.timeout, verify=self._verify)
        if type(jwks) is not dict or type(jwks.get("keys")) is not list:
            raise ValueError("not a JWK set")
        return jwks


def _has_kid(jwks: dict[str, Any], kid: str) -> bool:
    return any(type(key) is dict and key.get("kid") == kid for key in jwks.get("keys", ()))
