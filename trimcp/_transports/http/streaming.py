"""Writing an outbox to an HTTP response as Server-Sent Events, watching for the client leaving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from ..._runtime import Outbox
from ...protocol.sse import encode_comment, encode_event
from .asgi import Receive, Send, send_chunk, start_sse, wait_for_disconnect

_KEEPALIVE = encode_comment("keep-alive")


async def _plain(batch: list[bytes]) -> bytes:
    return b"".join(encode_event(data, event="message") for data in batch)


async def stream_sse(
    send: Send,
    receive: Receive,
    outbox: Outbox,
    *,
    on_disconnect: Callable[[], None],
    keepalive_interval: float,
    encode: Callable[[list[bytes]], Awaitable[bytes]] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    first: bytes = b"",
) -> bool:
    """Send an SSE response carrying every message queued on ``outbox`` until it is closed and
    drained; a comment goes out after ``keepalive_interval`` seconds of silence. ``encode``
    turns a batch into SSE bytes (plain ``message`` events by default); ``first`` is written
    with the headers (a priming event, replayed events).

    When the client disconnects, ``on_disconnect`` is called at once and nothing more is
    written. Returns whether the response ran to its end.
    """
    await start_sse(send, headers)
    if first:
        await send_chunk(send, first)
    completed = False
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            await wait_for_disconnect(receive)
            on_disconnect()
            nursery.cancel_scope.cancel(reason="client disconnected")

        nursery.start_soon(watch)
        while True:
            with trio.move_on_after(keepalive_interval):
                batch = await outbox.next_batch()
                if batch is None:
                    completed = True
                    break
                await send_chunk(send, await (encode or _plain)(batch))
                continue
            await send_chunk(send, _KEEPALIVE)
        nursery.cancel_scope.cancel(reason="response complete")
    if completed:
        await send_chunk(send, b"", more=False)
    return completed
