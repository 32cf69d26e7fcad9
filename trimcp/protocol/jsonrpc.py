"""JSON-RPC 2.0 framing: bytes in, message objects out; message objects in, compact bytes out.

Messages are small slotted classes holding the decoded ``params``/``result`` dicts as they came:
nothing is copied or re-modelled on the hot path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import attrs

from . import fastjson
from .errors import INVALID_REQUEST, PARSE_ERROR, RemoteProtocolError

RequestId = int | str

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _finite(text: str) -> float:
    number = float(text)
    if number in (math.inf, -math.inf):
        raise ValueError(f"the number {text[:20]} is out of range")
    return number


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


#: JSON as RFC 8259 has it: Python's ``NaN``/``Infinity`` literals, and numbers that overflow a
#: float to an infinity, are parse errors (what trimcp sends cannot carry them either).
_decode = json.JSONDecoder(parse_float=_finite, parse_constant=_not_json).decode


@attrs.define(slots=True)
class Request:
    """A call that expects exactly one response."""

    id: RequestId
    method: str
    params: Any = None

    def to_dict(self) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.id, "method": self.method}
        if self.params is not None:
            message["params"] = self.params
        return message


@attrs.define(slots=True)
class Notification:
    """A one-way message."""

    method: str
    params: Any = None

    def to_dict(self) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": self.method}
        if self.params is not None:
            message["params"] = self.params
        return message


@attrs.define(slots=True)
class Response:
    """A successful answer to the request with the same ``id``."""

    id: RequestId
    result: Any

    def to_dict(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.id, "result": self.result}


@attrs.define(slots=True)
class ErrorResponse:
    """A failed answer; ``id`` is ``None`` when the request could not be read."""

    id: RequestId | None
    error: dict[str, Any]

    @property
    def code(self) -> int:
        return self.error.get("code", 0)

    @property
    def message(self) -> str:
        return self.error.get("message", "")

    def to_dict(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.id, "error": self.error}


Message = Request | Notification | Response | ErrorResponse


class Batch(list):  # type: ignore[type-arg]
    """A JSON-RPC batch: a list whose items are messages, or the :class:`RemoteProtocolError`
    that an invalid item produced (each gets its own error response)."""


def loads(data: bytes | str) -> Any:
    """Decode JSON text (bytes must be UTF-8), raising a parse error (-32700) the peer can be
    told about. Lone surrogates that the text escapes (``"\\ud800"``) are decoded as they are:
    :func:`parse` refuses them in messages. Bytes may be decoded by orjson (see
    :mod:`.fastjson`)."""
    if type(data) is bytes:
        value = fastjson.decode(data)
        if value is not fastjson.UNDECIDED:
            return value
    try:
        return _decode(_text(data))
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"Parse error: {exc}", code=PARSE_ERROR) from None


def _text(data: bytes | str) -> str:
    """``data`` as text: bytes are decoded as strict UTF-8 (``json.loads`` would let the
    encoded surrogates of invalid UTF-8 such as ``ED A0 80`` through)."""
    if type(data) is str:
        return data
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(
            f"Parse error: the message is not valid UTF-8 ({exc.reason} at byte {exc.start})", code=PARSE_ERROR
        ) from None


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON: the one encoder of what trimcp sends. A lone surrogate in a string
    (from a file name decoded with ``surrogateescape``, say), which UTF-8 cannot carry, is
    written as its JSON escape (``\\udc80``). Raises ``ValueError`` (NaN, infinities, circular
    values) and ``TypeError`` (values that are not JSON) for what JSON cannot carry at all.

    With ``trimcp[fast]``, orjson writes them wherever its bytes are certainly these
    (:mod:`.fastjson`)."""
    fast = fastjson.encode(value)
    if fast is not None:
        return fast
    text = _encoder.encode(value)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def dumps_text(value: Any) -> str:
    """Compact JSON text (as :func:`dumps`, without encoding to bytes)."""
    fast = fastjson.encode(value)
    return fast.decode() if fast is not None else _encoder.encode(value)


def parse(data: bytes | str) -> Message | Batch:
    """Parse one JSON-RPC message or batch.

    Raises :class:`RemoteProtocolError`: -32700 for invalid JSON, -32600 for a value that is not
    a JSON-RPC message (with ``request_id`` set when the id could still be read).
    """
    if type(data) is not bytes:
        data = _text(data)
    value = loads(data)
    if type(data) is bytes:
        escaped = b"\\u" in data and _SURROGATE_ESCAPE_BYTES.search(data) is not None
    else:
        escaped = "\\u" in data and _SURROGATE_ESCAPE.search(data) is not None
    unicode_check = _check_unicode if escaped else None
    if isinstance(value, list):
        if not value:
            raise RemoteProtocolError("Invalid Request: empty batch", code=INVALID_REQUEST)
        batch = Batch()
        for item in value:
            try:
                if unicode_check is not None:
                    unicode_check(item)
                batch.append(from_value(item))
            except RemoteProtocolError as exc:
                batch.append(exc)
        return batch
    if unicode_check is not None:
        unicode_check(value)
    return from_value(value)


#: A JSON escape of a surrogate: only a text holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_unicode(value: Any) -> None:
    """Raise -32600 when a string in ``value`` (a key or a value, at any depth) holds a lone
    surrogate: it is not Unicode text, and no handler should see it."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            if found := _LONE_SURROGATE.search(item):
                break
        elif kind is dict:
            pending.extend(item)
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    else:
        return
    raw_id = value.get("id") if type(value) is dict else None
    clean_id = raw_id if type(raw_id) is int or (type(raw_id) is str and not _LONE_SURROGATE.search(raw_id)) else None
    reason = f"a string holds the lone surrogate {ascii(found.group())[1:-1]}, which is not Unicode text"
    raise _invalid(reason, clean_id)


def from_value(value: Any) -> Message:
    """Turn one decoded JSON value into a message, or raise -32600 saying what is wrong."""
    if type(value) is not dict:
        raise _invalid("a message must be a JSON object", None)
    raw_id = value.get("id")
    request_id = raw_id if _is_valid_id(raw_id) else None
    if value.get("jsonrpc") != "2.0":
        raise _invalid('"jsonrpc" must be exactly "2.0"', request_id)
    if "method" in value:
        method = value["method"]
        if type(method) is not str:
            raise _invalid('"method" must be a string', request_id)
        params = value.get("params")
        if params is not None and not isinstance(params, (dict, list)):
            raise _invalid('"params" must be an object', request_id)
        if "id" not in value:
            return Notification(method, params)
        if request_id is None:
            raise _invalid('"id" must be a string or an integer', None)
        return Request(request_id, method, params)
    if "result" in value:
        if request_id is None:
            raise _invalid('a response needs a string or integer "id"', None)
        return Response(request_id, value["result"])
    if "error" in value:
        error = value["error"]
        if type(error) is not dict or type(error.get("code")) is not int:
            raise _invalid('"error" must be an object with an integer "code"', request_id)
        if raw_id is not None and request_id is None:
            raise _invalid('"id" must be a string, an integer or null', None)
        return ErrorResponse(request_id, error)
    raise _invalid('a message needs "method", "result" or "error"', request_id)


def _is_valid_id(value: Any) -> bool:
    kind = type(value)
    return kind is str or kind is int


def _invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid Request: {reason}", code=INVALID_REQUEST, request_id=request_id)


def _id_bytes(request_id: RequestId | None) -> bytes:
    return b"%d" % request_id if type(request_id) is int else dumps(request_id)


def response_bytes(request_id: RequestId, result: Any) -> bytes:
    """Serialise a success response without building an intermediate dict."""
    return b'{"jsonrpc":"2.0","id":' + _id_bytes(request_id) + b',"result":' + dumps(result) + b"}"


def error_bytes(request_id: RequestId | None, error: dict[str, Any]) -> bytes:
    """Serialise an error response."""
    return b'{"jsonrpc":"2.0","id":' + _id_bytes(request_id) + b',"error":' + dumps(error) + b"}"


def notification_bytes(method: str, params: Any = None) -> bytes:
    """Serialise a notification."""
    if params is None:
        return b'{"jsonrpc":"2.0","method":' + dumps(method) + b"}"
    return b'{"jsonrpc":"2.0","method":' + dumps(method) + b',"params":' + dumps(params) + b"}"


def request_bytes(request_id: RequestId, method: str, params: Any = None) -> bytes:
    """Serialise a request."""
    head = b'{"jsonrpc":"2.0","id":' + dumps(request_id) + b',"method":' + dumps(method)
    if params is None:
        return head + b"}"
    return head + b',"params":' + dumps(params) + b"}"
