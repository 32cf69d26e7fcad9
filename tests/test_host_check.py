"""The Host and Origin checks (the DNS-rebinding defence): the parsers and the policy without
I/O, then every kind of request on the real hypercorn with a Host that only starts like a
loopback one (issue 13: ``Host: [::1].evil.example`` was accepted)."""

from __future__ import annotations

from typing import Any

import pytest

import trimcp
from trimcp._transports.http.asgi import Headers
from trimcp._transports.http.security import SecurityPolicy

from .http_support import JSON_AND_SSE, Probe, probe_server, running_server

LOOPBACK = "127.0.0.1"
MALFORMED_HOSTS = [
    "[::1].evil.example",
    "[::1]evil.example",
    "[::1]@evil.example",
    "[::1]:80:80",
    "[::1]:80.evil.example",
    "[::1",
    "::1",
    "[]",
    "[::g]",
    "[127.0.0.1]",
    "[fe80::1%eth0]",
    "[fe80::1%25eth0]",
    "[v1.]",
    "",
    ":8000",
    "localhost:80:80",
    "localhost:8o",
    "localhost:²",
    "localhost:123456",
    "local host",
    "localhost/",
    "localhost/evil",
    "user@localhost",
    "localhost?x",
    "localhost#x",
    "localhost\\evil.example",
    "caf\xe9.example",
    "%zz.example",
]
MALFORMED_ORIGINS = [
    "http://[::1].evil.example",
    "http://[::1]evil.example",
    "http://localhost@evil.example",
    "http://user:secret@localhost",
    "http://localhost/",
    "http://localhost/evil",
    "http://localhost?x",
    "http://localhost:²",
    "http://localhost:80:80",
    "http:/localhost",
    "//localhost",
    "localhost",
    "http://",
    "1http://localhost",
    "null",
]


def headers(**values: str) -> Headers:
    return Headers([(name.encode(), value.encode("latin-1")) for name, value in values.items()])


def host_allowed(policy: SecurityPolicy, host: str, bound_to: str = LOOPBACK) -> bool:
    return policy.host_allowed(headers(host=host), bound_to)


def origin_allowed(policy: SecurityPolicy, origin: str, bound_to: str = LOOPBACK) -> bool:
    return policy.origin_allowed(headers(origin=origin), bound_to)


# -- parsers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("localhost", ("localhost", None)),
        ("LocalHost:8000", ("localhost", 8000)),
        ("localhost:", ("localhost", None)),  # RFC 3986: an empty port is no port
        ("127.0.0.1:080", ("127.0.0.1", 80)),
        ("[::1]", ("[::1]", None)),
        ("[::1]:8000", ("[::1]", 8000)),
        ("[0:0:0:0:0:0:0:1]:8000", ("[::1]", 8000)),
        ("[v7.fe80::1+en0]", ("[v7.fe80::1+en0]", None)),
        ("mcp.example.com.", ("mcp.example.com.", None)),
        ("xn--bcher-kva.example:443", ("xn--bcher-kva.example", 443)),
        ("a_b~c!$&'()*+,;=%41.example", ("a_b~c!$&'()*+,;=%41.example", None)),
    ],
)
def test_parse_host_accepts_rfc_3986_hosts(value: str, parsed: tuple[str, int | None]) -> None:
    from trimcp._transports.http.security import parse_host

    assert parse_host(value) == parsed


@pytest.mark.parametrize("value", MALFORMED_HOSTS)
def test_parse_host_refuses_anything_else(value: str) -> None:
    from trimcp._transports.http.security import parse_host

    assert parse_host(value) is None


def test_parse_origin() -> None:
    from trimcp._transports.http.security import parse_origin

    assert parse_origin("HTTPS://App.Example.com") == ("https", "app.example.com", None)
    assert parse_origin("http://[::1]:5173") == ("http", "[::1]", 5173)
    assert parse_origin("chrome-extension://abc") == ("chrome-extension", "abc", None)
    for value in MALFORMED_ORIGINS:
        assert parse_origin(value) is None, value


# -- policy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", MALFORMED_HOSTS)
@pytest.mark.parametrize(
    ("policy", "bound_to"),
    [
        (SecurityPolicy(), LOOPBACK),  # loopback-only by default
        (SecurityPolicy(), "0.0.0.0"),  # unchecked: a malformed Host is still refused (RFC 9110 §7.2)
        (SecurityPolicy(allowed_hosts=("*",)), LOOPBACK),
        (SecurityPolicy(allowed_hosts=("[::1]", "localhost")), "0.0.0.0"),
    ],
)
def test_a_malformed_host_is_refused_whatever_the_policy(policy: SecurityPolicy, bound_to: str, host: str) -> None:
    assert not host_allowed(policy, host, bound_to)


def test_allowed_hosts() -> None:
    loopback = SecurityPolicy()
    for host in ("localhost", "LOCALHOST:1234", "127.0.0.1:8000", "[::1]", "[::1]:8000", "[0::1]:8000"):
        assert host_allowed(loopback, host), host
    for host in ("evil.example", "localhost.evil.example", "127.0.0.1.evil.example", "[::2]", "127.0.0.2"):
        assert not host_allowed(loopback, host), host
    assert host_allowed(SecurityPolicy(), "evil.example", "0.0.0.0")  # unchecked
    listed = SecurityPolicy(allowed_hosts=("mcp.example.com", "[::1]:8000", "api.example.com:443"))
    assert host_allowed(listed, "MCP.example.com:9000") and host_allowed(listed, "[::1]:8000")
    assert host_allowed(listed, "api.example.com:0443")
    assert not host_allowed(listed, "[::1]:8001") and not host_allowed(listed, "api.example.com")
    assert not host_allowed(listed, "mcp.example.com.evil.example")


def test_a_missing_or_repeated_host() -> None:
    assert SecurityPolicy().host_allowed(Headers([]), LOOPBACK)  # HTTP/1.0
    assert not SecurityPolicy(allowed_hosts=()).host_allowed(Headers([]), LOOPBACK)  # an empty list allows nothing
    repeated = Headers([(b"host", b"localhost"), (b"host", b"evil.example")])
    assert not SecurityPolicy().host_allowed(repeated, LOOPBACK)
    assert not SecurityPolicy().host_allowed(repeated, "0.0.0.0")


@pytest.mark.parametrize("origin", MALFORMED_ORIGINS)
def test_a_malformed_origin_matches_no_entry(origin: str) -> None:
    assert not origin_allowed(SecurityPolicy(), origin)
    assert not origin_allowed(SecurityPolicy(allowed_origins=("http://localhost", "http://[::1]")), origin, "0.0.0.0")
    assert not SecurityPolicy(cors_origins=("http://localhost",)).cors_headers(headers(origin=origin))


def test_allowed_origins() -> None:
    loopback = SecurityPolicy(cors_origins=("https://app.example.com",))
    for origin in ("http://localhost:5173", "HTTPS://LOCALHOST", "http://[::1]:5173", "https://app.example.com"):
        assert origin_allowed(loopback, origin), origin
    for origin in (
        "http://localhost.evil.example",
        "http://evil.example",
        "ftp://localhost",
        "https://app.example.com.evil",
    ):
        assert not origin_allowed(loopback, origin), origin
    assert origin_allowed(SecurityPolicy(), "null", "0.0.0.0")  # unchecked
    assert origin_allowed(SecurityPolicy(allowed_origins=("*",)), "null")
    listed = SecurityPolicy(allowed_origins=("https://app.example.com/", "http://localhost:5173"))
    assert origin_allowed(listed, "https://app.example.com:8443") and origin_allowed(listed, "http://localhost:5173")
    assert not origin_allowed(listed, "http://localhost:5174") and not origin_allowed(listed, "http://app.example.com")
    repeated = Headers([(b"origin", b"http://localhost"), (b"origin", b"http://evil.example")])
    assert not SecurityPolicy().origin_allowed(repeated, LOOPBACK)


def test_cors_headers_echo_only_listed_origins() -> None:
    policy = SecurityPolicy(cors_origins=("https://app.example.com",))
    assert dict(policy.cors_headers(headers(origin="https://app.example.com")))[b"access-control-allow-origin"] == (
        b"https://app.example.com"
    )
    assert policy.cors_headers(headers(origin="https://app.example.com.evil.example")) == []
    assert policy.preflight_headers(headers(origin="https://evil.example")) == []


@pytest.mark.parametrize("field", ["allowed_hosts", "allowed_origins", "cors_origins"])
def test_an_allow_list_entry_that_cannot_match_is_a_configuration_error(field: str) -> None:
    with pytest.raises(ValueError, match="evil"):
        SecurityPolicy(**{field: ("[::1].evil.example",)})


# -- end to end ------------------------------------------------------------------------------------

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
}
ADD = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}
GOOD_HOST = "[::1]:8000"
BAD_HOST = "[::1].evil.example"


async def test_every_request_with_text_after_the_ipv6_literal_gets_421() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        refused = await http.post(INITIALIZE, {"host": BAD_HOST})
        assert refused.status == 421 and refused.json()["error"]["code"] == -32600
        assert app.sessions.statistics().sessions_created == 0

        initialized = await http.post(INITIALIZE, {"host": GOOD_HOST})
        assert initialized.status == 200
        session: dict[str, Any] = {
            "mcp-session-id": initialized.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        notified = await http.post(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}, {**session, "host": GOOD_HOST}
        )
        assert notified.status == 202

        for host, expected in ((BAD_HOST, 421), (GOOD_HOST, 200)):
            called = await http.post(ADD, {**session, "host": host})
            assert called.status == expected, host
            async with http.open("GET", headers={**session, "host": host, "accept": "text/event-stream"}) as stream:
                assert stream.status == expected, host
        modern = {
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": "add",
            "accept": JSON_AND_SSE,
        }
        body = {
            **ADD,
            "params": {
                **ADD["params"],
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        }
        assert (await http.post(body, {**modern, "host": BAD_HOST})).status == 421
        assert (await http.post(body, {**modern, "host": GOOD_HOST})).status == 200

        assert (await http.request("DELETE", headers={**session, "host": BAD_HOST})).status == 421
        assert app.sessions.statistics().live_sessions == 1  # the refused DELETE ended nothing
        assert (await http.request("DELETE", headers={**session, "host": GOOD_HOST})).status == 200


async def test_an_unchecked_host_must_still_be_well_formed() -> None:
    app = trimcp.asgi_app(probe_server(Probe()), allowed_hosts=["*"])
    async with running_server(app) as http:
        assert (await http.post(INITIALIZE, {"host": BAD_HOST})).status == 421
        assert (await http.post(INITIALIZE, {"host": "evil.example"})).status == 200


async def test_origins_that_only_start_like_loopback_get_403() -> None:
    app = trimcp.asgi_app(probe_server(Probe()))
    async with running_server(app) as http:
        for origin in ("http://[::1].evil.example", "http://localhost.evil.example", "http://localhost@evil.example"):
            assert (await http.post(INITIALIZE, {"origin": origin})).status == 403, origin
        assert (await http.post(INITIALIZE, {"origin": "http://[::1]:5173"})).status == 200
