"""The user's browser step for a native client (RFC 8252 §7.3): a redirect listener on
127.0.0.1, an ephemeral port, whose ``/callback`` the authorization server sends the browser
back to. What ``trimcp call/list/inspect --oauth`` logs in with."""

from __future__ import annotations

import webbrowser
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import h11
import trio

#: Bounds what one browser connection may take and send before it is dropped.
_CONNECTION_TIMEOUT = 10.0
_MAX_HEAD = 16 * 1024
_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>trimcp</title>"
    b"<p>Authorization received: you can close this window and go back to the terminal.</p>"
)


class LoopbackRedirect:
    """The redirect target of one listener: :attr:`redirect_uri` for ``OAuth(redirect_uri=...)``
    and :meth:`authorize` for ``OAuth(authorize=...)``."""

    def __init__(self, listener: trio.SocketListener, port: int, show: Callable[[str], None]) -> None:
        self._listener = listener
        self._show = show
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"

    async def authorize(self, url: str) -> str:
        """Send the user to ``url``: shown with ``show`` (for a machine without a browser, or
        another machine's), then opened in the browser; return the URL the browser came back
        to. Waits as long as the caller lets it (the OAuth flow bounds it by
        ``authorize_timeout``); each browser connection is bounded on its own."""
        self._show(url)
        await trio.to_thread.run_sync(webbrowser.open, url, abandon_on_cancel=True)
        arrived: list[str] = []
        async with trio.open_nursery() as nursery:
            while not arrived:
                stream = await self._listener.accept()
                nursery.start_soon(self._serve, stream, arrived, nursery.cancel_scope)
        return arrived[0]

    async def _serve(self, stream: trio.abc.Stream, arrived: list[str], done: trio.CancelScope) -> None:
        """One browser connection: the callback's request gets a page saying it is done (and
        ends the wait), anything else a 404. Resource handling: closes ``stream``."""
        async with stream:
            with trio.move_on_after(_CONNECTION_TIMEOUT):
                target = await _request_target(stream)
                if target is None:
                    return
                found = urlsplit(target).path == "/callback"
                await _respond(stream, 200 if found else 404, _PAGE if found else b"not found")
                if found and not arrived:
                    arrived.append(f"{self.redirect_uri}?{urlsplit(target).query}")
                    done.cancel()


@asynccontextmanager
async def open_loopback_redirect(show: Callable[[str], None]) -> AsyncIterator[LoopbackRedirect]:
    """Listen on 127.0.0.1 (an ephemeral port) for the authorization server's redirect; yield
    the :class:`LoopbackRedirect` to give :class:`trimcp.OAuth`. ``show`` prints the
    authorization URL for the user. Resource handling: owns the listening socket, closed on
    exit. Raises ``OSError`` when no port can be had."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    try:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(8)
    except BaseException:
        sock.close()
        raise
    listener = trio.SocketListener(sock)
    try:
        yield LoopbackRedirect(listener, sock.getsockname()[1], show)
    finally:
        await listener.aclose()


async def _request_target(stream: trio.abc.Stream) -> str | None:
    """The target of the request on ``stream`` (``None`` for anything that is not one)."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return None
        if isinstance(event, h11.Request):
            return event.target.decode("latin-1")
        if event is not h11.NEED_DATA:
            return None
        try:
            data = await stream.receive_some(_MAX_HEAD)
        except trio.BrokenResourceError:
            return None
        if not data:
            return None
        connection.receive_data(data)


async def _respond(stream: trio.abc.Stream, status: int, body: bytes) -> None:
    head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
    headers = f"content-type: text/html; charset=utf-8\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    try:
        await stream.send_all((head + headers).encode("ascii") + body)
    except trio.BrokenResourceError:
        pass
