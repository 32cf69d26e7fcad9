"""The client's JSON-RPC core, shared by every transport: request ids and waiting, the era's
envelope, progress, answering the server's questions, timeouts and cancellation."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import trio

from ..protocol import jsonrpc
from ..protocol.constants import (
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    META_SUBSCRIPTION_ID,
    RESULT_INPUT_REQUIRED,
)
from ..protocol.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, RequestFailed
from ..protocol.tasks import TASKS_EXTENSION
from ..protocol.versions import Era, era_of
from .errors import ClientError, ClientTimeout, ServerClosed
from .tracing import ClientTracing

#: ``on_progress(progress, total, message)``
ProgressCallback = Callable[[float, "float | None", "str | None"], Awaitable[None] | None]
#: Answers a server's question (``elicitation/create``, ``sampling/createMessage``, ``roots/list``).
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
#: Sees every notification from the server, as it arrives.
MessageHandler = Callable[[dict[str, Any]], Awaitable[None] | None]

_CAPABILITY_OF = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}
_MAX_INPUT_ROUNDS = 32

logger = logging.getLogger("trimcp.client")


class Transport(Protocol):
    """How the core reaches a server. Incoming messages go to :meth:`Client.dispatch`."""

    async def send_request(self, request_id: jsonrpc.RequestId, message: dict[str, Any], data: bytes) -> None: ...

    async def send_message(self, message: dict[str, Any], data: bytes) -> None: ...

    def abandon(self, request_id: jsonrpc.RequestId) -> bool:
        """Close the request's own response stream (2026-07-28 HTTP cancellation); ``False``
        when the transport has none."""
        ...


class _Waiter:
    __slots__ = ("done", "error", "on_progress", "progressed", "reply", "restart")

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.done = trio.Event()
        self.reply: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.on_progress = on_progress
        self.progressed: Callable[[], None] | None = None
        #: ``restart(paused)``: stop the request's timeout (``True``) or start it afresh.
        self.restart: Callable[[bool], None] | None = None


class ClientCore:
    """The protocol half of :class:`trimcp.Client` (which adds one method per MCP request).

    Results are the JSON objects the server sent (``dict``). Errors the server answers with
    raise :class:`trimcp.RequestFailed`; the client's own timeout raises
    :class:`trimcp.ClientTimeout`. Cancelling a call (its scope, or the timeout) tells the
    server: ``notifications/cancelled`` in the handshake era and over stdio, closing the
    request's stream on 2026-07-28 HTTP.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        timeout: float,
        client_info: dict[str, Any],
        handlers: dict[str, Handler],
        message_handler: MessageHandler | None,
        log_level: str | None,
    ) -> None:
        self._nursery = nursery
        self.timeout = timeout
        self.client_info = client_info
        self.handlers = handlers
        self.message_handler = message_handler
        self.log_level = log_level
        self.transport: Transport
        #: Set by the negotiation: the revision spoken, and what the server said of itself.
        self.protocol_version: str = ""
        self.server_info: dict[str, Any] = {}
        self.server_capabilities: dict[str, Any] = {}
        self.instructions: str | None = None
        self.transport_name = ""
        #: Set by ``open_client(tracing=...)``: a client span per request, sent in ``_meta``.
        self.tracing: ClientTracing | None = None
        self.closed = trio.Event()
        self._next_id = 0
        self._waiting: dict[jsonrpc.RequestId, _Waiter] = {}
        self._progress_tokens: dict[Any, _Waiter] = {}
        self._answering: dict[jsonrpc.RequestId, trio.CancelScope] = {}
        self._subscriptions: dict[jsonrpc.RequestId, trio.MemorySendChannel[dict[str, Any]]] = {}
        #: Tools' ``inputSchema`` by name, for their ``x-mcp-header`` arguments (2026-07-28 HTTP).
        self.tool_schemas: dict[str, Any] = {}
        #: Tools' 2025-11-25 ``execution.taskSupport`` by name (``forbidden`` when absent).
        self.task_support: dict[str, str] = {}
        self._tools_listed = False

    @property
    def era(self) -> Era:
        return era_of(self.protocol_version) or Era.HANDSHAKE

    @property
    def mirrors_tool_headers(self) -> bool:
        """Whether ``x-mcp-header`` arguments travel as headers (2026-07-28 Streamable HTTP)."""
        return self.era is Era.PER_REQUEST and self.transport_name == "streamable-http"

    @property
    def capabilities(self) -> dict[str, Any]:
        """What this client declares: one capability per question it has a handler for."""
        capabilities: dict[str, Any] = {}
        for method, name in _CAPABILITY_OF.items():
            if method in self.handlers:
                capabilities[name] = {}
        return capabilities

    # -- requests ---------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        reset_timeout_on_progress: bool = False,
        max_total: float | None = None,
        follow_input: bool = True,
        subscription: trio.MemorySendChannel[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Send a request and return its result.

        ``timeout`` (default: the client's; ``math.inf`` for none) bounds the wait; with
        ``reset_timeout_on_progress`` each progress notification restarts it, never beyond
        ``max_total`` seconds in all.
        On 2026-07-28, an ``input_required`` result is answered with the handlers and the
        request retried until it completes (``follow_input=False`` returns it instead).
        ``subscription`` receives the notifications the server tags with this request's id (a
        ``subscriptions/listen``), dropping what does not fit.
        """
        limit = self.timeout if timeout is None else timeout
        started = trio.current_time()
        for _ in range(_MAX_INPUT_ROUNDS):
            result = await self._request_once(
                method, params, limit, on_progress, reset_timeout_on_progress, started, max_total, subscription
            )
            if not follow_input or result.get("resultType") != RESULT_INPUT_REQUIRED:
                return result
            params = {**(params or {}), **await self._answer_input(result)}
        raise RequestFailed({"code": INTERNAL_ERROR, "message": f"{method} asked for input {_MAX_INPUT_ROUNDS} times"})

    async def answer_all(self, input_requests: dict[str, Any]) -> dict[str, Any]:
        """Answer a server's questions (``inputRequests``) with the handlers, by key."""
        responses = {}
        for key, question in input_requests.items():
            responses[key] = await self._answer(question.get("method", ""), question.get("params") or {})
        return responses

    async def _answer_input(self, result: dict[str, Any]) -> dict[str, Any]:
        retry: dict[str, Any] = {"inputResponses": await self.answer_all(result.get("inputRequests") or {})}
        if result.get("requestState") is not None:
            retry["requestState"] = result["requestState"]
        return retry

    async def _request_once(
        self,
        method: str,
        params: dict[str, Any] | None,
        limit: float,
        on_progress: ProgressCallback | None,
        reset_on_progress: bool,
        started: float,
        max_total: float | None,
        subscription: trio.MemorySendChannel[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        if self.closed.is_set():
            raise ServerClosed("the session with the server is over")
        self._next_id += 1
        request_id = self._next_id
        params = self.stamp(params)
        with self._traced(request_id, method, params) as params:
            waiter = _Waiter(on_progress)
            if on_progress is not None or reset_on_progress:
                params = {
                    **(params or {}),
                    "_meta": {**((params or {}).get("_meta") or {}), "progressToken": request_id},
                }
                self._progress_tokens[request_id] = waiter
            message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
            if params is not None:
                message["params"] = params
            cap = started + max_total if max_total is not None else math.inf
            scope = trio.CancelScope(deadline=min(cap, trio.current_time() + limit))

            def restart(paused: bool = False) -> None:
                scope.deadline = math.inf if paused else min(cap, trio.current_time() + limit)

            waiter.restart = restart
            if reset_on_progress:
                waiter.progressed = restart
            self._waiting[request_id] = waiter
            if subscription is not None:
                self._subscriptions[request_id] = subscription
            try:
                with scope:
                    try:
                        await self.transport.send_request(request_id, message, jsonrpc.dumps(message))
                        await waiter.done.wait()
                    except trio.Cancelled:
                        await self._cancel_remote(request_id, method)
                        raise
            finally:
                del self._waiting[request_id]
                self._progress_tokens.pop(request_id, None)
                self._subscriptions.pop(request_id, None)
            if scope.cancelled_caught:
                waited = trio.current_time() - started
                raise ClientTimeout(
                    f"no answer to {method} from the server within {waited:.3g} s (client-side timeout)"
                )
            if waiter.error is not None:
                raise waiter.error
            reply = waiter.reply or {}
            if "error" in reply:
                raise RequestFailed(reply["error"])
            result = reply.get("result")
            return result if isinstance(result, dict) else {}

    def _traced(
        self, request_id: int, method: str, params: dict[str, Any] | None
    ) -> contextlib.AbstractContextManager[dict[str, Any] | None]:
        """With tracing on, a client span around the request (its context added to ``params``);
        else nothing."""
        if self.tracing is None:
            return contextlib.nullcontext(params)
        return self.tracing.request(request_id, method, params)

    async def _cancel_remote(self, request_id: jsonrpc.RequestId, method: str) -> None:
        """Tell the server a request is abandoned: close its stream (2026-07-28 HTTP) or send
        ``notifications/cancelled``. An unanswered ``server/discover`` probe is only dropped: a
        server of the handshake era never understood it."""
        stream_closed = self.transport.abandon(request_id)
        if method == "server/discover" or (stream_closed and self.era is Era.PER_REQUEST):
            return
        cancelled = {"requestId": request_id, "reason": "client cancelled"}
        with trio.CancelScope(shield=True), trio.move_on_after(5), contextlib.suppress(ClientError, RequestFailed):
            await self.notify("notifications/cancelled", cancelled, stamp=False)

    def stamp(self, params: dict[str, Any] | None) -> dict[str, Any] | None:
        """Add the 2026-07-28 per-request envelope (nothing in the handshake era). It declares
        the tasks extension: a call that becomes a task is followed (:class:`.tasks.ClientTask`)."""
        if self.era is not Era.PER_REQUEST:
            return params
        params = dict(params or {})
        meta = dict(params.get("_meta") or {})
        meta.setdefault(META_PROTOCOL_VERSION, self.protocol_version)
        meta.setdefault(META_CLIENT_CAPABILITIES, {**self.capabilities, "extensions": {TASKS_EXTENSION: {}}})
        meta.setdefault(META_CLIENT_INFO, self.client_info)
        if self.log_level is not None:
            meta.setdefault(META_LOG_LEVEL, self.log_level)
        params["_meta"] = meta
        return params

    async def notify(self, method: str, params: dict[str, Any] | None = None, *, stamp: bool = True) -> None:
        """Send a notification."""
        if stamp and method != "notifications/cancelled":
            params = self.stamp(params)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.transport.send_message(message, jsonrpc.dumps(message))

    # -- the handshake and discovery ---------------------------------------------------------------

    async def initialize(self, version: str) -> dict[str, Any]:
        """The handshake-era ``initialize`` then ``notifications/initialized``."""
        self.protocol_version = version
        params = {"protocolVersion": version, "capabilities": self.capabilities, "clientInfo": self.client_info}
        result = await self.request("initialize", params)
        self.protocol_version = str(result.get("protocolVersion") or version)
        self.server_info = result.get("serverInfo") or {}
        self.server_capabilities = result.get("capabilities") or {}
        self.instructions = result.get("instructions")
        await self.notify("notifications/initialized")
        return result

    async def discover(self, version: str, *, timeout: float | None = None) -> dict[str, Any]:
        """``server/discover`` as ``version`` (a 2026-07-28 era revision); remembers the answer."""
        self.protocol_version = version
        result = await self.request("server/discover", None, timeout=timeout)
        self.server_capabilities = result.get("capabilities") or {}
        self.server_info = (result.get("_meta") or {}).get(META_SERVER_INFO) or {}
        self.instructions = result.get("instructions")
        return result

    # -- receiving --------------------------------------------------------------------------------

    async def dispatch(self, message: Any) -> None:
        """Handle one decoded message from the server (a response, a notification, a question)."""
        if type(message) is list:
            for item in message:
                await self.dispatch(item)
            return
        if type(message) is not dict:
            return
        if "method" in message:
            if "id" in message:
                self._nursery.start_soon(self._answer_request, message)
            else:
                await self._notification(message)
            return
        waiter = self._waiting.get(message.get("id"))
        if waiter is not None and not waiter.done.is_set():
            waiter.reply = message
            waiter.done.set()

    @contextlib.contextmanager
    def timeouts_paused(self) -> Iterator[None]:
        """While the block runs (the user authorizes the client, say), the requests waiting now
        do not time out; afterwards each gets its whole timeout again. Resource handling: owns
        nothing; the requests' own scopes stay theirs."""
        paused = [waiter for waiter in self._waiting.values() if waiter.restart is not None]
        for waiter in paused:
            waiter.restart(True)  # type: ignore[misc]
        try:
            yield
        finally:
            for waiter in paused:
                waiter.restart(False)  # type: ignore[misc]

    def answered(self, request_id: jsonrpc.RequestId) -> bool:
        """Whether ``request_id`` has its answer (or no longer waits for one)."""
        waiter = self._waiting.get(request_id)
        return waiter is None or waiter.done.is_set()

    def fail(self, request_id: jsonrpc.RequestId, error: BaseException) -> None:
        """The transport could not deliver ``request_id`` or its answer."""
        waiter = self._waiting.get(request_id)
        if waiter is not None and not waiter.done.is_set():
            waiter.error = error
            waiter.done.set()

    def close(self, error: BaseException | None = None) -> None:
        """The session is over: every waiting request fails."""
        self.closed.set()
        for request_id in list(self._waiting):
            self.fail(request_id, error or ServerClosed("the server closed the session before answering"))

    async def _notification(self, message: dict[str, Any]) -> None:
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        method = message["method"]
        if method == "notifications/progress":
            waiter = self._progress_tokens.get(params.get("progressToken"))
            if waiter is not None:
                if waiter.progressed is not None:
                    waiter.progressed()
                if waiter.on_progress is not None:
                    outcome = waiter.on_progress(params.get("progress", 0), params.get("total"), params.get("message"))
                    if outcome is not None:
                        await outcome
        elif method == "notifications/cancelled" and params.get("requestId") in self._answering:
            self._answering[params["requestId"]].cancel()
        subscription = self._subscriptions.get((params.get("_meta") or {}).get(META_SUBSCRIPTION_ID))
        if subscription is not None:
            with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                subscription.send_nowait(message)  # a listener that does not keep up misses some
        if self.message_handler is not None:
            outcome = self.message_handler(message)
            if outcome is not None:
                await outcome

    async def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(method)
        if handler is None:
            raise RequestFailed({"code": METHOD_NOT_FOUND, "message": f"this client does not handle {method}"})
        return await handler(params)

    async def _answer_request(self, message: dict[str, Any]) -> None:
        request_id = message["id"]
        with trio.CancelScope() as scope:
            self._answering[request_id] = scope
            try:
                if message["method"] == "ping":
                    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": {}}
                else:
                    result = await self._answer(message["method"], message.get("params") or {})
                    reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
            except RequestFailed as exc:
                reply = {"jsonrpc": "2.0", "id": request_id, "error": exc.to_error_object()}
            except Exception as exc:  # a handler's bug is the server's error answer, not a crash
                logger.exception("Answering the server's %r failed", message["method"])
                reply = {"jsonrpc": "2.0", "id": request_id, "error": {"code": INTERNAL_ERROR, "message": str(exc)}}
            finally:
                del self._answering[request_id]
        if scope.cancelled_caught:
            return  # the server withdrew the question
        with contextlib.suppress(ClientError, RequestFailed):  # the server stops waiting in its own time
            await self.transport.send_message(reply, jsonrpc.dumps(reply))
