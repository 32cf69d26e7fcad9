"""Test a server in-process with the real client, recording what passes between them.

::

    async def test_add():
        async with trimcp.testing.open_test_client(server) as client:
            result = await client.call_tool("add", {"a": 1, "b": 2})
            assert result["content"][0]["text"] == "3"

:class:`TestClient` is a :class:`trimcp.Client` (the same requests, envelope, ``input_required``
loop, cancellation and errors users get) talking newline-delimited JSON-RPC to
:func:`trimcp.serve_stream` over an in-memory stream pair, as ``open_client(server)`` does. What
it adds is for tests: the era is pinned rather than negotiated (so a test decides the first
message), declared capabilities, raw sends, and records of what the server sent: its questions
(:attr:`TestClient.asked`), ``input_required`` rounds, notifications and stray messages.
``client.dispatcher`` is the server's dispatcher for this connection, for assertions on its
statistics.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from ._client.api import Client
from ._client.core import Handler as Answerer
from ._client.core import ProgressCallback
from ._client.stream_transport import InProcessTransport, open_in_process
from ._runtime.groups import unwrap_single_exception
from ._server.server import Server
from .protocol.errors import RequestFailed
from .protocol.versions import LATEST_HANDSHAKE_VERSION, Era

__all__ = ["Answerer", "ProgressCallback", "RequestFailed", "TestClient", "open_test_client"]


class TestClient(Client):
    """The real client, plus records for tests. Create it with :func:`open_test_client`.

    Errors are the real client's: :class:`trimcp.RequestFailed` for an error answer,
    :class:`trimcp.ClientTimeout` when no answer comes within ``timeout``.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        nursery: trio.Nursery,
        transport: InProcessTransport,
        *,
        protocol_version: str,
        client_capabilities: dict[str, Any],
        client_info: dict[str, Any],
        log_level: str | None,
        timeout: float,
        answers: dict[str, Answerer],
    ) -> None:
        super().__init__(
            nursery,
            timeout=timeout,
            client_info=client_info,
            handlers=answers,
            message_handler=None,
            log_level=log_level,
        )
        self.transport = self._stream = transport
        self.transport_name = "in-process"
        self.protocol_version = protocol_version
        self.client_capabilities = client_capabilities
        #: The server's dispatcher for this connection (``statistics()``).
        self.dispatcher = transport.served.dispatcher
        #: Every request the server sent (questions, in the handshake era), in order.
        self.asked: list[dict[str, Any]] = []
        #: Every ``input_required`` result received (2026-07-28 questions), in order.
        self.input_required: list[dict[str, Any]] = []
        #: Every notification received, in order (as decoded dicts).
        self.notifications: list[dict[str, Any]] = []
        self.initialize_result: dict[str, Any] | None = None
        self._stray_send, self._stray_receive = trio.open_memory_channel[Any](math.inf)

    @property
    def capabilities(self) -> dict[str, Any]:
        """What the test declared (``client_capabilities``), whichever questions it answers."""
        return self.client_capabilities

    async def initialize(self, version: str | None = None) -> dict[str, Any]:
        """The handshake (``initialize``, ``notifications/initialized``) as the pinned revision
        unless ``version``; its result is kept in :attr:`initialize_result`. Raises
        :class:`trimcp.RequestFailed` when the server refuses it."""
        self.initialize_result = await super().initialize(version or self.protocol_version)
        return self.initialize_result

    # -- raw access -------------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (add the newline yourself)."""
        await self._stream.write(data)

    async def next_stray(self) -> Any:
        """The next decoded message that answers no pending request (errors with ``"id": null``,
        batch replies, responses to ids sent with :meth:`send_raw`). Raises
        ``trio.TooSlowError`` when none comes within ``timeout``."""
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

    # -- recording --------------------------------------------------------------------------------

    async def dispatch(self, message: Any) -> None:
        """Record ``message``, then handle it as the real client does; a message that answers
        no pending request (a batch reply, an unknown id) becomes a stray instead."""
        if type(message) is dict and "method" in message:
            (self.asked if "id" in message else self.notifications).append(message)
        elif type(message) is not dict or self.answered(message.get("id")):
            self._stray_send.send_nowait(message)
            return
        await super().dispatch(message)

    async def _answer_input(self, result: dict[str, Any]) -> dict[str, Any]:
        """Record an ``input_required`` round, then answer it as the real client does."""
        self.input_required.append(result)
        return await super()._answer_input(result)


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

    A handshake-era ``protocol_version`` (the default, 2025-11-25; an unknown one counts as
    handshake era) runs ``initialize`` first unless ``initialize=False``; ``"2026-07-28"`` sends
    nothing first and stamps the per-request envelope (with ``log_level``, if given) on every
    request. ``answers`` answer the server's questions, whichever era asks them (declare the
    matching ``client_capabilities``). ``serve_options`` go to :func:`trimcp.serve_stream`.

    Resource handling: owns the server and the client's tasks. On exit the client closes its
    side, the server finishes (or is cancelled after 5 seconds), and questions still being
    answered are cancelled.
    """
    with unwrap_single_exception():
        async with trio.open_nursery() as nursery:
            async with open_in_process(server, **serve_options) as transport:
                client = TestClient(
                    nursery,
                    transport,
                    protocol_version=protocol_version,
                    client_capabilities=client_capabilities or {},
                    client_info=client_info or {"name": "trimcp-testing", "version": "0"},
                    log_level=log_level,
                    timeout=timeout,
                    answers=answers or {},
                )
                nursery.start_soon(transport.read_into, client)
                if initialize and client.era is Era.HANDSHAKE:
                    await client.initialize()
                yield client
            nursery.cancel_scope.cancel(reason="the session is over")  # questions left unanswered
