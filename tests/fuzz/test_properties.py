"""Properties of the sans-IO core under Hypothesis (shrinking finds the smallest counter-example):
chunking never changes what the SSE decoder or the line framer produce, the framer matches a
reference model, and parsed JSON-RPC messages always re-encode."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trimcp.protocol import framing, jsonrpc, sse
from trimcp.protocol.errors import RemoteProtocolError

from .core import reference_lines

QUICK = settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_sse_line = st.sampled_from([b"data: x", b"data:", b"data", b"event: e", b"id: 7", b"retry: 10", b": c", b"", b"\xff"])
_sse_stream = st.lists(st.tuples(_sse_line, st.sampled_from([b"\n", b"\r\n", b"\r"])), max_size=12).map(
    lambda pairs: b"".join(line + end for line, end in pairs)
)
_cuts = st.lists(st.integers(min_value=0, max_value=400), max_size=6)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


@QUICK
@given(_sse_stream, _cuts)
def test_sse_decoding_does_not_depend_on_chunking(data: bytes, cuts: list[int]) -> None:
    whole = sse.SSEDecoder().feed(data)
    decoder = sse.SSEDecoder()
    pieces = [event for chunk in _split(data, cuts) for event in decoder.feed(chunk)]
    assert pieces == whole


@QUICK
@given(st.binary(max_size=120).map(lambda b: b.replace(b"\x00", b"\n")), _cuts, st.integers(1, 40))
def test_line_buffer_matches_the_reference(data: bytes, cuts: list[int], max_line: int) -> None:
    buffer = framing.LineBuffer(max_line)
    lines = [line for chunk in _split(data, cuts) for line in buffer.feed(chunk)]
    last = buffer.flush()
    assert lines + ([last] if last is not None else []) == reference_lines(data, max_line)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@QUICK
@given(
    st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0"), "id": st.integers() | st.text(), "method": st.text()}, optional={"params": _json}
    )
)
def test_parsed_requests_re_encode(message: dict) -> None:
    try:
        parsed = jsonrpc.parse(jsonrpc.dumps(message) if _encodable(message) else b"{}")
    except RemoteProtocolError:
        return
    jsonrpc.dumps(parsed.to_dict())


def _encodable(value: object) -> bool:
    try:
        jsonrpc.dumps(value)
    except ValueError:
        return False
    return True
