"""``private_key_jwt`` client authentication (RFC 7523 §2.2): a short-lived JWT the client
signs with its own key, for the token endpoint of one authorization server. Needs the
``trimcp[auth]`` extra (joserfc)."""

from __future__ import annotations

import secrets
import time

#: RFC 7523's ``client_assertion_type`` for a JWT.
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_assertion(client_id: str, issuer: str, private_key: str, algorithm: str) -> str:
    """A JWT naming ``client_id`` as issuer and subject and the authorization server's
    ``issuer`` as audience, valid for 60 s, signed with ``private_key`` (PEM). Raises
    ``ImportError`` without joserfc, ``ValueError`` for a key it cannot use."""
    from joserfc import jwt
    from joserfc.jwk import import_key

    key = import_key(private_key.encode())
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "exp": now + 60}
    claims["jti"] = secrets.token_urlsafe(16)
    return jwt.encode({"alg": algorithm, "typ": "JWT"}, claims, key, algorithms=[algorithm])
