"""The OAuth flow's own HTTP: metadata documents, registration and token requests to any
origin, through the client's h11 pools (one per origin), each exchange bounded in time and
size, redirects never followed, and no MCP credentials ever attached."""

from __future__ import annotations

import json
import ssl
from typing import Any, NamedTuple

import trio

from ..errors import ClientError
from ..http import HTTPPool, Origin
from .errors import OAuthError

_MAX_BODY = 1 << 20


class Answer(NamedTuple):
    """An exchange's status (0 when nothing could be reached), its body as JSON (``None`` when
    it is not JSON) and its ``DPoP-Nonce`` header (``None`` without one)."""

    status: int
    body: Any
    dpop_nonce: str | None = None


class Fetcher:
    """Short exchanges with authorization servers and metadata endpoints. Resource handling:
    owns one keep-alive pool per origin it talked to, closed by :meth:`aclose`."""

    def __init__(self, *, verify: bool | ssl.SSLContext, timeout: float) -> None:
        self.verify = verify
        self.timeout = timeout
        self._pools: dict[str, HTTPPool] = {}

    async def get_json(self, url: str) -> Answer:
        """``GET url`` for a JSON document. Raises :class:`OAuthError` when no answer arrives
        within the timeout."""
        return await self.exchange("GET", url, [("accept", "application/json")])

    async def exchange(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes = b"") -> Answer:
        """One request and its :class:`Answer`. Raises :class:`OAuthError` when no answer
        arrives within the timeout."""
        origin = Origin(url)
        pool = self._pools.get(f"{origin.tls}{origin.authority}")
        if pool is None:
            pool = self._pools[f"{origin.tls}{origin.authority}"] = HTTPPool(
                origin, verify=self.verify, connect_timeout=self.timeout
            )
        try:
            with trio.fail_after(self.timeout):
                async with pool.request(method, origin.target, headers, body) as response:
                    data = await response.read(_MAX_BODY)
        except trio.TooSlowError:
            raise OAuthError(f"{url} did not answer within {self.timeout:g} s") from None
        except ClientError:
            return Answer(0, None)
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        return Answer(response.status, document, response.header("dpop-nonce"))

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.aclose()
