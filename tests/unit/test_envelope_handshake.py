"""Unit tests for the 2026-07-28 envelope, the handshake state machine and revision helpers."""

import pytest

from trimcp.protocol.constants import (
    LOG_LEVELS,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
)
from trimcp.protocol.envelope import Envelope, complete_result, has_envelope, read_envelope, require_client_capability
from trimcp.protocol.errors import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MISSING_CLIENT_CAPABILITY,
    UNSUPPORTED_PROTOCOL_VERSION,
    RemoteProtocolError,
)
from trimcp.protocol.lifecycle import Feature, HandshakeState, Lifecycle, carries
from trimcp.protocol.versions import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LATEST_VERSION,
    PER_REQUEST_VERSIONS,
    SUPPORTED_VERSIONS,
    Era,
    era_of,
    negotiate_handshake_version,
)


def meta(**overrides):
    value = {
        META_PROTOCOL_VERSION: "2026-07-28",
        META_CLIENT_CAPABILITIES: {"sampling": {}},
    }
    for key, item in overrides.items():
        name = {
            "version": META_PROTOCOL_VERSION,
            "capabilities": META_CLIENT_CAPABILITIES,
            "info": META_CLIENT_INFO,
            "level": META_LOG_LEVEL,
        }[key]
        if item is _DROP:
            value.pop(name, None)
        else:
            value[name] = item
    return value


_DROP = object()


def envelope_error(params, request_id=1):
    with pytest.raises(RemoteProtocolError) as info:
        read_envelope(params, request_id)
    assert info.value.request_id == request_id
    return info.value


# -- versions ----------------------------------------------------------------------------------------


def test_version_constants():
    assert LATEST_HANDSHAKE_VERSION == "2025-11-25"
    assert LATEST_VERSION == "2026-07-28"
    assert SUPPORTED_VERSIONS[0] == LATEST_VERSION
    assert set(SUPPORTED_VERSIONS) == set(HANDSHAKE_VERSIONS) | set(PER_REQUEST_VERSIONS)
    assert list(SUPPORTED_VERSIONS) == sorted(SUPPORTED_VERSIONS, reverse=True)


def test_era_of():
    for version in HANDSHAKE_VERSIONS:
        assert era_of(version) is Era.HANDSHAKE
    assert era_of("2026-07-28") is Era.PER_REQUEST
    assert era_of("1900-01-01") is None
    assert era_of("") is None


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_negotiate_echoes_supported_versions(version):
    assert negotiate_handshake_version(version) == version


@pytest.mark.parametrize("requested", ["2099-01-01", "2026-07-28", "2024-01-01", "", None, 5, ["2025-03-26"]])
def test_negotiate_offers_latest_handshake_version_otherwise(requested):
    assert negotiate_handshake_version(requested) == "2025-11-25"


def test_batches_only_in_2025_03_26():
    assert carries("2025-03-26", Feature.BATCHES)
    for version in ["2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28", None]:
        assert not carries(version, Feature.BATCHES)


def test_a_feature_stays_in_every_later_revision():
    assert carries("2025-06-18", Feature.TITLES)
    assert carries("2025-11-25", Feature.TITLES)
    assert not carries("2025-03-26", Feature.TITLES)
    assert not carries("2024-11-05", Feature.TOOL_ANNOTATIONS)
    assert carries(None, Feature.ICONS)  # no revision negotiated: the newest
    assert not carries("2099-01-01", Feature.TITLES)  # a revision not supported carries nothing
    for feature in Feature:
        carried = [version for version in reversed(SUPPORTED_VERSIONS) if carries(version, feature)]
        if feature not in (Feature.BATCHES, Feature.EXPERIMENTAL_TASKS):  # features of one revision only
            assert carried and carried == list(reversed(SUPPORTED_VERSIONS))[-len(carried) :], feature


# -- envelope ----------------------------------------------------------------------------------------


def test_read_envelope_minimal():
    env = read_envelope({"_meta": meta()}, 1)
    assert env == Envelope("2026-07-28", {"sampling": {}}, None, None)


def test_read_envelope_full():
    params = {
        "name": "tool",
        "_meta": meta(info={"name": "client", "version": "1"}, level="warning", capabilities={}),
    }
    env = read_envelope(params, "r")
    assert env.protocol_version == "2026-07-28"
    assert env.client_capabilities == {}
    assert env.client_info == {"name": "client", "version": "1"}
    assert env.log_level == "warning"


@pytest.mark.parametrize("level", LOG_LEVELS)
def test_read_envelope_accepts_every_log_level(level):
    assert read_envelope({"_meta": meta(level=level)}, 1).log_level == level


@pytest.mark.parametrize("params", [None, [], "x", {}, {"_meta": None}, {"_meta": []}, {"_meta": "x"}, {"other": {}}])
def test_missing_meta_is_invalid_params(params):
    assert envelope_error(params).code == INVALID_PARAMS


@pytest.mark.parametrize("version", [_DROP, None, 20260728, ["2026-07-28"]])
def test_missing_or_non_string_version_is_invalid_params(version):
    exc = envelope_error({"_meta": meta(version=version)}, request_id="abc")
    assert exc.code == INVALID_PARAMS


@pytest.mark.parametrize("capabilities", [_DROP, None, [], "sampling", 1])
def test_missing_or_non_object_capabilities_is_invalid_params(capabilities):
    exc = envelope_error({"_meta": meta(capabilities=capabilities)})
    assert exc.code == INVALID_PARAMS


@pytest.mark.parametrize("info", ["client", [], 1])
def test_non_object_client_info_is_invalid_params(info):
    assert envelope_error({"_meta": meta(info=info)}).code == INVALID_PARAMS


@pytest.mark.parametrize("level", ["verbose", "DEBUG", "", 3])
def test_bad_log_level_is_invalid_params(level):
    assert envelope_error({"_meta": meta(level=level)}).code == INVALID_PARAMS


@pytest.mark.parametrize("level", [["debug"], {"level": "debug"}])
def test_unhashable_log_level_is_invalid_params_not_a_crash(level):
    # A malformed request must become a -32602 error response, not an internal TypeError.
    assert envelope_error({"_meta": meta(level=level)}).code == INVALID_PARAMS


def test_unknown_version_is_unsupported_protocol_version():
    exc = envelope_error({"_meta": meta(version="1900-01-01")}, request_id=7)
    assert exc.code == UNSUPPORTED_PROTOCOL_VERSION == -32022
    assert exc.data == {"supported": list(SUPPORTED_VERSIONS), "requested": "1900-01-01"}
    assert "2026-07-28" in exc.data["supported"]
    assert exc.to_error_object()["data"] == exc.data
    assert exc.http_status == 400


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_handshake_era_version_in_envelope_is_unsupported(version):
    exc = envelope_error({"_meta": meta(version=version)})
    assert exc.code == UNSUPPORTED_PROTOCOL_VERSION
    assert exc.data["requested"] == version
    assert isinstance(exc.data["supported"], list)
    assert "2026-07-28" in exc.data["supported"]


def test_version_is_checked_before_capabilities():
    exc = envelope_error({"_meta": meta(version="1900-01-01", capabilities=_DROP)})
    assert exc.code == UNSUPPORTED_PROTOCOL_VERSION


def test_has_envelope():
    assert has_envelope({"_meta": meta()})
    assert has_envelope({"_meta": {META_PROTOCOL_VERSION: "x"}})
    assert not has_envelope({"_meta": {}})
    assert not has_envelope({"_meta": {"progressToken": 1}})
    assert not has_envelope({})
    assert not has_envelope(None)
    assert not has_envelope([{"_meta": meta()}])
    assert not has_envelope({"_meta": [META_PROTOCOL_VERSION]})


def test_require_client_capability_passes_when_declared():
    env = read_envelope({"_meta": meta(capabilities={"sampling": {}, "roots": {"listChanged": True}})}, 1)
    require_client_capability(env, "sampling", 1)
    require_client_capability(env, "roots", 1)


def test_require_client_capability_missing():
    env = read_envelope({"_meta": meta(capabilities={"roots": {}})}, 1)
    with pytest.raises(RemoteProtocolError) as info:
        require_client_capability(env, "sampling", "req-9")
    exc = info.value
    assert exc.code == MISSING_CLIENT_CAPABILITY == -32021
    assert exc.request_id == "req-9"
    assert exc.data == {"requiredCapabilities": {"sampling": {}}}


def test_require_client_capability_with_detail():
    env = Envelope("2026-07-28", {})
    with pytest.raises(RemoteProtocolError) as info:
        require_client_capability(env, "elicitation", 1, detail={"form": {}})
    assert info.value.data == {"requiredCapabilities": {"elicitation": {"form": {}}}}


def test_complete_result_adds_result_type_and_server_info():
    info = {"name": "srv", "version": "1.0"}
    result = {"content": []}
    out = complete_result(result, info)
    assert out is result
    assert out == {"content": [], "resultType": "complete", "_meta": {META_SERVER_INFO: info}}


def test_complete_result_keeps_existing_meta():
    info = {"name": "srv", "version": "1.0"}
    out = complete_result({"_meta": {"x": 1}}, info)
    assert out == {"resultType": "complete", "_meta": {"x": 1, META_SERVER_INFO: info}}


def test_complete_result_does_not_override_server_info():
    own = {"name": "other"}
    out = complete_result({"_meta": {META_SERVER_INFO: own}}, {"name": "srv"})
    assert out["_meta"][META_SERVER_INFO] == own
    assert out["resultType"] == "complete"


# -- handshake ---------------------------------------------------------------------------------------


def init_params(version="2025-06-18", **extra):
    return {
        "protocolVersion": version,
        "capabilities": {"roots": {}},
        "clientInfo": {"name": "c", "version": "1"},
        **extra,
    }


@pytest.mark.parametrize("version", HANDSHAKE_VERSIONS)
def test_initialize_echoes_supported_version(version):
    session = Lifecycle()
    assert session.initialize(init_params(version), 1) == version
    assert session.protocol_version == version
    assert session.state is HandshakeState.INITIALIZING


@pytest.mark.parametrize("version", ["2099-01-01", "2026-07-28", "2024-10-07"])
def test_initialize_offers_latest_for_unknown_version(version):
    session = Lifecycle()
    assert session.initialize(init_params(version), 1) == "2025-11-25"
    assert session.protocol_version == "2025-11-25"


def test_initialize_records_client_declarations():
    session = Lifecycle()
    session.initialize(init_params(), 1)
    assert session.client_capabilities == {"roots": {}}
    assert session.client_info == {"name": "c", "version": "1"}


def test_initialize_capabilities_default_to_empty():
    session = Lifecycle()
    session.initialize({"protocolVersion": "2025-03-26"}, 1)
    assert session.client_capabilities == {}
    assert session.client_info is None


def test_state_machine():
    session = Lifecycle()
    assert session.state is HandshakeState.NEW
    session.notification("notifications/initialized")  # ignored before initialize
    assert session.state is HandshakeState.NEW
    session.initialize(init_params(), 1)
    assert session.state is HandshakeState.INITIALIZING
    session.notification("notifications/initialized")
    assert session.state is HandshakeState.READY
    session.notification("notifications/initialized")
    assert session.state is HandshakeState.READY


@pytest.mark.parametrize("method", ["tools/list", "tools/call", "resources/read", "notifications/initialized"])
def test_check_request_refuses_before_initialize(method):
    session = Lifecycle()
    with pytest.raises(RemoteProtocolError) as info:
        session.check_request(method, 4)
    assert info.value.code == INVALID_REQUEST
    assert info.value.request_id == 4


@pytest.mark.parametrize("method", ["ping", "initialize"])
def test_check_request_allows_ping_and_initialize_before_initialize(method):
    Lifecycle().check_request(method, 1)


def test_check_request_allows_everything_after_initialize():
    session = Lifecycle()
    session.initialize(init_params(), 1)
    session.check_request("tools/list", 2)  # allowed while waiting for notifications/initialized
    session.notification("notifications/initialized")
    session.check_request("tools/call", 3)


def test_double_initialize_is_invalid_request():
    session = Lifecycle()
    session.initialize(init_params("2025-03-26"), 1)
    with pytest.raises(RemoteProtocolError) as info:
        session.initialize(init_params("2025-11-25"), 2)
    assert info.value.code == INVALID_REQUEST
    assert info.value.request_id == 2
    assert session.protocol_version == "2025-03-26"
    session.notification("notifications/initialized")
    with pytest.raises(RemoteProtocolError) as info:
        session.initialize(init_params(), 3)
    assert info.value.code == INVALID_REQUEST


@pytest.mark.parametrize(
    "params",
    [
        None,
        [],
        "2025-06-18",
        {},
        {"protocolVersion": None},
        {"protocolVersion": 20250618},
        {"protocolVersion": "2025-06-18", "capabilities": []},
        {"protocolVersion": "2025-06-18", "capabilities": None},
        {"protocolVersion": "2025-06-18", "clientInfo": "me"},
    ],
)
def test_initialize_bad_params_is_invalid_params(params):
    session = Lifecycle()
    with pytest.raises(RemoteProtocolError) as info:
        session.initialize(params, "i")
    assert info.value.code == INVALID_PARAMS
    assert info.value.request_id == "i"
    # A failed initialize leaves the session able to try again.
    assert session.state is HandshakeState.NEW
    assert session.initialize(init_params(), "j") == "2025-06-18"


def test_a_deeply_nested_log_level_is_invalid_params_not_a_recursion_error():
    # repr() of a value nested as deep as JSON parsing allowed overflowed the stack (fuzzing)
    nested: object = "debug"
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(RemoteProtocolError) as info:
        read_envelope({"_meta": {**meta(), "io.modelcontextprotocol/logLevel": nested}}, 1)
    assert info.value.code == -32602 and "(a JSON array)" in info.value.message
