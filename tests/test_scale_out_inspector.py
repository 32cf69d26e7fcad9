"""Issue 18's "done when", with the MCP Inspector CLI (the pinned 2.12.0, node 22): HAProxy
round-robin (no affinity) over two ``trimcp serve --workers 2 --redis URL`` processes
(tests/test_scale_out.py's cluster). Each CLI invocation is one handshake-era session
(``initialize``, ``notifications/initialized``, the GET stream, ``logging/setLevel``, then its
method) whose requests HAProxy spreads over both machines, so those that miss the session's
owner are relayed to it through Redis.

The CLI prints only the result (it shows neither progress nor log messages), so each invocation
goes through a byte tap in front of HAProxy: the test reads what the CLI received on the wire,
and checks every progress and log message of its call arrived, in order, once, and nothing of
another session's."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import trio

from .node_peers import NODE, node_environment, package_bin
from .test_scale_out import cluster

INSTALL_HINT = "node 22 and the MCP Inspector are needed: cd tests/interop && npm ci --ignore-scripts (needs npm)"
#: Invocations, run ``BATCH`` at a time: each batch has two calls of ``report``, one
#: ``tools/list`` and one ``resources/read``.
BATCHES, BATCH = 5, 4
STEPS = 3
#: Seconds one CLI invocation may take (node starts, connects, makes five or six requests).
INVOCATION_SECONDS = 60


def inspector() -> list[str]:
    """The command running the Inspector's launcher with node 22; fails the test with the
    install hint when node or the Inspector is missing (never skips)."""
    try:
        command = package_bin("@modelcontextprotocol/inspector", "clients/launcher/build/index.js")
    except (OSError, subprocess.SubprocessError):
        pytest.fail(INSTALL_HINT, pytrace=False)
    if not NODE.exists() or not Path(command[-1]).exists():
        pytest.fail(INSTALL_HINT, pytrace=False)
    return command


# -- what the CLI received ----------------------------------------------------------------------------


@attrs.define
class Tap:
    """What the server side sent back on each connection the CLI opened, as it came."""

    replies: list[bytearray] = attrs.Factory(list)

    def messages(self) -> list[dict[str, Any]]:
        """The JSON-RPC messages of every response (JSON bodies and SSE events), in order per
        connection."""
        found = []
        for reply in self.replies:
            for body in response_bodies(bytes(reply)):
                if body.startswith(b"{"):
                    found.append(json.loads(body))
                    continue
                for line in body.split(b"\n"):
                    if line.startswith(b"data:") and line[5:].strip():
                        found.append(json.loads(line[5:]))
        return found


def response_bodies(stream: bytes) -> Iterator[bytes]:
    """The bodies of the HTTP/1.1 responses in ``stream`` (one connection's bytes from the
    server), de-chunked; a body cut short (the CLI left its GET stream) as far as it went."""
    while stream:
        head, found, stream = stream.partition(b"\r\n\r\n")
        if not found:
            return
        fields = (line.partition(b":") for line in head.split(b"\r\n")[1:])
        headers = {name.strip().lower(): value.strip().lower() for name, _, value in fields}
        if headers.get(b"transfer-encoding") != b"chunked":
            length = int(headers.get(b"content-length", b"0"))
            yield stream[:length]
            stream = stream[length:]
            continue
        body = b""
        while True:
            size_line, found, rest = stream.partition(b"\r\n")
            if not found or not size_line:
                yield body
                return
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                stream = rest[2:]  # the empty trailer
                break
            body += rest[:size]
            stream = rest[size + 2 :]
        yield body


@asynccontextmanager
async def tapped(host: str, port: int) -> AsyncIterator[tuple[str, Tap]]:
    """A TCP relay on a free port of 127.0.0.1 to ``host:port`` for the duration of the block,
    recording what comes back; yields its ``host:port`` and the :class:`Tap`."""
    tap = Tap()

    async def forward(
        source: trio.SocketStream, sink: trio.SocketStream, record: bytearray | None, done: trio.CancelScope
    ) -> None:
        try:
            async for data in source:
                if record is not None:
                    record.extend(data)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()  # one side left: so does the other

    async def handle(client: trio.SocketStream) -> None:
        received = bytearray()
        tap.replies.append(received)
        async with client, await trio.open_tcp_stream(host, port) as server, trio.open_nursery() as nursery:
            nursery.start_soon(forward, client, server, None, nursery.cancel_scope)
            nursery.start_soon(forward, server, client, received, nursery.cancel_scope)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        yield f"127.0.0.1:{listeners[0].socket.getsockname()[1]}", tap
        nursery.cancel_scope.cancel()


# -- Redis ------------------------------------------------------------------------------------------


async def xadd_calls(port: int) -> int:
    """How many ``XADD`` the Redis on ``port`` has served (the relay writes each frame with one;
    nothing else here does: no change is published), from ``INFO commandstats`` in RESP."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        data = b""
        while b"\r\n" not in data or len(data.partition(b"\r\n")[2]) < int(data.partition(b"\r\n")[0][1:]):
            chunk = await stream.receive_some()
            assert chunk, f"Redis closed the connection: {data!r}"
            data += chunk
    found = re.search(rb"cmdstat_xadd:calls=(\d+)", data)
    return int(found.group(1)) if found else 0


# -- the test -------------------------------------------------------------------------------------------


async def test_inspector_cli_sessions_spread_over_the_workers_through_haproxy(tmp_path: Path) -> None:
    command = inspector()
    environment = {**node_environment(), "HOME": str(tmp_path)}  # its catalog and storage: not ~
    outcomes: dict[str, tuple[dict[str, Any], Tap]] = {}

    async def invoke(label: str, base: str, *arguments: str) -> None:
        parts = urlsplit(base)
        assert parts.hostname is not None and parts.port is not None
        async with tapped(parts.hostname, parts.port) as (address, tap):
            with trio.fail_after(INVOCATION_SECONDS):
                result = await trio.run_process(
                    [*command, "--cli", f"http://{address}/mcp", "--transport", "http", "--format", "json", *arguments],
                    capture_stdout=True, capture_stderr=True, env=environment, stdin=subprocess.DEVNULL, check=False,
                )  # fmt: skip
        assert result.returncode == 0, f"{label}: exit {result.returncode}\n{result.stderr.decode(errors='replace')}"
        outcomes[label] = (json.loads(result.stdout)["result"], tap)

    async with cluster(tmp_path) as running:
        base = running.url.removesuffix("/mcp")
        with trio.fail_after(10):
            relayed_before = await xadd_calls(running.redis.port)
        with trio.fail_after(BATCHES * INVOCATION_SECONDS):
            for batch in range(BATCHES):
                async with trio.open_nursery() as nursery:
                    for index in (2 * batch, 2 * batch + 1):
                        nursery.start_soon(
                            invoke, f"report {index}", base, "--method", "tools/call", "--tool-name", "report",
                            "--tool-arg", f"index={index}", "--tool-arg", f"steps={STEPS}",
                            "--tool-metadata", f"progressToken=call-{index}",
                        )  # fmt: skip
                    nursery.start_soon(invoke, f"list {batch}", base, "--method", "tools/list")
                    nursery.start_soon(
                        invoke, f"read {batch}", base, "--method", "resources/read", "--uri", f"test://doc/d{batch}"
                    )
        with trio.fail_after(10):
            relayed = await xadd_calls(running.redis.port) - relayed_before
        workers = running.workers()

    owners = set()
    for index in range(2 * BATCHES):
        result, tap = outcomes[f"report {index}"]
        assert result["structuredContent"]["index"] == index, result
        owners.add(result["structuredContent"]["pid"])
        notifications = [message for message in tap.messages() if "method" in message]
        steps = [f"call {index} step {step}" for step in range(1, STEPS + 1)]
        progress = [
            (n["params"]["progressToken"], n["params"]["progress"], n["params"]["message"])
            for n in notifications
            if n["method"] == "notifications/progress"
        ]
        assert progress == [(f"call-{index}", step, steps[step - 1]) for step in range(1, STEPS + 1)], notifications
        logs = [n["params"]["data"] for n in notifications if n["method"] == "notifications/message"]
        assert logs == steps, notifications  # each once, in order, none of another session
        [answer] = [message for message in tap.messages() if "result" in message and "content" in message["result"]]
        assert answer["result"]["structuredContent"] == result["structuredContent"]
    for batch in range(BATCHES):
        listed, _ = outcomes[f"list {batch}"]
        assert {"pid", "report", "question", "touch"} <= {tool["name"] for tool in listed["tools"]}, listed
        read, _ = outcomes[f"read {batch}"]
        assert read["contents"] == [{"uri": f"test://doc/d{batch}", "mimeType": "text/plain", "text": f"d{batch}"}]
    assert len(owners) >= 2 and owners <= workers, (owners, workers)  # sessions owned by several workers
    # every session had requests on both machines, so some went through the relay: each relayed
    # request is at least two frames (open, response) written to Redis
    assert relayed >= 2 * len(outcomes), relayed
