"""Host and Origin validation (the DNS-rebinding defence) and optional CORS for browser clients.

``Host`` must be ``uri-host [":" port]`` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IPv6 address or
IPvFuture in brackets, an IPv4 address or a registered name, then optionally a port of up to five
digits. Anything else (text after ``]``, a second colon, userinfo, a path, a space, non-ASCII, an
empty host) and a repeated ``Host`` are refused whatever the policy, as RFC 9110 §7.2 requires
(it names 400; the app answers with its one status for a refused ``Host``, 421). A request
without ``Host`` (HTTP/1.0) is refused only by an empty allow-list.

``Origin`` must be ``scheme "://" host [":" port]`` (RFC 6454 §7); anything else, ``null``
included, matches only ``*``, and every ``Origin`` field of a request must be allowed.

Allow-list entries match with and without a port: ``localhost`` matches ``localhost:8000``;
``localhost:8000`` matches only that port. Origins are compared the same way
(``http://localhost`` matches ``http://localhost:5173``). Names and schemes compare without
case, ports as numbers, IPv6 addresses in their canonical form. ``*`` allows everything; an
empty list allows nothing (fail closed); an entry that could never match raises ``ValueError``.
When no list is given and the server is bound to a loopback address, only loopback hosts and
origins are allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .asgi import Headers

#: ``(host, port)`` or ``(scheme, host, port)``; ``port`` is ``None`` when absent.
Key = tuple[Any, ...]
AllowList = frozenset[Key | str]

_NAME_CHARS = r"a-z0-9\-._~!$&'()*+,;="  # RFC 3986 unreserved and sub-delims
_HOST = re.compile(
    rf"""(?P<host>
        \[ (?: (?P<ipv6>[0-9a-f:.]+) | v[0-9a-f]+\.[{_NAME_CHARS}:]+ ) \]
        | (?: [{_NAME_CHARS}] | %[0-9a-f]{{2}} )+
    ) (?: :(?P<port>[0-9]{{0,5}}) )?""",
    re.ASCII | re.IGNORECASE | re.VERBOSE,
)
_ORIGIN = re.compile(r"([a-z][a-z0-9+\-.]*)://(.*)", re.ASCII | re.IGNORECASE)
_CORS_ALLOW_HEADERS = (
    b"content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name"
)


@functools.lru_cache(maxsize=256)
def parse_host(value: str) -> tuple[str, int | None] | None:
    """A ``Host`` value as ``(host, port)``, the host lower-cased (an IPv6 literal canonical) and
    an empty port ``None``; ``None`` when the value is malformed."""
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    host, ipv6, port = match.group("host", "ipv6", "port")
    if ipv6 is not None:
        try:
            host = f"[{ipaddress.IPv6Address(ipv6).compressed}]"
        except ValueError:
            return None
    return host.lower(), int(port) if port else None


@functools.lru_cache(maxsize=256)
def parse_origin(value: str) -> tuple[str, str, int | None] | None:
    """An ``Origin`` value as ``(scheme, host, port)``; ``None`` when malformed (or ``null``)."""
    match = _ORIGIN.fullmatch(value)
    authority = parse_host(match[2]) if match else None
    return (match[1].lower(), *authority) if match and authority else None


def _allow_list(entries: Sequence[str], parse: Callable[[str], Key | None]) -> AllowList:
    """Entries parsed for lookup (``*`` kept as is). Raises ``ValueError`` for one that does not parse."""
    parsed: set[Key | str] = set()
    for entry in entries:
        key = "*" if entry == "*" else parse(entry.rstrip("/"))
        if key is None:
            raise ValueError(f"allow-list entry {entry!r} can match nothing: not a valid Host or Origin value")
        parsed.add(key)
    return frozenset(parsed)


def _listed(key: Key | None, allowed: AllowList) -> bool:
    return "*" in allowed or (key is not None and (key in allowed or (*key[:-1], None) in allowed))


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_LOOPBACK_HOSTS = _allow_list(_LOOPBACK_NAMES, parse_host)
_LOOPBACK_ORIGINS = _allow_list(
    [f"{scheme}://{name}" for scheme in ("http", "https") for name in _LOOPBACK_NAMES], parse_origin
)


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
    address, unchecked otherwise. Raises ``ValueError`` for an entry that could never match.
    """

    allowed_hosts: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] | None = None
    cors_origins: tuple[str, ...] = ()
    _hosts: AllowList | None = attrs.field(init=False, repr=False, eq=False)
    _origins: AllowList | None = attrs.field(init=False, repr=False, eq=False)
    _cors: AllowList = attrs.field(init=False, repr=False, eq=False)
    _loopback_origins: AllowList = attrs.field(init=False, repr=False, eq=False)

    @_hosts.default
    def _parse_hosts(self) -> AllowList | None:
        return None if self.allowed_hosts is None else _allow_list(self.allowed_hosts, parse_host)

    @_origins.default
    def _parse_origins(self) -> AllowList | None:
        return None if self.allowed_origins is None else _allow_list(self.allowed_origins, parse_origin)

    @_cors.default
    def _parse_cors(self) -> AllowList:
        return _allow_list(self.cors_origins, parse_origin)

    @_loopback_origins.default
    def _loopback_and_cors(self) -> AllowList:
        return _LOOPBACK_ORIGINS | self._cors

    def host_allowed(self, headers: Headers, bound_to: str | None) -> bool:
        """Whether the request's ``Host`` is well formed and allowed."""
        hosts = headers.get_all("host")
        allowed = self._hosts
        if allowed is None and is_loopback(bound_to):
            allowed = _LOOPBACK_HOSTS
        if not hosts:
            return allowed is None or bool(allowed)
        key = parse_host(hosts[0]) if len(hosts) == 1 else None
        return key is not None and (allowed is None or _listed(key, allowed))

    def origin_allowed(self, headers: Headers, bound_to: str | None) -> bool:
        """Whether every ``Origin`` of the request is allowed (a request without one is)."""
        origins = headers.get_all("origin")
        if not origins:
            return True  # not a browser: nothing to defend against
        allowed = self._origins
        if allowed is None:
            if not is_loopback(bound_to):
                return True
            allowed = self._loopback_origins
        return all(_listed(parse_origin(origin), allowed) for origin in origins)

    def cors_headers(self, headers: Headers) -> list[tuple[bytes, bytes]]:
        """Headers letting a browser page at an allowed origin read the response."""
        origin = headers.get("origin")
        if origin is None or not self._cors or not _listed(parse_origin(origin), self._cors):
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
