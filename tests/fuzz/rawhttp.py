"""A deliberately lenient HTTP/1.1 client over a raw Trio socket: it sends exactly the bytes it
is given and reads back whatever responses arrive (Content-Length, chunked, or until close),
every wait bounded."""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from trimcp.protocol.sse import SSEDecoder


class Timeout(Exception):
    """No (complete) answer within the deadline."""


class Malformed(Exception):
    """The server's bytes are not an HTTP/1.1 response."""


@attrs.define
class HTTPResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    #: The body was not read (an endless event stream); the connection cannot be reused.
    streaming: bool = False

    def messages(self) -> list[Any]:
        """The JSON-RPC messages in the body (JSON, or the data of SSE events); raises
        ``ValueError`` for a body that is neither."""
        if not self.body:
            return []
        if self.headers.get("content-type", "").startswith("text/event-stream"):
            found: list[Any] = []
            for event in SSEDecoder().feed(self.body + b"\n\n"):
                if event.data:
                    value = json.loads(event.data)
                    found.extend(value if isinstance(value, list) else [value])
            return found
        value = json.loads(self.body)
        return value if isinstance(value, list) else [value]


class Connection:
    """One TCP connection: send raw bytes, read responses."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.eof = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def half_close(self) -> None:
        try:
            await self.stream.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def close(self) -> None:
        with trio.move_on_after(1):
            await self.stream.aclose()

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def _read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes | None:
        while True:
            index = self.buffer.find(marker)
            if index >= 0:
                head, self.buffer = self.buffer[:index], self.buffer[index + len(marker) :]
                return head
            if len(self.buffer) > limit:
                raise Malformed(f"no {marker!r} within {limit} bytes")
            if not await self._fill():
                return None

    async def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self._fill():
                raise Malformed(f"the connection closed {size - len(self.buffer)} bytes before the body's end")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def response(self, *, head_only_streams: bool = True, request_method: str = "POST") -> HTTPResponse | None:
        """The next response (``None`` when the connection closed cleanly before one began)."""
        head = await self._read_until(b"\r\n\r\n")
        if head is None:
            if self.buffer:
                raise Malformed(f"the connection closed inside a response head: {self.buffer[:200]!r}")
            return None
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise Malformed(f"bad status line {lines[0][:200]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise Malformed(f"bad header line {line[:200]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if status < 200:
            return await self.response(head_only_streams=head_only_streams, request_method=request_method)
        response = HTTPResponse(status, headers)
        if request_method == "HEAD" or status in (204, 304):
            return response
        if head_only_streams and headers.get("content-type", "").startswith("text/event-stream") and status == 200:
            response.streaming = True
            return response
        if headers.get("transfer-encoding", "").lower() == "chunked":
            response.body = await self._chunked()
        elif "content-length" in headers:
            response.body = await self._read_exactly(int(headers["content-length"]))
        else:
            while await self._fill():
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size_line = await self._read_until(b"\r\n")
            if size_line is None:
                raise Malformed("the connection closed inside a chunked body")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while (trailer := await self._read_until(b"\r\n")) not in (b"", None):
                    del trailer
                return b"".join(parts)
            parts.append(await self._read_exactly(size))
            if await self._read_exactly(2) != b"\r\n":
                raise Malformed("a chunk not followed by CRLF")

    async def body_piece(self, response: HTTPResponse) -> bytes | None:
        """The next piece of a ``streaming`` response's body (whose head :meth:`response` read),
        chunked or not; ``None`` once it ended or the connection closed."""
        if response.headers.get("transfer-encoding", "").lower() != "chunked":
            if self.buffer or await self._fill():
                data, self.buffer = self.buffer, b""
                return data
            return None
        size_line = await self._read_until(b"\r\n")
        if size_line is None:
            return None
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise Malformed(f"bad chunk size line {size_line[:100]!r}") from None
        if size == 0:
            return None
        data = await self._read_exactly(size)
        await self._read_exactly(2)
        return data
