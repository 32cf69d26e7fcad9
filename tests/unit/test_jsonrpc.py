"""Unit tests for the sans-IO JSON-RPC layer (trimcp.protocol.jsonrpc)."""

import json
import math

import pytest

from trimcp.protocol.errors import INVALID_REQUEST, PARSE_ERROR, RemoteProtocolError
from trimcp.protocol.jsonrpc import (
    Batch,
    ErrorResponse,
    Notification,
    Request,
    Response,
    dumps,
    error_bytes,
    from_value,
    loads,
    notification_bytes,
    parse,
    request_bytes,
    response_bytes,
)


def _raises(data, code=INVALID_REQUEST):
    with pytest.raises(RemoteProtocolError) as info:
        parse(data)
    assert info.value.code == code
    return info.value


# -- well-formed messages ----------------------------------------------------------------------


def test_parse_request_with_object_params():
    msg = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}')
    assert msg == Request(1, "tools/call", {"name": "x"})
    assert type(msg) is Request


def test_parse_request_with_array_params_and_str_id():
    msg = parse('{"jsonrpc":"2.0","id":"abc","method":"m","params":[1,2]}')
    assert msg == Request("abc", "m", [1, 2])


def test_parse_request_without_params():
    msg = parse(b'{"jsonrpc":"2.0","id":0,"method":"ping"}')
    assert msg == Request(0, "ping", None)


def test_parse_request_with_negative_and_empty_string_ids():
    assert parse(b'{"jsonrpc":"2.0","id":-5,"method":"m"}').id == -5
    assert parse(b'{"jsonrpc":"2.0","id":"","method":"m"}').id == ""


def test_parse_notification():
    msg = parse(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert msg == Notification("notifications/initialized", None)
    assert type(msg) is Notification


def test_parse_notification_with_params():
    msg = parse(b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}')
    assert msg == Notification("notifications/progress", {"progress": 1})


def test_parse_response():
    msg = parse(b'{"jsonrpc":"2.0","id":7,"result":{"ok":true}}')
    assert msg == Response(7, {"ok": True})
    assert type(msg) is Response


def test_parse_response_with_null_result():
    msg = parse(b'{"jsonrpc":"2.0","id":"r","result":null}')
    assert msg == Response("r", None)


def test_parse_error_response():
    msg = parse(b'{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope","data":[1]}}')
    assert type(msg) is ErrorResponse
    assert msg.id == 3
    assert msg.code == -32601
    assert msg.message == "nope"
    assert msg.error["data"] == [1]


def test_parse_error_response_with_null_id():
    msg = parse(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}')
    assert msg == ErrorResponse(None, {"code": -32700, "message": "Parse error"})


def test_parse_error_response_without_id():
    msg = parse(b'{"jsonrpc":"2.0","error":{"code":-32600,"message":"bad"}}')
    assert type(msg) is ErrorResponse
    assert msg.id is None


def test_error_response_defaults_for_missing_message():
    msg = parse(b'{"jsonrpc":"2.0","id":1,"error":{"code":5}}')
    assert msg.code == 5
    assert msg.message == ""


def test_parse_accepts_str_and_bytes_alike():
    text = '{"jsonrpc":"2.0","id":1,"method":"m","params":{"s":"é"}}'
    assert parse(text) == parse(text.encode())


# -- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["null", "1.5", "1.0", "true", "false", "[1]", '{"a":1}'])
def test_request_id_must_be_int_or_str(bad_id):
    exc = _raises(f'{{"jsonrpc":"2.0","id":{bad_id},"method":"m"}}')
    assert exc.request_id is None


@pytest.mark.parametrize("bad_id", ["null", "1.5", "true", "[1]"])
def test_response_id_must_be_int_or_str(bad_id):
    exc = _raises(f'{{"jsonrpc":"2.0","id":{bad_id},"result":1}}')
    assert exc.request_id is None


def test_response_without_id_is_invalid():
    _raises(b'{"jsonrpc":"2.0","result":1}')


@pytest.mark.parametrize("bad_id", ["1.5", "true", "[1]"])
def test_error_response_id_must_be_int_str_or_null(bad_id):
    _raises(f'{{"jsonrpc":"2.0","id":{bad_id},"error":{{"code":1,"message":"x"}}}}')


# -- the "jsonrpc" member ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ['"1.0"', '"2"', "2.0", "null", '"2.0 "'])
def test_jsonrpc_must_be_exactly_2_0(version):
    exc = _raises(f'{{"jsonrpc":{version},"id":9,"method":"m"}}')
    # The id was readable, so the error can be correlated with the request.
    assert exc.request_id == 9


def test_jsonrpc_missing():
    exc = _raises(b'{"id":"x","method":"m"}')
    assert exc.request_id == "x"


def test_jsonrpc_wrong_with_unreadable_id():
    exc = _raises(b'{"jsonrpc":"1.0","id":1.5,"method":"m"}')
    assert exc.request_id is None


# -- method and params --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["1", "null", "true", "[]", '{"a":1}'])
def test_method_must_be_a_string(method):
    exc = _raises(f'{{"jsonrpc":"2.0","id":4,"method":{method}}}')
    assert exc.request_id == 4


def test_notification_method_must_be_a_string():
    exc = _raises(b'{"jsonrpc":"2.0","method":7}')
    assert exc.request_id is None


@pytest.mark.parametrize("params", ["1", '"s"', "true", "1.5"])
def test_params_must_be_object_or_array(params):
    exc = _raises(f'{{"jsonrpc":"2.0","id":"p","method":"m","params":{params}}}')
    assert exc.request_id == "p"


@pytest.mark.parametrize("params", ["1", '"s"', "false"])
def test_notification_params_must_be_object_or_array(params):
    _raises(f'{{"jsonrpc":"2.0","method":"m","params":{params}}}')


def test_message_needs_method_result_or_error():
    exc = _raises(b'{"jsonrpc":"2.0","id":12}')
    assert exc.request_id == 12


@pytest.mark.parametrize(
    "error", ["1", '"x"', "null", '{"message":"x"}', '{"code":"1"}', '{"code":1.0}', '{"code":true}']
)
def test_error_member_must_be_object_with_integer_code(error):
    exc = _raises(f'{{"jsonrpc":"2.0","id":2,"error":{error}}}')
    assert exc.request_id == 2


# -- invalid JSON and non-object values ----------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"{", b"{'a':1}", b'{"jsonrpc":"2.0",}', b"nul", b"\xff\xfe\x00"])
def test_invalid_json_is_a_parse_error(data):
    exc = _raises(data, code=PARSE_ERROR)
    assert exc.request_id is None


def test_deeply_nested_json_is_a_parse_error_not_a_crash():
    _raises(b"[" * 200_000 + b"]" * 200_000, code=PARSE_ERROR)


def test_loads_raises_parse_error():
    with pytest.raises(RemoteProtocolError) as info:
        loads("not json")
    assert info.value.code == PARSE_ERROR
    assert loads(b'{"a":[1]}') == {"a": [1]}


@pytest.mark.parametrize("data", [b"1", b'"s"', b"null", b"true", b"1.5"])
def test_non_object_value_is_invalid_request(data):
    exc = _raises(data)
    assert exc.request_id is None


def test_from_value_rejects_non_dict_values():
    with pytest.raises(RemoteProtocolError):
        from_value([{"jsonrpc": "2.0", "method": "m"}])
    assert from_value({"jsonrpc": "2.0", "method": "m"}) == Notification("m")


def test_protocol_error_to_error_object():
    exc = _raises(b"[]")
    obj = exc.to_error_object()
    assert obj["code"] == INVALID_REQUEST
    assert isinstance(obj["message"], str) and obj["message"]
    assert "data" not in obj
    assert exc.http_status == 400


# -- batches ---------------------------------------------------------------------------------------


def test_batch_of_valid_messages():
    batch = parse(
        b'[{"jsonrpc":"2.0","id":1,"method":"a"},'
        b'{"jsonrpc":"2.0","method":"b","params":[1]},'
        b'{"jsonrpc":"2.0","id":"x","result":2}]'
    )
    assert isinstance(batch, Batch)
    assert isinstance(batch, list)
    assert list(batch) == [Request(1, "a"), Notification("b", [1]), Response("x", 2)]


def test_batch_with_invalid_items_keeps_per_item_errors():
    batch = parse(
        b'[{"jsonrpc":"2.0","id":1,"method":"a"},'
        b"1,"
        b'{"jsonrpc":"1.0","id":2,"method":"b"},'
        b'{"jsonrpc":"2.0","id":true,"method":"c"},'
        b'{"jsonrpc":"2.0","method":"d"}]'
    )
    assert isinstance(batch, Batch)
    assert len(batch) == 5
    assert batch[0] == Request(1, "a")
    for index, expected_id in ((1, None), (2, 2), (3, None)):
        item = batch[index]
        assert isinstance(item, RemoteProtocolError)
        assert item.code == INVALID_REQUEST
        assert item.request_id == expected_id
    assert batch[4] == Notification("d")


def test_batch_of_only_invalid_items():
    batch = parse(b"[1,2,3]")
    assert isinstance(batch, Batch)
    assert len(batch) == 3
    assert all(isinstance(item, RemoteProtocolError) and item.code == INVALID_REQUEST for item in batch)


def test_empty_batch_is_invalid_request():
    exc = _raises(b"[]")
    assert exc.request_id is None
    _raises(b" [ ] ")


def test_single_message_is_not_a_batch():
    assert not isinstance(parse(b'{"jsonrpc":"2.0","method":"m"}'), Batch)


# -- serialisation -----------------------------------------------------------------------------------


def _assert_compact(data: bytes):
    assert isinstance(data, bytes)
    text = data.decode()
    # Compact separators: no space after ':' or ',' outside strings (our payloads have none inside).
    assert ": " not in text and ", " not in text
    assert "\n" not in text


def test_response_bytes_round_trip():
    data = response_bytes(1, {"content": [{"type": "text", "text": "hé\nllo"}], "n": 1.5})
    _assert_compact(data.replace("hé\\nllo".encode(), b""))
    assert json.loads(data) == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"content": [{"type": "text", "text": "hé\nllo"}], "n": 1.5},
    }
    assert parse(data) == Response(1, {"content": [{"type": "text", "text": "hé\nllo"}], "n": 1.5})


def test_response_bytes_with_str_id_and_null_result():
    data = response_bytes('a"b', None)
    assert json.loads(data) == {"jsonrpc": "2.0", "id": 'a"b', "result": None}


def test_response_bytes_does_not_escape_non_ascii():
    data = response_bytes(1, "日本")
    assert "日本".encode() in data


def test_error_bytes_round_trip():
    error = {"code": -32602, "message": "Invalid params", "data": {"x": [1, None]}}
    data = error_bytes(5, error)
    _assert_compact(data.replace(b"Invalid params", b""))
    assert json.loads(data) == {"jsonrpc": "2.0", "id": 5, "error": error}
    assert parse(data) == ErrorResponse(5, error)


def test_error_bytes_with_null_id():
    data = error_bytes(None, {"code": -32700, "message": "x"})
    assert json.loads(data) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "x"}}


def test_notification_bytes_round_trip():
    data = notification_bytes("notifications/progress", {"progressToken": "t", "progress": 2})
    _assert_compact(data)
    assert json.loads(data) == {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": "t", "progress": 2},
    }
    no_params = notification_bytes("notifications/initialized")
    assert json.loads(no_params) == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert parse(no_params) == Notification("notifications/initialized")


def test_request_bytes_round_trip():
    data = request_bytes("s-1", "sampling/createMessage", {"messages": [], "maxTokens": 10})
    _assert_compact(data)
    assert json.loads(data) == {
        "jsonrpc": "2.0",
        "id": "s-1",
        "method": "sampling/createMessage",
        "params": {"messages": [], "maxTokens": 10},
    }
    assert parse(data) == Request("s-1", "sampling/createMessage", {"messages": [], "maxTokens": 10})
    no_params = request_bytes(3, "ping")
    assert json.loads(no_params) == {"jsonrpc": "2.0", "id": 3, "method": "ping"}


def test_request_bytes_with_empty_params_keeps_them():
    assert json.loads(request_bytes(1, "m", {})) == {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {}}
    assert json.loads(notification_bytes("m", [])) == {"jsonrpc": "2.0", "method": "m", "params": []}


def test_to_dict_matches_bytes_helpers():
    assert Request(1, "m", {"a": 1}).to_dict() == json.loads(request_bytes(1, "m", {"a": 1}))
    assert Request(1, "m").to_dict() == json.loads(request_bytes(1, "m"))
    assert Notification("n").to_dict() == json.loads(notification_bytes("n"))
    assert Response(2, [1]).to_dict() == json.loads(response_bytes(2, [1]))
    assert ErrorResponse(None, {"code": 1, "message": "m"}).to_dict() == json.loads(
        error_bytes(None, {"code": 1, "message": "m"})
    )


def test_dumps_is_compact_utf8():
    assert dumps({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_dumps_refuses_nan_and_infinity(value):
    with pytest.raises(ValueError):
        dumps(value)


def test_bytes_helpers_refuse_nan():
    with pytest.raises(ValueError):
        response_bytes(1, {"x": math.nan})
    with pytest.raises(ValueError):
        notification_bytes("m", {"x": math.inf})


def test_dumps_refuses_unserialisable_values():
    with pytest.raises(TypeError):
        dumps({"x": object()})


# -- text that is not Unicode (issue 13: a lone surrogate killed the stdio server) -----------


@pytest.mark.parametrize(
    "data",
    [b'{"jsonrpc":"2.0","id":1,"method":"\xff"}', b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"ping"}', b"\xc3"],
)
def test_bytes_that_are_not_utf_8_are_a_parse_error(data):
    with pytest.raises(RemoteProtocolError) as info:
        parse(data)
    assert info.value.code == PARSE_ERROR and "not valid UTF-8" in info.value.message


@pytest.mark.parametrize(
    ("text", "request_id"),
    [
        ('{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{"a":["x\\ud800"]}}}', 3),
        ('{"jsonrpc":"2.0","id":"s","method":"ping","params":{"\\uDC00":1}}', "s"),
        ('{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}', None),
        ('{"jsonrpc":"2.0","id":4,"method":"\\udbff"}', 4),
        ('{"jsonrpc":"2.0","id":5,"result":{"text":"\\ude00\\ud83d"}}', 5),
    ],
)
def test_a_lone_surrogate_anywhere_is_an_invalid_request_with_the_id_when_it_is_clean(text, request_id):
    for data in (text, text.encode()):
        with pytest.raises(RemoteProtocolError) as info:
            parse(data)
        assert info.value.code == INVALID_REQUEST and "lone surrogate" in info.value.message
        assert info.value.request_id == request_id


def test_surrogate_pairs_and_escaped_backslashes_are_text():
    assert parse('{"jsonrpc":"2.0","id":1,"method":"\\ud83d\\ude00"}').method == "\U0001f600"
    assert parse('{"jsonrpc":"2.0","id":1,"method":"\\\\ud800"}').method == "\\ud800"


def test_a_lone_surrogate_in_a_batch_item_fails_that_item_only():
    batch = parse('[{"jsonrpc":"2.0","id":1,"method":"\\ud800"},{"jsonrpc":"2.0","id":2,"method":"ping"}]')
    assert isinstance(batch[0], RemoteProtocolError) and batch[0].request_id == 1
    assert batch[1] == Request(2, "ping")


def test_dumps_escapes_lone_surrogates_and_refuses_what_json_cannot_carry():
    assert dumps({"name": "caf\udce9\\"}) == b'{"name":"caf\\udce9\\\\"}'
    assert json.loads(dumps("\ud800")) == "\ud800"
    with pytest.raises(ValueError):
        dumps(math.nan)
    with pytest.raises(TypeError):
        dumps(object())


@pytest.mark.parametrize("data", ["NaN", '{"x":Infinity}', "[-Infinity]", "1e400", '{"a":-1.5e999}', "1" * 5000])
def test_numbers_json_does_not_have_are_a_parse_error(data):
    # Python's json accepts NaN and Infinity and overflows 1e400 to inf, which nothing can send back.
    with pytest.raises(RemoteProtocolError) as info:
        loads(data)
    assert info.value.code == PARSE_ERROR
