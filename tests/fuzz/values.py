"""Seeded generators of hostile JSON values, and a mutator that swaps parts of a message for them.

Everything takes a ``random.Random`` so a run is reproducible from its seed. Raw byte tricks that
JSON text cannot express (invalid UTF-8, surrogates written as raw bytes) are planted as ASCII
markers in strings and substituted after encoding: see :func:`encode`.
"""

from __future__ import annotations

import json
import random
from typing import Any

#: Markers replaced by raw bytes after encoding (the JSON stays well formed around them).
RAW_MARKERS = {
    b"@@FF@@": b"\xff",
    b"@@SURR@@": b"\xed\xa0\x80",  # a lone surrogate as raw (CESU-style) bytes
    b"@@OVERLONG@@": b"\xc0\xaf",
    b"@@CUT@@": b"\xe2\x82",  # a truncated sequence
    b"@@NUL@@": b"\x00",
}

STRINGS = [
    "", "x", " ", "a b", "\t", "\n", "\r\n", "\x00", "\x7f", "é", "日本", "😀", "\u2028", "\ufeff",
    "\ud800", "a\udfffb", "\udbff\udc00", "\ud83d", "@@FF@@", "@@SURR@@", "@@OVERLONG@@", "@@CUT@@", "@@NUL@@",
    "=?base64?", "=?base64??=", "=?base64?aGk=?=", "=?base64?!!!?=", "=?BASE64?aGk=?=",
    "2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", "1999-01-01", "2026-07-28 ",
    "tools/call", "initialize", "ping", "notifications/cancelled", "__proto__", "constructor", "$ref",
    "fuzz://static", "fuzz://item/a", "fuzz://item/", "fuzz://item/%00", "file:///etc/passwd", "test://x",
    "echo", "add", "routed", "ask", "crashes", "greet", "debug", "emergency", "none", "null", "true", "0",
    "-1", "1e400", "NaN", "%s%n", "{}", "[]", "\\", '"', "../../", "a" * 300,
]  # fmt: skip

INTS = [0, 1, -1, 2, 7, 255, 2**31 - 1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 10**30, -(10**40)]
FLOATS = [0.0, -0.0, 0.5, 1.0, 42.0, -1.5, 1e-7, 1e20, 1e308, 5e-324, float("nan"), float("inf"), float("-inf")]


def scalar(rng: random.Random) -> Any:
    """A hostile scalar: edge-case strings, integers, floats (NaN, infinities), booleans, null."""
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(STRINGS)
    if roll < 0.6:
        return rng.choice(INTS)
    if roll < 0.7:
        return rng.choice(FLOATS)
    if roll < 0.8:
        return rng.choice((True, False, None))
    if roll < 0.9:
        return "".join(rng.choice('ab\x00\ud800é😀\\"/\u2028 ') for _ in range(rng.randint(1, 12)))
    if roll < 0.97:
        return rng.randint(-(10**6), 10**6)
    return "y" * rng.choice((1000, 5000, 70_000))


def value(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON-ish value: a scalar, or (less likely the deeper we are) a list or an object."""
    roll = rng.random()
    if depth > 3 or roll < 0.6:
        return scalar(rng)
    if roll < 0.75:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.95:
        return {key(rng): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return nested(rng)


def key(rng: random.Random) -> str:
    """An object key (sometimes one the protocol gives meaning to)."""
    if rng.random() < 0.3:
        return rng.choice(("_meta", "id", "method", "params", "name", "arguments", "uri", "cursor", "jsonrpc"))
    text = scalar(rng)
    return text if isinstance(text, str) else str(text)


def nested(rng: random.Random) -> Any:
    """Deep nesting (lists or objects), at depths around Python's recursion limit."""
    depth = rng.choice((30, 200, 990, 1100, 5000))
    inner: Any = scalar(rng)
    for _ in range(depth):
        inner = [inner] if rng.random() < 0.5 else {"a": inner}
    return inner


def mutate(message: Any, rng: random.Random, count: int | None = None) -> Any:
    """Return ``message`` with ``count`` (default 1-3) random mutations: a value replaced by a
    hostile one (type swaps), a key dropped, an unknown key added, or a container emptied."""
    for _ in range(count if count is not None else rng.randint(1, 3)):
        message = _mutate_once(message, rng)
    return message


def _mutate_once(node: Any, rng: random.Random) -> Any:
    if isinstance(node, dict) and node and rng.random() < 0.7:
        name = rng.choice(list(node))
        copy = dict(node)
        roll = rng.random()
        if roll < 0.15:
            del copy[name]
        elif roll < 0.25:
            copy[key(rng)] = value(rng)
        elif roll < 0.6 and isinstance(copy[name], (dict, list)):
            copy[name] = _mutate_once(copy[name], rng)
        else:
            copy[name] = value(rng)
        return copy
    if isinstance(node, list) and node and rng.random() < 0.7:
        copy = list(node)
        index = rng.randrange(len(copy))
        roll = rng.random()
        if roll < 0.2:
            del copy[index]
        elif roll < 0.3:
            copy.append(value(rng))
        elif roll < 0.6 and isinstance(copy[index], (dict, list)):
            copy[index] = _mutate_once(copy[index], rng)
        else:
            copy[index] = value(rng)
        return copy
    return value(rng)


def encode(message: Any, rng: random.Random | None = None) -> bytes:
    """JSON bytes for ``message``: surrogates escaped (``\\ud800``) or raw, NaN/Infinity written
    as Python's ``json`` writes them, and the raw-byte markers substituted."""
    ascii_only = rng is None or rng.random() < 0.5
    try:
        text = json.dumps(message, ensure_ascii=ascii_only, separators=(",", ":"))
    except RecursionError:
        text = '"too deep to encode"'
    data = text.encode("utf-8", "surrogatepass")
    if b"@@" in data:
        for marker, raw in RAW_MARKERS.items():
            data = data.replace(marker, raw)
    return data


BYTE_PIECES = [
    b"\xff",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\x00",
    b"\n",
    b"\r",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b",",
    b":",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"NaN",
    b"1e400",
    b"9" * 5000,
    b"\xef\xbb\xbf",
    b" " * 100,
]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Byte-level damage: truncation, insertion of a troublesome piece, deletion, duplication."""
    for _ in range(rng.randint(1, 3)):
        position = rng.randint(0, len(data))
        roll = rng.random()
        if roll < 0.25:
            data = data[:position]
        elif roll < 0.65:
            data = data[:position] + rng.choice(BYTE_PIECES) + data[position:]
        elif roll < 0.85:
            data = data[:position] + data[position + rng.randint(1, 8) :]
        else:
            data = data[:position] + data[position : position + 16] * 2 + data[position + 16 :]
    return data
