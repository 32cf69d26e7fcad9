"""Small ASGI helpers: headers, bounded bodies, plain and SSE responses, disconnect watching."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from ...protocol import errors as jsonrpc_errors
from ...protocol import jsonrpc

logger = logging.getLogger("trimcp.http")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


#: The ASGI extension trimcp's lean worker offers in ``scope["extensions"]``:
#: ``{"watch": watch}``, where ``watch(callback)`` calls ``callback`` once the client has
#: disconnected (at once if it has) and returns the function that stops watching.
DISCONNECT_EXTENSION = "trimcp.disconnect"


class WatchedReceive:
    """An app's ``receive`` with the server's disconnect hook (:data:`DISCONNECT_EXTENSION`),
    so the app learns of a disconnect without a task waiting in ``receive``."""

    __slots__ = ("_receive", "watch")

    def __init__(self, receive: Receive, watch: Callable[[Callable[[], None]], Callable[[], None]]) -> None:
        self._receive = receive
        self.watch = watch

    def __call__(self) -> Awaitable[dict[str, Any]]:
        return self._receive()


def with_disconnect_hook(scope: Scope, receive: Receive) -> Receive:
    """``receive``, carrying the server's disconnect hook when the scope offers one."""
    hook = scope.get("extensions", {}).get(DISCONNECT_EXTENSION)
    return WatchedReceive(receive, hook["watch"]) if hook else receive


class Headers:
    """Request headers by case-insensitive name, every value kept (repeats matter for routing
    headers). Values are decoded only when asked for."""

    __slots__ = ("raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        #: The headers as the server gave them.
        self.raw = raw

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or ``None``."""
        wanted = name.encode("latin-1")
        for key, value in self.raw:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    def get_all(self, name: str) -> list[str]:
        wanted = name.encode("latin-1")
        return [value.decode("latin-1") for key, value in self.raw if key.lower() == wanted]

    def as_mapping(self) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        for key, value in self.raw:
            values.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        return values


class HeaderMapping(Mapping[str, list[str]]):
    """A request's headers as a read-only mapping of lower-case names to their values, decoded
    only if someone looks (a tool reading ``ctx.http_headers``)."""

    __slots__ = ("_decoded", "_headers")

    def __init__(self, headers: Headers) -> None:
        self._headers = headers
        self._decoded: dict[str, list[str]] | None = None

    def _values(self) -> dict[str, list[str]]:
        if self._decoded is None:
            self._decoded = self._headers.as_mapping()
        return self._decoded

    def __getitem__(self, name: str) -> list[str]:
        return self._values()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


async def answer_health(send: Send, method: str, *, ready: bool) -> None:
    """A health check's answer: 200 while serving, 503 once shutting down (no credentials)."""
    if method not in ("GET", "HEAD"):
        await send_response(send, 405, b"", [(b"allow", b"GET, HEAD")])
    elif ready:
        await send_json(send, 200, b'{"status":"ready"}', [(b"cache-control", b"no-store")])
    else:
        await send_json(send, 503, b'{"status":"shutting down"}', [(b"retry-after", b"1")])


class BodyTooLarge(Exception):
    """The request body exceeded the configured limit."""


class ClientDisconnected(Exception):
    """The client went away before its request body arrived."""


async def read_body(receive: Receive, limit: int, declared_length: str | None) -> bytes:
    """The whole request body; raises :class:`BodyTooLarge` past ``limit`` bytes (checking
    ``Content-Length`` before reading anything) and :class:`ClientDisconnected`."""
    declared = declared_length or ""
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the client disconnects (hypercorn reports it only through ``receive``)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def send_response(
    send: Send, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete response in one go."""
    all_headers = list(headers or [])
    if body:
        all_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_response(send, status, body, [(b"content-type", b"application/json"), *(headers or [])])


async def send_jsonrpc_error(
    send: Send,
    status: int,
    code: int,
    message: str,
    *,
    request_id: jsonrpc.RequestId | None = None,
    data: Any = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An HTTP error whose body is a JSON-RPC error response."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    await send_json(send, status, jsonrpc.error_bytes(request_id, error), headers)


async def answer_internal_error(send: Send) -> None:
    """A 500 with a JSON-RPC -32603, unless the response has started already (then the
    server ends it)."""
    try:
        await send_jsonrpc_error(send, 500, jsonrpc_errors.INTERNAL_ERROR, "Internal error")
    except Exception as exc:  # noqa: BLE001 - the failure itself was logged just before
        logger.debug("No 500 after the failure: the response had started (%s); the server ends it", exc)


def with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send`` adding ``extra`` headers to the response start."""

    async def send_with_headers(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_with_headers


async def start_sse(send: Send, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *(headers or [])]})


async def send_chunk(send: Send, data: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


def accepts(header: str | None, *media_types: str) -> bool:
    """Whether an ``Accept`` header lists every one of ``media_types`` (or a matching wildcard)."""
    if header is None:
        return False
    offered = {part.split(";", 1)[0].strip().lower() for part in header.split(",")}
    for media_type in media_types:
        family = media_type.split("/", 1)[0] + "/*"
        if media_type not in offered and family not in offered and "*/*" not in offered:
            return False
    return True


def is_json_content_type(header: str | None) -> bool:
    return header is not None and header.split(";", 1)[0].strip().lower() == "application/json"


#: What :func:`read_message` returns when it already answered the request with an error.
ANSWERED = object()


async def read_message(headers: Headers, receive: Receive, send: Send, limit: int) -> Any:
    """Read a JSON-RPC body: the parsed message or batch, or :data:`ANSWERED` after sending the
    error (see :func:`read_json_body` and :func:`parse_message`)."""
    body = await read_json_body(headers, receive, send, limit)
    return body if body is ANSWERED else await parse_message(body, send)


async def read_json_body(headers: Headers, receive: Receive, send: Send, limit: int) -> Any:
    """A JSON body's bytes, or :data:`ANSWERED` after sending the error (415 wrong content
    type, 413 too large; nothing if the client left)."""
    if not is_json_content_type(headers.get("content-type")):
        await send_jsonrpc_error(
            send, 415, jsonrpc_errors.INVALID_REQUEST, "Unsupported Media Type: use application/json"
        )
        return ANSWERED
    try:
        return await read_body(receive, limit, headers.get("content-length"))
    except BodyTooLarge:
        message = f"Payload Too Large: the body limit is {limit} bytes"
        await send_jsonrpc_error(send, 413, jsonrpc_errors.INVALID_REQUEST, message)
        return ANSWERED
    except ClientDisconnected:
        return ANSWERED


async def parse_message(body: bytes, send: Send) -> Any:
    """The JSON-RPC message or batch ``body`` holds, or :data:`ANSWERED` after a 400."""
    try:
        return jsonrpc.parse(body)
    except jsonrpc_errors.RemoteProtocolError as exc:
        await send_jsonrpc_error(send, 400, exc.code, exc.message, request_id=exc.request_id)
        return ANSWERED
