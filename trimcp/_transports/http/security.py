"""Host and Origin validation (the DNS-rebinding defence) and optional CORS for browser clients.

Allow-list entries match with and without a port: ``localhost`` matches ``localhost:8000``;
``localhost:8000`` matches only that port. Origins are compared the same way
(``http://localhost`` matches ``http://localhost:5173``). ``*`` allows everything; an empty list
allows nothing (fail closed). When no list is given and the server is bound to a loopback
address, only loopback hosts and origins are allowed.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

import attrs

from .asgi import Headers

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_LOOPBACK_ORIGINS = tuple(f"{scheme}://{host}" for scheme in ("http", "https") for host in _LOOPBACK_HOSTS)
_CORS_ALLOW_HEADERS = b"content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name"


def _split_port(value: str) -> tuple[str, str | None]:
    """``host:port`` → (host, port); IPv6 literals keep their brackets."""
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else None
    host, colon, port = value.rpartition(":")
    return (host, port) if colon and port.isdigit() else (value, None)


def _matches(value: str, allowed: Sequence[str]) -> bool:
    value = value.lower()
    name, port = _split_port(value)
    for entry in allowed:
        entry = entry.lower().rstrip("/")
        if entry == "*" or entry == value:
            return True
        entry_name, entry_port = _split_port(entry)
        if entry_port is None and entry_name == name:
            return True
    return False


@functools.lru_cache(maxsize=64)
def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen
class SecurityPolicy:
    """Which ``Host`` and ``Origin`` values are accepted, and which origins get CORS headers.

    ``None`` for hosts or origins means: loopback-only when the server is bound to a loopback
    address, unchecked otherwise.
    """

    allowed_hosts: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] | None = None
    cors_origins: tuple[str, ...] = ()

    def host_allowed(self, headers: Headers, bound_to: str | None) -> bool:
        host = headers.get("host")
        allowed = self.allowed_hosts
        if allowed is None:
            if not is_loopback(bound_to):
                return True
            allowed = _LOOPBACK_HOSTS
        if not allowed:
            return False
        return host is None or _matches(host, allowed)

    def origin_allowed(self, headers: Headers, bound_to: str | None) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser: nothing to defend against
        allowed = self.allowed_origins
        if allowed is None:
            if not is_loopback(bound_to):
                return True
            allowed = _LOOPBACK_ORIGINS + self.cors_origins
        return _matches(origin, allowed)

    def cors_headers(self, headers: Headers) -> list[tuple[bytes, bytes]]:
        """Headers letting a browser page at an allowed origin read the response."""
        origin = headers.get("origin")
        if origin is None or not self.cors_origins or not _matches(origin, self.cors_origins):
            return []
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", b"mcp-session-id, mcp-protocol-version"),
            (b"vary", b"origin"),
        ]

    def preflight_headers(self, headers: Headers) -> list[tuple[bytes, bytes]]:
        """The answer to a CORS preflight (``OPTIONS``) from an allowed origin."""
        base = self.cors_headers(headers)
        if not base:
            return []
        requested = headers.get("access-control-request-headers")
        allow_headers = requested.encode("latin-1") if requested else _CORS_ALLOW_HEADERS
        return [
            *base,
            (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
            (b"access-control-allow-headers", allow_headers),
            (b"access-control-max-age", b"600"),
        ]
