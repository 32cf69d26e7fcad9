"""The protocol's rules, for every layer to ask instead of deciding them itself: which era a
message belongs to (the first one decides) and what each era refuses, and which revision
carries which feature. Revisions are compared here and in :mod:`.versions`, nowhere else.
"""

from __future__ import annotations

import enum
from typing import Any

from .envelope import has_envelope
from .versions import HANDSHAKE_VERSIONS, LATEST_VERSION, PER_REQUEST_VERSIONS, SUPPORTED_VERSIONS, Era

#: Handshake-era methods that do not exist in 2026-07-28.
HANDSHAKE_ONLY_METHODS = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)


def era_of_first_message(params: Any) -> Era | None:
    """The era a connection's first request chooses: 2026-07-28 when it carries the envelope,
    else none yet (``initialize`` chooses the handshake era; anything else is refused until
    one of them comes)."""
    return Era.PER_REQUEST if has_envelope(params) else None


def era_of_http_post(params: Any, *, session_id: str | None, version_header: str | None) -> Era:
    """The era of one Streamable HTTP POST: the body decides; without an envelope, a POST with
    no session that announces a revision other than a handshake-era one is 2026-07-28 traffic
    (and gets that era's errors); everything else belongs to a handshake-era session."""
    if has_envelope(params):
        return Era.PER_REQUEST
    if session_id is None and version_header is not None and version_header not in HANDSHAKE_VERSIONS:
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
_ONLY = {Feature.BATCHES: ("2025-03-26",)}

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
