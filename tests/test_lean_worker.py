"""trimcp's lean trio worker for hypercorn: the HTTP behaviour hypercorn's own trio worker has
(keep-alive and read timeouts, graceful shutdown, pipelining, 100-continue, errors, h2), on real
sockets bound to 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import h2.config
import h2.connection
import h2.events
import hypercorn.config
import pytest
import trio
import trio.testing
from hypercorn.utils import wrap_app

from trimcp._transports.http.app_inbox import AppInbox
from trimcp._transports.http.lean_worker import serve_lean

App = Callable[..., Any]


async def respond(send: Any, body: bytes = b"ok", status: int = 200) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Any) -> tuple[bytes, int]:
    """The whole request body and how many receive() calls it took."""
    chunks, calls = [], 0
    while True:
        message = await receive()
        calls += 1
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), calls


@asynccontextmanager
async def serving(app: App, **settings: Any) -> AsyncIterator[tuple[int, trio.Event]]:
    """``app`` on the lean worker at 127.0.0.1:<free port>; yields the port and the shutdown
    trigger. Leaving the block cancels the worker."""
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    for name, value in settings.items():
        setattr(config, name, value)
    stop = trio.Event()

    async def lifespan_aware(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                assert message["type"] == "lifespan.startup"
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            lambda task_status: serve_lean(
                wrap_app(lifespan_aware, 0, "asgi"), config, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        yield int(binds[0].rsplit(":", 1)[1]), stop
        nursery.cancel_scope.cancel()


async def read_until(stream: trio.SocketStream, marker: bytes, timeout: float = 5) -> bytes:
    data = b""
    with trio.fail_after(timeout):
        while marker not in data:
            chunk = await stream.receive_some()
            if not chunk:
                break
            data += chunk
    return data


async def read_to_close(stream: trio.SocketStream, timeout: float = 5) -> bytes:
    data = b""
    with trio.fail_after(timeout):
        while chunk := await stream.receive_some():
            data += chunk
    return data


REQUEST = b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n"


def post_request(body: bytes, *headers: bytes) -> bytes:
    lines = [b"POST / HTTP/1.1", b"host: localhost", b"content-length: %d" % len(body), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def test_response_head_goes_out_with_the_first_body() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await trio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"hello"})

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(REQUEST)
        with trio.move_on_after(0.2):
            early = await stream.receive_some()
            pytest.fail(f"the head was sent before the body: {early!r}")
        first = await read_until(stream, b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"hello"), first
        await stream.aclose()


async def test_a_streamed_response_head_goes_out_at_once() -> None:
    release = trio.Event()

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n"})

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(REQUEST)
        head = await read_until(stream, b"\r\n\r\n", timeout=2)
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
        release.set()
        assert b"data: 1" in await read_until(stream, b"data: 1")
        await stream.aclose()


async def test_streamed_response_and_connection_close() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        for part in (b"one ", b"two"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        answer = await read_to_close(stream)
        assert answer.startswith(b"HTTP/1.1 202")
        assert answer.endswith(b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"), answer


async def test_pipelined_requests_are_answered_in_order() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        body, _ = await read_body(receive)
        await respond(send, b"echo:" + body)

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"".join(post_request(b"%d" % n) for n in range(5)))
        answers = await read_until(stream, b"echo:4")
        assert [answers.index(b"echo:%d" % n) for n in range(5)] == sorted(
            answers.index(b"echo:%d" % n) for n in range(5)
        )
        assert answers.count(b"HTTP/1.1 200") == 5
        await stream.aclose()


async def test_body_chunks_already_read_reach_the_app_as_one_message() -> None:
    seen: list[tuple[int, int]] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await trio.sleep(0.1)  # let every chunk arrive first
        body, calls = await read_body(receive)
        seen.append((len(body), calls))
        await respond(send)

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"POST / HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(4):
            await stream.send_all(b"400\r\n" + b"x" * 1024 + b"\r\n")
            await trio.sleep(0.01)
        await stream.send_all(b"0\r\n\r\n")
        await read_until(stream, b"ok")
        assert seen == [(4096, 1)]
        await stream.aclose()


async def test_expect_100_continue() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        body, _ = await read_body(receive)
        await respond(send, body)

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
        )
        assert (await read_until(stream, b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
        await stream.send_all(b"data")
        assert (await read_until(stream, b"data")).startswith(b"HTTP/1.1 200")
        await stream.aclose()


async def test_an_app_error_gets_a_500_and_the_server_keeps_serving() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        await respond(send)

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"GET /boom HTTP/1.1\r\nhost: localhost\r\n\r\n")
        assert (await read_to_close(stream)).startswith(b"HTTP/1.1 500")
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(REQUEST)
        assert (await read_until(stream, b"ok")).startswith(b"HTTP/1.1 200")
        await stream.aclose()


async def test_malformed_request_gets_400() -> None:
    async with serving(lambda scope, receive, send: respond(send)) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        assert (await read_to_close(stream)).startswith(b"HTTP/1.1 400")


async def test_idle_connection_closed_after_keep_alive_timeout_but_not_a_busy_one() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await trio.sleep(0.6)
        await respond(send)

    async with serving(app, keep_alive_timeout=0.2) as (port, _):
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        busy = await trio.open_tcp_stream("127.0.0.1", port)
        await busy.send_all(b"GET /slow HTTP/1.1\r\nhost: localhost\r\n\r\n")
        started = trio.current_time()
        assert await read_to_close(idle, timeout=2) == b""
        assert 0.15 < trio.current_time() - started < 1.0
        answer = await read_until(busy, b"ok", timeout=3)
        assert answer.startswith(b"HTTP/1.1 200"), "a request in flight outlives the keep-alive timeout"
        started = trio.current_time()
        assert await read_to_close(busy, timeout=2) == b"", "idle again after the answer: closed"
        assert trio.current_time() - started < 1.0


async def test_read_timeout_closes_a_stalled_request() -> None:
    async with serving(lambda scope, receive, send: respond(send), read_timeout=0.2) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 10\r\n\r\nabc")
        started = trio.current_time()
        await read_to_close(stream, timeout=3)
        assert trio.current_time() - started < 1.5


async def test_graceful_shutdown_closes_idle_connections_and_finishes_busy_ones() -> None:
    finished: list[str] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        try:
            await trio.sleep(0.3)
            await respond(send, b"done")
        finally:
            finished.append(scope["path"])

    async with serving(app, graceful_timeout=5, keep_alive_timeout=60) as (port, stop):
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        await idle.send_all(b"GET /first HTTP/1.1\r\nhost: localhost\r\n\r\n")
        await read_until(idle, b"done")
        busy = await trio.open_tcp_stream("127.0.0.1", port)
        await busy.send_all(b"GET /busy HTTP/1.1\r\nhost: localhost\r\n\r\n")
        await trio.sleep(0.05)
        started = trio.current_time()
        stop.set()
        assert await read_to_close(idle, timeout=2) == b""
        assert trio.current_time() - started < 0.2, "an idle keep-alive connection closes at once"
        answer = await read_to_close(busy, timeout=3)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"done")
        with trio.fail_after(1):  # the app returns just after its last bytes went out
            while len(finished) < 2:
                await trio.sleep(0.01)
        assert finished == ["/first", "/busy"]
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)


async def test_graceful_timeout_cancels_what_is_still_running() -> None:
    cancelled_after: list[float] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        started = trio.current_time()
        try:
            await trio.sleep(30)
        finally:
            cancelled_after.append(trio.current_time() - started)

    with trio.fail_after(5):
        async with serving(app, graceful_timeout=0.2) as (port, stop):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(REQUEST)
            await trio.sleep(0.1)
            stop.set()
            await read_to_close(stream, timeout=3)
            assert len(cancelled_after) == 1 and cancelled_after[0] < 1.0


async def test_h2_with_prior_knowledge() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        body, _ = await read_body(receive)
        await respond(send, scope["http_version"].encode() + b":" + body)

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        headers = [(":method", "POST"), (":path", "/"), (":scheme", "http"), (":authority", "localhost")]
        client.send_headers(1, headers)
        client.send_data(1, b"hi", end_stream=True)
        await stream.send_all(client.data_to_send())
        body, ended = b"", False
        with trio.fail_after(5):
            while not ended:
                for event in client.receive_data(await stream.receive_some()):
                    if isinstance(event, h2.events.DataReceived):
                        body += event.data
                    ended = ended or isinstance(event, h2.events.StreamEnded)
                await stream.send_all(client.data_to_send())
        assert body == b"2:hi"
        await stream.aclose()


async def test_app_inbox_is_bounded_joins_body_chunks_and_drops_after_close() -> None:
    inbox = AppInbox(2)
    await inbox.put({"type": "http.request", "body": b"a", "more_body": True})
    await inbox.put({"type": "http.request", "body": b"b", "more_body": True})
    blocked = trio.Event()

    async def third() -> None:
        await inbox.put({"type": "http.request", "body": b"c", "more_body": False})
        blocked.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(third)
        await trio.testing.wait_all_tasks_blocked()
        assert not blocked.is_set(), "put waits while the inbox is full"
        assert await inbox.get() == {"type": "http.request", "body": b"ab", "more_body": True}
        await blocked.wait()
    assert await inbox.get() == {"type": "http.request", "body": b"c", "more_body": False}
    await inbox.put({"type": "http.disconnect"})
    assert await inbox.get() == {"type": "http.disconnect"}
    inbox.close()
    with trio.fail_after(1):
        for _ in range(5):
            await inbox.put({"type": "http.disconnect"})  # dropped: nobody reads any more
    with trio.move_on_after(0.05) as waited:
        await inbox.get()
    assert waited.cancelled_caught


async def test_app_inbox_reports_a_disconnect_to_its_watchers() -> None:
    inbox = AppInbox(4)
    seen: list[str] = []
    stop_first = inbox.watch_disconnect(lambda: seen.append("first"))
    stop_second = inbox.watch_disconnect(lambda: seen.append("second"))
    stop_first()
    await inbox.put({"type": "http.request", "body": b"", "more_body": False})
    assert seen == []
    await inbox.put({"type": "http.disconnect"})
    assert seen == ["second"], "called at once, by the task that learnt of it"
    stop_second()
    inbox.watch_disconnect(lambda: seen.append("late"))
    assert seen == ["second", "late"], "a watcher arriving after the disconnect hears of it at once"
    assert await inbox() == {"type": "http.request", "body": b"", "more_body": False}, "the inbox is receive"
    assert await inbox() == {"type": "http.disconnect"}, "the message itself is still delivered"


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_an_unread_body_neither_stalls_nor_costs_the_request_behind_it(framing: str) -> None:
    # Found by fuzzing: an app answering without reading 9+ body chunks deadlocked (the
    # disconnect hypercorn reports when a response ends waited for room in the full inbox),
    # and a body still arriving after the answer closed the connection under a pipelined request.
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["path"] == "/refuse":
            await respond(send, b"refused", 404)
        else:
            await respond(send, (await read_body(receive))[0])

    if framing == "chunked":
        unread = b"POST /refuse HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n"
        unread += b"a\r\n0123456789\r\n" * 50 + b"0\r\n\r\n"
    else:
        unread = post_request(b"x" * 200_000).replace(b"POST /", b"POST /refuse")
    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(unread + post_request(b"second"))
        answers = await read_until(stream, b"second")
        assert answers.count(b"HTTP/1.1 ") == 2 and answers.startswith(b"HTTP/1.1 404"), answers
        await stream.aclose()


async def test_the_disconnect_hook_is_offered_in_the_scope_extensions() -> None:
    from trimcp._transports.http.asgi import DISCONNECT_EXTENSION

    seen: list[Any] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        seen.append(scope["extensions"].get(DISCONNECT_EXTENSION))
        await respond(send)

    async with serving(app) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(REQUEST)
        await read_until(stream, b"ok")
        await stream.aclose()
    assert callable(seen[0]["watch"])
