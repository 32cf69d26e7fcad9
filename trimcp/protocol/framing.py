"""Newline-delimited message framing (the stdio transport), with a bound on message size."""

from __future__ import annotations

from collections.abc import Iterator

import attrs


@attrs.define(slots=True, frozen=True)
class OversizedLine:
    """Stands in for a line longer than the limit; its bytes were discarded, not buffered."""

    size: int


class LineBuffer:
    """Split a byte stream into lines without ever holding more than ``max_line`` bytes.

    A line over the limit is skipped as it streams past and reported once, as an
    :class:`OversizedLine`, when its newline arrives. Blank lines are dropped.
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = 0  # bytes of an oversized line skipped so far

    def feed(self, chunk: bytes) -> Iterator[bytes | OversizedLine]:
        """Consume ``chunk`` and yield each line it completes (without its line ending)."""
        start = 0
        end = len(chunk)
        while start < end:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                self._hold(chunk, start, end)
                return
            if self._discarding:
                size = self._discarding + newline - start
                self._discarding = 0
                yield OversizedLine(size)
            elif len(self._buffer) + newline - start > self.max_line:
                size = len(self._buffer) + newline - start
                self._buffer.clear()
                yield OversizedLine(size)
            else:
                if self._buffer:
                    self._buffer += chunk[start:newline]
                    line = bytes(self._buffer)
                    self._buffer.clear()
                else:
                    line = chunk[start:newline]
                if line.strip():
                    yield line
            start = newline + 1

    def _hold(self, chunk: bytes, start: int, end: int) -> None:
        if self._discarding:
            self._discarding += end - start
        elif len(self._buffer) + end - start > self.max_line:
            self._discarding = len(self._buffer) + end - start
            self._buffer.clear()
        else:
            self._buffer += chunk[start:end]

    def flush(self) -> bytes | OversizedLine | None:
        """At end of stream: the unterminated last line, if any (and reset)."""
        if self._discarding:
            size, self._discarding = self._discarding, 0
            return OversizedLine(size)
        line = bytes(self._buffer)
        self._buffer.clear()
        return line if line.strip() else None

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held (or skipped) so far."""
        return self._discarding or len(self._buffer)
