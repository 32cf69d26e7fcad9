"""Fuzz a live stdio server (a real ``trimcp serve`` subprocess) with newline-delimited lines.

Each server process gets a few thousand lines of one era (after ``initialize`` for the handshake
era), written in random pieces; a reader task collects every output line. Findings:

- ``deaths``: the process exited before its stdin was closed, or with a non-zero status (the
  recent lines are replayed one by one on fresh processes to find the one that kills it);
- ``hangs``: answers stopped coming for ``timeout`` seconds, or the process did not exit after
  its stdin closed;
- ``lost``: a request with a valid id (outside batches) not answered by exactly one line;
- ``errors``: an output line that is not a JSON-RPC message.
"""

from __future__ import annotations

import collections
import json
import random
from collections.abc import Callable
from typing import Any

import trio

from . import messages, values
from .findings import Finding, Report, traceback_signature
from .processes import ServerProcess

SENTINEL_EVERY = 64
#: After the last sentinel's answer, how long answers still missing may take.
STRAGGLERS = 1.0


def make_line(rng: random.Random, modern: bool, version: str) -> bytes:
    """One line (or, after byte damage, a few) with its line ending."""
    roll = rng.random()
    if roll < 0.0015:  # over the 4 MiB line limit
        return b"[" + b" " * (4 * 1024 * 1024) + b"]\n"
    if roll < 0.0115:
        return rng.choice((b"\n", b"   \n", b"\r\n", b"\t\r\n"))
    data = messages.fuzzed(rng, modern, version)[1]
    return data + (b"\r\n" if rng.random() < 0.1 else b"\n")


class _Process:
    """One server process being fuzzed: what was sent, what must come back, what came back."""

    def __init__(self, run: _StdioRun, era: str) -> None:
        self.run = run
        self.era = era
        self.server = ServerProcess([])
        self.expected: collections.Counter[str] = collections.Counter()
        self.received: collections.Counter[str] = collections.Counter()
        self.excused: set[str] = set()
        self.sources: dict[str, bytes] = {}
        self.seen: collections.Counter[str] = collections.Counter()
        self.line_of: dict[str, int] = {}
        self.ids: dict[str, Any] = {}
        self.recent: collections.deque[bytes] = collections.deque(maxlen=64)
        self.progress = trio.Event()
        self.stdout_closed = False

    def outstanding(self) -> int:
        return sum(max(0, count - self.received[key]) for key, count in self.expected.items() if self.seen[key] == 1)

    def account(self, data: bytes, index: int = -1) -> None:
        """Record what the server must answer for ``data`` (split as the server splits it). Ids
        sent more than once (in any message) are not judged: answers cannot be told apart."""
        for piece in data.split(b"\n"):
            if not piece.strip():
                continue
            ids, batch, cancelled = messages.must_answer(piece)
            for seen in messages.valid_ids(piece):
                self.seen[repr(seen)] += 1
            self.excused.update(map(repr, cancelled))
            for request_id in ids:
                key = repr(request_id)
                if batch:
                    self.excused.add(key)
                else:
                    self.expected[key] += 1
                    self.sources[key] = piece
                    self.ids[key] = request_id
                    self.line_of[key] = index

    async def read(self) -> None:
        stream = self.server.process.stdout
        buffer = b""
        while True:
            try:
                chunk = await stream.receive_some(1 << 16)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                chunk = b""
            if not chunk:
                self.stdout_closed = True
                self.progress.set()
                return
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                self._output(line)
            self.progress.set()
            self.progress = trio.Event()

    def _output(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self.run.report.add(Finding("stdio", "errors", "an output line that is not JSON", line, "", self.run.seed))
            return
        for item in message if isinstance(message, list) else [message]:
            if isinstance(item, dict) and "method" not in item and type(item.get("id")) in (int, str):
                self.received[repr(item["id"])] += 1

    async def send(self, data: bytes) -> bool:
        try:
            await self.server.process.stdin.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return False
        return True

    async def wait_for(self, key: str, timeout: float) -> bool:
        """Wait for an answer to the id whose repr is ``key``; ``False`` after ``timeout``
        seconds without progress (or once stdout closed)."""
        return await self._wait_until(lambda: bool(self.received[key]), timeout)

    async def wait_below(self, limit: int, timeout: float) -> bool:
        """Wait until at most ``limit`` answers are outstanding; ``False`` after ``timeout``
        seconds without progress (or when stdout closed)."""
        return await self._wait_until(lambda: self.outstanding() <= limit, timeout)

    async def _wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        while not done():
            if self.stdout_closed:
                return False
            with trio.move_on_after(timeout) as scope:
                await self.progress.wait()
            if scope.cancelled_caught:
                return False
        return True


class _StdioRun:
    def __init__(self, cases: int, seed: int, timeout: float, lines_per_process: int) -> None:
        self.cases = cases
        self.seed = seed
        self.timeout = timeout
        self.lines_per_process = lines_per_process
        self.report = Report("stdio")
        self.index = 0

    async def one_process(self, era_rng: random.Random) -> None:
        era = era_rng.choice(("modern", "none") + messages.HANDSHAKE_VERSIONS * 2)
        process = _Process(self, era)
        await process.server.start_stdio()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(process.read)
                died = await self._feed(process)
                await self._finish(process, died)
                nursery.cancel_scope.cancel()
        finally:
            await process.server.stop()
            process.server.cleanup()

    async def _feed(self, process: _Process) -> bool:
        """Write this process's lines; ``True`` if it died meanwhile.

        Every ``SENTINEL_EVERY`` lines a ``ping`` with a unique id follows (answered in every
        era, if only with an error); writing runs at most two sentinels ahead of the answers,
        and a sentinel not answered within the timeout is a hang."""
        modern = process.era == "modern"
        version = process.era if process.era in messages.HANDSHAKE_VERSIONS else messages.HANDSHAKE_VERSIONS[0]
        if process.era in messages.HANDSHAKE_VERSIONS:
            hello = values.encode(messages.initialize(version, random.Random(0))) + b"\n"
            hello += b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
            process.account(hello)
            await process.send(hello)
        pending = b""
        sentinels: list[str] = []
        end = min(self.cases, self.index + self.lines_per_process)
        while self.index < end:
            rng = random.Random(f"{self.seed}/stdio/{self.index}")
            line = make_line(rng, modern, version)
            self.index += 1
            self.report.count()
            process.account(line, self.index - 1)
            process.recent.append(line)
            pending += line
            if self.index % SENTINEL_EVERY == 0 or self.index == end:
                sentinel = f"sentinel-{self.index}"
                sentinels.append(repr(sentinel))
                ping = b'{"jsonrpc":"2.0","id":"%s","method":"ping"}\n' % sentinel.encode()
                pending = pending + ping if pending.endswith(b"\n") else pending + b"\n" + ping
                process.account(ping)
            if rng.random() < 0.3 or len(pending) > 1 << 16 or pending.endswith(b'"method":"ping"}\n'):
                cut = rng.randint(0, len(pending)) if rng.random() < 0.3 else len(pending)
                if not await process.send(pending[:cut]):
                    return True
                pending = pending[cut:]
            if len(sentinels) > 2 and not await process.wait_for(sentinels[-3], self.timeout):
                return not process.server.alive or process.stdout_closed or self._hang(process, "answers stopped")
        if pending and not await process.send(pending):
            return True
        # Closing stdin means "the client is gone": wait for every answer first.
        if sentinels and not await process.wait_for(sentinels[-1], self.timeout):
            return not process.server.alive or process.stdout_closed or self._hang(process, "answers stopped")
        await process.wait_below(0, STRAGGLERS)
        return False

    def _hang(self, process: _Process, what: str) -> bool:
        keys = [
            k
            for k, count in process.expected.items()
            if process.received[k] < count and k not in process.excused and process.seen[k] == 1
        ]
        data = [process.sources[k] for k in keys[:20]]
        detail = f"{what}: {len(keys)} answers missing after {self.timeout} s (era {process.era})"
        self.report.add(Finding("stdio", "hangs", what, data, detail, self.seed))
        return False

    async def _finish(self, process: _Process, died: bool) -> None:
        if not died:
            await process.server.process.stdin.aclose()
            with trio.move_on_after(self.timeout + 2) as scope:
                await process.server.process.wait()
                while not process.stdout_closed:
                    await process.progress.wait()
            if scope.cancelled_caught:
                self._hang(process, "no exit after stdin closed")
                return
        status = process.server.process.poll()
        if died or (status is not None and status != 0):
            with trio.move_on_after(2):
                await process.server.process.wait()
            await self._death(process, process.server.process.poll())
            return
        for key, count in process.expected.items():
            got = process.received[key]
            if got != count and key not in process.excused and process.seen[key] == 1:
                kind = "no answer" if got == 0 else "duplicate answers"
                detail = (
                    f"id {key}: {got} answers for {count} requests (era {process.era}, line {process.line_of[key]})"
                )
                label = messages.describe(process.sources[key], process.ids[key])
                self.report.add(Finding("stdio", "lost", f"{kind}: {label}", process.sources[key], detail, self.seed))

    async def _death(self, process: _Process, status: int | None) -> None:
        stderr = process.server.stderr()
        signature = traceback_signature(stderr) or f"exit status {status}"
        culprit = None if self.report.seen("deaths", signature) else await self._pin_down(process)
        data = [culprit] if culprit else list(process.recent)
        detail = f"exit status {status} (era {process.era}); pinned down: {culprit is not None}\n{stderr[-5000:]}"
        self.report.add(Finding("stdio", "deaths", signature, data, detail, self.seed))

    async def _pin_down(self, process: _Process) -> bytes | None:
        """Bisect the recent lines: the shortest prefix that kills a fresh process of the same era
        ends with the culprit (``None`` when even all of them do not)."""
        lines = list(process.recent)
        if not await self._kills(process.era, lines):
            return None
        low, high = 1, len(lines)
        while low < high:
            middle = (low + high) // 2
            if await self._kills(process.era, lines[:middle]):
                high = middle
            else:
                low = middle + 1
        return lines[low - 1]

    async def _kills(self, era: str, lines: list[bytes]) -> bool:
        server = ServerProcess([])
        await server.start_stdio()
        try:
            data = b""
            if era in messages.HANDSHAKE_VERSIONS:
                data = values.encode(messages.initialize(era)) + b"\n"
                data += b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'

            async def drain() -> None:
                while await server.process.stdout.receive_some(1 << 16):
                    pass

            with trio.move_on_after(self.timeout):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(drain)
                    try:
                        await server.process.stdin.send_all(data + b"".join(lines))
                        await server.process.stdin.aclose()
                    except (trio.BrokenResourceError, OSError):
                        pass
                    await server.process.wait()
            return server.process.poll() not in (0, None)
        finally:
            await server.stop()
            server.cleanup()


async def run_stdio(
    cases: int, seed: int, *, timeout: float = 10.0, lines_per_process: int = 2500, parallel: int = 2
) -> Report:
    """Send ``cases`` lines to a series of stdio server processes (``parallel`` at a time)."""
    run = _StdioRun(cases, seed, timeout, lines_per_process)
    era_rng = random.Random(f"{seed}/stdio-eras")

    async def lane() -> None:
        while run.index < run.cases:
            await run.one_process(era_rng)

    async with trio.open_nursery() as nursery:
        for _ in range(parallel):
            nursery.start_soon(lane)
    return run.report


def main_sync(cases: int, seed: int, **options: Any) -> Report:
    return trio.run(lambda: run_stdio(cases, seed, **options))


async def replay(line: bytes, *, version: str = "2025-11-25", timeout: float = 10.0) -> tuple[bytes, str, int | None]:
    """Send one saved line (after ``initialize`` at ``version``) to a fresh stdio server and
    close its stdin: what it wrote, its stderr, its exit status."""
    server = ServerProcess([])
    await server.start_stdio()
    try:
        hello = values.encode(messages.initialize(version)) + b"\n"
        hello += b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
        output = b""
        with trio.move_on_after(timeout):
            await server.process.stdin.send_all(hello + line.rstrip(b"\n") + b"\n")
            await server.process.stdin.aclose()
            while chunk := await server.process.stdout.receive_some(1 << 16):
                output += chunk
            await server.process.wait()
        return output, server.stderr(), server.process.poll()
    finally:
        await server.stop()
        server.cleanup()
