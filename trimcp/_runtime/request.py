"""One in-flight request: its cancel scope, its outbound stream and its progress."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..protocol import jsonrpc
from ..protocol.errors import LocalProtocolError
from ..protocol.jsonrpc import RequestId
from .outbox import Outgoing

if TYPE_CHECKING:
    from .dispatcher import Dispatcher
    from .observe import ObservedRequest
    from .outbox import Outbox


class CancelReason(enum.StrEnum):
    """Why a request's scope was cancelled (also passed to ``CancelScope.cancel(reason=…)``)."""

    CLIENT_CANCELLED = "client cancelled"
    CLIENT_DISCONNECTED = "client disconnected"
    SESSION_ENDED = "session ended"
    SESSION_EXPIRED = "session expired"
    TASK_EXPIRED = "task expired"
    DEADLINE = "deadline"
    SHUTDOWN = "shutdown"


@attrs.frozen
class Caller:
    """Who a request comes from, as its transport knows it: the authenticated principal
    (``None`` without authentication) and the HTTP request's headers (``None`` off HTTP)."""

    principal: Any = None
    headers: Mapping[str, list[str]] | None = None


#: The caller of a request that came without authentication or HTTP (stdio, in-process).
NOBODY = Caller()


class RequestHandle:
    """Runtime state of one request. Created and owned by its :class:`~.dispatcher.Dispatcher`.

    Everything written through it goes to the request's own outbox; once the request is
    finished (answered or cancelled) further writes are silent no-ops.
    """

    __slots__ = (
        "_last_progress",
        "caller",
        "cancel_reason",
        "cancel_scope",
        "dispatcher",
        "finished",
        "id",
        "method",
        "observed",
        "outbox",
        "params",
        "progress_token",
    )

    def __init__(
        self,
        request_id: RequestId,
        method: str,
        params: Any,
        outbox: Outbox,
        dispatcher: Dispatcher,
        caller: Caller = NOBODY,
    ) -> None:
        self.id = request_id
        self.caller = caller
        self.method = method
        self.params = params
        meta = params.get("_meta") if type(params) is dict else None
        token = meta.get("progressToken") if type(meta) is dict else None
        self.progress_token: int | str | None = token if type(token) in (int, str) else None
        # Shielded: a request is cancelled only through cancel(), always with a reason. When
        # its dispatcher is cancelled from outside, the dispatcher cancels it (reason: shutdown).
        self.cancel_scope = trio.CancelScope(shield=True)
        self.cancel_reason: CancelReason | str | None = None
        self.finished = False
        self.outbox = outbox
        self.dispatcher = dispatcher
        #: The observers' record of this request (``None`` when nobody observes).
        self.observed: ObservedRequest | None = None
        self._last_progress = -math.inf

    def cancel(self, reason: CancelReason | str) -> None:
        """Cancel the request's work; nothing more (not even a response) is sent for it."""
        if self.finished:
            return
        self.finished = True
        self.cancel_reason = reason
        self.cancel_scope.cancel(reason=str(reason))

    async def notify(self, method: str, params: Any = None) -> bool:
        """Send a notification on this request's stream; ``False`` if it could not be sent
        because the request or its stream is finished."""
        if self.finished:
            return False
        return await self.outbox.send(Outgoing(jsonrpc.notification_bytes(method, params)))

    def notify_nowait(self, method: str, params: Any = None) -> bool:
        """:meth:`notify` without waiting: dropped (``False``) when the stream's buffer is full."""
        if self.finished:
            return False
        return self.outbox.send_nowait(Outgoing(jsonrpc.notification_bytes(method, params)))

    async def ask(self, method: str, params: Any = None) -> Any:
        """Send a request to the client on this request's stream and return its result.
        Raises :class:`~trimcp.protocol.RequestFailed` when the client answers with an error."""
        return await self.dispatcher.ask(self.outbox, method, params)

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> bool:
        """Report progress when the client asked for it (sent a ``progressToken``).

        Returns whether a notification was sent. Raises :class:`LocalProtocolError` when
        ``progress`` does not increase, or is not a finite number.
        """
        self._last_progress = next_progress(progress, self._last_progress)
        if self.progress_token is None:
            return False
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        return await self.notify("notifications/progress", params)


def next_progress(progress: float, last: float) -> float:
    """``progress`` when it may follow ``last``. Raises :class:`LocalProtocolError` when it is not
    a finite number or does not increase."""
    if type(progress) not in (int, float) or not math.isfinite(progress):
        raise LocalProtocolError(f"progress must be a finite number, not {progress!r}")
    if progress <= last:
        raise LocalProtocolError(f"progress must increase with every notification: {progress!r} after {last!r}")
    return progress
