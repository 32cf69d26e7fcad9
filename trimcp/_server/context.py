"""``Context``: what a tool, resource, prompt or completion function is given to talk to the
client about its own request (progress, logs) and to reach the rest of the server."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import trio

from .._runtime import CancelReason, RequestHandle
from ..protocol.constants import LOG_LEVEL_RANK
from ..protocol.envelope import Envelope
from ..protocol.errors import LocalProtocolError
from ..protocol.jsonrpc import RequestId
from ..protocol.versions import at_least

if TYPE_CHECKING:
    from .connection import Connection
    from .content import ResourceContents


class Context:
    """Bound to one request; everything it sends travels on that request's own stream.

    Declare a parameter annotated ``Context`` in a tool (resource, prompt…) to receive it.
    """

    __slots__ = ("_handle", "_connection", "_envelope", "deadline")

    def __init__(self, handle: RequestHandle, connection: Connection, envelope: Envelope | None) -> None:
        self._handle = handle
        self._connection = connection
        self._envelope = envelope
        #: When the request's deadline (if any) expires, in ``trio.current_time()`` terms.
        self.deadline = math.inf

    @property
    def request_id(self) -> RequestId:
        return self._handle.id

    @property
    def method(self) -> str:
        return self._handle.method

    @property
    def protocol_version(self) -> str | None:
        """The revision this request speaks (negotiated by ``initialize``, or from its envelope)."""
        if self._envelope is not None:
            return self._envelope.protocol_version
        return self._connection.handshake.protocol_version

    @property
    def client_capabilities(self) -> dict[str, Any]:
        if self._envelope is not None:
            return self._envelope.client_capabilities
        return self._connection.handshake.client_capabilities

    @property
    def client_info(self) -> dict[str, Any] | None:
        if self._envelope is not None:
            return self._envelope.client_info
        return self._connection.handshake.client_info

    @property
    def cancel_reason(self) -> CancelReason | str | None:
        """Why this request is being cancelled (read it in a ``finally``), or ``None``."""
        if self._handle.cancel_reason is not None:
            return self._handle.cancel_reason
        if self.deadline != math.inf and trio.current_time() >= self.deadline:
            return CancelReason.DEADLINE
        return None

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress. Sent only when the client asked for it; ``progress`` must increase
        (else :class:`~trimcp.protocol.LocalProtocolError`)."""
        if message is not None and not at_least(self.protocol_version, "2025-03-26"):
            message = None
        await self._handle.progress(progress, total, message)

    async def log(self, level: str, data: Any, *, logger: str | None = None) -> None:
        """Send a log message about this request, if the client's level lets it through.

        Handshake era: the session's ``logging/setLevel`` (everything until one is set).
        2026-07-28: the request's ``_meta`` log level (nothing when it set none).
        """
        rank = LOG_LEVEL_RANK.get(level)
        if rank is None:
            raise LocalProtocolError(f"unknown log level {level!r}; use one of {', '.join(LOG_LEVEL_RANK)}")
        threshold = self._envelope.log_level if self._envelope is not None else self._connection.log_level
        if threshold is None:
            if self._envelope is not None:
                return
        elif rank < LOG_LEVEL_RANK[threshold]:
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            params["logger"] = logger
        await self._handle.notify("notifications/message", params)

    async def debug(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("debug", data, logger=logger)

    async def info(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("info", data, logger=logger)

    async def warning(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("warning", data, logger=logger)

    async def error(self, data: Any, *, logger: str | None = None) -> None:
        await self.log("error", data, logger=logger)

    async def read_resource(self, uri: str) -> list[ResourceContents]:
        """Read one of this server's resources (static or templated) in-process.
        Raises :class:`~trimcp.ResourceNotFoundError` for an unknown URI."""
        return await self._connection.server.read_resource(uri, self)
