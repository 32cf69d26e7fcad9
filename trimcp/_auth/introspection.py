"""Opaque access tokens, verified by asking the authorization server (token introspection,
RFC 7662) with trimcp's trio HTTP client."""

from __future__ import annotations

import base64
import ssl
import time
import urllib.parse
from typing import Any

from .._client.http import Origin
from ..protocol.auth import InvalidToken, Principal, VerificationUnavailable, names_audience, principal_from_claims
from .shared import FETCH_ERRORS, TokenMemory, fetch_json


class IntrospectionVerifier:
    """Asks ``url`` about each token (client authentication ``client_secret_basic`` with
    ``client_id``/``client_secret``): an inactive token, or one whose ``aud`` does not include
    ``audience``, is refused. An active answer is remembered until the token expires, at most
    ``cache_seconds`` (so a revocation is noticed within that time; 0 asks every time). A
    server that cannot be asked within ``timeout`` makes
    :class:`~trimcp.protocol.auth.VerificationUnavailable` (503)."""

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        client_secret: str,
        audience: str,
        cache_seconds: float = 60.0,
        timeout: float = 5.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.url, self.audience, self.cache_seconds, self.timeout = url, audience, cache_seconds, timeout
        self._origin = Origin(url)
        self._verify = verify
        credentials = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
        self._authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        self._remembered = TokenMemory()

    async def verify(self, token: str) -> Principal:
        remembered = self._remembered.recall(token)
        if remembered is not None:
            return remembered
        answer = await self._introspect(token)
        if answer.get("active") is not True:
            raise InvalidToken("the token is not active (expired or revoked)")
        if not names_audience(answer, self.audience):
            raise InvalidToken("the token is for another audience")
        principal = principal_from_claims(answer)
        self._remembered.keep(token, principal, min(principal.expires_at or 0.0, time.time() + self.cache_seconds))
        return principal

    async def _introspect(self, token: str) -> dict[str, Any]:
        form = urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        headers = [("authorization", self._authorization), ("content-type", "application/x-www-form-urlencoded")]
        try:
            answer = await fetch_json(
                self._origin, timeout=self.timeout, verify=self._verify, method="POST", headers=headers, body=form
            )
            if type(answer) is not dict:
                raise ValueError("not a JSON object")
            return answer
        except FETCH_ERRORS as exc:
            raise VerificationUnavailable(f"the introspection endpoint {self.url} cannot be asked ({exc})") from None
