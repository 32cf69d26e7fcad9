"""The MCP server's connections with OAuth: every request carries the server's token, and a
401 or 403 ``insufficient_scope`` challenge gets a new one and is sent again (a bounded number
of times)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ...protocol.auth import parse_challenge
from ..http import HTTPPool, Response
from .flow import OAuthSession


class AuthorizedPool(HTTPPool):
    """An :class:`HTTPPool` to the MCP server that authorizes its requests through ``session``.
    ``DELETE`` (ending a session) is never worth a new authorization and is sent as it is."""

    def __init__(self, *args: object, session: OAuthSession, **options: object) -> None:
        super().__init__(*args, **options)  # type: ignore[arg-type]
        self.session = session

    @asynccontextmanager
    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> AsyncIterator[Response]:
        """As :meth:`HTTPPool.request`, with ``Authorization: Bearer``; a challenge the session
        can answer (401; 403 ``insufficient_scope``, at most ``max_step_ups`` times) is answered
        and the request sent again; the last answer is yielded as it came. Raises
        :class:`trimcp.OAuthError` when no token can be had."""
        attempts = 1 + (self.session.config.max_step_ups if method != "DELETE" else 0)
        for attempt in range(attempts):
            token = await self.session.bearer()
            authorized = [*headers, ("authorization", f"Bearer {token}")] if token is not None else headers
            async with super().request(method, target, authorized, body) as response:
                challenge = parse_challenge(response.header("www-authenticate") or "")
                renew = (
                    challenge is not None
                    and attempt + 1 < attempts
                    and (
                        response.status == 401
                        or (response.status == 403 and challenge.get("error") == "insufficient_scope")
                    )
                )
                if not renew:
                    yield response
                    return
                await response.read(1 << 16)
            assert challenge is not None
            await self.session.challenged(response.status, challenge, token)
