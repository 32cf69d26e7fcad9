"""Token verifiers for trimcp as an OAuth resource server: API keys, JWTs (given keys or a JWK set
URL), opaque tokens by introspection; what they fetch, they fetch with trimcp's own HTTP client.
They implement the transport's ``TokenVerifier``."""

from .introspection import IntrospectionVerifier
from .jwks import JWKSCache
from .verifiers import APIKeyVerifier, JWTVerifier

__all__ = ["APIKeyVerifier", "IntrospectionVerifier", "JWKSCache", "JWTVerifier"]
