"""The handshake-era session state machine (2024-11-05 … 2025-11-25), sans-IO.

Feed it the requests and notifications the client sends; it negotiates the version, records
what the client declared, and refuses what the current state does not allow.
"""

from __future__ import annotations

import enum
from typing import Any

from .errors import INVALID_PARAMS, INVALID_REQUEST, RemoteProtocolError
from .jsonrpc import RequestId
from .versions import negotiate_handshake_version

#: What a client may send before the handshake finished.
_ALLOWED_BEFORE_INITIALIZE = frozenset({"initialize", "ping"})


class HandshakeState(enum.Enum):
    NEW = "new"
    #: ``initialize`` was answered; waiting for ``notifications/initialized``.
    INITIALIZING = "initializing"
    READY = "ready"


class HandshakeSession:
    """State of one handshake-era session: negotiated version and the client's declarations."""

    def __init__(self) -> None:
        self.state = HandshakeState.NEW
        self.protocol_version: str | None = None
        self.client_capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] | None = None

    def initialize(self, params: Any, request_id: RequestId) -> str:
        """Handle ``initialize``: return the negotiated version.

        Raises -32602 for malformed params, -32600 when the session is already initialized.
        """
        if self.state is not HandshakeState.NEW:
            raise RemoteProtocolError(
                "Invalid Request: the session is already initialized", code=INVALID_REQUEST, request_id=request_id
            )
        if type(params) is not dict:
            raise _invalid("initialize needs params", request_id)
        requested = params.get("protocolVersion")
        if type(requested) is not str:
            raise _invalid('"protocolVersion" must be a string', request_id)
        capabilities = params.get("capabilities", {})
        if type(capabilities) is not dict:
            raise _invalid('"capabilities" must be an object', request_id)
        client_info = params.get("clientInfo")
        if client_info is not None and type(client_info) is not dict:
            raise _invalid('"clientInfo" must be an object', request_id)
        self.protocol_version = negotiate_handshake_version(requested)
        self.client_capabilities = capabilities
        self.client_info = client_info
        self.state = HandshakeState.INITIALIZING
        return self.protocol_version

    def initialized(self) -> None:
        """Handle ``notifications/initialized`` (ignored unless ``initialize`` was answered)."""
        if self.state is HandshakeState.INITIALIZING:
            self.state = HandshakeState.READY

    def check_request(self, method: str, request_id: RequestId) -> None:
        """Refuse requests other than ``initialize`` and ``ping`` before ``initialize``."""
        if self.state is HandshakeState.NEW and method not in _ALLOWED_BEFORE_INITIALIZE:
            raise RemoteProtocolError(
                f"Invalid Request: {method!r} before initialize; send 'initialize' first",
                code=INVALID_REQUEST,
                request_id=request_id,
            )


def _invalid(reason: str, request_id: RequestId) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)
