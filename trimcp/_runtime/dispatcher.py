"""A dispatcher: one nursery that owns the request tasks of one peer connection.

The dispatcher knows JSON-RPC and cancellation, not MCP methods: each request is handed to a
:class:`Router` (the server layer), which either answers at once or returns a coroutine
function that the dispatcher runs in the request's own task and cancel scope.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import attrs
import trio

from ..protocol import jsonrpc
from ..protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError, RequestFailed
from ..protocol.jsonrpc import Batch, ErrorResponse, Message, Notification, Request, RequestId, Response
from . import answers
from .observe import ObservedRequest, Observer
from .outbox import Outbox, OutboxStatistics, Outgoing
from .request import NOBODY, Caller, CancelReason, RequestHandle

logger = logging.getLogger("trimcp")

#: What a handler's ``route`` returns: a result to send at once, or a coroutine function to run
#: in the request's task.
Routed = dict | Callable[[RequestHandle], Awaitable[dict]]


class Router(Protocol):
    """What a dispatcher needs from the layer that knows MCP methods."""

    def route(self, request: Request, caller: Caller) -> Routed:
        """Decide how to answer ``request`` from ``caller``; raise :class:`RemoteProtocolError`
        to refuse it."""

    def notification(self, notification: Notification) -> None:
        """Handle a notification other than ``notifications/cancelled``."""

    def allows_batches(self) -> bool:
        """Whether a JSON-RPC batch is acceptable now."""


@attrs.frozen
class DispatcherStatistics:
    """``live_requests`` are running now; the counters cover the dispatcher's whole life."""

    live_requests: int
    requests_started: int
    requests_cancelled: int
    requests_failed: int
    outbound: OutboxStatistics


class Dispatcher:
    """Runs the requests of one connection. Create it with :func:`open_dispatcher`.

    With an ``observer``, every request is reported to it, labelled with the connection's
    ``session`` id (if any) and ``transport``. A ``shared`` dispatcher serves many clients at
    once (2026-07-28 HTTP POSTs), whose request ids may repeat: its requests are started with
    :meth:`start` and cancelled through their handles, never found by id.
    """

    def __init__(
        self,
        handler: Router,
        nursery: trio.Nursery,
        outbox: Outbox,
        *,
        observer: Observer | None = None,
        session: str | None = None,
        transport: str = "",
        shared: bool = False,
    ) -> None:
        self.handler = handler
        self.outbox = outbox
        self.observer = observer
        self.session = session
        self.transport = transport
        self.shared = shared
        self._nursery = nursery
        #: Live requests by id, or (``shared``) by handle.
        self._requests: dict[Any, RequestHandle] = {}
        self._started = 0
        self._cancelled = 0
        self._failed = 0
        self._closed = False
        self._draining = False
        self._idle = trio.Event()
        self._idle.set()
        self._asked: dict[RequestId, trio.MemorySendChannel[Response | ErrorResponse]] = {}
        self._ask_ids = itertools.count(1)

    async def receive_bytes(self, data: bytes | str, outbox: Outbox | None = None) -> None:
        """Parse one incoming frame and act on it; replies go to ``outbox`` (default: the
        dispatcher's). Bad input is answered with the matching JSON-RPC error, never raised; so
        is a failure in reading it (a bug), with -32603 and its traceback logged."""
        try:
            message = jsonrpc.parse(data)
        except RemoteProtocolError as exc:
            await self._send_error(outbox or self.outbox, exc.request_id, exc)
            return
        except Exception:
            logger.exception("Reading a message failed")
            await self._send_error(outbox or self.outbox, None, answers.internal_error())
            return
        await self.receive(message, outbox)

    async def receive(self, message: Message | Batch, outbox: Outbox | None = None, caller: Caller = NOBODY) -> None:
        """Act on one parsed message or batch from ``caller``. Never raises but cancellation: a
        failure in handling it (a bug) is logged with its traceback and answered with -32603."""
        outbox = outbox or self.outbox
        kind = type(message)
        try:
            if kind is Request:
                await self._receive_request(message, outbox, caller)  # type: ignore[arg-type]
            elif kind is Notification:
                self._receive_notification(message)  # type: ignore[arg-type]
            elif kind is Batch:
                await self._receive_batch(message, outbox, caller)  # type: ignore[arg-type]
            else:
                self._receive_response(message)  # type: ignore[arg-type]
        except Exception:
            logger.exception("Handling a %s failed", kind.__name__)
            self._failed += 1
            await self._send_error(outbox, message.id if kind is Request else None, answers.internal_error())  # type: ignore[union-attr]

    def start(self, request: Request, outbox: Outbox, caller: Caller = NOBODY) -> Outgoing | RequestHandle | None:
        """Route one request: its answer when given at once (not queued), else the handle of the
        request now running in a task of its own and answering on ``outbox`` (``None`` once the
        dispatcher is closed). Never raises: a failure in routing it (a bug) is logged with its
        traceback and answered with -32603."""
        try:
            prepared = self._prepare(request, outbox, caller)
        except Exception:
            logger.exception("Handling a Request failed")
            self._failed += 1
            return answers.error(request.id, answers.internal_error())
        if type(prepared) is _Started:
            self._nursery.start_soon(self._run_and_send, prepared)
            return prepared.handle
        return prepared

    def cancel_request(self, request_id: RequestId, reason: CancelReason | str) -> bool:
        """Cancel one live request; ``False`` when no such request is running."""
        handle = self._requests.get(request_id)
        return handle is not None and self.cancel(handle, reason)

    def cancel(self, handle: RequestHandle, reason: CancelReason | str) -> bool:
        """Cancel a request of this dispatcher; ``False`` when it has finished already."""
        if handle.finished:
            return False
        handle.cancel(reason)
        self._cancelled += 1
        return True

    def cancel_requests_on(self, outbox: Outbox, reason: CancelReason | str) -> None:
        """Cancel every live request answering on ``outbox`` (its stream went away)."""
        for handle in list(self._requests.values()):
            if handle.outbox is outbox:
                self.cancel(handle, reason)

    def drain(self) -> None:
        """Refuse new requests (answered with an error saying the server is shutting down)
        while running ones finish; cancellations and answers to the server's questions are
        still heard."""
        self._draining = True

    def close(self, reason: CancelReason | str = CancelReason.SESSION_ENDED) -> None:
        """Cancel every live request with ``reason`` and accept no new ones."""
        self._closed = True
        for handle in list(self._requests.values()):
            self.cancel(handle, reason)

    def statistics(self) -> DispatcherStatistics:
        return DispatcherStatistics(
            live_requests=len(self._requests),
            requests_started=self._started,
            requests_cancelled=self._cancelled,
            requests_failed=self._failed,
            outbound=self.outbox.statistics(),
        )

    async def wait_idle(self) -> None:
        """Return once no request is live."""
        await self._idle.wait()

    # -- requests ---------------------------------------------------------------------------

    async def _receive_request(self, request: Request, outbox: Outbox, caller: Caller) -> None:
        prepared = self._prepare(request, outbox, caller)
        if type(prepared) is Outgoing:
            await outbox.send(prepared)
        elif prepared is not None:
            self._nursery.start_soon(self._run_and_send, prepared)

    def _prepare(self, request: Request, outbox: Outbox, caller: Caller) -> Outgoing | _Started | None:
        """Route a request: the answer to send now, or the request to start in a task of its own
        (``None`` once the dispatcher is closed). An answer given at once is reported to the
        observer here; a started request, in its task."""
        observer = self.observer
        if observer is None:
            return self._route(request, outbox, caller, None)
        observed = ObservedRequest(request.id, request.method, request.params, caller, self.session, self.transport)
        prepared = self._route(request, outbox, caller, observed)
        if type(prepared) is Outgoing:
            observer.request_started(observed)
            error = prepared.error
            observed.end("ok" if error is None else "error", error=error)
            observer.request_finished(observed)
        return prepared

    def _route(
        self, request: Request, outbox: Outbox, caller: Caller, observed: ObservedRequest | None
    ) -> Outgoing | _Started | None:
        if self._closed:
            return None
        if self._draining:
            return answers.error(request.id, RemoteProtocolError("Service Unavailable: the server is shutting down"))
        if not self.shared and request.id in self._requests:
            return answers.error(
                request.id, RemoteProtocolError(f"Invalid Request: id {request.id!r} is already in use")
            )
        try:
            routed = self.handler.route(request, caller)
        except ProtocolError as exc:
            return answers.error(request.id, exc)
        except Exception:
            logger.exception("Routing %r failed", request.method)
            self._failed += 1
            return answers.error(request.id, answers.internal_error())
        if type(routed) is dict:
            return answers.response(request.id, routed)
        handle = RequestHandle(request.id, request.method, request.params, outbox, self, caller)
        handle.observed = observed
        outbox.attach()
        if not self._requests:
            self._idle = trio.Event()
        self._requests[handle if self.shared else request.id] = handle
        self._started += 1
        return _Started(handle, routed)  # type: ignore[arg-type]

    async def _run_and_send(self, started: _Started) -> None:
        outbox = started.handle.outbox
        try:
            answer = await self._execute(started)
            if answer is not None:
                await outbox.send(answer)
        except Exception:  # a bug past the request's own error handling: it must not end the connection
            logger.exception("Running request %r failed", started.handle.id)
        finally:
            outbox.detach()

    async def _execute(self, started: _Started) -> Outgoing | None:
        """Run a request in its own cancel scope; return its response, or ``None`` when it was
        cancelled (a cancelled request is never answered). Reports it to the observer."""
        observed = started.handle.observed
        if observed is None:
            return await self._run(started)
        observer: Observer = self.observer  # type: ignore[assignment]
        observer.request_started(observed)
        answer = None
        try:
            answer = await self._run(started)
            return answer
        finally:
            if answer is None:
                reason = started.handle.cancel_reason
                observed.end("cancelled", cancel_reason=str(reason) if reason is not None else None)
            elif answer.error is not None:
                observed.end("error", error=answer.error)
            else:
                observed.end(observed.outcome or "ok")
            observer.request_finished(observed)

    async def _run(self, started: _Started) -> Outgoing | None:
        handle, runner = started.handle, started.runner
        try:
            with handle.cancel_scope:
                try:
                    result = await runner(handle)
                except ProtocolError as exc:
                    return None if handle.finished else answers.error(handle.id, exc)
                except Exception:
                    if handle.finished:
                        return None
                    logger.exception("Request %r (%s) failed", handle.id, handle.method)
                    self._failed += 1
                    return answers.error(handle.id, answers.internal_error())
            if handle.finished:
                return None
            handle.finished = True
            if handle.observed is not None:
                handle.observed.outcome = answers.outcome_of(result)
            return answers.response(handle.id, result)
        finally:
            handle.finished = True
            del self._requests[handle if self.shared else handle.id]
            if not self._requests:
                self._idle.set()

    async def _receive_batch(self, batch: Batch, outbox: Outbox, caller: Caller) -> None:
        if not self.handler.allows_batches():
            await self._send_error(
                outbox,
                None,
                RemoteProtocolError("Invalid Request: JSON-RPC batches are not supported in this revision"),
            )
            return
        replies: list[Outgoing] = []
        to_run: list[_Started] = []
        for item in batch:
            if isinstance(item, RemoteProtocolError):
                replies.append(answers.error(item.request_id, item))
            elif type(item) is Request:
                prepared = self._prepare(item, outbox, caller)
                if type(prepared) is Outgoing:
                    replies.append(prepared)
                elif prepared is not None:
                    to_run.append(prepared)
            elif type(item) is Notification:
                self._receive_notification(item)
            else:
                self._receive_response(item)
        if to_run:
            self._nursery.start_soon(self._run_batch, to_run, replies, outbox)
        elif replies:
            await outbox.send(answers.batch_of(replies))

    async def _run_batch(self, to_run: list[_Started], replies: list[Outgoing], outbox: Outbox) -> None:
        async def run_one(started: _Started) -> None:
            answer = await self._execute(started)
            if answer is not None:
                replies.append(answer)

        try:
            async with trio.open_nursery() as nursery:
                for started in to_run:
                    nursery.start_soon(run_one, started)
            if replies:
                await outbox.send(answers.batch_of(replies))
        except Exception:  # as in _run_and_send
            logger.exception("Running a batch failed")
        finally:
            for _ in to_run:
                outbox.detach()

    # -- notifications and responses --------------------------------------------------------

    def _receive_notification(self, notification: Notification) -> None:
        if notification.method == "notifications/cancelled":
            params = notification.params
            if type(params) is dict:
                request_id = params.get("requestId")
                if type(request_id) in (int, str):
                    self.cancel_request(request_id, CancelReason.CLIENT_CANCELLED)
            return  # malformed cancellations are ignored, as the specification asks
        try:
            self.handler.notification(notification)
        except Exception:
            logger.exception("Handling notification %r failed", notification.method)

    def _receive_response(self, message: Response | ErrorResponse) -> None:
        waiter = self._asked.get(message.id) if message.id is not None else None
        if waiter is None:
            logger.debug("Ignoring a response to unknown request %r", message.id)
            return
        try:
            waiter.send_nowait(message)
        except trio.WouldBlock:
            logger.debug("Ignoring a second response to request %r", message.id)

    async def ask(self, outbox: Outbox, method: str, params: Any = None) -> Any:
        """Send a request to the client on ``outbox`` and wait for the answer.

        Cancelling the caller tells the client to stop (``notifications/cancelled``). Raises
        :class:`RequestFailed` when the client answers with an error, :class:`LocalProtocolError`
        when the stream is already closed.
        """
        request_id = next(self._ask_ids)
        send, receive = trio.open_memory_channel[Response | ErrorResponse](1)
        self._asked[request_id] = send
        try:
            outbox.need_stream()
            if not await outbox.send(Outgoing(jsonrpc.request_bytes(request_id, method, params))):
                raise LocalProtocolError(f"cannot send {method!r}: the client's stream is closed")
            try:
                answer = await receive.receive()
            except trio.Cancelled:
                cancel = {"requestId": request_id, "reason": "the request that asked was cancelled"}
                outbox.send_nowait(Outgoing(jsonrpc.notification_bytes("notifications/cancelled", cancel)))
                raise
        finally:
            del self._asked[request_id]
        if type(answer) is ErrorResponse:
            raise RequestFailed(answer.error)
        return answer.result  # type: ignore[union-attr]

    async def _send_error(self, outbox: Outbox, request_id: RequestId | None, exc: ProtocolError) -> None:
        await outbox.send(answers.error(request_id, exc))


@attrs.frozen
class _Started:
    """A routed request to run in a task of its own: its handle, and the handler's runner."""

    handle: RequestHandle
    runner: Callable[[RequestHandle], Awaitable[dict]]


@asynccontextmanager
async def open_dispatcher(
    handler: Router,
    outbox: Outbox,
    *,
    observer: Observer | None = None,
    session: str | None = None,
    transport: str = "",
) -> AsyncIterator[Dispatcher]:
    """Open a dispatcher whose request tasks live in a nursery owned by this block (the
    keywords are :class:`Dispatcher`'s).

    Leaving the block cancels whatever is still running and waits for it to unwind, with the
    reason :meth:`Dispatcher.close` was first given, else "shutdown" when the block is left
    because its task was cancelled from outside (the server is stopping), else "session ended".
    """
    async with trio.open_nursery() as nursery:
        dispatcher = Dispatcher(handler, nursery, outbox, observer=observer, session=session, transport=transport)
        try:
            yield dispatcher
        except BaseException as exc:
            dispatcher.close(CancelReason.SHUTDOWN if is_cancellation(exc) else CancelReason.SESSION_ENDED)
            raise
        dispatcher.close(CancelReason.SESSION_ENDED)


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is trio's cancellation (alone, or a group of nothing else)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)
