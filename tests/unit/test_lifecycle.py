"""The rules of protocol/lifecycle.py: which era a message belongs to, what each era and
handshake state refuses, the batch rule."""

import pytest

from trimcp.protocol.errors import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, RemoteProtocolError
from trimcp.protocol.jsonrpc import Request
from trimcp.protocol.lifecycle import (
    HANDSHAKE_ONLY_METHODS,
    Lifecycle,
    era_of_http_post,
    handshake_version_refused,
    http_stream_refused,
)
from trimcp.protocol.versions import Era

ENVELOPE = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}
FULL_ENVELOPE = {
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
}


def refused(lifecycle, method, params=None):
    with pytest.raises(RemoteProtocolError) as info:
        lifecycle.admit(Request(7, method, params))
    assert info.value.request_id == 7
    return info.value.code


def test_the_envelope_chooses_2026_and_nothing_else_chooses_yet():
    lifecycle = Lifecycle()
    assert lifecycle.admit(Request(1, "ping", None)) is None
    for params in (None, {}, [], {"_meta": {}}, {"_meta": []}):
        assert refused(lifecycle, "tools/list", params) == INVALID_REQUEST
    assert refused(lifecycle, "tools/list", ENVELOPE) == INVALID_PARAMS  # a bad envelope chooses nothing
    assert refused(lifecycle, "server/discover") == INVALID_PARAMS
    assert lifecycle.era is None
    envelope = lifecycle.admit(Request(2, "tools/list", FULL_ENVELOPE))
    assert envelope is not None and envelope.protocol_version == "2026-07-28"
    assert lifecycle.era is Era.PER_REQUEST
    for method in sorted(HANDSHAKE_ONLY_METHODS):
        assert refused(lifecycle, method) == METHOD_NOT_FOUND
    assert refused(lifecycle, "tools/list") == INVALID_PARAMS  # every request needs its envelope
    assert not lifecycle.allows_batches()


def test_initialize_chooses_the_handshake_and_envelopes_are_then_ordinary_params():
    lifecycle = Lifecycle()
    assert lifecycle.admit(Request(1, "initialize", {"protocolVersion": "2025-03-26"})) is None
    assert lifecycle.era is None  # admitted, not yet taken
    assert lifecycle.initialize({"protocolVersion": "2025-03-26"}, 1) == "2025-03-26"
    assert lifecycle.era is Era.HANDSHAKE
    assert lifecycle.admit(Request(2, "tools/list", FULL_ENVELOPE)) is None
    assert lifecycle.allows_batches()  # 2025-03-26 alone has them
    other = Lifecycle()
    other.initialize({"protocolVersion": "2025-06-18"}, 1)
    assert not other.allows_batches()


@pytest.mark.parametrize(
    ("params", "session_id", "version", "era"),
    [
        (ENVELOPE, "abc", "2025-11-25", Era.PER_REQUEST),  # the body decides
        (None, None, "2026-07-28", Era.PER_REQUEST),
        (None, None, "2099-01-01", Era.PER_REQUEST),  # unknown and sessionless: that era's errors
        (None, None, "2025-06-18", Era.HANDSHAKE),
        (None, None, None, Era.HANDSHAKE),  # initialize, or a request needing a session
        ({}, "abc", "2026-07-28", Era.HANDSHAKE),  # a session is handshake-era traffic
    ],
)
def test_the_era_of_an_http_post(params, session_id, version, era):
    headers = {"mcp-session-id": session_id, "mcp-protocol-version": version}
    assert era_of_http_post(params, headers.get) is era


def test_what_each_era_refuses():
    assert http_stream_refused(session_id=None, version_header="2026-07-28")
    assert not http_stream_refused(session_id="abc", version_header="2026-07-28")
    assert not http_stream_refused(session_id=None, version_header="2025-11-25")
    assert handshake_version_refused("2026-07-28") and handshake_version_refused("1999-01-01")
    assert not handshake_version_refused("2024-11-05") and not handshake_version_refused(None)
    assert {"initialize", "ping", "logging/setLevel"} <= HANDSHAKE_ONLY_METHODS
    assert "tools/call" not in HANDSHAKE_ONLY_METHODS
