"""The deprecated HTTP+SSE transport (2024-11-05): one GET stream carries everything the server
sends, starting with an ``endpoint`` event naming where to POST messages."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio

from ..protocol import jsonrpc
from ..protocol.errors import ProtocolError, RemoteProtocolError
from ..protocol.sse import SSEDecoder
from .core import ClientCore
from .errors import ClientError, NotAnMCPServer
from .http import HTTPPool, Response
from .http_transport import raise_for_answer


class LegacySSETransport:
    """Opened by :meth:`connect`; the stream's reader dispatches every message event."""

    def __init__(self, pool: HTTPPool, headers: dict[str, str]) -> None:
        self.pool = pool
        self.extra_headers = list(headers.items())
        self.endpoint = ""
        self._exit = AsyncExitStack()
        self._response: Response | None = None
        self._decoder = SSEDecoder()

    async def connect(self, timeout: float) -> None:
        """GET the stream and wait for its ``endpoint`` event."""
        headers = [("accept", "text/event-stream"), *self.extra_headers]
        response = await self._exit.enter_async_context(self.pool.request("GET", self.pool.origin.target, headers))
        if response.status != 200:
            await raise_for_answer(response)
        if response.content_type != "text/event-stream":
            raise NotAnMCPServer(f"GET answered {response.content_type or 'untyped'}, not an SSE stream")
        self._response = response
        with trio.fail_after(timeout):
            async for chunk in response.chunks():
                for event in self._feed(chunk):
                    if event.event == "endpoint":
                        self.endpoint = self.pool.origin.resolve(event.data.strip())
                        return
        raise NotAnMCPServer("the SSE stream ended without an endpoint event")

    def _feed(self, chunk: bytes) -> list[Any]:
        try:
            return self._decoder.feed(chunk)
        except RemoteProtocolError as exc:
            raise NotAnMCPServer(f"malformed SSE stream: {exc}") from None

    async def read_into(self, client: ClientCore) -> None:
        assert self._response is not None
        try:
            async for chunk in self._response.chunks():
                for event in self._feed(chunk):
                    if event.event != "message" or not event.data:
                        continue
                    try:
                        message = jsonrpc.loads(event.data)
                    except ProtocolError:
                        continue
                    await client.dispatch(message)
        except ClientError as exc:
            client.close(exc)
        finally:
            client.close()

    async def send_request(self, request_id: Any, message: dict[str, Any], data: bytes) -> None:
        await self._post(data)

    async def send_message(self, message: dict[str, Any], data: bytes) -> None:
        await self._post(data)

    def abandon(self, request_id: Any) -> bool:
        return False

    async def _post(self, data: bytes) -> None:
        headers = [("content-type", "application/json"), *self.extra_headers]
        async with self.pool.request("POST", self.endpoint, headers, data) as response:
            if response.status not in (200, 202):
                await raise_for_answer(response)
            await response.read()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._exit.aclose()
            await self.pool.aclose()
