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


class AuthorizationServerChanged(OAuthError):
    """The server now sends the client to another authorization server than the one its
    pre-registered credentials (``OAuth(client_id=...)``) belong to: they are not shown to it
    (a client's credentials are valid at their own issuer only). Register the client there, or
    give ``OAuth(issuer=...)`` when the change is expected. ``registered_with`` and ``found``
    are the two issuers."""

    def __init__(self, client_id: str, registered_with: str, found: str) -> None:
        super().__init__(
            f"the client {client_id!r} is registered with the authorization server {registered_with}, "
            f"but the server now names {found}: its credentials are not sent there"
        )
        self.registered_with = registered_with
        self.found = found
