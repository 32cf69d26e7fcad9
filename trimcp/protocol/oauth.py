"""OAuth 2.1 for an MCP *client*, sans-IO: where to look for Protected Resource Metadata
(RFC 9728) and authorization-server metadata (RFC 8414, OpenID Connect Discovery), what to
check in each, PKCE (RFC 7636, S256 only), the authorization request and its response (with
the RFC 9207 ``iss`` check), the token request (RFC 8707 ``resource``, client authentication)
and its answer. Strings and dicts in, strings and dicts out; every refusal raises
:class:`OAuthViolation`, whose message says what was wrong."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .auth import WELL_KNOWN_PRM

WELL_KNOWN_AS = "/.well-known/oauth-authorization-server"
#: RFC 7523's grant type: a JWT as the authorization grant (workload identity, ID-JAG).
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
WELL_KNOWN_OIDC = "/.well-known/openid-configuration"
#: What a public client without a secret authenticates with at the token endpoint.
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
#: One item of a ``WWW-Authenticate`` value: ``name=value`` (quoted or not), or a scheme.
_CHALLENGE_ITEM = re.compile(rf'\s*,?\s*(?:({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN})?)|({_TOKEN}))')
#: The token68 a scheme may carry instead of parameters (``Negotiate abc==``), to skip.
_TOKEN68 = re.compile(r"\s+[A-Za-z0-9._~+/-]+=*(?=\s*(?:,|$))")


class OAuthViolation(ValueError):
    """A server's answer breaks the rules a client must check (the message says which)."""


# -- discovery -------------------------------------------------------------------------------------


def prm_urls(server_url: str, challenged: str | None) -> list[str]:
    """Where to look for a server's Protected Resource Metadata, in the spec's order: the
    challenge's ``resource_metadata``; else the well-known URL at the endpoint's path, then at
    the root (RFC 9728 §3.1)."""
    if challenged:
        return [challenged]
    parts = urlsplit(server_url)
    root = f"{parts.scheme}://{parts.netloc}{WELL_KNOWN_PRM}"
    path = parts.path.rstrip("/")
    return [f"{root}{path}", root] if path else [root]


def metadata_urls(issuer: str) -> list[str]:
    """Where an authorization server's metadata may be, in the spec's order: RFC 8414 and OpenID
    Connect with the issuer's path inserted after the well-known prefix, then OpenID Connect
    with it appended (only for an issuer with a path)."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if not path:
        return [origin + WELL_KNOWN_AS, origin + WELL_KNOWN_OIDC]
    return [origin + WELL_KNOWN_AS + path, origin + WELL_KNOWN_OIDC + path, origin + path + WELL_KNOWN_OIDC]


def legacy_metadata(server_url: str) -> tuple[str, dict[str, Any]]:
    """2025-03-26 servers (no Protected Resource Metadata): the authorization server is the MCP
    server's origin; its metadata URL, and the default endpoints to use when it has none."""
    parts = urlsplit(server_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    defaults = {
        "issuer": origin,
        "authorization_endpoint": origin + "/authorize",
        "token_endpoint": origin + "/token",
        "registration_endpoint": origin + "/register",
        "code_challenge_methods_supported": ["S256"],
    }
    return origin + WELL_KNOWN_AS, defaults


def canonical_resource(server_url: str) -> str:
    """The canonical URI of an MCP server (RFC 8707 §2): lower-case scheme and host, no
    fragment, no query, no trailing slash."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def check_protected_resource(document: Any, server_url: str) -> dict[str, Any]:
    """A Protected Resource Metadata document, checked: a JSON object naming at least one
    authorization server, whose ``resource`` is the server or a prefix of its URL (same origin,
    whole path segments). Raises :class:`OAuthViolation` otherwise: a document for another
    resource must not send this client's user to its authorization server."""
    if not isinstance(document, dict):
        raise OAuthViolation("the protected resource metadata is not a JSON object")
    servers = document.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not all(isinstance(s, str) for s in servers):
        raise OAuthViolation("the protected resource metadata names no authorization server")
    resource = document.get("resource")
    if not isinstance(resource, str) or not resource_covers(resource, server_url):
        raise OAuthViolation(f"the protected resource metadata is for {resource!r}, not for {server_url}")
    return document


def resource_covers(resource: str, server_url: str) -> bool:
    """Whether the resource identifier ``resource`` covers ``server_url``: same scheme, host and
    port, and a path that is the server's or one of its parents."""
    want, have = urlsplit(resource), urlsplit(server_url)
    if (want.scheme.lower(), want.netloc.lower()) != (have.scheme.lower(), have.netloc.lower()) or want.fragment:
        return False
    prefix = want.path.rstrip("/")
    path = have.path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def check_authorization_server(document: Any, issuer: str) -> dict[str, Any]:
    """Authorization-server metadata, checked: its ``issuer`` is exactly the one whose
    well-known URL served it (RFC 8414 §3.3, no normalisation), it has authorization and token
    endpoints, it supports PKCE with S256 (a server that does not say so is refused), and every
    endpoint is HTTPS or on loopback. Raises :class:`OAuthViolation`."""
    if not isinstance(document, dict):
        raise OAuthViolation("the authorization server metadata is not a JSON object")
    if document.get("issuer") != issuer:
        raise OAuthViolation(f"the authorization server metadata names issuer {document.get('issuer')!r}, not {issuer}")
    for key in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(document.get(key), str):
            raise OAuthViolation(f"the authorization server metadata has no {key}")
    methods = document.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        raise OAuthViolation("the authorization server does not support PKCE with S256: refusing to proceed")
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint"):
        if isinstance(document.get(key), str):
            require_secure(document[key], key)
    return document


def require_secure(url: str, what: str) -> None:
    """Authorization endpoints must be HTTPS, or HTTP on loopback. Raises :class:`OAuthViolation`."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and (parts.hostname or "").lower() in _LOOPBACK:
        return
    raise OAuthViolation(f"the {what} {url!r} is neither HTTPS nor on loopback")


def parse_challenges(value: str) -> dict[str, dict[str, str]]:
    """The challenges of a ``WWW-Authenticate`` value (several may be joined by commas, as
    several header lines are), by lower-case scheme: each one's parameters, names lower-case
    (``DPoP algs="ES256", Bearer scope="a b"`` gives ``{"dpop": {...}, "bearer": {...}}``)."""
    challenges: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    position = 0
    while position < len(value):
        match = _CHALLENGE_ITEM.match(value, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        name, quoted, bare, scheme = match.groups()
        if scheme is not None:
            current = challenges.setdefault(scheme.lower(), {})
            skipped = _TOKEN68.match(value, position)
            position = skipped.end() if skipped else position
        elif current is not None:
            current[name.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
    return challenges


# -- scopes -----------------------------------------------------------------------------------------


def scopes_to_request(
    challenged: str | None,
    scopes_supported: Any,
    previous: Iterable[str] = (),
    server_scopes: Any = None,
) -> list[str]:
    """The scopes of an authorization request: those of the challenge, else every one the
    resource lists in ``scopes_supported``; joined with those requested before (a step-up keeps
    what was granted); plus ``offline_access`` when the authorization server lists it
    (``server_scopes``), for a refresh token. Empty: leave ``scope`` out."""
    if challenged:
        wanted = challenged.split()
    else:
        wanted = [s for s in scopes_supported if isinstance(s, str)] if isinstance(scopes_supported, list) else []
    ordered = [scope for scope in dict.fromkeys([*previous, *wanted]) if scope]
    if isinstance(server_scopes, list) and "offline_access" in server_scopes:
        ordered = list(dict.fromkeys([*ordered, "offline_access"]))
    return ordered


# -- the authorization request --------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE verifier (43 characters of 32 random bytes) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    challenge: str,
    resource: str,
    scopes: Sequence[str],
) -> str:
    """The URL the user's browser opens: ``response_type=code``, PKCE S256, ``state`` and the
    RFC 8707 ``resource``; ``scope`` only when there are scopes."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    if scopes:
        query["scope"] = " ".join(scopes)
    parts = urlsplit(endpoint)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))


class AuthorizationError(OAuthViolation):
    """The authorization server answered the authorization request with an error (for example
    ``access_denied``: the user said no). ``error`` is its code."""

    def __init__(self, error: str, description: str | None) -> None:
        super().__init__(f"the authorization server refused: {error}" + (f" ({description})" if description else ""))
        self.error = error


def authorization_code(redirect_url: str, *, state: str, issuer: str, iss_supported: bool) -> str:
    """The code of the redirect the authorization server sent the browser to, checked: ``iss``
    against the recorded issuer by simple string comparison (RFC 9207 §2.4: required when the
    server advertises it, compared whenever present), before anything else of the response is
    believed, then ``state``. Raises :class:`OAuthViolation` (:class:`AuthorizationError` for
    an error the authorization server answered with)."""
    query = {key: values[0] for key, values in parse_qs(urlsplit(redirect_url).query, keep_blank_values=True).items()}
    iss = query.get("iss")
    if iss is None and iss_supported:
        raise OAuthViolation("the authorization response has no iss, though the authorization server sends one")
    if iss is not None and iss != issuer:
        raise OAuthViolation(f"the authorization response comes from issuer {iss!r}, not {issuer!r} (mix-up?)")
    if query.get("state") != state:
        raise OAuthViolation("the authorization response's state is not the one sent")
    if "error" in query:
        raise AuthorizationError(query["error"], query.get("error_description"))
    code = query.get("code")
    if not code:
        raise OAuthViolation("the authorization response has no code")
    return code


# -- the token endpoint ---------------------------------------------------------------------------


def auth_method(registered: str | None, supported: Any, has_secret: bool) -> str:
    """How a client authenticates at the token endpoint: as registered; else, with a secret,
    ``client_secret_basic`` unless the server lists only ``client_secret_post`` (RFC 8414's
    default is basic); without one, ``none``."""
    if registered in AUTH_METHODS:
        return registered
    if not has_secret:
        return "none"
    listed = supported if isinstance(supported, list) else ["client_secret_basic"]
    return (
        "client_secret_post"
        if "client_secret_basic" not in listed and "client_secret_post" in listed
        else "client_secret_basic"
    )


def token_request(
    form: dict[str, str], *, client_id: str, client_secret: str | None, method: str
) -> tuple[bytes, list[tuple[str, str]]]:
    """A token request's body and headers, the client authenticated by ``method``
    (``client_secret_basic``: an HTTP Basic header of the form-encoded id and secret,
    RFC 6749 §2.3.1; ``client_secret_post``: both in the body; ``none`` and
    ``private_key_jwt``, whose assertion ``form`` holds: the id in the body)."""
    body = dict(form)
    headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")]
    if method == "client_secret_basic" and client_secret is not None:
        pair = f"{urlencode({'': client_id})[1:]}:{urlencode({'': client_secret})[1:]}"
        headers.append(("authorization", "Basic " + base64.b64encode(pair.encode()).decode("ascii")))
    else:
        body["client_id"] = client_id
        if method == "client_secret_post" and client_secret is not None:
            body["client_secret"] = client_secret
    return urlencode(body).encode("ascii"), headers


def check_token_response(document: Any, now: float, *, proof_sent: bool = False) -> dict[str, Any]:
    """A token endpoint's success answer as stored tokens: ``access_token``, ``token_type``
    (``Bearer``, or ``DPoP`` for a token bound to the key of the proof sent), ``refresh_token``
    (may be ``None``), ``expires_at`` (seconds since the epoch, ``None`` when not said) and the
    granted ``scope`` (may be ``None``). Raises :class:`OAuthViolation` for an answer without
    an access token, or with a token type the client cannot present (DPoP without a proof)."""
    if not isinstance(document, dict) or not isinstance(document.get("access_token"), str):
        raise OAuthViolation("the token endpoint answered without an access token")
    token_type = document.get("token_type")
    kind = token_type.lower() if isinstance(token_type, str) else None
    if kind != "bearer" and not (kind == "dpop" and proof_sent):
        raise OAuthViolation(f"the token endpoint issued a {token_type!r} token, which this client cannot present")
    expires_in = document.get("expires_in")
    refresh = document.get("refresh_token")
    return {
        "access_token": document["access_token"],
        "token_type": "DPoP" if kind == "dpop" else "Bearer",
        "refresh_token": refresh if isinstance(refresh, str) else None,
        "expires_at": now + expires_in if type(expires_in) in (int, float) else None,
        "scope": document.get("scope") if isinstance(document.get("scope"), str) else None,
    }


def id_jag_request(*, id_token: str, issuer: str, resource: str, scopes: Sequence[str]) -> dict[str, str]:
    """The form of a token exchange (RFC 8693) at an enterprise identity provider for an
    Identity Assertion JWT Authorization Grant (ID-JAG) to the authorization server ``issuer``
    for ``resource``, the user identified by their ``id_token``."""
    form = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "requested_token_type": ID_JAG_TYPE,
        "audience": issuer,
        "resource": resource,
        "subject_token": id_token,
        "subject_token_type": ID_TOKEN_TYPE,
    }
    if scopes:
        form["scope"] = " ".join(scopes)
    return form


def check_id_jag_response(document: Any) -> str:
    """The ID-JAG of a token exchange's success answer. Raises :class:`OAuthViolation` when
    the identity provider issued something else."""
    if not isinstance(document, dict) or document.get("issued_token_type") != ID_JAG_TYPE:
        issued = document.get("issued_token_type") if isinstance(document, dict) else None
        raise OAuthViolation(f"the identity provider issued a {issued!r}, not an ID-JAG")
    if not isinstance(document.get("access_token"), str):
        raise OAuthViolation("the identity provider's answer has no ID-JAG in access_token")
    return document["access_token"]


def token_error(document: Any) -> str:
    """What a token endpoint's error answer says (RFC 6749 §5.2)."""
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        description = document.get("error_description")
        return document["error"] + (f": {description}" if isinstance(description, str) else "")
    return "no error code"
