"""Answering a POST (or GET) from an outbox: JSON when the answer is ready at once, else
Server-Sent Events; watching for the client leaving all along."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from ..._runtime import CancelReason, Dispatcher, Outbox, Outgoing, split_before_final
from ...protocol.sse import encode_comment
from .asgi import Receive, Send, WatchedReceive, send_chunk, send_json, start_sse, wait_for_disconnect
from .events import encode_messages

_KEEPALIVE = encode_comment("keep-alive")


async def _plain(batch: list[Outgoing]) -> bytes:
    return encode_messages(batch)


def watching_disconnect(receive: Receive, on_disconnect: Callable[[], None]) -> AbstractAsyncContextManager[None]:
    """Run the block while watching ``receive``: when the client leaves, ``on_disconnect`` is
    called at once and the block is cancelled. Where the server offers a disconnect hook
    (trimcp's lean worker: :func:`~.asgi.with_disconnect_hook`) it reports the disconnect;
    elsewhere a task waits in ``receive``."""
    if type(receive) is WatchedReceive:
        return _Hooked(receive.watch, on_disconnect)
    return _watching_in_task(receive, on_disconnect)


class _Hooked:
    """:func:`watching_disconnect` through the server's hook: a cancel scope and a callback
    (no task, no generator: thousands of responses wait at once)."""

    __slots__ = ("_on_disconnect", "_scope", "_stop", "_watch")

    def __init__(self, watch: Callable[[Callable[[], None]], Callable[[], None]], on_disconnect: Callable[[], None]):
        self._watch = watch
        self._on_disconnect = on_disconnect
        self._scope = trio.CancelScope()
        self._stop: Callable[[], None] | None = None

    def _left(self) -> None:
        self._on_disconnect()
        self._scope.cancel(reason="client disconnected")

    async def __aenter__(self) -> None:
        self._scope.__enter__()
        self._stop = self._watch(self._left)

    async def __aexit__(self, *exc_info: object) -> bool:
        if self._stop is not None:
            self._stop()
        return self._scope.__exit__(*exc_info)


@asynccontextmanager
async def _watching_in_task(receive: Receive, on_disconnect: Callable[[], None]) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:

        async def watch_in_task() -> None:
            await wait_for_disconnect(receive)
            on_disconnect()
            nursery.cancel_scope.cancel(reason="client disconnected")

        nursery.start_soon(watch_in_task)
        yield
        nursery.cancel_scope.cancel(reason="response complete")


class _Watch:
    """:func:`stream_sse`'s watch on the client leaving: ``on_disconnect`` is called and the
    step under way (a wait, a write) is cancelled. Each step has a cancel scope of its own,
    so an idle stream holds one (its wait's, with the keep-alive deadline), not two."""

    __slots__ = ("_hook", "_on_disconnect", "_stop", "completed", "gone", "scope")

    def __init__(self, on_disconnect: Callable[[], None]) -> None:
        self._on_disconnect = on_disconnect
        self._hook: Callable[[Callable[[], None]], Callable[[], None]] | None = None
        self._stop: Callable[[], None] | None = None
        self.gone = False
        #: The response ran to its end: the client leaving after that is no disconnect.
        self.completed = False
        self.scope: trio.CancelScope | None = None

    def left(self) -> None:
        if not self.gone:
            self.gone = True
            if not self.completed:  # the server ends the exchange once the last bytes are sent
                self._on_disconnect()
            if self.scope is not None:
                self.scope.cancel(reason="client disconnected")

    def step(self, deadline: float = math.inf) -> trio.CancelScope:
        """The cancel scope of the next step (cancelled already if the client has left)."""
        self.scope = scope = trio.CancelScope(deadline=deadline)
        if self.gone:
            scope.cancel(reason="client disconnected")
        return scope

    def watching(self, receive: Receive) -> AbstractAsyncContextManager[Any]:
        if type(receive) is WatchedReceive:
            self._hook = receive.watch
            return self
        return watching_disconnect(receive, self.left)  # a task waits in receive

    async def __aenter__(self) -> None:
        if self._hook is not None:
            self._stop = self._hook(self.left)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._stop()


#: How long an answer may take before the client leaving is watched for (by a task, unless the
#: lean worker reports it): most answers are ready sooner and spare that. A client leaving
#: meanwhile is noticed then.
QUICK_ANSWER = 0.002
_WAITING = object()


async def _next_within(outbox: Outbox, scope: trio.CancelScope) -> Any:
    """The next batch (``None`` once the outbox is closed), or ``_WAITING`` when ``scope`` (its
    deadline, a disconnect) ends the wait first; ``scope`` is not entered, and no timer set,
    when the batch is there already."""
    if outbox.ready:
        return await outbox.next_batch()
    with scope:
        return await outbox.next_batch()
    return _WAITING


def _quick_window() -> trio.CancelScope:
    return trio.CancelScope(deadline=trio.current_time() + QUICK_ANSWER)  # move_on_after, minus a generator


def _is_final(batch: Any) -> bool:
    return type(batch) is list and len(batch) == 1 and batch[0].final


#: What a JSON answer carries when its request was answered with nothing (it was cancelled).
_NOTHING = Outgoing(b"")


async def answer_json(
    send: Send,
    receive: Receive,
    outbox: Outbox,
    *,
    on_disconnect: Callable[[], None],
    json_status: Callable[[Outgoing], int],
) -> bool:
    """Answer with the last message queued on ``outbox`` (the response) as JSON once the outbox
    closes; other messages are not delivered. A client that leaves meanwhile is noticed.

    Returns ``False``, having answered nothing and put back what it took, as soon as the outbox
    needs a stream (a question to the client, a listen stream: see
    :meth:`~trimcp._runtime.Outbox.need_stream`): the caller streams the answer instead."""
    messages: list[Outgoing] = []
    batch = await _next_within(outbox, _quick_window())
    if batch is not None and batch is not _WAITING:
        messages.extend(batch)
    if not _is_final(batch) and batch is not None and not outbox.needs_stream:  # still running: watch
        left = False

        def leave() -> None:
            nonlocal left
            left = True
            on_disconnect()

        async with watching_disconnect(receive, leave):
            while not outbox.needs_stream and (batch := await outbox.next_batch()) is not None:
                messages.extend(batch)
        if left:
            return True
    if outbox.needs_stream:
        outbox.put_back(messages)
        return False
    answer = messages[-1] if messages else _NOTHING
    await send_json(send, json_status(answer), answer.data)
    return True


async def stream_sse(
    send: Send,
    receive: Receive,
    outbox: Outbox,
    *,
    on_disconnect: Callable[[], None],
    keepalive_interval: float,
    encode: Callable[[list[Outgoing]], Awaitable[bytes]] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    opening: Callable[[], bytes] | None = None,
    json_status: Callable[[Outgoing], int] | None = None,
    json_window: float = 0.25,
) -> bool:
    """Send every message queued on ``outbox`` until it is closed and drained.

    With ``json_status``, the response waits up to ``json_window`` seconds for the first
    message: when that is already the final response, it goes out alone as
    ``application/json`` with the status ``json_status(answer)`` gives (so an error raised early
    gets its HTTP status). Otherwise an SSE response starts, with what ``opening()`` returns (a
    priming event, replayed events) and then each batch as ``encode`` renders it (plain
    ``message`` events by default; a response that follows other messages in a batch starts a
    chunk of its own); a comment goes out after every ``keepalive_interval`` of silence.

    When the client disconnects before the end, ``on_disconnect`` is called at once and nothing
    more is written. Returns whether the response ran to its end.
    """
    encode = encode or _plain
    started = json_status is None
    pending: Any = _WAITING
    if started:
        await _start_sse(send, headers, opening)
    else:
        pending = await _next_within(outbox, _quick_window())
        if _is_final(pending):
            await send_json(send, json_status(pending[0]), pending[0].data)  # type: ignore[index]
            return True
    watch = _Watch(on_disconnect)
    async with watch.watching(receive):
        while True:
            batch = pending
            pending = _WAITING
            if batch is _WAITING:  # wait for the next batch, or until a keep-alive is due
                wait = keepalive_interval if started else json_window
                batch = await _next_within(outbox, watch.step(trio.current_time() + wait))
                if watch.gone and batch is _WAITING:  # the wait was cut: nothing more
                    break
            # a batch taken as the client left goes through a cancelled step, as it always did:
            # what gets written before a checkpoint (shielded writes) is written
            with watch.step():
                if not started:
                    if _is_final(batch) and json_status:
                        watch.completed = True
                        await send_json(send, json_status(batch[0]), batch[0].data)
                        break
                    await _start_sse(send, headers, opening)
                    started = True
                    if batch is _WAITING:
                        continue
                if batch is _WAITING:
                    await send_chunk(send, _KEEPALIVE)
                    continue
                if batch is None:
                    watch.completed = True
                    await send_chunk(send, b"", more=False)
                    break
                # every part is encoded (numbered and kept, when resumable) before any is sent:
                # a send cancelled midway loses nothing a resuming client could not replay
                chunks = [await encode(part) for part in split_before_final(batch)]
                for chunk in chunks:
                    await send_chunk(send, chunk)
                batch = chunks = chunk = None  # not held while the stream waits (thousands do)
            if watch.gone:
                break
    return watch.completed


async def _start_sse(
    send: Send, headers: list[tuple[bytes, bytes]] | None, opening: Callable[[], bytes] | None
) -> None:
    await start_sse(send, headers)
    first = opening() if opening is not None else b""
    if first:
        await send_chunk(send, first)


def abandon(runtime: Dispatcher, outbox: Outbox) -> None:
    """The client left a response that cannot be resumed: cancel the requests answering on
    ``outbox`` and drop what they would still send."""
    runtime.cancel_requests_on(outbox, CancelReason.CLIENT_DISCONNECTED)
    outbox.abort()
