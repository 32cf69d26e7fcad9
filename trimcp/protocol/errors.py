"""Error types of the protocol core, each carrying its JSON-RPC code and HTTP status.

Two kinds, named after h11's: :class:`RemoteProtocolError` is raised when the *peer* broke the
protocol (it becomes an error response, and the session goes on); :class:`LocalProtocolError` is
raised when *our* side tried to do something the protocol forbids (a bug in the caller).
"""

from __future__ import annotations

import json
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: Handshake-era revisions answer an unknown resource URI with this code.
RESOURCE_NOT_FOUND = -32002
#: 2026-07-28: an HTTP routing header disagrees with the body.
HEADER_MISMATCH = -32020
#: 2026-07-28: the request needs a client capability the client did not declare.
MISSING_CLIENT_CAPABILITY = -32021
#: 2026-07-28: the request's protocol version is not one the server supports.
UNSUPPORTED_PROTOCOL_VERSION = -32022

#: The one error -> HTTP status table: the errors the specification (2026-07-28) answers with an
#: HTTP error status. Any other error (a failing handler's, an unknown resource's) travels in a
#: 200 response like a result; handshake-era answers are always 200.
_HTTP_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    METHOD_NOT_FOUND: 404,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
}


def http_status_for(code: int) -> int:
    """The HTTP status that goes with a JSON-RPC error code (200 for codes without one)."""
    return _HTTP_STATUS.get(code, 200)


class ProtocolError(Exception):
    """Base of both error kinds: a JSON-RPC ``code``, a ``message``, optional ``data``, an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        data: Any = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data
        self.http_status = http_status if http_status is not None else http_status_for(code)

    def to_error_object(self) -> dict[str, Any]:
        """The JSON-RPC ``error`` member for this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code})"


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow.

    ``request_id`` is the id of the offending request when it could be read, so the error
    response can be correlated; ``None`` means the response goes out with ``"id": null``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int = INVALID_REQUEST,
        data: Any = None,
        http_status: int | None = None,
        request_id: int | str | None = None,
    ) -> None:
        super().__init__(message, code=code, data=data, http_status=http_status)
        self.request_id = request_id


class RequestFailed(ProtocolError):
    """The peer answered one of our requests with a JSON-RPC error (``code``, ``message``,
    ``data`` are the error's)."""

    def __init__(self, error: dict[str, Any]) -> None:
        code = error.get("code")
        message = error.get("message")
        super().__init__(
            message if isinstance(message, str) else "",
            code=code if type(code) is int else INTERNAL_ERROR,
            data=error.get("data"),
        )

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"


class LocalProtocolError(ProtocolError):
    """Our side tried to do something the protocol forbids (for example, to report progress
    that does not increase). It signals a bug in the calling code, not in the peer."""

    def __init__(self, message: str, *, code: int = INTERNAL_ERROR, data: Any = None) -> None:
        super().__init__(message, code=code, data=data, http_status=500)


_MAX_SHOWN = 100


def show_value(value: Any) -> str:
    """A value a peer sent, for an error message: strings quoted and numbers as JSON (both
    shortened past 100 characters), objects and arrays by kind alone, so any size or depth
    is safe to show."""
    if isinstance(value, str):
        return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "...")
    if value is None or isinstance(value, (bool, int, float)):
        text = json.dumps(value)
        return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."
    return f"(a JSON {'object' if isinstance(value, dict) else 'array' if isinstance(value, list) else 'value'})"
