"""The MCP server's connections with OAuth: every request carries the server's credentials,
and a challenge gets new ones and the request is sent again (a bounded number of times)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ...protocol import dpop
from ...protocol.oauth import parse_challenges
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
        """As :meth:`HTTPPool.request`, with the session's credentials (a Bearer token, or a
        DPoP-bound one with a fresh proof). Sent again: once with the server's new nonce when a
        DPoP challenge asks for one (RFC 9449 §9); after new credentials for a challenge the
        session can answer (401; 403 ``insufficient_scope``), at most ``max_step_ups`` times.
        The last answer is yielded as it came. Raises :class:`trimcp.OAuthError` when no token
        can be had."""
        session = self.session
        url = ("https://" if self.origin.tls else "http://") + self.origin.authority + target
        renewals = session.config.max_step_ups if method != "DELETE" else 0
        nonce_retries = 1
        while True:
            sent = await session.credentials(method, url)
            async with super().request(method, target, [*headers, *sent.headers], body) as response:
                given = response.header("dpop-nonce")
                session.resource_nonce(url, given)
                values = [v.decode("latin-1") for k, v in response.headers if k.lower() == b"www-authenticate"]
                challenges = parse_challenges(", ".join(values))
                scheme = "dpop" if "dpop" in challenges else "bearer"
                challenge = {**challenges.get("bearer", {}), **challenges.get("dpop", {})}
                new_nonce = dpop.resource_wants_nonce(response.status, challenges) and given not in (None, sent.nonce)
                renew = scheme in challenges and (
                    response.status == 401
                    or (response.status == 403 and challenge.get("error") == "insufficient_scope")
                )
                if not ((new_nonce and nonce_retries) or (renew and renewals and not new_nonce)):
                    yield response
                    return
                await response.read(1 << 16)
            if new_nonce:
                nonce_retries -= 1
            else:
                renewals -= 1
                await session.challenged(response.status, scheme, challenge, sent.token)
