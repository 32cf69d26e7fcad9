"""The 2026-07-28 Streamable HTTP request headers: checking them against the JSON-RPC body, and
writing them the way a client must.

The transport mirrors body fields into headers so that intermediaries can route without reading
the body; a server that reads the body rejects any disagreement with ``HeaderMismatch`` (-32020,
HTTP 400). Every rule here comes from ``basic/transports/streamable-http.mdx`` ("Request
Metadata") and ``server/tools.mdx`` ("x-mcp-header") of the 2026-07-28 specification:

- ``MCP-Protocol-Version`` equals ``params._meta["io.modelcontextprotocol/protocolVersion"]``;
- ``Mcp-Method`` equals ``method``;
- ``Mcp-Name`` equals ``params.name`` (``tools/call``, ``prompts/get``), ``params.uri``
  (``resources/read``) or ``params.taskId`` (``tasks/get|update|cancel``), after
  Base64-sentinel decoding;
- ``Mcp-Param-{Name}`` equals the ``tools/call`` argument whose property schema carries
  ``"x-mcp-header": "{Name}"``, after decoding; it is present exactly when the argument is
  present and not ``null``.

Header *names* are case-insensitive (passed lower-cased); *values* are case-sensitive and compared
exactly, after trimming the optional whitespace HTTP allows around a field value.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .constants import META_PROTOCOL_VERSION
from .errors import HEADER_MISMATCH, LocalProtocolError, RemoteProtocolError, show_value
from .jsonrpc import Notification, Request, RequestId

PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
PARAM_HEADER_PREFIX = "mcp-param-"
#: The JSON Schema extension keyword that mirrors a tool argument into ``Mcp-Param-{value}``.
X_MCP_HEADER = "x-mcp-header"
#: The request methods that carry ``Mcp-Name``, and the ``params`` member it mirrors.
NAME_SOURCES = {"tools/call": "name", "resources/read": "uri", "prompts/get": "name"} | dict.fromkeys(
    ("tasks/get", "tasks/update", "tasks/cancel"), "taskId"
)
#: The types an ``x-mcp-header`` property may have (``number`` is explicitly not allowed).
HEADER_PARAMETER_TYPES = ("string", "integer", "boolean")

SENTINEL_PREFIX = "=?base64?"
SENTINEL_SUFFIX = "?="

_DISPLAY_NAMES = {PROTOCOL_VERSION_HEADER: "MCP-Protocol-Version", METHOD_HEADER: "Mcp-Method", NAME_HEADER: "Mcp-Name"}
_VERSION_SOURCE = f"params._meta[{META_PROTOCOL_VERSION!r}]"
_OWS = " \t"
#: RFC 9110 field value characters the spec allows: visible ASCII, space and horizontal tab.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
#: What a client may send without Base64: printable ASCII (no control characters, not even tab).
_PLAIN_VALUE = re.compile(r"[\x20-\x7e]*")
#: RFC 9110 token (``1*tchar``), the syntax of an ``x-mcp-header`` value.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Header values compared numerically with a numeric argument (plain decimals, no exponent).
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

# JSON Schema 2020-12 keywords whose values are subschemas; crossing any of them (rather than
# ``properties``) leaves the chain along which an ``x-mcp-header`` annotation is allowed.
_SUBSCHEMA = frozenset({
    "items", "contains", "additionalProperties", "unevaluatedItems", "unevaluatedProperties", "propertyNames", "not",
    "if", "then", "else", "contentSchema",
})  # fmt: skip
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"$defs", "definitions", "patternProperties", "dependentSchemas"})


@attrs.define(slots=True, frozen=True)
class HeaderParameter:
    """A tool argument mirrored into ``Mcp-Param-{name}``: the annotation, the chain of
    ``properties`` keys leading to the argument, and the property's type."""

    name: str
    path: tuple[str, ...]
    type: str

    @property
    def header(self) -> str:
        """The header name as written (``Mcp-Param-Region``)."""
        return "Mcp-Param-" + self.name

    @property
    def key(self) -> str:
        """The header name lower-cased, as looked up."""
        return PARAM_HEADER_PREFIX + self.name.lower()

    @property
    def source(self) -> str:
        """Where the value sits in the body (``params.arguments.region``)."""
        return "params.arguments." + ".".join(self.path)


# --- values ----------------------------------------------------------------------------------


def header_text(value: Any) -> str:
    """An argument's string form before encoding: strings as they are, booleans as ``true`` /
    ``false``, integers in decimal (an integral float such as ``42.0`` counts as an integer).

    Raises ``TypeError`` for a value no header can carry (``None``, objects, arrays, NaN).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):  # plain decimal: 1e+308 as 1000…0, 1e-07 as 0.0000001
        number = Decimal(repr(value))
        return format(number.normalize() if value.is_integer() else number, "f")
    raise TypeError(f"a {type(value).__name__} value cannot be mirrored into a header")


def encode_header_value(value: Any) -> str:
    """The header value a client sends for ``value`` (an ``Mcp-Name`` or ``Mcp-Param-*`` value).

    Plain printable ASCII goes as it is. A value with non-ASCII or control characters, leading or
    trailing whitespace, or that itself looks like the sentinel is sent as
    ``=?base64?{Base64 of its UTF-8}?=``.
    """
    text = header_text(value)
    if _PLAIN_VALUE.fullmatch(text) and text == text.strip(_OWS) and not _looks_encoded(text):
        return text
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate: the server refuses the body anyway
    return SENTINEL_PREFIX + base64.b64encode(data).decode("ascii") + SENTINEL_SUFFIX


def decode_header_value(raw: str) -> str:
    """The value an ``Mcp-Name`` or ``Mcp-Param-*`` header carries (already trimmed of surrounding
    whitespace): the payload of a ``=?base64?...?=`` sentinel (markers are case-sensitive), or
    ``raw`` itself.

    Raises ``ValueError`` when the sentinel holds anything but canonical, padded Base64 of UTF-8.
    """
    if not is_encoded(raw):
        return raw
    payload = raw[len(SENTINEL_PREFIX) : -len(SENTINEL_SUFFIX)]
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise ValueError(f"invalid Base64 ({exc})") from None
    if base64.b64encode(data).decode("ascii") != payload:
        raise ValueError("non-canonical Base64")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ValueError("the Base64 payload is not UTF-8") from None


def is_encoded(raw: str) -> bool:
    """Whether a received value is a Base64 sentinel (prefix and suffix present, not overlapping)."""
    return len(raw) >= len(SENTINEL_PREFIX) + len(SENTINEL_SUFFIX) and _looks_encoded(raw)


def _looks_encoded(text: str) -> bool:
    return text.startswith(SENTINEL_PREFIX) and text.endswith(SENTINEL_SUFFIX)


def value_matches(decoded: str, value: Any) -> bool:
    """Whether a decoded header value agrees with the body value it mirrors.

    Strings compare exactly, booleans against ``true``/``false``; numbers compare numerically
    (``42.0`` equals ``42``) with a plain decimal header. Anything else never matches.
    """
    if isinstance(value, bool):
        return decoded == ("true" if value else "false")
    if isinstance(value, str):
        return decoded == value
    if isinstance(value, (int, float)):
        number = _as_decimal(value)
        return number is not None and _DECIMAL.fullmatch(decoded) is not None and Decimal(decoded) == number
    return False


def _as_decimal(value: float) -> Decimal | None:
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    return Decimal(value)


# --- x-mcp-header annotations ----------------------------------------------------------------


#: Schemas already read by :func:`header_parameters`, by identity (the schema is kept, so its id
#: cannot be reused while cached); emptied when full. A schema must not change once read.
_HEADER_PARAMETERS: dict[int, tuple[Any, tuple[HeaderParameter, ...]]] = {}
_HEADER_PARAMETERS_KEPT = 256


def header_parameters(input_schema: Any) -> tuple[HeaderParameter, ...]:
    """The ``x-mcp-header`` annotations of a tool's ``inputSchema``, in document order
    (remembered per schema object: a server checks them on every ``tools/call``).

    Raises ``ValueError`` naming the first annotation that breaks the spec's constraints: not a
    non-empty RFC 9110 token, not case-insensitively unique, on a property whose ``type`` is not
    ``"string"``, ``"integer"`` or ``"boolean"``, or not statically reachable (on the root, or
    under anything but a chain of ``properties`` keys). Clients drop such a tool.
    """
    cached = _HEADER_PARAMETERS.get(id(input_schema))
    if cached is not None and cached[0] is input_schema:
        return cached[1]
    found = _read_header_parameters(input_schema)
    if len(_HEADER_PARAMETERS) >= _HEADER_PARAMETERS_KEPT:
        _HEADER_PARAMETERS.clear()
    _HEADER_PARAMETERS[id(input_schema)] = (input_schema, found)
    return found


def _read_header_parameters(input_schema: Any) -> tuple[HeaderParameter, ...]:
    found: list[HeaderParameter] = []
    seen: dict[str, HeaderParameter] = {}
    for pointer, path, schema in _schema_positions(input_schema):
        if X_MCP_HEADER not in schema:
            continue
        name = schema[X_MCP_HEADER]
        if not path:
            raise ValueError(
                f"x-mcp-header at {pointer or '/'} is not on a property reached through 'properties' keys only"
            )
        where = ".".join(path)
        if type(name) is not str or not _TOKEN.fullmatch(name):
            raise ValueError(f"x-mcp-header {show_value(name)} of property {where!r} is not an HTTP token")
        if schema.get("type") not in HEADER_PARAMETER_TYPES:
            kind = f"type {show_value(schema['type'])}" if "type" in schema else "no type"
            raise ValueError(
                f"x-mcp-header {name!r} is on property {where!r}, which has {kind};"
                " only string, integer and boolean properties can be mirrored"
            )
        parameter = HeaderParameter(name, path, schema["type"])
        other = seen.setdefault(name.lower(), parameter)
        if other is not parameter:
            raise ValueError(
                f"x-mcp-header {name!r} of property {where!r} repeats {other.name!r} of property"
                f" {'.'.join(other.path)!r} (names are compared case-insensitively)"
            )
        found.append(parameter)
    return tuple(found)


def _schema_positions(root: Any) -> Iterator[tuple[str, tuple[str, ...] | None, dict[str, Any]]]:
    """Every subschema of ``root`` as ``(JSON pointer, properties path, schema)``; the path is
    ``None`` once a keyword other than ``properties`` has been crossed. ``$ref`` is not followed."""
    stack: list[tuple[str, tuple[str, ...] | None, Any]] = [("", (), root)]
    while stack:
        pointer, path, schema = stack.pop()
        if type(schema) is not dict:
            continue
        yield pointer, path, schema
        children: list[tuple[str, tuple[str, ...] | None, Any]] = []
        for keyword, value in schema.items():
            here = f"{pointer}/{_escape(keyword)}"
            if keyword == "properties" and type(value) is dict:
                for name, sub in value.items():
                    children.append((f"{here}/{_escape(name)}", None if path is None else (*path, name), sub))
            elif keyword in _SUBSCHEMA:
                children.append((here, None, value))
            elif keyword in _SUBSCHEMA_LISTS and type(value) is list:
                children.extend((f"{here}/{index}", None, sub) for index, sub in enumerate(value))
            elif keyword in _SUBSCHEMA_MAPS and type(value) is dict:
                children.extend((f"{here}/{_escape(name)}", None, sub) for name, sub in value.items())
        stack.extend(reversed(children))


def _escape(token: str) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


# --- the client side -------------------------------------------------------------------------


def request_headers(message: Request | Notification, *, tool_input_schema: Any = None) -> dict[str, str]:
    """The routing headers a client sends with ``message`` (names as the spec writes them).

    ``MCP-Protocol-Version`` comes from the body's ``_meta``, ``Mcp-Name`` from the body for the
    methods that carry it, and ``Mcp-Param-*`` from the arguments of a ``tools/call`` whose
    ``inputSchema`` is given (omitted when the argument is absent or ``null``). Raises
    ``ValueError`` for an invalid schema and ``TypeError`` for an argument no header can carry.
    """
    params = message.params if type(message.params) is dict else {}
    headers: dict[str, str] = {}
    version = _body_version(params)
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    headers["Mcp-Method"] = message.method
    field = NAME_SOURCES.get(message.method)
    if field is not None and isinstance(params.get(field), str):
        headers["Mcp-Name"] = encode_header_value(params[field])
    if message.method == "tools/call" and tool_input_schema is not None:
        arguments = params.get("arguments")
        for parameter in header_parameters(tool_input_schema):
            value = _value_at(arguments, parameter.path)
            if value is not _ABSENT and value is not None:
                headers[parameter.header] = encode_header_value(value)
    return headers


# --- the server side -------------------------------------------------------------------------


def routing_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """A request's ``Mcp-*`` headers from its raw header pairs, as :func:`check_request_headers`
    takes them (names lower-cased, values decoded as Latin-1, repeats kept); no other is decoded."""
    found: dict[str, list[str]] = {}
    for key, value in raw:
        if key[:4].lower() == b"mcp-":
            found.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return found


def check_request_headers(
    headers: Mapping[str, Sequence[str]], message: Request | Notification, *, tool_input_schema: Any = None
) -> None:
    """Check a 2026-07-28 POST's routing headers against its JSON-RPC body.

    ``headers`` as :func:`routing_headers` gives them; ``tool_input_schema``: the ``inputSchema``
    of the tool a ``tools/call`` names, when known (without it no ``Mcp-Param-*`` is checked).

    Raises :class:`RemoteProtocolError` (-32020, HTTP 400, the request's id) when a routing header
    is missing, repeated, holds characters a header may not, or disagrees with the body (only
    the versions' equality: an unsupported one is the envelope's -32022; a body field missing or
    not a string is not compared: that is -32602). Raises :class:`LocalProtocolError` for an
    invalid ``x-mcp-header`` annotation in ``tool_input_schema`` (see :func:`header_parameters`).
    """
    is_request = isinstance(message, Request)
    request_id = message.id if is_request else None
    params = message.params if type(message.params) is dict else {}
    # The spec requires no header of a notification POST, but one that is sent must agree with the body.
    _check_header(headers, PROTOCOL_VERSION_HEADER, _body_version(params), _VERSION_SOURCE, is_request, request_id)
    _check_header(headers, METHOD_HEADER, message.method, "method", is_request, request_id)
    field = NAME_SOURCES.get(message.method) if is_request else None
    if field is None:
        _single(headers, NAME_HEADER, request_id)  # not compared, but never repeated or malformed
    else:
        _check_header(headers, NAME_HEADER, params.get(field), f"params.{field}", True, request_id, encoded=True)
    if is_request and message.method == "tools/call" and tool_input_schema is not None:
        _check_parameters(headers, params.get("arguments"), tool_input_schema, request_id)


def _check_header(
    headers: Mapping[str, Sequence[str]],
    key: str,
    body_value: Any,
    source: str,
    required: bool,
    request_id: RequestId | None,
    *,
    encoded: bool = False,
) -> None:
    """One standard header: present when ``required``, equal to a string ``body_value``."""
    raw = _single(headers, key, request_id)
    if raw is None:
        if required:
            raise _mismatch(f"{_DISPLAY_NAMES[key]} header is missing", request_id)
        return
    if not isinstance(body_value, str):
        return
    display = _DISPLAY_NAMES[key]
    value = _decode(raw, display, request_id) if encoded else raw
    if value != body_value:
        reason = f"{display} header value {show_value(value)} does not match {source} {show_value(body_value)}"
        raise _mismatch(reason, request_id)


def _check_parameters(
    headers: Mapping[str, Sequence[str]], arguments: Any, input_schema: Any, request_id: RequestId | None
) -> None:
    """Each ``Mcp-Param-*`` header the tool declares: present exactly when its argument is
    present and not ``null``, and equal to it. Undeclared ``Mcp-Param-*`` headers are ignored."""
    try:
        parameters = header_parameters(input_schema)
    except ValueError as exc:
        raise LocalProtocolError(f"The tool's inputSchema has an invalid x-mcp-header annotation: {exc}") from None
    for parameter in parameters:
        raw = _single(headers, parameter.key, request_id, parameter.header)
        value = _value_at(arguments, parameter.path)
        if value is _ABSENT or value is None:
            if raw is not None:
                state = "absent" if value is _ABSENT else "null"
                raise _mismatch(f"{parameter.header} header is present but {parameter.source} is {state}", request_id)
            continue
        if raw is None:
            raise _mismatch(f"{parameter.header} header is missing but {parameter.source} is present", request_id)
        decoded = _decode(raw, parameter.header, request_id)
        if not value_matches(decoded, value):
            raise _mismatch(
                f"{parameter.header} header value {show_value(decoded)} does not match {parameter.source} {show_value(value)}",
                request_id,
            )


def _single(
    headers: Mapping[str, Sequence[str]], key: str, request_id: RequestId | None, display: str | None = None
) -> str | None:
    """The one value of a routing header, trimmed of surrounding whitespace; ``None`` when absent.
    A repeated header, or one holding characters a header value may not, is rejected."""
    values = headers.get(key)
    if not values:
        return None
    if isinstance(values, str):
        values = (values,)
    if len(values) > 1:
        display = display or _DISPLAY_NAMES[key]
        raise _mismatch(f"{display} header appears {len(values)} times; it must appear once", request_id)
    raw = values[0].strip(_OWS)
    if not (raw.isascii() and raw.isprintable()) and not _FIELD_VALUE.fullmatch(raw):
        display = display or _DISPLAY_NAMES[key]
        reason = f"{display} header value {show_value(raw)} contains characters a header may not carry"
        raise _mismatch(
            f"{reason} (only visible ASCII, space and tab; anything else must be Base64-encoded)", request_id
        )
    return raw


def _decode(raw: str, display: str, request_id: RequestId | None) -> str:
    try:
        return decode_header_value(raw)
    except ValueError as exc:
        reason = f"{display} header value {show_value(raw)} is a malformed Base64 sentinel: {exc}"
        raise _mismatch(reason, request_id) from None


def _body_version(params: dict[str, Any]) -> str | None:
    meta = params.get("_meta")
    version = meta.get(META_PROTOCOL_VERSION) if type(meta) is dict else None
    return version if isinstance(version, str) else None


_ABSENT: Any = object()  # a missing argument (``None`` is JSON's null)


def _value_at(arguments: Any, path: tuple[str, ...]) -> Any:
    """The value at a chain of ``properties`` keys, or ``_ABSENT`` when some step is missing."""
    value = arguments
    for key in path:
        if type(value) is not dict or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _mismatch(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    reason = f"Header mismatch: {reason}"
    return RemoteProtocolError(reason, code=HEADER_MISMATCH, http_status=400, request_id=request_id)
