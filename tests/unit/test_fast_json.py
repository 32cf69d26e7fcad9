"""trimcp[fast]: with orjson installed, what trimcp sends is byte for byte what the standard
library writes, and what the standard library refuses is refused the same way."""

import contextlib
import datetime
import enum
import json
import math
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trimcp._server.content import json_data_and_text, json_text
from trimcp._server.typeschema import to_json
from trimcp.protocol import fastjson, jsonrpc


@contextlib.contextmanager
def orjson_used(used: bool):
    assert fastjson.orjson is not None, "orjson is missing: pip install -e '.[test]' (it brings trimcp[fast])"
    fastjson.enabled = used
    try:
        yield
    finally:
        fastjson.enabled = True


def standard(value):
    """What :func:`jsonrpc.dumps` gives (or raises) without orjson."""
    with orjson_used(False):
        return outcome(jsonrpc.dumps, value), outcome(jsonrpc.dumps_text, value)


def fast(value):
    with orjson_used(True):
        return outcome(jsonrpc.dumps, value), outcome(jsonrpc.dumps_text, value)


def outcome(encode, value):
    try:
        return encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return type(exc)


class Name(str):
    pass


class Count(int):
    pass


class Colour(enum.IntEnum):
    RED = 1


@dataclass
class Point:
    x: int


FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e-07, 1e-05, 0.0001, 1e-10, 1e16, 1e22, 5e-324, -0.0, 1.7976931348623157e308, 0.1 + 0.2, 123456789.125]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 4, max_value=2**64 + 4)
    | st.integers(min_value=-(2**63) - 4, max_value=-(2**63) + 4)
    | FLOATS
    | st.text(st.characters(codec=None, categories=None))  # surrogates and controls included
    | st.sampled_from(["null", "e-5", "0.00001", "\u2028", "\x7f", "\x00", "/", "\\", '"'])
    | st.builds(Name, st.text(max_size=3))
    | st.builds(Count, st.integers(-3, 3))
    | st.just(Colour.RED)
)
KEYS = st.text(max_size=4) | st.integers(-2, 2) | st.booleans() | st.none() | st.builds(Name, st.text(max_size=2))
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple) | st.dictionaries(KEYS, inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_the_fast_encoder_writes_what_the_standard_library_writes(value):
    assert fast(value) == standard(value)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [1.0, float("inf")],
        {"a": -math.inf},
        1e-07,
        [0.00001, 2],
        {"x": 3.5e-9},
        "\ud800",
        {"name": "\udc80x"},
        2**64,
        -(2**63) - 1,
        {1: "a"},
        {True: 1},
        {None: 1},
        [Name("a"), Count(2)],
        Colour.RED,
        datetime.date(2024, 1, 1),
        Point(1),
        {1, 2},
        object(),
        [
            [
                [
                    [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                [
                                                                                                                                                                                                    [
                                                                                                                                                                                                        [
                                                                                                                                                                                                            [
                                                                                                                                                                                                                [
                                                                                                                                                                                                                    [
                                                                                                                                                                                                                        [
                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                                                                                        1
                                                                                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                ]
                                                                                                                                                                                                            ]
                                                                                                                                                                                                        ]
                                                                                                                                                                                                    ]
                                                                                                                                                                                                ]
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ]
            ]
        ],
        {"deep": [[]] * 3},
    ],
)
def test_what_orjson_would_write_otherwise_goes_to_the_standard_library(value):
    assert fast(value) == standard(value)


def test_nesting_deeper_than_orjson_allows():
    value: list = []
    for _ in range(400):
        value = [value]
    assert fast(value) == standard(value)


def test_circular_values_are_refused_either_way():
    loop: list = []
    loop.append(loop)
    assert fast(loop) == standard(loop) == (ValueError, ValueError)


def test_a_typical_result_takes_the_fast_path():
    result = {"content": [{"type": "text", "text": "3"}], "structuredContent": {"result": 3, "ratio": 0.5}}
    assert fastjson.encode(result) is not None
    assert fastjson.encode({"ratio": 1e-07}) is None  # checked: orjson writes 1e-7


def test_enums_and_uuids_are_written_as_their_values():
    # The one place orjson is more lenient: the standard library refuses a plain Enum or a
    # UUID; orjson writes its value, which is what trimcp's to_json makes of them anyway.
    class Plain(enum.Enum):
        A = "a"

    assert jsonrpc.dumps([Plain.A, uuid.UUID(int=1)]) == b'["a","00000000-0000-0000-0000-000000000001"]'


# -- decoding ---------------------------------------------------------------------------------


def decoded(data: bytes, *, fast_path: bool):
    """``repr`` of what :func:`jsonrpc.loads` gives (exact types: ``1`` vs ``1.0``, ``-0.0``),
    or the parse error's message, with or without orjson."""
    with orjson_used(fast_path):
        try:
            return repr(jsonrpc.loads(data))
        except jsonrpc.RemoteProtocolError as exc:
            return f"error: {exc}"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 4, max_value=2**64 + 4)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, categories=None)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=25,
)
LITERALS = st.sampled_from(
    [b"NaN", b"-Infinity", b"1e400", b"-1e999", b"-0", b"-0.0", b"1E+2", b"1e-400", b"0.1234567890123456789012",
     b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809", b'"\\ud800"', b'"\\udc00\\ud800"',
     b'"\\ud83d\\ude00"', b"\xed\xa0\x80", b'"\xff"', b"[1,2", b"{\"a\":1,\"a\":2}", b" [ 1 , 2 ] ", b"\xef\xbb\xbf1"]
)  # fmt: skip


@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES, st.booleans(), st.booleans())
def test_the_fast_decoder_reads_what_the_standard_library_reads(value, ascii_only, spaced):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=1 if spaced else None)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate written raw is invalid UTF-8
    assert decoded(data, fast_path=True) == decoded(data, fast_path=False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(LITERALS, min_size=1, max_size=3))
def test_literals_orjson_reads_otherwise_or_refuses(parts):
    data = b"[" + b",".join(parts) + b"]"
    assert decoded(data, fast_path=True) == decoded(data, fast_path=False)
    for part in parts:
        assert decoded(part, fast_path=True) == decoded(part, fast_path=False)


def test_a_big_integer_stays_an_integer():
    assert jsonrpc.loads(b'{"n":123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert jsonrpc.loads(b"[18446744073709551616]") == [18446744073709551616]


# -- a tool's value as data and text ------------------------------------------------------------


class Kind(enum.Enum):
    A = "a"
    B = (1, 2)


PYTHON_VALUES = st.recursive(
    SCALARS
    | st.just(Kind.A)
    | st.just(Kind.B)
    | st.builds(Point, st.integers())
    | st.dates()
    | st.datetimes()
    | st.uuids()
    | st.binary(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(st.integers(-3, 3), max_size=3)
        | st.dictionaries(KEYS, inner, max_size=4)
    ),
    max_leaves=20,
)


def data_and_text(value, *, fast_path: bool):
    with orjson_used(fast_path):
        try:
            data, text = json_data_and_text(value)
        except (TypeError, ValueError) as exc:
            return type(exc)
        return repr(data), text, outcome(json_text, value)


@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(PYTHON_VALUES)
def test_a_values_data_and_text_do_not_depend_on_orjson(value):
    assert data_and_text(value, fast_path=True) == data_and_text(value, fast_path=False)


def test_rows_take_the_fast_path_and_come_back_as_plain_data():
    rows = [
        {"id": i, "score": i / 7, "tags": ("a",), "kind": Kind.A, "at": datetime.date(2024, 1, i + 1)} for i in range(3)
    ]
    assert fastjson.encode(rows, default=to_json) is not None
    data, text = json_data_and_text(rows)
    assert data == to_json(rows) and text == jsonrpc.dumps_text(to_json(rows))
    assert type(data[0]["tags"]) is list
