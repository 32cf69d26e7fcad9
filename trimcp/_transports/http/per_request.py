"""Streamable HTTP POSTs of the 2026-07-28 era: every request is served statelessly. Its task
runs in one dispatcher shared by every POST, and the POST lasts until it ends: closing the
response cancels it at once, cancelling the POST's task cancels it (reason: shutdown)."""

from __future__ import annotations

from typing import Any

import trio

from ..._runtime import Caller, CancelReason, Dispatcher, Host, Outbox, Outgoing, RequestHandle
from ..._runtime.dispatcher import is_cancellation
from ..._server.method_table import MethodTable
from ..._server.server import Server
from ...protocol.envelope import read_envelope
from ...protocol.errors import INVALID_REQUEST, ProtocolError
from ...protocol.http_headers import check_request_headers, routing_headers
from ...protocol.jsonrpc import Batch, Request
from ...protocol.versions import Era
from .asgi import Headers, Receive, Send, send_json, send_jsonrpc_error, send_response
from .config import HTTPConfig
from .streaming import answer_json, stream_sse

#: What a POST whose request was refused unanswered (the dispatcher closing) gets.
_NOTHING = Outgoing(b"")


class PerRequestEndpoint:
    """The 2026-07-28 side of one app: no session. Requests run in one shared dispatcher whose
    nursery is a host of its own (a Trio system task: each POST waits for its request, so
    nothing in it outlives the connections), made anew for a new Trio run."""

    def __init__(self, server: Server, config: HTTPConfig) -> None:
        self.server = server
        self.config = config
        self._connection = MethodTable(server, era=Era.PER_REQUEST)
        self._host = Host(lambda: self.close_all(CancelReason.SHUTDOWN), name="per-request")
        self._runtime: Dispatcher | None = None
        self._nursery: trio.Nursery | None = None

    def runtimes(self) -> list[Dispatcher]:
        """The shared dispatcher, while it runs requests."""
        runtime = self._runtime
        return [runtime] if runtime is not None and runtime.statistics().live_requests else []

    def close_all(self, reason: CancelReason) -> None:
        """Cancel every running request with ``reason``; later POSTs get a new dispatcher."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.close(reason)

    async def _dispatcher(self) -> Dispatcher:
        nursery = await self._host.nursery()
        runtime = self._runtime
        if runtime is None or nursery is not self._nursery:
            self._nursery = nursery
            self._runtime = runtime = Dispatcher(self._connection, nursery, Outbox(1), transport="http", shared=True)
        runtime.observer = self.server.observer  # observers added later see later POSTs
        return runtime

    async def post(self, message: Any, headers: Headers, receive: Receive, send: Send, caller: Caller) -> None:
        """Answer one POST: its headers are checked against its body (-32020 first), then its
        envelope; the answer is JSON when ready at once (or always, with ``json_response``),
        else SSE."""
        if type(message) is Batch:
            await send_jsonrpc_error(send, 400, INVALID_REQUEST, "Invalid Request: batches do not exist in 2026-07-28")
            return
        if type(message) is not Request:
            await send_response(send, 202)  # cancellation is closing the response stream
            return
        try:
            check_request_headers(routing_headers(headers.raw), message, tool_input_schema=self._tool_schema(message))
            read_envelope(message.params, message.id)
        except ProtocolError as exc:
            await send_jsonrpc_error(send, exc.http_status, exc.code, exc.message, request_id=message.id, data=exc.data)
            return
        config = self.config
        runtime = await self._dispatcher()
        outbox = Outbox(config.outbound_buffer_messages)
        started = runtime.start(message, outbox, caller)
        if type(started) is not RequestHandle:  # answered at once
            answer = started if started is not None else _NOTHING
            await send_json(send, _status_of(answer), answer.data)
            return
        outbox.seal()

        def leave() -> None:
            runtime.cancel(started, CancelReason.CLIENT_DISCONNECTED)
            outbox.abort()

        try:
            if not config.json_response or not await answer_json(
                send, receive, outbox, on_disconnect=leave, json_status=_status_of
            ):
                await stream_sse(
                    send,
                    receive,
                    outbox,
                    on_disconnect=leave,
                    keepalive_interval=config.sse_keepalive_seconds,
                    json_status=_status_of,
                )
        except BaseException as exc:
            runtime.cancel(started, CancelReason.SHUTDOWN if is_cancellation(exc) else CancelReason.SESSION_ENDED)
            raise
        finally:
            if outbox.attached:  # the request is still unwinding: its POST outlives it
                with trio.CancelScope(shield=True):
                    await outbox.wait_detached()

    def _tool_schema(self, request: Request) -> dict[str, Any] | None:
        """The input schema of the tool a ``tools/call`` names (``None`` when it names none:
        a name that is not a string is the method table's -32602)."""
        if request.method != "tools/call" or type(request.params) is not dict:
            return None
        name = request.params.get("name")
        tool = self.server.tools.get(name) if type(name) is str else None
        return tool.input_schema if tool is not None else None


def _status_of(answer: Outgoing) -> int:
    """The HTTP status of a 2026-07-28 JSON answer: its error's, else 200."""
    return answer.error.http_status if answer.error is not None else 200
