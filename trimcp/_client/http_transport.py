"""Streamable HTTP for the client, both eras: one POST per message, JSON or SSE answers, the
session id and version headers (handshake era) or routing headers (2026-07-28), the GET stream,
resumption with ``Last-Event-ID``, re-initializing a session the server forgot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio

from ..protocol import jsonrpc
from ..protocol.auth import parse_challenge
from ..protocol.errors import ProtocolError, RemoteProtocolError, RequestFailed
from ..protocol.http_headers import request_headers
from ..protocol.sse import SSEDecoder
from ..protocol.versions import Era
from .core import ClientCore
from .errors import (
    AuthorizationRequired,
    ClientError,
    ConnectionFailed,
    HTTPStatusError,
    NotAnMCPServer,
    ServerClosed,
)
from .http import CLOSED_BEFORE_ANSWERING, CONNECTION_DROPPED, HTTPPool, Response, Unreachable

_ACCEPT = ("accept", "application/json, text/event-stream")
_JSON = ("content-type", "application/json")
_MAX_RESUMES = 5
_MAX_RETRY_DELAY = 10.0


async def sse_messages(response: Response, decoder: SSEDecoder) -> AsyncIterator[Any]:
    """The JSON-RPC messages of an SSE body (events without data, such as a priming event,
    only move ``decoder.last_event_id``). Raises :class:`NotAnMCPServer` for an event that is
    not JSON."""
    async for chunk in response.chunks():
        try:
            events = decoder.feed(chunk)
        except RemoteProtocolError as exc:
            raise NotAnMCPServer(f"malformed SSE stream: {exc}") from None
        for event in events:
            if event.event != "message" or not event.data:
                continue
            try:
                yield jsonrpc.loads(event.data)
            except ProtocolError:
                raise NotAnMCPServer(f"an SSE event that is not JSON-RPC: {event.data[:200]!r}") from None


def raise_for_credentials(response: Response) -> None:
    """Raise :class:`AuthorizationRequired` for a 401 or 403 that carries a Bearer challenge."""
    challenge = parse_challenge(response.header("www-authenticate") or "")
    if response.status in (401, 403) and challenge is not None:
        detail = challenge.get("error_description") or challenge.get("error") or "credentials needed"
        raise AuthorizationRequired(response.status, detail, challenge)


async def raise_for_answer(response: Response) -> None:
    """Turn a non-MCP answer into the error that says what went wrong."""
    raise_for_credentials(response)
    body = (await response.read(1 << 20))[:300].decode("utf-8", "replace")
    hints = {
        404: "no MCP endpoint at this URL (or the session ended)",
        405: "this URL does not accept that method (not a Streamable HTTP endpoint?)",
        406: "the server refused our Accept header",
        415: "the server refused our Content-Type",
    }
    detail = hints.get(response.status, body.strip() or "no details")
    raise HTTPStatusError(response.status, detail)


class HTTPTransport:
    """Streamable HTTP at one URL. Each request's answer is read by a task of the transport's
    nursery, so closing that stream (2026-07-28 cancellation) is cancelling that task."""

    def __init__(
        self,
        pool: HTTPPool,
        nursery: trio.Nursery,
        client: ClientCore,
        headers: dict[str, str],
        get_stream_wait: float = 5.0,
    ) -> None:
        self.pool = pool
        self.client = client
        self.extra_headers = list(headers.items())
        self.session_id: str | None = None
        self._nursery = nursery
        self._streams: dict[Any, trio.CancelScope] = {}
        self._reinitializing = trio.Lock()
        self._get_scope: trio.CancelScope | None = None
        self._get_stream_wait = get_stream_wait

    # -- sending ----------------------------------------------------------------------------------

    def _headers(self, message: dict[str, Any]) -> list[tuple[str, str]]:
        headers = [_ACCEPT, _JSON, *self.extra_headers]
        if self.client.era is Era.PER_REQUEST:
            if "id" in message:
                typed: jsonrpc.Request | jsonrpc.Notification = jsonrpc.Request(
                    message["id"], message["method"], message.get("params")
                )
            else:
                typed = jsonrpc.Notification(message["method"], message.get("params"))
            schema = self.client.tool_schemas.get(typed.params.get("name")) if typed.method == "tools/call" else None
            headers += [
                (name.lower(), value) for name, value in request_headers(typed, tool_input_schema=schema).items()
            ]
            return headers
        if message.get("method") == "initialize":
            return headers  # no session yet, and the version is in the body
        return [_ACCEPT, _JSON, *self._session_headers()]

    async def send_request(self, request_id: Any, message: dict[str, Any], data: bytes) -> None:
        await self._nursery.start(self._exchange, request_id, message, data)

    async def send_message(self, message: dict[str, Any], data: bytes) -> None:
        """A notification or an answer: the server accepts it with 202."""
        async with self.pool.request("POST", self.pool.origin.target, self._headers(message), data) as response:
            if response.status in (200, 202):
                await response.read()
                return
            if response.status == 404 and self.session_id is not None and self.client.era is Era.HANDSHAKE:
                await response.read()
                return  # the session is gone; the next request re-initializes it
            await self._raise_error(response)

    def abandon(self, request_id: Any) -> bool:
        scope = self._streams.get(request_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    # -- answers ----------------------------------------------------------------------------------

    async def _exchange(
        self, request_id: Any, message: dict[str, Any], data: bytes, task_status: trio.TaskStatus[None]
    ) -> None:
        with trio.CancelScope() as scope:
            self._streams[request_id] = scope
            task_status.started()
            try:
                session = self.session_id
                if await self._post(request_id, message, data):  # the server forgot the session
                    await self._reinitialize(session)
                    if await self._post(request_id, message, data):
                        raise HTTPStatusError(404, "the session ended and the new one was forgotten at once")
            except (
                ClientError,
                RequestFailed,
                TypeError,
                ValueError,
            ) as exc:  # TypeError: an argument no header can carry
                self.client.fail(request_id, exc)
            finally:
                del self._streams[request_id]

    async def _post(self, request_id: Any, message: dict[str, Any], data: bytes) -> bool:
        """POST and dispatch the answer; ``True`` when the session was unknown (404)."""
        async with self.pool.request("POST", self.pool.origin.target, self._headers(message), data) as response:
            if response.status == 404 and self.session_id is not None and message.get("method") != "initialize":
                await response.read()
                return True
            if response.status != 200:
                await self._raise_error(response)
                return False
            if message.get("method") == "initialize" and response.header("mcp-session-id"):
                self.session_id = response.header("mcp-session-id")
            if response.content_type == "application/json":
                await self._dispatch_json(await response.read())
            elif response.content_type == "text/event-stream":
                await self._read_stream(response, request_id)
            else:
                raise NotAnMCPServer(f"the answer is {response.content_type or 'untyped'}, not JSON or SSE")
        return False

    async def _dispatch_json(self, body: bytes) -> None:
        try:
            message = jsonrpc.loads(body)
        except ProtocolError:
            raise NotAnMCPServer(f"the answer is not JSON: {body[:200]!r}") from None
        await self.client.dispatch(message)

    async def _read_stream(self, response: Response, request_id: Any) -> None:
        decoder = SSEDecoder()
        try:
            async for message in sse_messages(response, decoder):
                await self.client.dispatch(message)
        except CONNECTION_DROPPED:
            if decoder.last_event_id is None or self.client.era is not Era.HANDSHAKE:
                raise
        if not self.client.answered(request_id) and decoder.last_event_id is not None:
            await self._resume(request_id, decoder)
        if not self.client.answered(request_id):
            raise ConnectionFailed("the server's stream ended before the answer")

    async def _resume(self, request_id: Any, decoder: SSEDecoder) -> None:
        """Reconnect with ``Last-Event-ID`` (handshake era) until the answer arrives."""
        for _ in range(_MAX_RESUMES):
            await trio.sleep(min((decoder.retry or 0) / 1000, _MAX_RETRY_DELAY))
            headers = self._stream_headers(decoder.last_event_id)
            try:
                async with self.pool.request("GET", self.pool.origin.target, headers) as response:
                    if response.status != 200 or response.content_type != "text/event-stream":
                        await raise_for_answer(response)
                    async for message in sse_messages(response, decoder):
                        await self.client.dispatch(message)
            except Unreachable:  # nothing listens any more: the server went away, not a proxy
                raise ServerClosed(CLOSED_BEFORE_ANSWERING) from None
            except CONNECTION_DROPPED:
                continue
            if self.client.answered(request_id):
                return

    def _stream_headers(self, last_event_id: str | None) -> list[tuple[str, str]]:
        """A GET for the session's events, after ``last_event_id`` when one was seen."""
        headers = [("accept", "text/event-stream"), *self._session_headers()]
        if last_event_id is not None:
            headers.append(("last-event-id", last_event_id))
        return headers

    def _session_headers(self) -> list[tuple[str, str]]:
        headers = list(self.extra_headers)
        if self.session_id is not None:
            headers.append(("mcp-session-id", self.session_id))
        if self.client.protocol_version:
            headers.append(("mcp-protocol-version", self.client.protocol_version))
        return headers

    async def _raise_error(self, response: Response) -> None:
        """An error answer: a JSON-RPC error body raises :class:`RequestFailed`; anything else
        an :class:`HTTPStatusError` (:class:`AuthorizationRequired` for a credentials challenge)."""
        raise_for_credentials(response)
        if response.content_type == "application/json":
            body = await response.read(1 << 20)
            try:
                message = jsonrpc.loads(body)
            except ProtocolError:
                message = None
            if isinstance(message, dict) and isinstance(message.get("error"), dict):
                raise RequestFailed(message["error"])
            raise HTTPStatusError(response.status, body[:300].decode("utf-8", "replace"))
        await raise_for_answer(response)

    async def _reinitialize(self, stale_session: str | None) -> None:
        async with self._reinitializing:
            if self.session_id != stale_session:
                return  # another request already did
            self.session_id = None
            await self.client.initialize(self.client.protocol_version)
            await self.open_get_stream()

    # -- the GET stream ---------------------------------------------------------------------------

    async def open_get_stream(self) -> None:
        """Handshake era: listen for the server's own messages (list changes, questions outside
        a request), reconnecting with ``Last-Event-ID``; a server without one (405) is fine.
        Returns once the server answered the first GET (or it failed), at most
        ``get_stream_wait`` seconds later: a server sends a message that belongs to no request only on that stream (or
        drops it), so no request may go out before it is listening."""
        if self._get_scope is not None:
            self._get_scope.cancel()
        self._get_scope = trio.CancelScope()
        answered = trio.Event()
        self._nursery.start_soon(self._get_stream, self._get_scope, answered)
        with trio.move_on_after(self._get_stream_wait):
            await answered.wait()

    async def _get_stream(self, scope: trio.CancelScope, answered: trio.Event) -> None:
        decoder = SSEDecoder()
        failures = 0
        with scope:
            try:
                while failures < _MAX_RESUMES:
                    headers = self._stream_headers(decoder.last_event_id)
                    try:
                        async with self.pool.request("GET", self.pool.origin.target, headers) as response:
                            answered.set()
                            if response.status != 200 or response.content_type != "text/event-stream":
                                return
                            failures = 0
                            async for message in sse_messages(response, decoder):
                                await self.client.dispatch(message)
                    except ClientError:
                        failures += 1
                    answered.set()
                    await trio.sleep(min((decoder.retry or 1000) / 1000, _MAX_RETRY_DELAY))
            finally:
                answered.set()

    async def aclose(self) -> None:
        """End the session (DELETE) and close the connections."""
        if self._get_scope is not None:
            self._get_scope.cancel()
        if self.session_id is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    async with self.pool.request(
                        "DELETE", self.pool.origin.target, self._session_headers()
                    ) as response:
                        await response.read()
                except ClientError:
                    pass
        await self.pool.aclose()
