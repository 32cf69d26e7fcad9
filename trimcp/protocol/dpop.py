"""DPoP (RFC 9449) for an OAuth *client*, sans-IO: what a proof says (§4.2), which requests
carry one, when a server asks for a nonce (§8, §9), what an authorization server's metadata
must list for trimcp to use it (§5.1). Strings and dicts in, dicts out; signing is the
caller's (it needs a key)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .oauth import OAuthViolation

#: The one algorithm trimcp signs proofs with (P-256 keys: small, fast, supported everywhere).
ALGORITHM = "ES256"
#: The token type of a DPoP-bound access token, and its ``Authorization`` scheme.
SCHEME = "DPoP"
USE_NONCE = "use_dpop_nonce"


class DPoPUnsupported(OAuthViolation):
    """The authorization server cannot bind tokens to an ES256 key (the message says why)."""


def target_uri(url: str) -> str:
    """A proof's ``htu``: the request's URL without query and fragment (§4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def token_hash(access_token: str) -> str:
    """A proof's ``ath`` for a request to a resource server: base64url SHA-256 of the token (§4.2)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def proof_header(public_jwk: dict[str, Any]) -> dict[str, Any]:
    """A proof's JOSE header: its type, ES256, and the public key (never the private part)."""
    if "d" in public_jwk:
        raise ValueError("a DPoP proof carries the public key only")
    return {"typ": "dpop+jwt", "alg": ALGORITHM, "jwk": public_jwk}


def proof_claims(
    method: str, url: str, *, now: float, access_token: str | None = None, nonce: str | None = None
) -> dict[str, Any]:
    """A fresh proof's claims for one request: a unique ``jti``, ``htm``, ``htu``, ``iat``; the
    ``ath`` of ``access_token`` when one is presented with it (resource requests); the server's
    ``nonce`` when it gave one."""
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": target_uri(url),
        "iat": int(now),
    }
    if access_token is not None:
        claims["ath"] = token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return claims


def check_support(metadata: dict[str, Any]) -> None:
    """That an authorization server can issue tokens bound to an ES256 key: its metadata lists
    ES256 in ``dpop_signing_alg_values_supported``, or lists nothing (a server that does not
    say answers a proof with a Bearer token, which the client then sends as one). Raises
    :class:`DPoPUnsupported`."""
    listed = metadata.get("dpop_signing_alg_values_supported")
    if listed is None:
        return
    if not isinstance(listed, list) or ALGORITHM not in listed:
        raise DPoPUnsupported(f"the authorization server takes DPoP proofs signed with {listed!r}, not {ALGORITHM}")


def resource_wants_nonce(status: int, challenges: dict[str, dict[str, str]]) -> bool:
    """Whether a resource server's answer asks for the request again with its nonce (§9): a 401
    whose DPoP challenge says ``use_dpop_nonce``."""
    return status == 401 and challenges.get("dpop", {}).get("error") == USE_NONCE


def token_endpoint_wants_nonce(status: int, body: Any) -> bool:
    """Whether a token endpoint's answer asks for the request again with its nonce (§8): a 400
    whose error is ``use_dpop_nonce``."""
    return status == 400 and isinstance(body, dict) and body.get("error") == USE_NONCE
