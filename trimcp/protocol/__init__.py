"""The sans-IO protocol core: JSON-RPC framing, MCP revisions and eras, the handshake state
machine, the 2026-07-28 envelope, SSE and newline framing, and the error types.

Bytes or dicts in, events out. Nothing here imports trio, ASGI or hypercorn (a test checks).
"""

from .errors import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    PARSE_ERROR,
    RESOURCE_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RequestFailed,
)
from .jsonrpc import Batch, ErrorResponse, Message, Notification, Request, RequestId, Response
from .sse import ServerSentEvent, SSEDecoder, encode_comment, encode_event
from .versions import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LATEST_VERSION,
    PER_REQUEST_VERSIONS,
    SUPPORTED_VERSIONS,
    Era,
)

__all__ = [
    "HANDSHAKE_VERSIONS",
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LATEST_HANDSHAKE_VERSION",
    "LATEST_VERSION",
    "METHOD_NOT_FOUND",
    "MISSING_CLIENT_CAPABILITY",
    "PARSE_ERROR",
    "PER_REQUEST_VERSIONS",
    "RESOURCE_NOT_FOUND",
    "SUPPORTED_VERSIONS",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "Batch",
    "Era",
    "ErrorResponse",
    "LocalProtocolError",
    "Message",
    "Notification",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "RequestFailed",
    "RequestId",
    "Response",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_comment",
    "encode_event",
]
