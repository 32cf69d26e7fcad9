"""The client's DPoP key (RFC 9449): an ES256 key pair whose public half goes in every proof
and whose private half signs them. Needs the ``trimcp[auth]`` extra (joserfc)."""

from __future__ import annotations

import time
from typing import Any

from ...protocol import dpop


class DPoPKey:
    """One key pair; a new one when ``jwk`` (a private JWK, as :attr:`jwk` gives it, kept with
    the tokens bound to it) is ``None``. Raises ``ImportError`` without joserfc, ``ValueError``
    for a JWK it cannot use."""

    def __init__(self, jwk: dict[str, Any] | None = None) -> None:
        from joserfc.jwk import ECKey

        self._key = ECKey.generate_key("P-256", private=True) if jwk is None else ECKey.import_key(jwk)
        if self._key.curve_name != "P-256" or not self._key.is_private:
            raise ValueError("a DPoP key is a private P-256 key")
        self._header = dpop.proof_header(self._key.as_dict(private=False))

    @property
    def jwk(self) -> dict[str, Any]:
        """The private JWK, to keep with the tokens bound to this key."""
        return self._key.as_dict(private=True)

    def proof(self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None) -> str:
        """A fresh signed proof for one ``method`` request to ``url`` (see
        :func:`trimcp.protocol.dpop.proof_claims`)."""
        from joserfc import jwt

        claims = dpop.proof_claims(method, url, now=time.time(), access_token=access_token, nonce=nonce)
        return jwt.encode(self._header, claims, self._key, algorithms=[dpop.ALGORITHM])
