"""HTTP fuzz cases: a (possibly mutated) MCP message of either era, wrapped in HTTP/1.1 request
bytes whose headers, method, path and framing may be mutated too.

A *clean* case is framed correctly, so each of its requests must get exactly one response,
judged by the oracle in :mod:`tests.fuzz.http_run`; a *dirty* case (framing lies, truncation,
junk after the body…) is sent on its own connection, half-closed, and only has to be answered
or closed in time, without a 5xx.
"""

from __future__ import annotations

import json
import random
from typing import Any

import attrs

from trimcp.protocol.http_headers import request_headers
from trimcp.protocol.jsonrpc import RemoteProtocolError, from_value

from . import messages
from .core import ROUTED_SCHEMA

EVIL_HOSTS = [
    "[::1].evil.example",
    "evil.example",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "[::1]:evil.example",
    "evil.example:{port}",
    "[::1]evil",
    "localhost@evil.example",
]
GOOD_HOSTS = [
    "127.0.0.1:{port}",
    "localhost",
    "localhost:{port}",
    "[::1]",
    "[::1]:{port}",
    "LOCALHOST:{port}",
    "127.0.0.1",
]
EVIL_ORIGINS = ["http://evil.example", "http://localhost.evil.example", "null", "http://[::1].evil.example"]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "",
    "application/json-seq",
    "application/jsonx",
    "multipart/form-data; boundary=x",
    "application/json;;;",
]
ACCEPTS = [
    "application/json, text/event-stream",
    "*/*",
    "application/json",
    "text/event-stream",
    "",
    "application/*, text/*",
    "text/event-stream, application/json",
    "application/json;q=0, text/event-stream",
    "application/json, text/event-stream; q=0",
]
SESSION_IDS = ["", "nope", "x" * 2000, "\x80\xff", " ", "0", "-1", "../mcp"]
VERSION_VALUES = [
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
    "1999-01-01",
    "",
    "bogus",
    "2026-07-28, 2025-11-25",
    " 2026-07-28 ",
]
EVENT_IDS = ["1-0-0", "0", "x", "99999999999999999999-1-1", "1-1-1-1", "-1--1", "\x80", "1-0-" + "9" * 5000]
HEADER_NOISE = [
    "",
    " ",
    "eu",
    "=?base64?ZXU=?=",
    "=?base64?!!?=",
    "\x80\xff",
    "é".encode().decode("latin-1"),
    "a\tb",
    "x" * 9000,
    "true",
    "3",
    "tools/call",
    "echo",
]
METHODS = ["GET", "DELETE", "OPTIONS", "PUT", "PATCH", "HEAD", "TRACE", "BREW", "post"]
PATHS = [
    "/mcp/",
    "/MCP",
    "/",
    "/mcp?x=1",
    "/mcp#f",
    "/messages?sessionId=nope",
    "/sse",
    "*",
    "/mcp/../mcp",
    "http://127.0.0.1/mcp",
    "/" + "a" * 5000,
    "/%00",
    "/mcp%2F",
]
DIRTY_MODES = [
    "http10-nocl",
    "cl-long",
    "cl-short",
    "junk-after",
    "truncated",
    "bare-lf",
    "te-cl",
    "obs-fold",
    "no-cl",
    "dup-cl",
    "huge-header",
    "bad-name",
    "chunked-bad",
    "http10-junk",
]


@attrs.define
class Exchange:
    """One request of a case, and what its answer must contain."""

    method: str
    body: bytes
    ids: list[Any]
    batch: bool
    cancelled: set[Any]
    #: The pool session the request used (a DELETE of it, or a 404, retires it).
    session: str | None = None
    #: The Host or Origin is foreign: the request must be refused.
    evil: str | None = None
    stream: bool = False
    #: The ``Mcp-Session-Id`` value actually sent (after mutations), and the request target.
    sent_session: str | None = None
    target: str = "/mcp"


@attrs.define
class Case:
    """The bytes to send, and the requests they hold."""

    mode: str
    data: bytes
    exchanges: list[Exchange]
    clean: bool
    #: Where it was sent, and the sessions its bytes may name (handshake version, or "sse" for
    #: an HTTP+SSE session, to session id): a replay on fresh servers opens new ones in their place.
    port: int = 0
    sessions: dict[str, str] = attrs.field(factory=dict)
    #: Relayed mode: sent to the owner of the sessions (else to the front).
    to_owner: bool = False
    #: A resumption (``GET`` with ``Last-Event-ID``): the data of the events it must replay.
    replay: list[str] | None = None
    #: A burst: the cases sent at the same time, each on a connection of its own.
    parts: list[Case] = attrs.field(factory=list)
    #: A take-over: after which event of its stream (1: the first) ``parts[0]`` resumes it.
    after: int = 0


def _header_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    def clean(text: str) -> bytes:  # CR, LF and NUL would change the framing (the dirty modes do that on purpose)
        return text.replace("\r", "").replace("\n", "").replace("\x00", "").encode("latin-1", "replace")

    return [(clean(name), clean(value)) for name, value in headers.items()]


def _message_and_headers(rng: random.Random, sessions: dict[str, str]) -> tuple[bytes, dict[str, str], str | None]:
    modern = rng.random() < 0.5
    version = rng.choice(messages.HANDSHAKE_VERSIONS)
    message, body = messages.fuzzed(rng, modern, version)
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    session = None
    if modern:
        try:
            parsed = from_value(message)
            params = message.get("params") if isinstance(message, dict) else None
            schema = ROUTED_SCHEMA if isinstance(params, dict) and params.get("name") == "routed" else None
            headers.update({k.lower(): v for k, v in request_headers(parsed, tool_input_schema=schema).items()})  # type: ignore[arg-type]
        except (RemoteProtocolError, ValueError, TypeError, AttributeError, RecursionError):
            headers["mcp-protocol-version"] = messages.MODERN
    else:
        session = sessions.get(version)
        if session is not None and rng.random() < 0.97:
            headers["mcp-session-id"] = session
        if rng.random() < 0.85:
            headers["mcp-protocol-version"] = version
    return body, headers, session


def _foreign(headers: dict[str, str], port: int) -> str | None:
    """The Host or Origin value that the server must refuse, if one was sent."""
    if headers.get("host") in {host.format(port=port) for host in EVIL_HOSTS}:
        return headers["host"]
    if headers.get("origin") in EVIL_ORIGINS:
        return headers["origin"]
    return None


def forged_ids(session: str, rng: random.Random) -> list[str]:
    """Session ids like ``session`` (``<owner>.<random>``) that name no session: another random
    part, a damaged owner name, an owner that never was, extra dots."""
    owner, _, secret = session.partition(".")
    return [
        f"{owner}.nope",
        f"{owner}.",
        f"{owner}.{secret}x",
        f"{owner}.{secret[:-1]}",
        f"{owner.upper()}.{secret}",
        f"{owner[:-1]}.{secret}",
        f"{owner}0.{secret}",
        f"{owner}..{secret}",
        f"{owner}.{secret}.{secret}",
        f"{'0' * len(owner)}.{secret}",
        f"{rng.getrandbits(48):012x}.{secret}",
        f".{owner}.{secret}",
        f"{owner}.{secret}\x80",
        f"{owner}.{secret}" + "x" * 5000,
    ]


def _mutate_headers(
    headers: dict[str, str], rng: random.Random, port: int, sessions: dict[str, str], forged: list[str] = ()
) -> None:  # type: ignore[assignment]
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.15:
            headers.pop(rng.choice(list(headers) or ["x"]), None)
        elif roll < 0.25:
            headers["content-type"] = rng.choice(CONTENT_TYPES)
        elif roll < 0.35:
            headers["accept"] = rng.choice(ACCEPTS)
        elif roll < 0.45:
            headers["mcp-session-id"] = rng.choice(SESSION_IDS + list(forged) + list(sessions.values()))
        elif roll < 0.55:
            headers["mcp-protocol-version"] = rng.choice(VERSION_VALUES)
        elif roll < 0.65:
            name = rng.choice(
                (
                    "mcp-method",
                    "mcp-name",
                    "mcp-param-region",
                    "mcp-param-count",
                    "mcp-param-on",
                    "mcp-param-zone",
                    "mcp-param-x",
                )
            )
            headers[name] = rng.choice(HEADER_NOISE)
        elif roll < 0.72:
            headers["last-event-id"] = rng.choice(EVENT_IDS)
        elif roll < 0.8:
            headers["host"] = rng.choice(EVIL_HOSTS).format(port=port)
        elif roll < 0.85:
            headers["host"] = rng.choice(GOOD_HOSTS).format(port=port)
        elif roll < 0.9:
            headers["origin"] = rng.choice(EVIL_ORIGINS)
        else:
            headers[rng.choice(("x-fuzz", "authorization", "expect", "connection"))] = rng.choice(
                HEADER_NOISE + ["close", "keep-alive", "100-continue", "Bearer x"]
            )


def _head(method: str, target: str, version: bytes, headers: list[tuple[bytes, bytes]], eol: bytes = b"\r\n") -> bytes:
    lines = [method.encode("latin-1") + b" " + target.encode("latin-1") + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return eol.join(lines) + eol + eol


def _chunked(body: bytes, rng: random.Random) -> bytes:
    """``body`` in chunks: usually a few, sometimes (5 %) dozens."""
    pieces = rng.randint(20, 60) if rng.random() < 0.05 else rng.choice((1, 1, 2, 3, 5, 8))
    size = max(1, -(-len(body) // pieces))
    out = b""
    while body:
        out += b"%x\r\n" % len(body[:size]) + body[:size] + b"\r\n"
        body = body[size:]
    return out + b"0\r\n\r\n"


def make_case(
    rng: random.Random,
    port: int,
    sessions: dict[str, str],
    endpoint: str = "/mcp",
    forged: list[str] = (),  # type: ignore[assignment]
    paths: list[str] = (),  # type: ignore[assignment]
) -> Case:
    """One HTTP case for a server on ``port`` (``sessions``: the worker's session per handshake
    version), POSTed (mostly) to ``endpoint``: the Streamable HTTP endpoint, or the HTTP+SSE
    transport's ``/messages?sessionId=…`` (whose answers travel on the session's stream).
    ``forged``: more session ids for the mutations to choose from, ``paths`` more paths."""
    body, headers, session = _message_and_headers(rng, sessions)
    headers = {"host": f"127.0.0.1:{port}", **headers}
    if rng.random() < 0.3:
        _mutate_headers(headers, rng, port, sessions, forged)
    evil = _foreign(headers, port)
    method, target = "POST", endpoint
    if rng.random() < 0.12:
        method = rng.choice(METHODS)
        if method in ("GET", "DELETE") and rng.random() < 0.7:
            body = b""
    if rng.random() < 0.05:
        target = rng.choice(PATHS + list(paths))
    answered = method == "POST" and target == endpoint
    ids, batch, cancelled = messages.must_answer(body) if answered else ([], False, set())
    sent = headers.get("mcp-session-id")
    exchange = Exchange(
        method, body, ids, batch, cancelled, session, evil, stream=method == "GET", sent_session=sent, target=target
    )
    if rng.random() < 0.1:
        return _dirty(rng, rng.choice(DIRTY_MODES), method, target, headers, body, exchange)
    if rng.random() < 0.1:
        encoded = _head(method, target, b"HTTP/1.1", _header_list({**headers, "transfer-encoding": "chunked"}))
        return Case("chunked", encoded + _chunked(body, rng), [exchange], clean=True)
    with_length = {**headers, "content-length": str(len(body))} if body or method == "POST" else headers
    data = _head(method, target, b"HTTP/1.1", _header_list(with_length)) + body
    if rng.random() < 0.05 and method != "GET":
        second_body, second_headers, second_session = _message_and_headers(rng, sessions)
        second_headers = {"host": f"127.0.0.1:{port}", **second_headers, "content-length": str(len(second_body))}
        ids2, batch2, cancelled2 = messages.must_answer(second_body)
        data += _head("POST", endpoint, b"HTTP/1.1", _header_list(second_headers)) + second_body
        sent2 = second_headers.get("mcp-session-id")
        second = Exchange(
            "POST", second_body, ids2, batch2, cancelled2, second_session, sent_session=sent2, target=endpoint
        )
        return Case("pipeline", data, [exchange, second], clean=True)
    return Case("cl", data, [exchange], clean=True)


def _dirty(
    rng: random.Random, mode: str, method: str, target: str, headers: dict[str, str], body: bytes, exchange: Exchange
) -> Case:
    length = {"content-length": str(len(body))}
    version = b"HTTP/1.1"
    eol = b"\r\n"
    extra = b""
    if mode == "http10-nocl":
        version, length = b"HTTP/1.0", {}
    elif mode == "http10-junk":
        version, extra = b"HTTP/1.0", rng.choice((b"{}", b"\r\n", b"x"))
    elif mode == "cl-long":
        length = {"content-length": str(len(body) + rng.randint(1, 100))}
    elif mode == "cl-short":
        length = {"content-length": str(max(0, len(body) - rng.randint(1, 20)))}
    elif mode == "junk-after":
        extra = rng.choice((b"{}", b"\r\n\r\n", b"GARBAGE\r\n\r\n", b"\x00\xff", b"GET / HTTP/1.1\r\n"))
    elif mode == "bare-lf":
        eol = b"\n"
    elif mode == "te-cl":
        length = {
            **length,
            "transfer-encoding": rng.choice(("chunked", "gzip, chunked", "identity", "chunked, chunked")),
        }
    elif mode == "obs-fold":
        length = {**length, "x-folded": "a"}
    elif mode == "no-cl":
        length = {}
    elif mode == "dup-cl":
        length = {"content-length": f"{len(body)}, {len(body) + 1}"}
    elif mode == "huge-header":
        length = {**length, "x-big": "b" * rng.choice((9000, 70_000, 200_000))}
    elif mode == "bad-name":
        length = {**length, rng.choice(("bad name", "b\xffd", "(x)", "x:y")): "v"}
    elif mode == "chunked-bad":
        length = {"transfer-encoding": "chunked"}
        extra = rng.choice(
            (b"zz\r\n", b"-1\r\n", b"ffffffffffffffffffff\r\n", b"5\r\nab", b"3;x=\x00\r\nabc\r\n0\r\n\r\n")
        )
        body = b""
    data = _head(method, target, version, _header_list({**headers, **length}), eol) + body + extra
    if mode == "obs-fold":
        data = data.replace(b"x-folded: a\r\n", b"x-folded: a\r\n b\r\n", 1)
    if mode == "truncated":
        data = data[: rng.randint(0, len(data))]
    return Case(mode, data, [exchange], clean=False)


def big_case(rng: random.Random, port: int, sessions: dict[str, str]) -> Case:
    """A valid ``echo`` call of one of ``sessions`` whose text is large (up to 3 MB, under the
    4 MiB body limit), so that the request and its answer are large too."""
    version, session = rng.choice(sorted(sessions.items()))
    character, ascii_only = rng.choice("abcé\U0001f600"), rng.random() < 0.3
    size = len(json.dumps(character, ensure_ascii=ascii_only).encode()) - 2
    text = character * (rng.choice((70_000, 300_000, 1_000_000, 3_000_000)) // size)
    message = {"jsonrpc": "2.0", "id": messages.next_id(rng), "method": "tools/call"}
    message["params"] = {"name": "echo", "arguments": {"text": text}}
    body = json.dumps(message, ensure_ascii=ascii_only).encode()
    headers = {
        "host": f"127.0.0.1:{port}",
        "content-type": "application/json",
        "accept": rng.choice(("application/json, text/event-stream", "text/event-stream, application/json")),
        "mcp-session-id": session,
        "mcp-protocol-version": version,
        "content-length": str(len(body)),
    }
    exchange = Exchange("POST", body, [message["id"]], False, set(), session, sent_session=session)
    return Case("big", _head("POST", "/mcp", b"HTTP/1.1", _header_list(headers)) + body, [exchange], clean=True)
