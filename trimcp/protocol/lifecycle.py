"""The protocol's rules as data, for every layer to ask instead of comparing revision strings.

For now: which revision carries which feature (the era rules and the handshake join this module
next). Revisions are compared here and in :mod:`.versions`, nowhere else.
"""

from __future__ import annotations

import enum

from .versions import LATEST_VERSION, SUPPORTED_VERSIONS


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
