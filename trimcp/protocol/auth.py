"""Authorization as an OAuth 2.1 resource server, sans-IO: who is calling (:class:`Principal`),
reading the bearer token of a request (RFC 6750), the ``WWW-Authenticate`` challenges, the
Protected Resource Metadata document (RFC 9728), and scope checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

#: Where Protected Resource Metadata lives (RFC 9728 §3), before the resource's path.
WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"
#: RFC 6750 ``b64token``: the only characters a bearer token may hold.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@attrs.frozen(kw_only=True)
class Principal:
    """Who a request comes from, as its credentials say.

    ``subject`` identifies the caller (the token's ``sub``, an API key's name); ``client_id``
    the OAuth client that holds the token; ``scopes`` what it may do; ``claims`` the whole
    verified token (empty for API keys).
    """

    subject: str
    client_id: str | None = None
    scopes: frozenset[str] = frozenset()
    claims: dict[str, Any] = attrs.field(factory=dict, eq=False)
    #: Seconds since the epoch after which the credentials are no longer valid (``None``: never).
    expires_at: float | None = None


def names_audience(claims: dict[str, Any], audience: str) -> bool:
    """Whether a token's ``aud`` (a string or a list) includes ``audience`` (RFC 8707)."""
    named = claims.get("aud")
    return audience in (named if isinstance(named, list) else [named])


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal a verified token (or an introspection answer) stands for: ``sub`` (else the
    client), ``client_id`` (or ``azp``), the scopes of ``scope`` (space-separated) or ``scp``,
    and ``exp``."""
    scopes = claims.get("scope", claims.get("scp", ""))
    scopes = scopes.split() if isinstance(scopes, str) else scopes if isinstance(scopes, list) else []
    client_id = claims.get("client_id", claims.get("azp"))
    expires = claims.get("exp")
    return Principal(
        subject=str(claims.get("sub") or client_id or ""),
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=frozenset(scope for scope in scopes if isinstance(scope, str)),
        claims=claims,
        expires_at=float(expires) if type(expires) in (int, float) else None,
    )


def subject_of(caller: Any) -> str | None:
    """The subject of a request's caller (anything with a ``principal``), ``None`` without one."""
    principal = caller.principal
    return principal.subject if principal is not None else None


class MalformedAuthorization(ValueError):
    """The request's ``Authorization`` is not one a resource server can read (400)."""


class InvalidToken(Exception):
    """The bearer token is not valid here: bad signature, expired, wrong audience… (401)."""


class VerificationUnavailable(Exception):
    """Whether the token is valid cannot be told now: the keys or the introspection endpoint are
    out of reach (503, never a 401 the client would take as final)."""


def read_bearer(authorization: Sequence[str]) -> str | None:
    """The bearer token of a request with these ``Authorization`` field values (``None``
    without one). Raises :class:`MalformedAuthorization` for several fields, another scheme
    or a token that is not an RFC 6750 ``b64token``."""
    if not authorization:
        return None
    if len(authorization) > 1:
        raise MalformedAuthorization("more than one Authorization header")
    scheme, _, token = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MalformedAuthorization(f"the Authorization scheme must be Bearer, not {scheme[:20]!r}")
    token = token.strip()
    if not _B64TOKEN.fullmatch(token):
        raise MalformedAuthorization("the bearer token is empty or holds characters a token cannot")
    return token


def challenge(
    resource_metadata: str,
    *,
    scopes: Iterable[str] = (),
    error: str | None = None,
    description: str | None = None,
) -> str:
    """A ``WWW-Authenticate: Bearer …`` value: where the Protected Resource Metadata is, the
    scopes the operation needs, and the error (``invalid_token``, ``insufficient_scope``,
    ``invalid_request``) when credentials were sent."""
    parts = []
    if error is not None:
        parts.append(f'error="{error}"')
    if description is not None:
        parts.append(f'error_description="{_quoted(description)}"')
    wanted = " ".join(sorted(set(scopes)))
    if wanted:
        parts.append(f'scope="{wanted}"')
    parts.append(f'resource_metadata="{_quoted(resource_metadata)}"')
    return "Bearer " + ", ".join(parts)


def metadata_url_of(resource_url: str) -> str:
    """Where a resource's Protected Resource Metadata is: the well-known path inserted between
    its origin and its path (RFC 9728 §3.1)."""
    parts = urlsplit(resource_url)
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PRM}{parts.path.rstrip('/')}"


_PARAMETER = re.compile(r'\s*([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?')


def parse_challenge(value: str) -> dict[str, str] | None:
    """The parameters of a ``WWW-Authenticate: Bearer …`` value (``error``, ``scope``,
    ``resource_metadata``…), ``None`` when it is not a Bearer challenge."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    parameters: dict[str, str] = {}
    for match in _PARAMETER.finditer(rest):
        quoted, bare = match.group(2), match.group(3)
        parameters[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return parameters


def protected_resource_metadata(
    resource: str, authorization_servers: Sequence[str], scopes_supported: Sequence[str]
) -> dict[str, Any]:
    """The RFC 9728 document of a resource (bearer tokens in the header only)."""
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "bearer_methods_supported": ["header"],
    }
    if scopes_supported:
        document["scopes_supported"] = list(scopes_supported)
    return document


def missing_scopes(granted: frozenset[str], required: Iterable[str]) -> list[str]:
    """The ``required`` scopes ``granted`` lacks; a granted scope covers the scopes below it
    (``files`` covers ``files:read``)."""
    return [scope for scope in required if not _covered(scope, granted)]


def _covered(scope: str, granted: frozenset[str]) -> bool:
    if scope in granted:
        return True
    parts = scope.split(":")
    return any(":".join(parts[:cut]) in granted for cut in range(1, len(parts)))


def _quoted(text: str) -> str:
    """``text`` as an RFC 9110 quoted-string body: printable ASCII, quotes and backslashes escaped."""
    printable = "".join(char if " " <= char <= "~" else "?" for char in text)
    return printable.replace("\\", "\\\\").replace('"', '\\"')
