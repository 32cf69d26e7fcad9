"""Fuzz targets for the sans-IO protocol core, each a function of one seeded ``Random``.

The oracle: a function raises only the error types its docstring documents (``RemoteProtocolError``
and friends, ``ValueError`` where documented — but never a ``UnicodeError``), and whatever it
returns can be encoded by :func:`trimcp.protocol.jsonrpc.dumps`. Some targets add stronger
properties: chunking never changes what the SSE decoder or the line framer produce, the line
framer matches a reference model, and a client's routing headers pass the server's check.
"""

from __future__ import annotations

import itertools
import random
import re
import traceback
from collections.abc import Callable
from typing import Any

from trimcp.protocol import envelope, framing, http_headers, jsonrpc, lifecycle, sse
from trimcp.protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError

from . import messages, values
from .findings import Finding, Report
from .server import ROUTED_SCHEMA


class Violation(AssertionError):
    """An oracle failed (rather than an unexpected exception)."""


def _dumpable(value: Any, what: str) -> None:
    try:
        jsonrpc.dumps(value)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:40]}" if not isinstance(exc, UnicodeError) else type(exc).__name__
        raise Violation(f"jsonrpc.dumps fails on {what} ({reason}): {exc}") from exc


def _check_error(exc: ProtocolError) -> None:
    _dumpable(exc.to_error_object(), "the error object")
    if isinstance(exc, RemoteProtocolError) and exc.request_id is not None:
        _dumpable(exc.request_id, "the error's request id")


def _body(rng: random.Random) -> bytes:
    return messages.fuzzed(rng, rng.random() < 0.5, messages.HANDSHAKE_VERSIONS[0], mutate=0.8, damage=0.2)[1]


# --- jsonrpc ---------------------------------------------------------------------------------


def fuzz_jsonrpc(rng: random.Random) -> Any:
    data = _body(rng)
    source: bytes | str = data
    if rng.random() < 0.2:
        source = data.decode("utf-8", rng.choice(("replace", "surrogateescape")))
    try:
        parsed = jsonrpc.parse(source)
    except RemoteProtocolError as exc:
        _check_error(exc)
        return data
    for item in parsed if isinstance(parsed, jsonrpc.Batch) else [parsed]:
        if isinstance(item, RemoteProtocolError):
            _check_error(item)
            jsonrpc.error_bytes(item.request_id, item.to_error_object())
            continue
        _dumpable(item.to_dict(), "what parse() returned")
        if isinstance(item, jsonrpc.Request):  # what trimcp writes for it must encode too
            jsonrpc.request_bytes(item.id, item.method, item.params)
            jsonrpc.response_bytes(item.id, {})
            jsonrpc.error_bytes(item.id, {"code": -1, "message": "m"})
    return data


# --- envelope and handshake ------------------------------------------------------------------


def _reachable(value: Any, rng: random.Random) -> Any:
    """``value`` as a handler would see it, sent as a request's params: encoded, then read by
    :func:`jsonrpc.parse` (``_UNREACHABLE`` when the parser refuses it: nesting deeper than it
    accepts, lone surrogates…)."""
    wrapped = {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"p": value}}
    try:
        message = jsonrpc.parse(values.encode(wrapped, rng))
    except (RemoteProtocolError, RecursionError):
        return _UNREACHABLE
    return message.params["p"] if isinstance(message, jsonrpc.Request) else _UNREACHABLE


_UNREACHABLE = object()


def _params(rng: random.Random, modern: bool) -> Any:
    message = messages.request(rng, modern)
    params = message.get("params", {})
    return _reachable(values.mutate(params, rng), rng) if rng.random() < 0.85 else params


def fuzz_envelope(rng: random.Random) -> Any:
    params = _params(rng, modern=True)
    request_id = rng.choice((1, "a", None))
    found = envelope.has_envelope(params)
    try:
        result = envelope.read_envelope(params, request_id)
    except RemoteProtocolError as exc:
        _check_error(exc)
        return params
    if not found:
        raise Violation("read_envelope accepted params that has_envelope rejects")
    if type(result.client_capabilities) is not dict or type(result.protocol_version) is not str:
        raise Violation(f"read_envelope returned {result!r}")
    try:
        envelope.require_client_capability(result, rng.choice(("elicitation", "sampling", "roots")), request_id)
    except RemoteProtocolError as exc:
        _check_error(exc)
    return params


def fuzz_handshake(rng: random.Random) -> Any:
    message = messages.initialize(rng.choice(messages.HANDSHAKE_VERSIONS + ("2026-07-28", "x")), rng)
    params = _reachable(values.mutate(message["params"], rng), rng) if rng.random() < 0.85 else message["params"]
    session = lifecycle.Lifecycle()
    method = rng.choice(("tools/list", "ping", "initialize", values.scalar(rng)))
    if isinstance(method, str):
        try:
            session.check_request(method, 1)
        except RemoteProtocolError as exc:
            _check_error(exc)
    try:
        version = session.initialize(params, rng.choice((1, "x")))
    except RemoteProtocolError as exc:
        _check_error(exc)
        return params
    if version not in messages.HANDSHAKE_VERSIONS:
        raise Violation(f"negotiated {version!r}")
    session.notification("notifications/initialized")
    try:
        session.initialize(params, 2)
    except RemoteProtocolError:
        pass
    else:
        raise Violation("a second initialize was accepted")
    return params


# --- routing headers -------------------------------------------------------------------------

_HEADER_VALUES = [
    "",
    " ",
    "eu",
    "2026-07-28",
    "tools/call",
    "=?base64?ZXU=?=",
    "=?base64?ZXU?=",
    "=?base64?/w==?=",
    "\x80\xff",
    "é",
    "\t eu \t",
    "a\x00b",
    "x" * 9000,
    "true",
    "3",
    "3.0",
    "-0",
    "1e3",
    "=?base64??=",
]


def _mutate_headers(headers: dict[str, list[str]], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        names = list(headers) + [
            "mcp-param-region",
            "mcp-param-count",
            "mcp-param-on",
            "mcp-param-zone",
            "mcp-name",
            "mcp-method",
            "mcp-protocol-version",
        ]
        name = rng.choice(names)
        roll = rng.random()
        if roll < 0.3:
            headers.pop(name, None)
        elif roll < 0.45 and headers.get(name):
            headers[name] = headers[name] * 2
        else:
            headers[name] = [rng.choice(_HEADER_VALUES) if rng.random() < 0.7 else str(values.scalar(rng))]


def _schema(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return ROUTED_SCHEMA
    if roll < 0.75:
        return None
    return values.mutate(ROUTED_SCHEMA, rng)


def fuzz_headers(rng: random.Random) -> Any:
    body = messages.request(rng, modern=True)
    if rng.random() < 0.3:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": "routed",
                "arguments": dict(rng.choice(messages.TOOL_ARGUMENTS["routed"])),
                "_meta": messages.envelope(rng),
            },
        }
    if rng.random() < 0.6:
        body = values.mutate(body, rng)
    try:
        message = jsonrpc.parse(values.encode(body, rng))
    except RemoteProtocolError:
        return body
    if not isinstance(message, (jsonrpc.Request, jsonrpc.Notification)):
        return body
    schema = _schema(rng)
    try:
        schema_ok = bool(http_headers.header_parameters(schema)) or True
    except ValueError:
        schema_ok = False
    try:
        sent = http_headers.request_headers(message, tool_input_schema=schema)
    except UnicodeError:
        raise
    except (ValueError, TypeError):
        sent = {"Mcp-Method": message.method}
        clean = False
    else:
        clean = True
    headers = {name.lower(): [value] for name, value in sent.items()}
    for name, value in sent.items():
        encoded = name == "Mcp-Name" or name.startswith("Mcp-Param-")
        if encoded and not re.fullmatch(r"[\x20-\x7e]*", value):
            raise Violation(f"request_headers wrote a value a header cannot carry: {value!r}")
    try:
        envelope.read_envelope(message.params, None)
    except RemoteProtocolError:
        clean = False  # the body itself is refused; its headers need not pass
    field = http_headers.NAME_SOURCES.get(message.method)
    if field is not None and not isinstance(message.params.get(field) if type(message.params) is dict else None, str):
        clean = False  # no Mcp-Name can be written; the body's own check answers
    if not re.fullmatch(r"[\x21-\x7e]*", message.method):
        clean = False  # Mcp-Method is written unencoded; such a method is the caller's mistake
    if rng.random() < 0.6:
        _mutate_headers(headers, rng)
        clean = False
    try:
        http_headers.check_request_headers(headers, message, tool_input_schema=schema)
    except RemoteProtocolError as exc:
        _check_error(exc)
        if clean and schema_ok:
            raise Violation(f"the server refuses the headers its own client wrote: {exc.message}") from None
    except LocalProtocolError as exc:
        if schema_ok:
            raise Violation(f"LocalProtocolError for a valid schema: {exc.message}") from None
    return body, headers, schema


def fuzz_header_values(rng: random.Random) -> Any:
    value = values.scalar(rng)
    try:
        encoded = http_headers.encode_header_value(value)
    except TypeError:
        encoded = None
    # Floats that are not small integers are written and compared differently (see the report).
    comparable = not isinstance(value, float) or (value.is_integer() and abs(value) < 2**53)
    if messages.has_surrogate(value):
        comparable = False  # not text: a body holding it is refused, so its header never round-trips
    if encoded is not None and comparable:
        if not re.fullmatch(r"[\x20-\x7e]*", encoded):
            raise Violation(f"encode_header_value wrote {encoded!r}")
        decoded = http_headers.decode_header_value(encoded.strip(" \t"))
        if not http_headers.value_matches(decoded, value):
            raise Violation(f"value_matches(decode(encode(v)), v) is false: {encoded!r} for {value!r}")
    raw = rng.choice(_HEADER_VALUES) if rng.random() < 0.5 else "=?base64?" + str(values.scalar(rng)) + "?="
    try:
        http_headers.decode_header_value(raw)
    except ValueError as exc:
        if isinstance(exc, UnicodeError):
            raise
    http_headers.value_matches(raw, value)
    return value, raw


# --- SSE and line framing --------------------------------------------------------------------

_SSE_LINES = [
    b"data: x",
    b"data:",
    b"data",
    b"data:  two",
    b"event: e",
    b"event:",
    b"id: 7",
    b"id: a\x00b",
    b"id",
    b"retry: 100",
    b"retry: x",
    b"retry: \xd9\xa3",
    b": comment",
    b":",
    b"",
    b"",
    b"\xef\xbb\xbfdata: bom",
    b"data: \xff\xfe",
    b"data: \xed\xa0\x80",
    b"unknown: field",
    b"data: " + b"z" * 300,
]
_ENDINGS = [b"\n", b"\r\n", b"\r"]


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 6)))
    points = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _feed_all(decoder: sse.SSEDecoder, chunks: list[bytes]) -> tuple[list[Any], str | None]:
    events: list[Any] = []
    try:
        for chunk in chunks:
            events.extend(decoder.feed(chunk))
    except RemoteProtocolError as exc:
        return events, exc.message
    return events, None


def fuzz_sse(rng: random.Random) -> Any:
    parts = [b"\xef\xbb\xbf"] if rng.random() < 0.1 else []
    for _ in range(rng.randint(0, 12)):
        parts.append(rng.choice(_SSE_LINES) + rng.choice(_ENDINGS))
    data = b"".join(parts)
    if rng.random() < 0.3:
        data = values.mutate_bytes(data, rng)
    limit = rng.choice((16 * 1024 * 1024, 64, 8))
    whole, whole_error = _feed_all(sse.SSEDecoder(max_event_size=limit), [data])
    split, split_error = _feed_all(sse.SSEDecoder(max_event_size=limit), _chunks(data, rng))
    if whole_error is None and split_error is None and whole != split:
        raise Violation(f"chunking changed the SSE events: {whole!r} != {split!r}")
    for event in split:
        if type(event.data) is not str or type(event.event) is not str:
            raise Violation(f"an event with non-string fields: {event!r}")
    text = "".join(
        rng.choice(("a", " ", "\n", "\r", "\r\n", "é", ":", "data: ", "\x00")) for _ in range(rng.randint(0, 8))
    )
    event_name = rng.choice((None, "message", "e", " e", ""))
    event_id = rng.choice((None, "1", "x-y", ""))
    encoded = sse.encode_event(text, event=event_name, id=event_id)
    decoded, _ = _feed_all(sse.SSEDecoder(), _chunks(encoded, rng))
    expected = re.sub(r"\r\n|\r", "\n", text)
    if len(decoded) != 1 or decoded[0].data != expected or decoded[0].event != (event_name or "message"):
        raise Violation(f"encode_event round trip: {text!r} {event_name!r} -> {decoded!r}")
    return data


def reference_lines(data: bytes, max_line: int) -> list[Any]:
    pieces = data.split(b"\n")
    out: list[Any] = []
    for index, line in enumerate(pieces):
        last = index == len(pieces) - 1
        if len(line) > max_line:
            if not last or line:
                out.append(framing.OversizedLine(len(line)))
        elif line.strip():
            out.append(line)
    return out


def fuzz_framing(rng: random.Random) -> Any:
    alphabet = [b"a", b"{}", b" ", b"\n", b"\r\n", b"\r", b"\t", b"\xff", b"\n\n", b"xyzxyzxyz"]
    data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    max_line = rng.choice((1, 3, 8, 20, 1000))
    buffer = framing.LineBuffer(max_line)
    lines: list[Any] = []
    for chunk in _chunks(data, rng):
        lines.extend(buffer.feed(chunk))
        if buffer.pending > max_line + 1 and not buffer._discarding:
            raise Violation(f"LineBuffer holds {buffer.pending} bytes with max_line={max_line}")
    last = buffer.flush()
    if last is not None:
        lines.append(last)
    expected = reference_lines(data, max_line)
    if lines != expected:
        raise Violation(f"LineBuffer({max_line}) gave {lines!r}, expected {expected!r}")
    return data


TARGETS: dict[str, Callable[[random.Random], Any]] = {
    "jsonrpc": fuzz_jsonrpc,
    "envelope": fuzz_envelope,
    "handshake": fuzz_handshake,
    "headers": fuzz_headers,
    "header-values": fuzz_header_values,
    "sse": fuzz_sse,
    "framing": fuzz_framing,
}


def case_random(seed: int, target: str, index: int) -> random.Random:
    """The generator of one case: reproducible from (seed, target, index) alone."""
    return random.Random(f"{seed}/{target}/{index}")


def _signature(exc: BaseException) -> str:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if "/trimcp/" in frame.filename]
    where = f" at {frames[-1].filename.rsplit('/trimcp/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    if isinstance(exc, Violation):
        return re.sub(r"\d+", "N", str(exc).split(":")[0])[:100]
    return f"{type(exc).__name__}{where}"


def run_core(targets: list[str], cases: int, seed: int) -> Report:
    """Run ``cases`` cases spread round-robin over ``targets``; a case that raises anything not
    documented, or breaks a property, is a finding (kind ``errors``)."""
    report = Report("core" if len(targets) > 1 else f"core-{targets[0]}")
    for index in range(cases):
        name = targets[index % len(targets)]
        rng = case_random(seed, name, index)
        try:
            TARGETS[name](rng)
        except Exception as exc:  # noqa: BLE001 - anything undocumented is the finding
            data = repr(replay_input(seed, name, index)).encode("utf-8", "backslashreplace")
            detail = "".join(traceback.format_exception(exc))
            report.add(
                Finding(f"core-{name}", "errors", _signature(exc), data[:20000], f"case {index}\n{detail}", seed)
            )
        report.count()
    return report


def replay_input(seed: int, target: str, index: int) -> Any:
    """The input a case generated (what its target returned, or the exception's repr)."""
    try:
        return TARGETS[target](case_random(seed, target, index))
    except Exception as exc:  # noqa: BLE001
        return f"<raised {exc!r}>"
