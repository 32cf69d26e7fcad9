"""The era rules of protocol/lifecycle.py: which era a message belongs to, and what each refuses."""

import pytest

from trimcp.protocol.lifecycle import (
    HANDSHAKE_ONLY_METHODS,
    era_of_first_message,
    era_of_http_post,
    handshake_version_refused,
    http_stream_refused,
)
from trimcp.protocol.versions import Era

ENVELOPE = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}


def test_the_envelope_chooses_2026_and_nothing_else_chooses_yet():
    assert era_of_first_message(ENVELOPE) is Era.PER_REQUEST
    for params in (None, {}, [], {"_meta": {}}, {"_meta": []}):
        assert era_of_first_message(params) is None


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
    assert era_of_http_post(params, session_id=session_id, version_header=version) is era


def test_what_each_era_refuses():
    assert http_stream_refused(session_id=None, version_header="2026-07-28")
    assert not http_stream_refused(session_id="abc", version_header="2026-07-28")
    assert not http_stream_refused(session_id=None, version_header="2025-11-25")
    assert handshake_version_refused("2026-07-28") and handshake_version_refused("1999-01-01")
    assert not handshake_version_refused("2024-11-05") and not handshake_version_refused(None)
    assert {"initialize", "ping", "logging/setLevel"} <= HANDSHAKE_ONLY_METHODS
    assert "tools/call" not in HANDSHAKE_ONLY_METHODS
