"""What can go wrong getting a token."""

from __future__ import annotations

from ..errors import ClientError


class OAuthError(ClientError):
    """The client could not get a token for the server: its metadata or its authorization
    server's is missing or wrong (another resource, another issuer, no PKCE, plain HTTP beyond
    loopback), the authorization response failed its checks (``iss``, ``state``), an
    authorization server refused or did not answer in time. Nothing was sent to a server it
    should not reach."""


class AuthorizationDenied(OAuthError):
    """The authorization server answered the authorization request with an error, typically
    ``access_denied`` (the user said no): asking again may help, retrying at once will not.
    ``error`` is its code."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error
