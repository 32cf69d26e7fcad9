"""Streamable HTTP POSTs of the 2026-07-28 era: every request is served statelessly, its
request living in the POST's own task, so closing the response cancels it."""

from __future__ import annotations

import functools
from typing import Any

import trio

from ..._runtime import Caller, CancelReason, Dispatcher, Outbox, Outgoing, open_dispatcher
from ..._server.method_table import MethodTable
from ..._server.server import Server
from ...protocol.envelope import read_envelope
from ...protocol.errors import INVALID_REQUEST, ProtocolError
from ...protocol.http_headers import check_request_headers
from ...protocol.jsonrpc import Batch, Request
from ...protocol.versions import Era
from .asgi import Headers, Receive, Send, send_jsonrpc_error, send_response
from .config import HTTPConfig
from .streaming import abandon, answer_json, stream_sse


class PerRequestEndpoint:
    """The 2026-07-28 side of one app: no session, one runtime per POST (tracked, so a
    shutdown reaches what is running)."""

    def __init__(self, server: Server, config: HTTPConfig) -> None:
        self.server = server
        self.config = config
        self._connection = MethodTable(server, era=Era.PER_REQUEST)
        self._runtimes: set[Dispatcher] = set()

    def runtimes(self) -> list[Dispatcher]:
        return list(self._runtimes)

    def close_all(self, reason: CancelReason) -> None:
        for runtime in list(self._runtimes):
            runtime.close(reason)

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
            check_request_headers(headers.as_mapping(), message, tool_input_schema=self._tool_schema(message))
            read_envelope(message.params, message.id)
        except ProtocolError as exc:
            await send_jsonrpc_error(send, exc.http_status, exc.code, exc.message, request_id=message.id, data=exc.data)
            return
        config = self.config
        outbox = Outbox(config.outbound_buffer_messages)
        async with open_dispatcher(
            self._connection, outbox, observer=self.server.observer, transport="http"
        ) as runtime:
            self._runtimes.add(runtime)
            try:
                await runtime.receive(message, outbox, caller)
                outbox.seal()
                leave = functools.partial(abandon, runtime, outbox)
                if not (outbox.closed or config.json_response) or not await answer_json(
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
            except trio.Cancelled:
                runtime.close(CancelReason.SHUTDOWN)  # the server cancelled this connection's task
                raise
            finally:
                self._runtimes.discard(runtime)

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
