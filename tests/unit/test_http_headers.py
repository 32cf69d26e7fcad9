"""Unit tests of the 2026-07-28 Streamable HTTP request headers (``trimcp.protocol.http_headers``).

The rules and the encoding examples come from the 2026-07-28 specification,
``basic/transports/streamable-http.mdx`` ("Request Metadata") and ``server/tools.mdx``
("x-mcp-header"), and from the conformance cases of SEP-2243.
"""

import base64
import subprocess
import sys
import textwrap

import pytest

from trimcp.protocol.constants import META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION
from trimcp.protocol.errors import HEADER_MISMATCH, LocalProtocolError, RemoteProtocolError
from trimcp.protocol.http_headers import (
    HeaderParameter,
    check_request_headers,
    decode_header_value,
    encode_header_value,
    header_parameters,
    header_text,
    is_encoded,
    request_headers,
    value_matches,
)
from trimcp.protocol.jsonrpc import Notification, Request

VERSION = "2026-07-28"

#: The tool of the spec's "Custom Headers from Tool Parameters" example.
EXECUTE_SQL = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "description": "The region", "x-mcp-header": "Region"},
        "query": {"type": "string", "description": "The SQL query to execute"},
    },
    "required": ["region", "query"],
}

TYPED = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "flag": {"type": "boolean", "x-mcp-header": "Flag"},
        "text": {"type": "string", "x-mcp-header": "Text"},
    },
}

NESTED = {
    "type": "object",
    "properties": {
        "config": {
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
        }
    },
}


def meta(version=VERSION):
    return {META_PROTOCOL_VERSION: version, META_CLIENT_CAPABILITIES: {}}


def request(method, request_id=1, **params):
    return Request(request_id, method, {"_meta": meta(), **params})


def call(arguments=None, name="execute_sql", request_id=1):
    params = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    return request("tools/call", request_id, **params)


def lowered(headers):
    """What a transport hands over: lower-cased names, each with the list of its values."""
    return {name.lower(): [value] for name, value in headers.items()}


def headers_for(message, schema=None, **changes):
    """The headers a conforming client sends for ``message``, then ``changes`` applied
    (``mcp_name="x"`` sets ``mcp-name``; ``None`` removes the header; a list sets every value)."""
    headers = lowered(request_headers(message, tool_input_schema=schema))
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value if isinstance(value, list) else [value]
    return headers


def check(message, schema=None, **changes):
    check_request_headers(headers_for(message, schema, **changes), message, tool_input_schema=schema)


def rejected(message, schema=None, **changes):
    """Check, expecting -32020 / 400 with the request's id; return the error message."""
    with pytest.raises(RemoteProtocolError) as info:
        check(message, schema, **changes)
    error = info.value
    assert error.code == HEADER_MISMATCH == -32020
    assert error.http_status == 400
    assert error.request_id == getattr(message, "id", None)
    assert error.message.startswith("Header mismatch: ")
    return error.message


# --- value encoding --------------------------------------------------------------------------

# The spec's "Encoding examples" table (streamable-http.mdx, Value Encoding).
SPEC_EXAMPLES = [
    ("us-west1", "us-west1"),
    ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
    (" padded ", "=?base64?IHBhZGRlZCA=?="),
    ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
    ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
]

# SEP-2243's "Value Encoding Edge Cases" conformance table.
SEP_EXAMPLES = [
    (" us-west1", "=?base64?IHVzLXdlc3Qx?="),
    ("us-west1 ", "=?base64?dXMtd2VzdDEg?="),
    (" us-west1 ", "=?base64?IHVzLXdlc3QxIA==?="),
    ("us west 1", "us west 1"),
    (True, "true"),
    (False, "false"),
    (42, "42"),
    ("日本語", "=?base64?5pel5pys6Kqe?="),
    ("line1\r\nline2", "=?base64?bGluZTENCmxpbmUy?="),
    ("\tindented", "=?base64?CWluZGVudGVk?="),
    ("", ""),
]


@pytest.mark.parametrize(("value", "encoded"), SPEC_EXAMPLES + SEP_EXAMPLES)
def test_encoding_matches_the_spec_examples(value, encoded):
    assert encode_header_value(value) == encoded
    assert decode_header_value(encoded) == header_text(value)


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "Grüße",
        "emoji 🎉",
        "  both ends  ",
        "trailing tab\t",
        "inner\ttab",
        "nul\x00byte",
        "del\x7f",
        "a?=b",
        "ends with ?=",
        "?=",
        "=?base64?",
        "=?base64?=",
        "=?base64??=",
        "=?base64?not base64?=",
        "=?BASE64?SGVsbG8=?=",
        "=?base64?SGVsbG8=",
        "x=?base64?SGVsbG8=?=",
        "https://example.com/resource?id=123&q=?=",
        "file:///path/to/file%20name.txt",
    ],
)
def test_every_string_round_trips(value):
    encoded = encode_header_value(value)
    assert decode_header_value(encoded) == value
    assert all(char == "\t" or " " <= char <= "~" for char in encoded)
    assert encoded == encoded.strip(" \t")


@pytest.mark.parametrize("value", ["a?=b", "ends with ?=", "?=", "=?base64?SGVsbG8=", "x=?base64?SGVsbG8=?="])
def test_values_that_only_partly_look_like_the_sentinel_go_as_they_are(value):
    assert encode_header_value(value) == value


@pytest.mark.parametrize("value", ["=?base64?=", "=?base64??=", "=?base64?anything?="])
def test_values_that_match_the_sentinel_pattern_are_always_encoded(value):
    # "clients MUST also Base64-encode any plain-ASCII value that matches the sentinel pattern
    # (i.e., starts with =?base64? and ends with ?=)"
    encoded = encode_header_value(value)
    assert encoded != value
    assert encoded == "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (-7, "-7"),
        (2**53 - 1, "9007199254740991"),
        (42.0, "42"),
        (-3.0, "-3"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_integers_and_booleans_render_in_decimal_and_lowercase(value, text):
    assert header_text(value) == text
    assert encode_header_value(value) == text


@pytest.mark.parametrize("value", [None, {"a": 1}, [1], float("nan"), float("inf")])
def test_values_no_header_can_carry_are_refused(value):
    with pytest.raises(TypeError):
        encode_header_value(value)


def test_sentinel_markers_are_case_sensitive_so_other_spellings_are_literal():
    assert decode_header_value("=?BASE64?SGVsbG8=?=") == "=?BASE64?SGVsbG8=?="
    assert decode_header_value("=?Base64?SGVsbG8=?=") == "=?Base64?SGVsbG8=?="


def test_a_value_missing_the_prefix_or_the_suffix_is_literal():
    assert decode_header_value("SGVsbG8=") == "SGVsbG8="
    assert decode_header_value("=?base64?SGVsbG8=") == "=?base64?SGVsbG8="
    assert decode_header_value("SGVsbG8=?=") == "SGVsbG8=?="


def test_valid_base64_is_decoded():
    assert decode_header_value("=?base64?SGVsbG8=?=") == "Hello"
    assert decode_header_value("=?base64??=") == ""


def test_overlapping_markers_are_not_a_sentinel():
    # "=?base64?=" starts with the prefix and ends with the suffix only by sharing a "?".
    assert not is_encoded("=?base64?=")
    assert decode_header_value("=?base64?=") == "=?base64?="
    assert is_encoded("=?base64??=")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("=?base64?SGVsbG8?=", "invalid Base64"),  # missing padding (SEP-2243 conformance case)
        ("=?base64?SGVs!!!bG8=?=", "invalid Base64"),  # characters outside the alphabet (idem)
        ("=?base64?SGVs bG8=?=", "invalid Base64"),
        ("=?base64?SGVsbG8-?=", "invalid Base64"),  # URL-safe alphabet is not Base64
        ("=?base64?SGVsbG9=?=", "non-canonical"),  # non-zero trailing bits
        ("=?base64?//79?=", "not UTF-8"),
        ("=?base64?wqé=?=", "invalid Base64"),
    ],
)
def test_malformed_sentinels_are_refused(raw, reason):
    with pytest.raises(ValueError, match=reason):
        decode_header_value(raw)


@pytest.mark.parametrize(
    ("decoded", "value", "matches"),
    [
        ("42", 42, True),
        ("42.0", 42, True),  # "servers SHOULD compare ... numerically (e.g., 42.0 and 42 are considered equal)"
        ("42", 42.0, True),
        ("-7", -7, True),
        ("-0", 0, True),
        ("9007199254740993", 2**53 + 1, True),  # exact, no float round trip
        ("9007199254740992", 2**53 + 1, False),
        ("42.5", 42, False),
        ("43", 42, False),
        ("4.2e1", 42, False),
        ("+42", 42, False),
        ("0x2a", 42, False),
        ("forty-two", 42, False),
        ("", 42, False),
        ("true", True, True),
        ("false", False, True),
        ("True", True, False),
        ("1", True, False),
        ("false", True, False),
        ("abc", "abc", True),
        ("ABC", "abc", False),
        ("42", "42", True),
        ("42.0", "42", False),  # a string argument compares as a string
        ("x", {"a": 1}, False),
        ("x", ["x"], False),
    ],
)
def test_value_matches(decoded, value, matches):
    assert value_matches(decoded, value) is matches


# --- x-mcp-header annotations ----------------------------------------------------------------


def test_the_spec_example_declares_one_header():
    assert header_parameters(EXECUTE_SQL) == (HeaderParameter("Region", ("region",), "string"),)
    parameter = header_parameters(EXECUTE_SQL)[0]
    assert (parameter.header, parameter.key, parameter.source) == (
        "Mcp-Param-Region",
        "mcp-param-region",
        "params.arguments.region",
    )


def test_annotations_come_in_document_order_with_their_types():
    assert [(p.name, p.type) for p in header_parameters(TYPED)] == [
        ("Count", "integer"),
        ("Flag", "boolean"),
        ("Text", "string"),
    ]


def test_a_schema_without_annotations_declares_nothing():
    assert header_parameters({"type": "object"}) == ()
    assert header_parameters({"type": "object", "properties": {"a": {"type": "string"}}}) == ()


def test_nested_properties_reached_through_properties_only_are_allowed():
    assert header_parameters(NESTED) == (HeaderParameter("Region", ("config", "region"), "string"),)


def test_a_header_named_like_a_standard_header_is_allowed():
    schema = {"type": "object", "properties": {"m": {"type": "string", "x-mcp-header": "Method"}}}
    assert header_parameters(schema)[0].header == "Mcp-Param-Method"


def test_a_property_named_x_mcp_header_and_data_keywords_are_not_annotations():
    schema = {
        "type": "object",
        "properties": {"x-mcp-header": {"type": "string"}},
        "default": {"x-mcp-header": "Nope"},
        "examples": [{"x-mcp-header": "Nope"}],
        "$comment": "x-mcp-header",
    }
    assert header_parameters(schema) == ()


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        ("", "not an HTTP token"),
        ("My Region", "not an HTTP token"),
        ("Region:Primary", "not an HTTP token"),
        ("Région", "not an HTTP token"),
        ("Region\t1", "not an HTTP token"),
        ("Region\r\nX", "not an HTTP token"),
        (5, "not an HTTP token"),
        (None, "not an HTTP token"),
    ],
)
def test_annotation_values_must_be_tokens(annotation, reason):
    schema = {"type": "object", "properties": {"r": {"type": "string", "x-mcp-header": annotation}}}
    with pytest.raises(ValueError, match=reason):
        header_parameters(schema)


@pytest.mark.parametrize("other", ["Region", "REGION", "region"])
def test_annotation_values_must_be_case_insensitively_unique(other):
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "x-mcp-header": "Region"},
            "b": {"type": "string", "x-mcp-header": other},
        },
    }
    with pytest.raises(ValueError, match="repeats 'Region' of property 'a'"):
        header_parameters(schema)


@pytest.mark.parametrize(
    ("prop", "reason"),
    [
        ({"type": "number"}, "type 'number'"),
        ({"type": "array", "items": {"type": "string"}}, "type 'array'"),
        ({"type": "object"}, "type 'object'"),
        ({"type": "null"}, "type 'null'"),
        ({"type": ["string", "null"]}, r"type \(a JSON array\)"),
        ({"enum": ["a", "b"]}, "no type"),
    ],
)
def test_annotations_only_go_on_string_integer_and_boolean_properties(prop, reason):
    schema = {"type": "object", "properties": {"p": {**prop, "x-mcp-header": "P"}}}
    with pytest.raises(ValueError, match=reason):
        header_parameters(schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "x-mcp-header": "Root"},
        {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string", "x-mcp-header": "L"}}}},
        {"type": "object", "prefixItems": [{"type": "string", "x-mcp-header": "P"}]},
        {"type": "object", "anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]},
        {"type": "object", "oneOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]},
        {"type": "object", "allOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]},
        {"type": "object", "not": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}},
        {"type": "object", "if": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}},
        {"type": "object", "then": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}},
        {"type": "object", "else": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}},
        {"type": "object", "$defs": {"A": {"type": "string", "x-mcp-header": "A"}}},
        {"type": "object", "additionalProperties": {"type": "string", "x-mcp-header": "A"}},
        {"type": "object", "patternProperties": {"^a": {"type": "string", "x-mcp-header": "A"}}},
        {
            "type": "object",
            "properties": {"o": {"type": "object", "allOf": [{"properties": {"a": {"x-mcp-header": "A"}}}]}},
        },
    ],
)
def test_annotations_must_be_statically_reachable(schema):
    with pytest.raises(ValueError, match="not on a property reached through 'properties' keys only"):
        header_parameters(schema)


def test_an_unreachable_annotation_is_reported_with_its_location():
    schema = {"type": "object", "properties": {"l": {"type": "array", "items": {"x-mcp-header": "L"}}}}
    with pytest.raises(ValueError, match="at /properties/l/items "):
        header_parameters(schema)


# --- the headers a client sends --------------------------------------------------------------


def test_request_headers_of_the_spec_example():
    message = call({"region": "us-west1", "query": "SELECT * FROM users"})
    assert request_headers(message, tool_input_schema=EXECUTE_SQL) == {
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "execute_sql",
        "Mcp-Param-Region": "us-west1",
    }


def test_request_headers_carry_the_name_of_each_named_method():
    assert request_headers(request("resources/read", uri="file:///projects/myapp/config.json"))["Mcp-Name"] == (
        "file:///projects/myapp/config.json"
    )
    assert request_headers(request("prompts/get", name="code_review"))["Mcp-Name"] == "code_review"
    assert "Mcp-Name" not in request_headers(request("tools/list"))


def test_request_headers_omit_null_and_absent_arguments():
    headers = request_headers(call({"count": None}), tool_input_schema=TYPED)
    assert not any(name.startswith("Mcp-Param-") for name in headers)


def test_request_headers_encode_names_and_arguments():
    headers = request_headers(
        call({"text": " padded ", "count": 7, "flag": False}, name="outil-été"), tool_input_schema=TYPED
    )
    assert headers["Mcp-Name"] == encode_header_value("outil-été")
    assert headers["Mcp-Param-Text"] == "=?base64?IHBhZGRlZCA=?="
    assert headers["Mcp-Param-Count"] == "7"
    assert headers["Mcp-Param-Flag"] == "false"


# --- MCP-Protocol-Version --------------------------------------------------------------------


def test_a_conforming_tools_call_passes():
    check(call({"region": "us-west1", "query": "SELECT 1"}), EXECUTE_SQL)


@pytest.mark.parametrize(
    "message",
    [
        request("server/discover"),
        request("tools/list"),
        request("resources/read", uri="file:///projects/myapp/config.json"),
        request("prompts/get", name="code_review", arguments={"language": "python"}),
        request("completion/complete", ref={"type": "ref/prompt", "name": "p"}, argument={"name": "a", "value": ""}),
        call({"region": "us-west1"}),
    ],
)
def test_conforming_requests_pass(message):
    check(message)


def test_the_protocol_version_header_is_required():
    assert rejected(request("tools/list"), mcp_protocol_version=None) == (
        "Header mismatch: MCP-Protocol-Version header is missing"
    )


def test_the_protocol_version_header_must_equal_the_body_version():
    assert rejected(request("tools/list"), mcp_protocol_version="2025-06-18") == (
        "Header mismatch: MCP-Protocol-Version header value '2025-06-18' does not match"
        " params._meta['io.modelcontextprotocol/protocolVersion'] '2026-07-28'"
    )


def test_an_equal_but_unsupported_version_is_not_this_checks_business():
    # -32022 (UnsupportedProtocolVersion) comes from the envelope, not from the header check.
    message = Request(1, "tools/list", {"_meta": meta("2099-01-01")})
    check(message)


def test_a_body_without_a_version_is_left_to_the_envelope_check():
    message = Request(1, "tools/list", {})
    check_request_headers(lowered({"MCP-Protocol-Version": VERSION, "Mcp-Method": "tools/list"}), message)
    with pytest.raises(RemoteProtocolError, match="MCP-Protocol-Version header is missing"):
        check_request_headers(lowered({"Mcp-Method": "tools/list"}), message)


# --- Mcp-Method ------------------------------------------------------------------------------


def test_the_method_header_is_required():
    assert rejected(request("tools/list"), mcp_method=None) == "Header mismatch: Mcp-Method header is missing"


def test_the_method_header_must_equal_the_body_method():
    assert rejected(request("tools/list"), mcp_method="prompts/list") == (
        "Header mismatch: Mcp-Method header value 'prompts/list' does not match method 'tools/list'"
    )


@pytest.mark.parametrize("value", ["TOOLS/LIST", "Tools/List", "tools/List"])
def test_method_values_are_case_sensitive(value):
    assert f"value {value!r} does not match method 'tools/list'" in rejected(request("tools/list"), mcp_method=value)


def test_header_names_are_looked_up_lower_cased():
    # Case-insensitive names are the transport's job: it lower-cases them before calling.
    message = request("tools/list")
    headers = {"MCP-PROTOCOL-VERSION": [VERSION], "Mcp-Method": ["tools/list"]}
    with pytest.raises(RemoteProtocolError, match="MCP-Protocol-Version header is missing"):
        check_request_headers(headers, message)
    check_request_headers({name.lower(): values for name, values in headers.items()}, message)


# --- Mcp-Name --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "source"),
    [
        (call({}), "params.name"),
        (request("resources/read", uri="file:///a.txt"), "params.uri"),
        (request("prompts/get", name="code_review"), "params.name"),
    ],
)
def test_the_name_header_is_required_where_the_spec_requires_it(message, source):
    assert rejected(message, mcp_name=None) == "Header mismatch: Mcp-Name header is missing"
    assert rejected(message, mcp_name="other") == (
        f"Header mismatch: Mcp-Name header value 'other' does not match {source} {message.params[source[7:]]!r}"
    )


def test_the_name_mismatch_message_names_header_and_body_field():
    assert rejected(call({}, name="a"), mcp_name="b") == (
        "Header mismatch: Mcp-Name header value 'b' does not match params.name 'a'"
    )


def test_name_values_are_case_sensitive():
    rejected(call({}, name="get_weather"), mcp_name="Get_Weather")
    rejected(request("resources/read", uri="file:///A.txt"), mcp_name="file:///a.txt")


def test_the_resource_uri_is_compared_not_a_name():
    message = request("resources/read", uri="file:///a.txt", name="a")
    check(message, mcp_name="file:///a.txt")
    rejected(message, mcp_name="a")


@pytest.mark.parametrize(
    "name",
    ["outil-été", " spaced ", "工具", "=?base64?literal?=", "line\nbreak", "=?base64?="],
)
def test_an_encoded_name_is_decoded_before_comparing(name):
    message = call({}, name=name)
    check(message, mcp_name=encode_header_value(name))
    assert encode_header_value(name) != name


@pytest.mark.parametrize("name", ["my-tool-name", "my_tool_name", "admin.tools.list", "DATA_EXPORT_v2"])
def test_safe_names_go_as_they_are(name):
    assert request_headers(call({}, name=name))["Mcp-Name"] == name
    check(call({}, name=name))


@pytest.mark.parametrize("uri", ["file:///path/to/file%20name.txt", "https://example.com/resource?id=123"])
def test_uris_with_special_characters_go_as_they_are(uri):
    message = request("resources/read", uri=uri)
    assert request_headers(message)["Mcp-Name"] == uri
    check(message)


def test_a_malformed_encoded_name_is_rejected():
    message = rejected(call({}, name="Hello"), mcp_name="=?base64?SGVsbG8?=")
    assert "Mcp-Name header value '=?base64?SGVsbG8?=' is a malformed Base64 sentinel: invalid Base64" in message


def test_a_literal_name_that_looks_like_the_sentinel_must_have_been_encoded():
    # Sent as it is, "=?base64?abc?=" is read as Base64 ("abc" is not valid Base64).
    message = call({}, name="=?base64?abc?=")
    assert "malformed Base64 sentinel" in rejected(message, mcp_name="=?base64?abc?=")


def test_an_encoded_name_of_the_wrong_value_is_a_mismatch():
    message = call({}, name="a")
    assert rejected(message, mcp_name=encode_header_value(" a")) == (
        "Header mismatch: Mcp-Name header value ' a' does not match params.name 'a'"
    )


def test_the_name_header_is_not_compared_for_other_methods():
    check(request("tools/list"), mcp_name="anything")
    check(request("completion/complete", ref={"type": "ref/prompt", "name": "p"}), mcp_name="p2")


def test_a_missing_or_non_string_body_name_is_left_to_params_validation():
    check(request("tools/call"), mcp_name="x")
    check(request("tools/call", name=5), mcp_name="5")
    rejected(request("tools/call"), mcp_name=None)  # the header itself is still required


# --- whitespace and characters ---------------------------------------------------------------


@pytest.mark.parametrize("padding", [" ", "  ", "\t", " \t "])
def test_whitespace_around_values_is_trimmed(padding):
    message = call({"region": "us-west1"}, name="get_weather")
    check(
        message,
        EXECUTE_SQL,
        mcp_name=f"{padding}get_weather{padding}",
        mcp_method=f"{padding}tools/call",
        mcp_protocol_version=f"{VERSION}{padding}",
        mcp_param_region=f"{padding}us-west1{padding}",
    )


def test_inner_whitespace_is_significant():
    rejected(call({}, name="get_weather"), mcp_name="get weather")
    check(call({"region": "us west 1"}), EXECUTE_SQL, mcp_param_region="us west 1")
    rejected(call({"region": "us west 1"}), EXECUTE_SQL, mcp_param_region="us  west 1")


@pytest.mark.parametrize("header", ["mcp_protocol_version", "mcp_method", "mcp_name"])
@pytest.mark.parametrize("bad", ["nul\x00", "bell\x07", "del\x7f", "caf\xe9", "cafÃ©", "lf\nin"])
def test_standard_headers_with_characters_a_header_may_not_carry_are_rejected(header, bad):
    message = rejected(call({}), **{header: bad})
    assert "contains characters a header may not carry" in message


def test_a_name_sent_as_raw_utf8_is_rejected_even_though_it_would_match():
    # A transport decodes header bytes as Latin-1; a transport that decoded UTF-8 would see "é".
    assert "contains characters a header may not carry" in rejected(call({}, name="été"), mcp_name="été")


def test_a_declared_param_header_with_disallowed_characters_is_rejected():
    message = call({"region": "r\xe9gion"})
    assert "Mcp-Param-Region header value 'r\xe9gion' contains characters" in rejected(
        message, EXECUTE_SQL, mcp_param_region="r\xe9gion"
    )


# --- repeated headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "display"),
    [("mcp_protocol_version", "MCP-Protocol-Version"), ("mcp_method", "Mcp-Method"), ("mcp_name", "Mcp-Name")],
)
def test_a_repeated_standard_header_is_rejected_even_with_equal_values(header, display):
    message = call({}, name="a")
    value = request_headers(message)[display]
    assert rejected(message, **{header: [value, value]}) == (
        f"Header mismatch: {display} header appears 2 times; it must appear once"
    )
    rejected(message, **{header: [value, "other"]})


def test_a_repeated_name_header_is_rejected_even_where_it_is_not_compared():
    rejected(request("tools/list"), mcp_name=["a", "a"])


def test_a_repeated_declared_param_header_is_rejected():
    message = call({"region": "us-west1"})
    assert rejected(message, EXECUTE_SQL, mcp_param_region=["us-west1", "eu-west1"]) == (
        "Header mismatch: Mcp-Param-Region header appears 2 times; it must appear once"
    )


def test_an_empty_list_of_values_is_an_absent_header():
    rejected(request("tools/list"), mcp_method=[])


def test_a_bare_string_counts_as_one_value():
    message = request("tools/list")
    check_request_headers({"mcp-protocol-version": VERSION, "mcp-method": "tools/list"}, message)


# --- Mcp-Param-* -----------------------------------------------------------------------------


def test_a_declared_argument_requires_its_header():
    message = call({"region": "us-west1", "query": "q"})
    assert rejected(message, EXECUTE_SQL, mcp_param_region=None) == (
        "Header mismatch: Mcp-Param-Region header is missing but params.arguments.region is present"
    )


def test_a_declared_header_must_equal_its_argument():
    message = call({"region": "us-west1", "query": "q"})
    assert rejected(message, EXECUTE_SQL, mcp_param_region="eu-west1") == (
        "Header mismatch: Mcp-Param-Region header value 'eu-west1' does not match params.arguments.region 'us-west1'"
    )
    rejected(message, EXECUTE_SQL, mcp_param_region="US-WEST1")


def test_an_absent_or_null_argument_needs_no_header():
    check(call({"query": "q"}), EXECUTE_SQL)
    check(call({"region": None, "query": "q"}), EXECUTE_SQL)
    check(call(None), EXECUTE_SQL)


def test_a_header_for_an_absent_or_null_argument_is_rejected():
    assert rejected(call({"query": "q"}), EXECUTE_SQL, mcp_param_region="us-west1") == (
        "Header mismatch: Mcp-Param-Region header is present but params.arguments.region is absent"
    )
    assert rejected(call({"region": None}), EXECUTE_SQL, mcp_param_region="us-west1") == (
        "Header mismatch: Mcp-Param-Region header is present but params.arguments.region is null"
    )
    rejected(call(None), EXECUTE_SQL, mcp_param_region="us-west1")


def test_param_header_names_are_matched_case_insensitively_through_the_lowered_mapping():
    schema = {"type": "object", "properties": {"t": {"type": "string", "x-mcp-header": "TenantID"}}}
    message = call({"t": "acme"})
    assert request_headers(message, tool_input_schema=schema)["Mcp-Param-TenantID"] == "acme"
    check_request_headers(headers_for(message, schema), message, tool_input_schema=schema)
    assert "mcp-param-tenantid" in headers_for(message, schema)


def test_undeclared_param_headers_are_ignored():
    message = call({"region": "us-west1", "query": "q"})
    check(message, EXECUTE_SQL, mcp_param_query="anything", mcp_param_other=["a", "b"], mcp_param_x="caf\xe9")


def test_param_headers_are_not_checked_without_the_tool_schema():
    check(call({"region": "us-west1"}), None, mcp_param_region="eu-west1")
    check(call({"region": "us-west1"}), None)


def test_param_headers_are_only_checked_for_tools_call():
    message = request("prompts/get", name="p", arguments={"region": "us-west1"})
    check_request_headers(headers_for(message), message, tool_input_schema=EXECUTE_SQL)


def test_every_declared_header_is_checked():
    message = call({"count": 3, "flag": True, "text": "hi"})
    check(message, TYPED)
    assert "Mcp-Param-Flag header is missing" in rejected(message, TYPED, mcp_param_flag=None)
    assert "Mcp-Param-Text header value 'ho'" in rejected(message, TYPED, mcp_param_text="ho")


@pytest.mark.parametrize("header", ["42", "42.0", "42.000", "042", "=?base64?NDI=?="])
def test_integer_arguments_compare_numerically(header):
    check(call({"count": 42}), TYPED, mcp_param_count=header)


def test_integral_float_arguments_compare_numerically():
    check(call({"count": 42.0}), TYPED)
    check(call({"count": 42.0}), TYPED, mcp_param_count="42")


@pytest.mark.parametrize("header", ["43", "42.5", "4.2e1", "+42", "0x2a", "forty-two", ""])
def test_integer_arguments_reject_other_numbers_and_non_numbers(header):
    message = rejected(call({"count": 42}), TYPED, mcp_param_count=header)
    assert message == (
        f"Header mismatch: Mcp-Param-Count header value {header!r} does not match params.arguments.count 42"
    )


def test_integers_beyond_the_float_range_compare_exactly():
    big = 2**53 + 1
    check(call({"count": big}), TYPED)
    rejected(call({"count": big}), TYPED, mcp_param_count=str(2**53))


@pytest.mark.parametrize(("value", "header"), [(True, "true"), (False, "false")])
def test_boolean_arguments_compare_as_lowercase_words(value, header):
    check(call({"flag": value}), TYPED, mcp_param_flag=header)


@pytest.mark.parametrize("header", ["True", "TRUE", "1", "yes", "false"])
def test_boolean_arguments_reject_other_spellings(header):
    assert rejected(call({"flag": True}), TYPED, mcp_param_flag=header) == (
        f"Header mismatch: Mcp-Param-Flag header value {header!r} does not match params.arguments.flag true"
    )


def test_an_empty_string_argument_is_an_empty_header():
    check(call({"text": ""}), TYPED)
    assert headers_for(call({"text": ""}), TYPED)["mcp-param-text"] == [""]
    rejected(call({"text": ""}), TYPED, mcp_param_text=None)


@pytest.mark.parametrize(
    "text",
    ["Hello, 世界", " padded ", "line1\nline2", "=?base64?literal?=", "a?=b", "ends ?=", "\tindented", "x\x00y", "🎉"],
)
def test_encoded_arguments_are_decoded_before_comparing(text):
    message = call({"text": text})
    check(message, TYPED)
    assert headers_for(message, TYPED)["mcp-param-text"] == [encode_header_value(text)]


def test_the_spec_table_values_validate_against_their_bodies():
    schema = {
        "type": "object",
        "properties": {
            "greeting": {"type": "string", "x-mcp-header": "Greeting"},
            "text": {"type": "string", "x-mcp-header": "Text"},
            "val": {"type": "string", "x-mcp-header": "Val"},
        },
    }
    message = call({"greeting": "Hello, 世界", "text": " padded ", "val": "=?base64?literal?="})
    check_request_headers(
        {
            "mcp-protocol-version": [VERSION],
            "mcp-method": ["tools/call"],
            "mcp-name": ["execute_sql"],
            "mcp-param-greeting": ["=?base64?SGVsbG8sIOS4lueVjA==?="],
            "mcp-param-text": ["=?base64?IHBhZGRlZCA=?="],
            "mcp-param-val": ["=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="],
        },
        message,
        tool_input_schema=schema,
    )


def test_a_value_containing_sentinel_markers_must_be_encoded_when_it_matches_the_pattern():
    # "a?=b" does not match the pattern, so it goes as it is; "=?base64?literal?=" does.
    check(call({"text": "a?=b"}), TYPED, mcp_param_text="a?=b")
    rejected(call({"text": "=?base64?literal?="}), TYPED, mcp_param_text="=?base64?literal?=")


@pytest.mark.parametrize(
    ("body", "header"),
    [
        ("SGVsbG8=", "SGVsbG8="),
        ("=?base64?SGVsbG8=", "=?base64?SGVsbG8="),
        ("=?BASE64?SGVsbG8=?=", "=?BASE64?SGVsbG8=?="),
    ],
)
def test_values_without_the_exact_sentinel_are_literal(body, header):
    check(call({"text": body}), TYPED, mcp_param_text=header)


def test_valid_base64_of_the_argument_is_accepted():
    check(call({"text": "Hello"}), TYPED, mcp_param_text="=?base64?SGVsbG8=?=")


@pytest.mark.parametrize(
    "header", ["=?base64?SGVsbG8?=", "=?base64?SGVs!!!bG8=?=", "=?base64?SGVsbG9=?=", "=?base64?//79?="]
)
def test_malformed_base64_arguments_are_rejected(header):
    message = rejected(call({"text": "Hello"}), TYPED, mcp_param_text=header)
    assert message.startswith(
        f"Header mismatch: Mcp-Param-Text header value {header!r} is a malformed Base64 sentinel: "
    )


def test_encoding_spaces_that_the_body_lacks_is_a_mismatch():
    rejected(call({"text": "padded"}), TYPED, mcp_param_text="=?base64?IHBhZGRlZCA=?=")


def test_nested_arguments_are_read_at_their_exact_path():
    message = call({"config": {"region": "eu-west1"}})
    assert request_headers(message, tool_input_schema=NESTED)["Mcp-Param-Region"] == "eu-west1"
    check(message, NESTED)
    assert rejected(message, NESTED, mcp_param_region="us-west1") == (
        "Header mismatch: Mcp-Param-Region header value 'us-west1' does not match"
        " params.arguments.config.region 'eu-west1'"
    )


@pytest.mark.parametrize("arguments", [{}, {"config": {}}, {"config": None}, {"config": "eu-west1"}, {"region": "x"}])
def test_a_nested_path_that_is_not_there_is_an_absent_argument(arguments):
    message = call(arguments)
    check(message, NESTED)
    assert "params.arguments.config.region is absent" in rejected(message, NESTED, mcp_param_region="x")


@pytest.mark.parametrize("value", [{"a": 1}, ["us-west1"]])
def test_an_argument_no_header_can_carry_never_matches(value):
    message = call({"region": value})
    with pytest.raises(TypeError):
        request_headers(message, tool_input_schema=EXECUTE_SQL)
    headers = headers_for(message)  # the standard headers only
    kind = "object" if isinstance(value, dict) else "array"
    with pytest.raises(RemoteProtocolError, match=rf"does not match params\.arguments\.region \(a JSON {kind}\)$"):
        check_request_headers({**headers, "mcp-param-region": ["us-west1"]}, message, tool_input_schema=EXECUTE_SQL)
    with pytest.raises(RemoteProtocolError, match="header is missing but params.arguments.region is present"):
        check_request_headers(headers, message, tool_input_schema=EXECUTE_SQL)


def test_long_values_are_shortened_in_messages():
    message = rejected(call({"region": "a" * 500}), EXECUTE_SQL, mcp_param_region="b" * 500)
    assert "'" + "b" * 100 + "...'" in message
    assert len(message) < 400


def test_an_invalid_tool_schema_is_our_bug():
    schema = {"type": "object", "properties": {"r": {"type": "number", "x-mcp-header": "R"}}}
    message = call({"r": 1.5})
    with pytest.raises(LocalProtocolError, match="invalid x-mcp-header annotation") as info:
        check_request_headers(headers_for(message), message, tool_input_schema=schema)
    assert info.value.http_status == 500


# --- notifications ---------------------------------------------------------------------------

CANCELLED = Notification("notifications/cancelled", {"requestId": 7, "reason": "user"})


def test_a_notification_needs_no_headers():
    # "header requirements for notification POSTs are not defined by this revision"
    check_request_headers({}, CANCELLED)


def test_a_notification_passes_with_a_matching_method_header():
    check_request_headers(lowered({"Mcp-Method": "notifications/cancelled"}), CANCELLED)
    check_request_headers(
        lowered({"Mcp-Method": "notifications/cancelled", "MCP-Protocol-Version": VERSION}), CANCELLED
    )


def test_a_notification_with_a_disagreeing_method_header_is_rejected_without_an_id():
    with pytest.raises(RemoteProtocolError) as info:
        check_request_headers(lowered({"Mcp-Method": "notifications/progress"}), CANCELLED)
    assert info.value.code == HEADER_MISMATCH
    assert info.value.request_id is None
    assert info.value.message == (
        "Header mismatch: Mcp-Method header value 'notifications/progress' does not match method 'notifications/cancelled'"
    )


def test_a_notification_with_a_repeated_or_malformed_header_is_rejected():
    with pytest.raises(RemoteProtocolError, match="appears 2 times"):
        check_request_headers({"mcp-method": ["notifications/cancelled"] * 2}, CANCELLED)
    with pytest.raises(RemoteProtocolError, match="may not carry"):
        check_request_headers({"mcp-protocol-version": ["2026-07-28\x00"]}, CANCELLED)


def test_a_notification_is_not_held_to_request_only_headers():
    named = Notification("tools/call", {"name": "x"})
    check_request_headers({"mcp-name": ["y"]}, named, tool_input_schema=EXECUTE_SQL)


# --- the error -------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", [1, 0, "req-7"])
def test_the_error_carries_the_request_id_and_the_spec_shape(request_id):
    message = call({}, name="bar", request_id=request_id)
    with pytest.raises(RemoteProtocolError) as info:
        check(message, mcp_name="foo")
    error = info.value
    assert error.request_id == request_id
    assert error.http_status == 400
    assert error.to_error_object() == {
        "code": -32020,
        "message": "Header mismatch: Mcp-Name header value 'foo' does not match params.name 'bar'",
    }


def test_checks_run_in_header_order():
    message = call({"region": "us-west1"}, name="a")
    errors = rejected(
        message, EXECUTE_SQL, mcp_protocol_version="x", mcp_method="y", mcp_name="z", mcp_param_region="w"
    )
    assert "MCP-Protocol-Version" in errors
    assert "Mcp-Method" in rejected(message, EXECUTE_SQL, mcp_method="y", mcp_name="z", mcp_param_region="w")
    assert "Mcp-Name" in rejected(message, EXECUTE_SQL, mcp_name="z", mcp_param_region="w")


# --- round trip and layering -----------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"count": 0, "flag": False, "text": "plain"},
        {"count": -(2**53) + 1, "flag": True, "text": " Ünïcödé "},
        {"text": "=?base64?x?="},
        {"count": None, "text": None},
        {},
    ],
)
def test_what_a_client_sends_always_passes(arguments):
    check(call(arguments, name="ツール"), TYPED)


def test_the_module_imports_no_io_library():
    code = textwrap.dedent(
        """
        import sys
        import trimcp.protocol.http_headers
        bad = ("trio", "hypercorn", "h11", "wsproto")
        print(",".join(sorted(n for n in sys.modules if n.split(".")[0] in bad)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("value", [1e308, -1e308, 1e-7, 2.5e20, 42.0, -0.0, 123456789.125, 5e-324])
def test_the_header_a_client_writes_for_a_float_is_one_the_server_accepts(value):
    # found by fuzzing: 1e308 went out as the float's exact integer, which is not 1e+308
    assert value_matches(decode_header_value(encode_header_value(value)), value)


def test_a_lone_surrogate_is_base64_encoded_not_a_crash():
    assert encode_header_value("\ud800") == "=?base64?7aCA?="
