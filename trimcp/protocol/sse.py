"""Server-Sent Events: an encoder and an incremental decoder, shared by server and client.

The decoder follows the WHATWG "event stream interpretation" rules: a leading BOM is dropped;
lines end in CR, LF or CRLF (a CRLF split across two chunks counts once); ``data`` lines are
joined with LF; comments (lines starting with ``:``) are ignored; ``id`` values containing NUL
are ignored; ``retry`` is honoured only when it is all ASCII digits; an event is dispatched on
an empty line when its data buffer is not empty.
"""

from __future__ import annotations

import re

import attrs

from .errors import RemoteProtocolError

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@attrs.define(slots=True, frozen=True)
class ServerSentEvent:
    """One dispatched event. ``id`` is the stream's last event id when the event was dispatched."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def encode_event(
    data: str | bytes = "",
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event; multi-line data becomes several ``data:`` lines.

    Empty ``data`` with an ``id`` is the priming event MCP uses to hand the client an id before
    anything else. Raises ``ValueError`` when a field would
    break the framing (a newline in ``event`` or ``id``).
    """
    parts: list[bytes] = []
    if id is not None:
        if "\n" in id or "\r" in id or "\0" in id:
            raise ValueError("an SSE id cannot contain CR, LF or NUL")
        parts.append(b"id: " + id.encode() + b"\n")
    if event is not None:
        if "\n" in event or "\r" in event:
            raise ValueError("an SSE event name cannot contain CR or LF")
        parts.append(b"event: " + event.encode() + b"\n")
    if retry is not None:
        parts.append(b"retry: %d\n" % retry)
    raw = data.encode() if isinstance(data, str) else data
    if b"\n" in raw or b"\r" in raw:
        for line in _LINE_END.split(raw):
            parts.append(b"data: " + line + b"\n")
    else:
        parts.append(b"data: " + raw + b"\n")
    parts.append(b"\n")
    return b"".join(parts)


def encode_comment(text: str = "") -> bytes:
    """A comment line (used as a keep-alive); ignored by every conforming decoder."""
    return b": " + text.replace("\n", " ").replace("\r", " ").encode() + b"\n\n"


class SSEDecoder:
    """Incremental decoder: feed it chunks as they arrive, get back the events they complete.

    ``max_event_size`` bounds the memory one event (or one unterminated line) may use; beyond
    it :meth:`feed` raises :class:`RemoteProtocolError`.
    """

    def __init__(self, *, max_event_size: int = 16 * 1024 * 1024) -> None:
        self.max_event_size = max_event_size
        #: The last event id the stream set, whether or not an event was dispatched with it.
        self.last_event_id: str | None = None
        #: The last reconnection time (milliseconds) the stream asked for.
        self.retry: int | None = None
        self._buffer = b""
        self._started = False
        self._pending_cr = False
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume ``chunk``; return the events it completed, in order."""
        if not chunk:
            return []
        buffer = self._buffer + chunk
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer
                return []
            self._started = True
            buffer = buffer.removeprefix(_BOM)
        if self._pending_cr:
            if not buffer:
                self._buffer = buffer
                return []
            self._pending_cr = False
            if buffer[:1] == b"\n":
                buffer = buffer[1:]
        lines = _LINE_END.split(buffer)
        self._buffer = lines.pop()
        if len(self._buffer) > self.max_event_size:
            raise RemoteProtocolError(f"SSE line longer than {self.max_event_size} bytes")
        if not lines:
            return []
        if buffer.endswith(b"\r"):
            self._pending_cr = True
        events: list[ServerSentEvent] = []
        for line in lines:
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def _process_line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return None
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_event_size:
                raise RemoteProtocolError(f"SSE event larger than {self.max_event_size} bytes")
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif (
            field == "retry" and value.isascii() and value.isdigit() and len(value) <= 18
        ):  # int() refuses 4,300+ digits
            self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._data_size, self._event = [], 0, ""
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event or "message", self.last_event_id, self.retry)
