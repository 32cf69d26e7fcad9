"""Protocol revisions, the two eras they belong to, and version negotiation."""

from __future__ import annotations

import enum

#: Revisions that open a session with the ``initialize`` handshake, oldest first.
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
#: Revisions in which every request carries its own ``_meta`` envelope.
PER_REQUEST_VERSIONS = ("2026-07-28",)
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[-1]
LATEST_VERSION = PER_REQUEST_VERSIONS[-1]
#: Every revision served, newest first (the order clients are told).
SUPPORTED_VERSIONS = tuple(reversed(HANDSHAKE_VERSIONS + PER_REQUEST_VERSIONS))


class Era(enum.Enum):
    """How a peer speaks: a handshake and a session, or a self-describing envelope per request."""

    HANDSHAKE = "handshake"
    PER_REQUEST = "per-request"


def era_of(version: str) -> Era | None:
    """The era a revision belongs to, or ``None`` for a revision this library does not know."""
    if version in PER_REQUEST_VERSIONS:
        return Era.PER_REQUEST
    if version in HANDSHAKE_VERSIONS:
        return Era.HANDSHAKE
    return None


def negotiate_handshake_version(requested: object) -> str:
    """The version ``initialize`` answers with: the client's when it is a handshake-era revision
    we support, otherwise the latest handshake-era revision (the client then decides)."""
    if requested in HANDSHAKE_VERSIONS:
        return requested  # type: ignore[return-value]
    return LATEST_HANDSHAKE_VERSION
