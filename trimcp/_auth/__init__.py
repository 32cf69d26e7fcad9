"""Token verifiers for trimcp as an OAuth resource server: API keys, JWTs (given keys or a JWKS
URL fetched with trimcp's own HTTP client). They implement the transport's ``TokenVerifier``."""

from .jwks import JWKSCache
from .verifiers import APIKeyVerifier, JWTVerifier

__all__ = ["APIKeyVerifier", "JWKSCache", "JWTVerifier"]
