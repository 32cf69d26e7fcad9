"""What the verifiers share: fetching a JSON document from the authorization server with
trimcp's trio HTTP client, and remembering verified tokens."""

from __future__ import annotations

import json
import ssl
import time
from collections import OrderedDict
from typing import Any

import trio

from .._client.errors import ClientError
from .._client.http import HTTPPool, Origin
from ..protocol.auth import Principal

#: What a failed fetch raises (a connection or HTTP failure, a timeout, a body that is not JSON).
FETCH_ERRORS = (ClientError, OSError, trio.TooSlowError, ValueError)
_MAX_BODY = 1024 * 1024


async def fetch_json(
    origin: Origin,
    *,
    timeout: float,
    verify: bool | ssl.SSLContext,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Any:
    """The JSON body of a 200 answer at ``origin``, within ``timeout`` seconds. Raises one of
    :data:`FETCH_ERRORS`."""
    pool = HTTPPool(origin, verify=verify, connect_timeout=timeout)
    try:
        with trio.fail_after(timeout):
            request_headers = [("accept", "application/json"), *(headers or [])]
            async with pool.request(method, origin.target, request_headers, body) as response:
                data = await response.read(_MAX_BODY)
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
        return json.loads(data)
    finally:
        await pool.aclose()


class TokenMemory:
    """Verified tokens and their principals, each until its own deadline (seconds since the
    epoch), the least recently used forgotten past ``size``: a known token costs no check."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._tokens: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def recall(self, token: str) -> Principal | None:
        remembered = self._tokens.get(token)
        if remembered is None or remembered[0] <= time.time():
            return None
        self._tokens.move_to_end(token)
        return remembered[1]

    def keep(self, token: str, principal: Principal, until: float) -> None:
        if until <= time.time():
            return
        self._tokens[token] = (until, principal)
        if len(self._tokens) > self._size:
            self._tokens.popitem(last=False)
