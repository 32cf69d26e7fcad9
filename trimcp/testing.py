"""Test a server in-process, through the same runtime code that serves stdio in production.

::

    async def test_add():
        async with trimcp.testing.open_test_client(server) as client:
            result = await client.call_tool("add", {"a": 1, "b": 2})
            assert result["content"][0]["text"] == "3"

The client talks newline-delimited JSON-RPC over an in-memory stream pair to
:func:`trimcp.serve_stream`; ``client.session`` is the server's runtime session, so tests can
assert on ``client.session.statistics()``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from ._client.api import CommonRequests
from ._runtime import Session
from ._runtime.groups import unwrap_single_exception
from ._server.server import Server
from ._transports.streams import StreamConnection, serve_stream
from .protocol import jsonrpc
from .protocol.constants import META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL, META_PROTOCOL_VERSION
from .protocol.errors import METHOD_NOT_FOUND, RequestFailed
from .protocol.framing import LineBuffer
from .protocol.versions import LATEST_HANDSHAKE_VERSION, Era, era_of

ProgressCallback = Callable[[float, "float | None", "str | None"], Awaitable[None]]


#: Answers a question the server asks (``elicitation/create``, ``sampling/createMessage``,
#: ``roots/list``): its params in, its result out.
Answerer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class TestClient(CommonRequests):
    """A minimal MCP client for tests. Create it with :func:`open_test_client`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        stream: trio.abc.Stream,
        connection: StreamConnection,
        *,
        protocol_version: str,
        client_capabilities: dict[str, Any],
        client_info: dict[str, Any],
        log_level: str | None,
        timeout: float,
        answers: dict[str, Answerer],
        nursery: trio.Nursery,
    ) -> None:
        self.stream = stream
        self.answers = answers
        #: Every request the server sent (questions, in the handshake era), in order.
        self.asked: list[dict[str, Any]] = []
        #: Every ``input_required`` result received (2026-07-28 questions), in order.
        self.input_required: list[dict[str, Any]] = []
        self._nursery = nursery
        self._answering: dict[Any, trio.CancelScope] = {}
        self.session: Session = connection.session
        self.protocol_version = protocol_version
        self.era = era_of(protocol_version) or Era.HANDSHAKE
        self.client_capabilities = client_capabilities
        self.client_info = client_info
        self.log_level = log_level
        self.timeout = timeout
        #: Every notification received, in order (as decoded dicts).
        self.notifications: list[dict[str, Any]] = []
        self.initialize_result: dict[str, Any] | None = None
        self._next_id = 0
        self._pending: dict[jsonrpc.RequestId, trio.MemorySendChannel[dict[str, Any]]] = {}
        self._progress: dict[jsonrpc.RequestId, ProgressCallback] = {}
        self._stray_send, self._stray_receive = trio.open_memory_channel[Any](math.inf)
        self._send_lock = trio.Lock()
        #: Set when the server closed its side of the stream (the session is over).
        self.closed = trio.Event()

    # -- raw access -------------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (add the newline yourself)."""
        async with self._send_lock:
            await self.stream.send_all(data)

    async def next_stray(self) -> Any:
        """The next decoded message that answers no pending request (errors with ``"id": null``,
        batch replies, responses to ids sent with :meth:`send_raw`)."""
        with trio.fail_after(self.timeout):
            return await self._stray_receive.receive()

    def drain_strays(self) -> list[Any]:
        """Every stray message received so far, without waiting."""
        strays = []
        while True:
            try:
                strays.append(self._stray_receive.receive_nowait())
            except trio.WouldBlock:
                return strays

    async def exchange_raw(self, data: bytes) -> Any:
        """Send raw bytes and return the next stray reply."""
        await self.send_raw(data)
        return await self.next_stray()

    # -- requests ---------------------------------------------------------------------------------

    def _envelope(self, params: dict[str, Any] | None) -> dict[str, Any] | None:
        if self.era is not Era.PER_REQUEST:
            return params
        params = dict(params or {})
        meta = dict(params.get("_meta") or {})
        meta.setdefault(META_PROTOCOL_VERSION, self.protocol_version)
        meta.setdefault(META_CLIENT_CAPABILITIES, self.client_capabilities)
        meta.setdefault(META_CLIENT_INFO, self.client_info)
        if self.log_level is not None:
            meta.setdefault(META_LOG_LEVEL, self.log_level)
        params["_meta"] = meta
        return params

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        follow_input: bool = True,
    ) -> dict[str, Any]:
        """Send a request and wait for its result. Raises :class:`RequestFailed` for an error
        response and ``trio.TooSlowError`` after ``timeout`` seconds. Cancelling the caller
        sends ``notifications/cancelled`` for the request.

        An ``input_required`` result (2026-07-28) is answered with :attr:`answers` and the
        request retried, until a final result arrives (unless ``follow_input`` is false).
        """
        for _ in range(100):
            result = await self._request_once(method, params, on_progress)
            if not follow_input or result.get("resultType") != "input_required":
                return result
            self.input_required.append(result)
            responses = {}
            for key, question in (result.get("inputRequests") or {}).items():
                responses[key] = await self._answer(question["method"], question.get("params") or {})
            params = {**(params or {}), "inputResponses": responses, "requestState": result.get("requestState")}
        raise AssertionError(f"{method} kept asking for input")

    async def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answerer = self.answers.get(method)
        if answerer is None:
            raise RequestFailed({"code": METHOD_NOT_FOUND, "message": f"this test client cannot answer {method}"})
        return await answerer(params)

    async def _request_once(
        self, method: str, params: dict[str, Any] | None, on_progress: ProgressCallback | None
    ) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        params = self._envelope(params)
        if on_progress is not None:
            params = dict(params or {})
            params["_meta"] = {**(params.get("_meta") or {}), "progressToken": request_id}
            self._progress[request_id] = on_progress
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._pending[request_id] = send
        try:
            await self.send_raw(jsonrpc.request_bytes(request_id, method, params) + b"\n")
            try:
                with trio.fail_after(self.timeout):
                    reply = await receive.receive()
            except trio.Cancelled:
                with trio.CancelScope(shield=True), trio.move_on_after(self.timeout):
                    await self.notify("notifications/cancelled", {"requestId": request_id, "reason": "test cancelled"})
                raise
        finally:
            del self._pending[request_id]
            self._progress.pop(request_id, None)
        if "error" in reply:
            raise RequestFailed(reply["error"])
        return reply["result"]

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self.send_raw(jsonrpc.notification_bytes(method, params) + b"\n")

    async def initialize(self) -> dict[str, Any]:
        """The handshake: ``initialize`` then ``notifications/initialized``."""
        result = await self.request(
            "initialize",
            {
                "protocolVersion": self.protocol_version,
                "capabilities": self.client_capabilities,
                "clientInfo": self.client_info,
            },
        )
        await self.notify("notifications/initialized")
        self.initialize_result = result
        return result

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, on_progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        return await self.request("tools/call", {"name": name, "arguments": arguments or {}}, on_progress=on_progress)

    # -- receiving --------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        lines = LineBuffer(1 << 30)
        try:
            while True:
                try:
                    chunk = await self.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not chunk:
                    return
                for line in lines.feed(chunk):
                    await self._dispatch(jsonrpc.loads(line))  # type: ignore[arg-type]
        finally:
            self.closed.set()

    async def _dispatch(self, message: Any) -> None:
        if type(message) is dict and "method" in message and "id" in message:
            self.asked.append(message)
            self._nursery.start_soon(self._answer_request, message)
            return
        if type(message) is dict and "method" in message and "id" not in message:
            self.notifications.append(message)
            params = message.get("params") or {}
            if message["method"] == "notifications/cancelled" and params.get("requestId") in self._answering:
                self._answering[params["requestId"]].cancel()
            if message["method"] == "notifications/progress":
                callback = self._progress.get(params.get("progressToken"))
                if callback is not None:
                    await callback(params["progress"], params.get("total"), params.get("message"))
            return
        if type(message) is dict and ("result" in message or "error" in message):
            waiter = self._pending.get(message.get("id"))
            if waiter is not None:
                waiter.send_nowait(message)
                return
        self._stray_send.send_nowait(message)

    async def _answer_request(self, message: dict[str, Any]) -> None:
        with trio.CancelScope() as scope:
            self._answering[message["id"]] = scope
            try:
                result = await self._answer(message["method"], message.get("params") or {})
            except RequestFailed as exc:
                reply = jsonrpc.error_bytes(message["id"], exc.to_error_object())
            else:
                reply = jsonrpc.response_bytes(message["id"], result)
            finally:
                del self._answering[message["id"]]
        if scope.cancelled_caught:
            return  # the server withdrew the question: no answer
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.send_raw(reply + b"\n")


@asynccontextmanager
async def open_test_client(
    server: Server,
    *,
    protocol_version: str = LATEST_HANDSHAKE_VERSION,
    initialize: bool = True,
    client_capabilities: dict[str, Any] | None = None,
    client_info: dict[str, Any] | None = None,
    log_level: str | None = None,
    timeout: float = 10.0,
    answers: dict[str, Answerer] | None = None,
    **serve_options: Any,
) -> AsyncIterator[TestClient]:
    """Serve ``server`` in-process and yield a connected :class:`TestClient`.

    A handshake-era ``protocol_version`` (the default, 2025-11-25) runs ``initialize`` first
    unless ``initialize=False``; ``"2026-07-28"`` stamps the per-request envelope (with
    ``log_level``, if given) on every request instead. ``answers`` answer the server's
    questions, whichever era asks them (declare the matching ``client_capabilities``).
    ``serve_options`` go to
    :func:`trimcp.serve_stream`. On exit the client closes its side and waits for the server
    to finish.
    """
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with unwrap_single_exception():
        async with trio.open_nursery() as nursery:
            connection: StreamConnection = await nursery.start(
                lambda task_status: serve_stream(
                    server,
                    server_stream.receive_stream,
                    server_stream.send_stream,
                    task_status=task_status,
                    **serve_options,
                )
            )
            client = TestClient(
                client_stream,
                connection,
                protocol_version=protocol_version,
                client_capabilities=client_capabilities or {},
                client_info=client_info or {"name": "trimcp-testing", "version": "0"},
                log_level=log_level,
                timeout=timeout,
                answers=answers or {},
                nursery=nursery,
            )
            nursery.start_soon(client._read_loop)
            if initialize and client.era is Era.HANDSHAKE:
                await client.initialize()
            try:
                yield client
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(timeout) as scope:
                    await client_stream.send_stream.aclose()
                    await client.closed.wait()
                if scope.cancelled_caught:
                    nursery.cancel_scope.cancel(reason="the server did not finish in time")
                nursery.cancel_scope.cancel(reason="the session is over")  # questions left unanswered
