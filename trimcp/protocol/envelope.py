"""The 2026-07-28 per-request envelope: every request says, in ``params._meta``, which revision
it speaks and what the client can do. Reading it, and shaping results the way that revision
wants them (``resultType``, server info, caching hints)."""

from __future__ import annotations

from typing import Any

import attrs

from .constants import (
    LOG_LEVEL_RANK,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    RESULT_COMPLETE,
)
from .errors import (
    INVALID_PARAMS,
    MISSING_CLIENT_CAPABILITY,
    UNSUPPORTED_PROTOCOL_VERSION,
    RemoteProtocolError,
    show_value,
)
from .jsonrpc import RequestId
from .versions import PER_REQUEST_VERSIONS, SUPPORTED_VERSIONS


@attrs.define(slots=True, frozen=True)
class Envelope:
    """What one 2026-07-28 request declared about its client."""

    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any] | None = None
    #: The level the client opted in to; ``None`` means send no log messages for this request.
    log_level: str | None = None


def has_envelope(params: Any) -> bool:
    """Whether request params carry a 2026-07-28 envelope (a ``_meta`` protocol version)."""
    if type(params) is not dict:
        return False
    meta = params.get("_meta")
    return type(meta) is dict and META_PROTOCOL_VERSION in meta


def read_envelope(params: Any, request_id: RequestId | None) -> Envelope:
    """Read and check a request's envelope.

    Raises :class:`RemoteProtocolError`: -32602 when ``_meta``, its protocol version or its
    client capabilities are missing or malformed; -32022 (with ``data: {supported, requested}``)
    when the revision is not one served in this era.
    """
    meta = params.get("_meta") if type(params) is dict else None
    if type(meta) is not dict:
        raise _invalid("missing params._meta (this revision needs it on every request)", request_id)
    version = meta.get(META_PROTOCOL_VERSION)
    if type(version) is not str:
        raise _invalid(f"missing or non-string _meta[{META_PROTOCOL_VERSION!r}]", request_id)
    if version not in PER_REQUEST_VERSIONS:
        raise RemoteProtocolError(
            f"Unsupported protocol version: {version}",
            code=UNSUPPORTED_PROTOCOL_VERSION,
            data={"supported": list(SUPPORTED_VERSIONS), "requested": version},
            request_id=request_id,
        )
    capabilities = meta.get(META_CLIENT_CAPABILITIES)
    if type(capabilities) is not dict:
        raise _invalid(f"missing or non-object _meta[{META_CLIENT_CAPABILITIES!r}]", request_id)
    client_info = meta.get(META_CLIENT_INFO)
    if client_info is not None and type(client_info) is not dict:
        raise _invalid(f"_meta[{META_CLIENT_INFO!r}] must be an object", request_id)
    log_level = meta.get(META_LOG_LEVEL)
    if log_level is not None and (type(log_level) is not str or log_level not in LOG_LEVEL_RANK):
        raise _invalid(f"unknown log level {show_value(log_level)} in _meta[{META_LOG_LEVEL!r}]", request_id)
    return Envelope(version, capabilities, client_info, log_level)


def require_client_capability(
    envelope: Envelope, capability: str, request_id: RequestId | None, *, detail: dict[str, Any] | None = None
) -> None:
    """Raise -32021 unless the client declared ``capability`` (``data.requiredCapabilities`` names it)."""
    if capability not in envelope.client_capabilities:
        raise RemoteProtocolError(
            f"This request needs the client capability {capability!r}, which the request did not declare",
            code=MISSING_CLIENT_CAPABILITY,
            data={"requiredCapabilities": {capability: detail or {}}},
            request_id=request_id,
        )


def complete_result(result: dict[str, Any], server_info: dict[str, Any]) -> dict[str, Any]:
    """Shape a 2026-07-28 result (in place): ``resultType`` (``complete`` unless already set)
    and the server info."""
    result.setdefault("resultType", RESULT_COMPLETE)
    meta = result.get("_meta")
    if meta is None:
        result["_meta"] = {META_SERVER_INFO: server_info}
    elif META_SERVER_INFO not in meta:
        meta[META_SERVER_INFO] = server_info
    return result


def _invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)
