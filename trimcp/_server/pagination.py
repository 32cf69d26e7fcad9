"""Opaque cursors over the server's ordered lists (tools, resources, templates, prompts)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar

from ..protocol.errors import INVALID_PARAMS, RemoteProtocolError, show_value
from ..protocol.jsonrpc import RequestId

T = TypeVar("T")


def encode_cursor(kind: str, offset: int) -> str:
    """A cursor is the list it belongs to and an offset, base64url-encoded (opaque to clients)."""
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: Any, request_id: RequestId | None) -> int:
    """The offset in ``cursor``. Raises -32602 for anything this server did not hand out for
    this list."""
    if type(cursor) is not str:
        raise _invalid("the cursor must be a string", request_id)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid(f"unknown cursor {show_value(cursor)}", request_id) from None
    prefix, _, offset = raw.partition(":")
    if prefix != kind or not (offset.isascii() and offset.isdigit() and len(offset) <= 18):
        raise _invalid(f"unknown cursor {show_value(cursor)}", request_id)
    return int(offset)


def page(
    kind: str, items: Sequence[T], params: Any, page_size: int, request_id: RequestId | None
) -> tuple[Sequence[T], str | None]:
    """The page the request's ``cursor`` asks for, and the cursor of the next page (if any)."""
    cursor = params.get("cursor") if type(params) is dict else None
    start = 0 if cursor is None else decode_cursor(kind, cursor, request_id)
    if start > len(items):
        raise _invalid("the cursor is past the end of the list", request_id)
    end = start + page_size
    next_cursor = encode_cursor(kind, end) if end < len(items) else None
    return items[start:end], next_cursor


def _invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)
