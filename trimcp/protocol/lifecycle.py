"""The protocol's rules, sans-IO, for every layer to ask instead of deciding them itself: the
state of one connection (:class:`Lifecycle`: which era the first message chose, the handshake,
what each era and state refuses, the batch rule), the era checks of Streamable HTTP, and which
revision carries which feature. Revisions are compared here and in :mod:`.versions`, nowhere
else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from .envelope import Envelope, has_envelope, read_envelope
from .errors import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, RemoteProtocolError
from .jsonrpc import Request, RequestId
from .versions import (
    HANDSHAKE_VERSIONS,
    LATEST_VERSION,
    PER_REQUEST_VERSIONS,
    SUPPORTED_VERSIONS,
    Era,
    negotiate_handshake_version,
)

#: Handshake-era methods that do not exist in the per-request era.
HANDSHAKE_ONLY_METHODS = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)


class HandshakeState(enum.Enum):
    """Where a handshake-era connection is; a per-request connection stays ``NEW``."""

    NEW = "new"
    #: ``initialize`` was answered; waiting for ``notifications/initialized``.
    INITIALIZING = "initializing"
    READY = "ready"


#: What each handshake state lets a client ask (``None``: anything).
_ALLOWED: dict[HandshakeState, frozenset[str] | None] = {
    HandshakeState.NEW: frozenset({"initialize", "ping"}),
    HandshakeState.INITIALIZING: None,
    HandshakeState.READY: None,
}
#: The notification that moves each state on, and where to.
_ON_NOTIFICATION = {(HandshakeState.INITIALIZING, "notifications/initialized"): HandshakeState.READY}


class Lifecycle:
    """The protocol state of one connection as the server sees it: the era its first message
    chose, the handshake, the negotiated version and what the client declared.

    Feed it every request (:meth:`admit`, then :meth:`initialize` for ``initialize``) and every
    notification; it raises what the current state refuses and never does I/O.
    """

    def __init__(self, era: Era | None = None) -> None:
        #: ``None`` until the first message chooses (a stateless HTTP endpoint starts per-request).
        self.era = era
        self.state = HandshakeState.NEW
        self.protocol_version: str | None = None
        self.client_capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] | None = None

    def admit(self, request: Request) -> Envelope | None:
        """Check that ``request`` may be served now; return its envelope in the per-request
        era, ``None`` in the handshake era.

        The first message decides: a request carrying the envelope chooses the per-request era
        (only once it is read without error), ``initialize`` the handshake era; ``ping`` is
        answered either way before that. Raises :class:`RemoteProtocolError`: -32601 for a
        handshake-only method in the per-request era, the envelope's errors, -32600 for
        anything but ``initialize`` and ``ping`` before ``initialize``.
        """
        era = self.era
        if era is Era.PER_REQUEST or (era is None and has_envelope(request.params)):
            if request.method in HANDSHAKE_ONLY_METHODS and not has_envelope(request.params):
                raise RemoteProtocolError(
                    f"Method not found: {request.method!r} does not exist in revision {LATEST_VERSION}, which this "
                    f"connection speaks (supported versions: {', '.join(SUPPORTED_VERSIONS)})",
                    code=METHOD_NOT_FOUND,
                    data={"supported": list(SUPPORTED_VERSIONS)},
                    request_id=request.id,
                )
            envelope = read_envelope(request.params, request.id)
            self.era = Era.PER_REQUEST
            return envelope
        if era is None and request.method == "server/discover":
            read_envelope(request.params, request.id)  # raises: a discover without an envelope
        self.check_request(request.method, request.id)
        return None

    def check_request(self, method: str, request_id: RequestId) -> None:
        """Refuse (-32600) what the handshake state does not allow: before ``initialize``,
        anything but ``initialize`` and ``ping``."""
        allowed = _ALLOWED[self.state]
        if allowed is not None and method not in allowed:
            raise RemoteProtocolError(
                f"Invalid Request: {method!r} before initialize; send 'initialize' first",
                code=INVALID_REQUEST,
                request_id=request_id,
            )

    def initialize(self, params: Any, request_id: RequestId) -> str:
        """Take ``initialize``: choose the handshake era and return the negotiated version.

        Raises -32602 for malformed params, -32600 when the connection is already initialized;
        a failed ``initialize`` changes nothing.
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
        self.era = Era.HANDSHAKE
        self.protocol_version = negotiate_handshake_version(requested)
        self.client_capabilities = capabilities
        self.client_info = client_info
        self.state = HandshakeState.INITIALIZING
        return self.protocol_version

    def notification(self, method: str) -> None:
        """Take a client notification (``notifications/initialized`` completes the handshake;
        nothing else changes the state)."""
        self.state = _ON_NOTIFICATION.get((self.state, method), self.state)

    def allows_batches(self) -> bool:
        """Whether a JSON-RPC batch may be served: only in a handshake of a revision that has them."""
        return self.era is Era.HANDSHAKE and carries(self.protocol_version, Feature.BATCHES)


def era_of_http_post(params: Any, header: Callable[[str], str | None]) -> Era:
    """The era of one Streamable HTTP POST: the body decides; without an envelope, a POST with
    no session that announces a revision other than a handshake-era one is 2026-07-28 traffic
    (and gets that era's errors); everything else belongs to a handshake-era session.
    ``header(name)`` gives a request header's value; it is asked only when the body does not
    decide."""
    if has_envelope(params):
        return Era.PER_REQUEST
    version = header("mcp-protocol-version")
    if version is not None and version not in HANDSHAKE_VERSIONS and header("mcp-session-id") is None:
        return Era.PER_REQUEST
    return Era.HANDSHAKE


def http_stream_refused(*, session_id: str | None, version_header: str | None) -> bool:
    """Whether a GET or DELETE is 2026-07-28 traffic, which has no session streams (405)."""
    return session_id is None and version_header in PER_REQUEST_VERSIONS


def handshake_version_refused(version_header: str | None) -> bool:
    """Whether a handshake-era session's request announces a revision that is not of its era."""
    return version_header is not None and version_header not in HANDSHAKE_VERSIONS


class Feature(enum.Enum):
    """Something a revision may carry; what a peer's revision lacks is trimmed from what it gets."""

    BATCHES = "JSON-RPC batches"
    COMPLETIONS = "the completions capability"
    TOOL_ANNOTATIONS = "tool annotations"
    AUDIO_CONTENT = "audio content blocks"
    PROGRESS_MESSAGES = "a message in progress notifications"
    TITLES = "titles of tools, prompts and resources"
    OUTPUT_SCHEMAS = "output schemas and structured tool results"
    RESOURCE_LINKS = "resource_link content blocks"
    META_ON_LISTINGS = "_meta on listed tools, resources and prompts"
    ICONS = "icons"
    ELICITATION_MODES = "the mode of an elicitation request"
    PRIMING_EVENTS = "an SSE priming event (with retry) opening each stream"
    TASKS_EXTENSION = "the io.modelcontextprotocol/tasks extension"
    EXPERIMENTAL_TASKS = "2025-11-25's task-augmented requests (params.task, tasks/result)"


#: The revision each feature arrived in; it stays in every later one.
_SINCE = {
    Feature.COMPLETIONS: "2025-03-26",
    Feature.TOOL_ANNOTATIONS: "2025-03-26",
    Feature.AUDIO_CONTENT: "2025-03-26",
    Feature.PROGRESS_MESSAGES: "2025-03-26",
    Feature.TITLES: "2025-06-18",
    Feature.OUTPUT_SCHEMAS: "2025-06-18",
    Feature.RESOURCE_LINKS: "2025-06-18",
    Feature.META_ON_LISTINGS: "2025-06-18",
    Feature.ICONS: "2025-11-25",
    Feature.ELICITATION_MODES: "2025-11-25",
    Feature.PRIMING_EVENTS: "2025-11-25",
}
#: Features of some revisions only.
_ONLY = {
    Feature.BATCHES: ("2025-03-26",),
    Feature.EXPERIMENTAL_TASKS: ("2025-11-25",),
    Feature.TASKS_EXTENSION: PER_REQUEST_VERSIONS,
}

#: Every supported revision and the features it carries.
FEATURES: dict[str, frozenset[Feature]] = {
    version: frozenset(
        [feature for feature, since in _SINCE.items() if version >= since]
        + [feature for feature, versions in _ONLY.items() if version in versions]
    )
    for version in SUPPORTED_VERSIONS
}


def carries(version: str | None, feature: Feature) -> bool:
    """Whether revision ``version`` carries ``feature``. ``None`` (no revision negotiated: an
    in-process call, say) is the newest revision; a revision not supported carries nothing."""
    return feature in FEATURES.get(version or LATEST_VERSION, frozenset())


def _invalid(reason: str, request_id: RequestId) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)
