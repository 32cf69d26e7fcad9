"""A lean trio worker for hypercorn: hypercorn's protocol layer (h11/h2 handling, ASGI scope and
response checks, limits), configuration, lifespan, TLS and graceful shutdown, driven by a
connection loop of our own.

hypercorn's trio worker spends most of its ~1 ms per request in per-connection glue rather than
in h11 or trio: an idle-timeout task restarted with ``nursery.start`` after every response, a
``fail_after`` around every read, a memory channel per request and two writes per response.
Here the idle and read timeouts are the deadline of the one cancel scope the connection already
reads in, an HTTP/1 response of known length has its head written with its first body chunk
(ASGI lets a server hold it until then), and an app receives from a small queue that hands it
every body chunk already read in one message. What an open connection holds is kept small, as
thousands of listen and GET streams stay open (slots, few coroutine frames, lazy locks).
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.protocol import ProtocolWrapper
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.udp_server import UDPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState
from hypercorn.utils import ShutdownError, parse_socket_addr, raise_shutdown, repr_socket_addr

from .app_inbox import AppInbox
from .asgi import DISCONNECT_EXTENSION
from .config import HTTPConfig
from .lean_sync import LazyLock, LeanWorkerContext

MAX_RECV = 2**16
HTTP1_VERSIONS = frozenset({"1.0", "1.1"})
#: What ends a connection quietly: the peer left, or its TLS handshake failed or took too long.
_PEER_GONE = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError)
_Send = Callable[[dict[str, Any] | None], Awaitable[None]]


async def _run_app(app: AppWrapper, config: Config, scope: dict[str, Any], inbox: AppInbox, send: _Send) -> None:
    try:
        if type(app) is ASGIWrapper:  # what it does, minus a coroutine frame per open response
            await app.app(scope, inbox, send)
        else:
            await app(scope, inbox, send, trio.to_thread.run_sync, trio.from_thread.run)
    except trio.Cancelled:
        raise
    except BaseExceptionGroup as group:
        _, others = group.split(trio.Cancelled)
        if others is None:
            raise
        await config.log.exception("Error in ASGI Framework")
    except Exception:  # noqa: BLE001 - logged: an app's failure must not end the connection
        await config.log.exception("Error in ASGI Framework")
    finally:
        inbox.close()
        try:
            await send(None)  # ends the response (a 500 if it never started)
        except Exception:  # noqa: BLE001 - logged, as above
            await config.log.exception("Error ending an ASGI response")


def _announces_length(start: dict[str, Any]) -> bool:
    return any(name.lower() == b"content-length" for name, _ in start.get("headers", ()))


class TCPConnection:
    """One TCP (or TLS) connection: reads into hypercorn's protocol, writes what it produces. It
    is the protocol's task group too: each app runs as a task of the connection's nursery,
    receiving from an :class:`AppInbox`."""

    __slots__ = ("_closed", "_deadline", "_held_head", "_idle", "_live", "_nursery", "_read_scope", "_write_lock")
    __slots__ += ("app", "config", "context", "protocol", "request_drain_timeout", "state", "stream", "write_timeout")

    def __init__(
        self,
        app: AppWrapper,
        config: Config,
        context: WorkerContext,
        state: ConnectionState,
        live: set[TCPConnection],
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
        settings: HTTPConfig,
    ) -> None:
        self.app = app
        self.config = config
        #: Writes are shielded from cancellation: this is what bounds them (and a graceful close).
        self.write_timeout = settings.write_timeout_seconds
        self.request_drain_timeout = settings.request_drain_timeout_seconds
        self.context = context
        self.state = state
        self.stream = stream
        self._live = live
        self._write_lock = LazyLock()
        self._closed = False
        self._held_head: bytearray | None = None
        self._idle = True
        self._deadline = math.inf
        self._read_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery
        self.protocol: ProtocolWrapper

    async def spawn_app(
        self, app: AppWrapper, config: Config, scope: dict[str, Any], send: _Send
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        inbox = AppInbox(config.max_app_queue_size)
        scope.setdefault("extensions", {})[DISCONNECT_EXTENSION] = {"watch": inbox.watch_disconnect}
        if scope.get("type") == "http" and scope.get("http_version") in HTTP1_VERSIONS:
            send = self.http1_send(send, inbox)
        self._nursery.start_soon(_run_app, app, config, scope, inbox, send, name="trimcp.http.app")
        return inbox.put

    def spawn(self, func: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self._nursery.start_soon(func, *args)

    async def run(self) -> None:
        """Serve the connection until either side closes it. Nothing escapes but cancellation:
        a failure in hypercorn's protocol layer or in this loop is logged with its traceback and
        ends this connection alone."""
        self._live.add(self)
        try:
            stream, alpn_protocol, ssl = self.stream, "http/1.1", isinstance(self.stream, trio.SSLStream)
            sock = getattr(stream, "socket", None)
            if isinstance(stream, trio.SSLStream):
                with trio.fail_after(self.config.ssl_handshake_timeout):
                    await stream.do_handshake()
                alpn_protocol = stream.selected_alpn_protocol() or "http/1.1"
                sock = stream.transport_stream.socket
            client = parse_socket_addr(sock.family, sock.getpeername())
            server = parse_socket_addr(sock.family, sock.getsockname())
            async with trio.open_nursery() as self._nursery:
                self.protocol = ProtocolWrapper(
                    self.app,
                    self.config,
                    self.context,
                    self,  # type: ignore[arg-type]  # the task group: spawn_app and spawn
                    self.state,
                    ssl,
                    client,
                    server,
                    self._protocol_send,
                    alpn_protocol,
                )
                await self.protocol.initiate()
                self._set_idle(True)
                while True:
                    data = None
                    with trio.CancelScope(deadline=self._deadline) as self._read_scope:
                        try:
                            data = await stream.receive_some(MAX_RECV)
                        except (trio.ClosedResourceError, trio.BrokenResourceError):
                            break
                    self._read_scope = None
                    if data is None:  # the deadline passed: idle or read timeout
                        break
                    await self.protocol.handle(RawData(bytes(data)))
                    if not data:
                        break
                await self.protocol.handle(Closed())
        except* _PEER_GONE:
            pass
        except* Exception:  # noqa: BLE001 - logged: it ends this connection, never the server
            await self.config.log.exception("Error in HTTP connection; closing it")
        finally:
            self._live.discard(self)
            await self._close()

    def http1_send(self, send: _Send, inbox: AppInbox) -> _Send:
        """Wrap an HTTP/1 app's ``send``:

        - a response head announcing its length is written with the first body; a streamed
          response's head (no ``content-length``: SSE, chunked) goes out at once, as clients
          wait for it before reading events;
        - a response that ends before its request's body has arrived (a 404 or 413 answered
          unread) is written at once but ended only once the rest of the body has been read
          and dropped (for at most ``request_drain_timeout``): hypercorn closes a connection
          whose response ends first, and a request pipelined behind it would go unanswered.
        """

        async def send_http1(message: dict[str, Any] | None) -> None:
            if message is not None and message["type"] == "http.response.start" and _announces_length(message):
                self._held_head = bytearray()
                try:
                    await send(message)
                except BaseException:
                    await self._release_head()
                    raise
                return
            try:
                if (
                    message is not None
                    and message["type"] == "http.response.body"
                    and not message.get("more_body", False)
                    and not inbox.request_ended
                ):
                    await send({**message, "more_body": True})
                    await self._release_head()
                    inbox.drop_body()
                    with trio.move_on_after(self.request_drain_timeout):
                        await inbox.wait_request_end()
                    message = {"type": "http.response.body", "body": b"", "more_body": False}
                await send(message)
            finally:
                await self._release_head()

        return send_http1

    async def _release_head(self) -> None:
        head, self._held_head = self._held_head, None
        if head:
            await self._write(bytes(head))

    async def _protocol_send(self, event: Event) -> None:
        if type(event) is RawData:
            if self._held_head is not None:
                self._held_head += event.data
            elif event.data:
                await self._write(event.data)
        elif isinstance(event, Closed):
            await self._release_head()
            await self._close()
            await self.protocol.handle(Closed())
        elif isinstance(event, Updated):
            self._set_idle(event.idle)

    async def _write(self, data: bytes) -> None:
        """Write bytes the protocol produced. Every write, EOF and close of the stream happens
        under one lock, so the stream is never entered twice (trio would raise
        ``BusyResourceError``). A write is shielded whatever happens to the task writing it (a
        response cut in the middle is worse than a late cancellation), lock wait included, for
        at most ``write_timeout``; a peer that takes longer, or is gone, loses the connection.
        Taking the lock is a scheduling point before every write: under many connections that
        keeps the tail latency down (writing at once was faster per call but starved some)."""
        with trio.CancelScope(shield=True, deadline=trio.current_time() + self.write_timeout):
            async with self._write_lock:
                if self._closed:
                    return
                try:
                    await self.stream.send_all(data)
                    return
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        await self._abort()
        await self.protocol.handle(Closed())

    def _set_idle(self, idle: bool) -> None:
        """Idle connections are closed after ``keep_alive_timeout`` (at once when shutting
        down); every read waits at most ``read_timeout``."""
        self._idle = idle
        read_timeout = self.config.read_timeout or math.inf
        if idle and self.context.terminated.is_set():
            timeout = -math.inf
        elif idle:
            timeout = min(self.config.keep_alive_timeout, read_timeout)
        else:
            timeout = read_timeout
        self._deadline = trio.current_time() + timeout
        if self._read_scope is not None:
            self._read_scope.deadline = self._deadline

    def shutting_down(self) -> None:
        """The worker stopped accepting: an idle connection closes now, a busy one after its
        response (hypercorn's protocol checks ``context.terminated`` then)."""
        if self._idle:
            self._set_idle(True)

    async def _close(self) -> None:
        """Close gracefully, once: after any write under way, send EOF, then close the stream
        (at once if that takes more than ``write_timeout``). Never raises."""
        with trio.CancelScope(shield=True, deadline=trio.current_time() + self.write_timeout):
            async with self._write_lock:
                if self._closed:
                    return
                self._closed = True
                try:
                    await self.stream.send_eof()
                except (AttributeError, trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # TLS streams cannot half-close; the peer may have gone already
        await self._abort()

    async def _abort(self) -> None:
        """Close the stream without waiting for a write under way (which then fails)."""
        self._closed = True
        with trio.CancelScope(shield=True):
            try:
                await self.stream.aclose()
            except _PEER_GONE:
                pass


async def serve_lean(
    app: AppWrapper,
    config: Config,
    settings: HTTPConfig | None = None,
    *,
    shutdown_trigger: Callable[..., Awaitable[Any]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """hypercorn's ``worker_serve`` (lifespan, binds, TLS, QUIC, ``max_requests``, graceful
    shutdown) with :class:`TCPConnection` serving each TCP connection. ``app`` is wrapped
    already (``hypercorn.utils.wrap_app``); ``settings`` gives the write and drain timeouts."""
    settings = settings if settings is not None else HTTPConfig()
    config.set_statsd_logger_class(StatsdLogger)
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(app, config, lifespan_state)
    max_requests = None
    if config.max_requests is not None:
        max_requests = config.max_requests + random.randint(0, config.max_requests_jitter)
    context = LeanWorkerContext(max_requests)
    live: set[TCPConnection] = set()

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as server_nursery:
            listeners, binds = await _listen(app, config, context, lifespan_state, server_nursery)
            task_status.started(binds)
            try:
                async with trio.open_nursery(strict_exception_groups=True) as nursery:
                    if shutdown_trigger is not None:
                        nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    state = ConnectionState(lifespan_state.copy())

                    def handler(stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]) -> Awaitable[None]:
                        return TCPConnection(app, config, context, state, live, stream, settings).run()

                    nursery.start_soon(
                        partial(trio.serve_listeners, handler, listeners, handler_nursery=server_nursery)
                    )
                    await trio.sleep_forever()
            except BaseExceptionGroup as group:
                _, others = group.split((ShutdownError, KeyboardInterrupt))
                if others is not None:
                    raise others
            finally:
                await context.terminated.set()
                for connection in list(live):
                    connection.shutting_down()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


async def _listen(
    app: AppWrapper,
    config: Config,
    context: WorkerContext,
    lifespan_state: dict[str, Any],
    nursery: trio.Nursery,
) -> tuple[list[trio.abc.Listener[Any]], list[str]]:
    sockets = config.create_sockets()
    ssl_context = config.create_ssl_context()
    listeners: list[trio.abc.Listener[Any]] = []
    binds: list[str] = []
    for sock in sockets.secure_sockets:
        sock.listen(config.backlog)
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        listeners.append(trio.SSLListener(listener, ssl_context, https_compatible=True))
        binds.append(f"https://{repr_socket_addr(sock.family, sock.getsockname())}")
    for sock in sockets.insecure_sockets:
        sock.listen(config.backlog)
        listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
        binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
    for sock in sockets.quic_sockets:
        await nursery.start(UDPServer(app, config, context, ConnectionState(lifespan_state.copy()), sock).run)
        binds.append(f"https://{repr_socket_addr(sock.family, sock.getsockname())} (QUIC)")
    for bind in binds:
        await config.log.info(f"Running on {bind} (CTRL + C to quit)")
    return listeners, binds
