"""Opaque access tokens, verified by asking the authorization server (token introspection,
RFC 7662) with trimcp's trio HTTP client."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.parse
from collections import OrderedDict
from typing import Any

import trio

from .._client.errors import ClientError
from .._client.http import HTTPPool, Origin
from ..protocol.auth import InvalidToken, Principal, VerificationUnavailable

_REMEMBERED_TOKENS = 4096


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
        self._remembered: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        remembered = self._remembered.get(token)
        if remembered is not None and remembered[0] > time.time():
            return remembered[1]
        answer = await self._introspect(token)
        if answer.get("active") is not True:
            raise InvalidToken("the token is not active (expired or revoked)")
        audience = answer.get("aud")
        if self.audience not in (audience if isinstance(audience, list) else [audience]):
            raise InvalidToken("the token is for another audience")
        principal = _principal(answer)
        keep_until = min(principal.expires_at or 0.0, time.time() + self.cache_seconds)
        if keep_until > time.time():
            self._remembered[token] = (keep_until, principal)
            if len(self._remembered) > _REMEMBERED_TOKENS:
                self._remembered.popitem(last=False)
        return principal

    async def _introspect(self, token: str) -> dict[str, Any]:
        form = urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        headers = [
            ("authorization", self._authorization),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ]
        pool = HTTPPool(self._origin, verify=self._verify, connect_timeout=self.timeout)
        try:
            with trio.fail_after(self.timeout):
                async with pool.request("POST", self._origin.target, headers, form) as response:
                    body = await response.read(1024 * 1024)
                    if response.status != 200:
                        raise ValueError(f"HTTP {response.status}")
            answer = json.loads(body)
            if type(answer) is not dict:
                raise ValueError("not a JSON object")
            return answer
        except (ClientError, OSError, trio.TooSlowError, ValueError) as exc:
            raise VerificationUnavailable(f"the introspection endpoint {self.url} cannot be asked ({exc})") from None
        finally:
            await pool.aclose()


def _principal(answer: dict[str, Any]) -> Principal:
    scopes = answer.get("scope", "")
    client_id = answer.get("client_id")
    expires = answer.get("exp")
    return Principal(
        subject=str(answer.get("sub") or client_id or ""),
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=frozenset(scopes.split()) if isinstance(scopes, str) else frozenset(),
        claims=answer,
        expires_at=float(expires) if type(expires) in (int, float) else None,
    )
