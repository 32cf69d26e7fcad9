"""HTTP requests relayed between workers: a handshake-era session lives in the process that
answered its ``initialize`` (its home, named in the session id); a request for it that reaches
another process is carried home over a :class:`~trimcp._server.relay.Conduit` and served
there as if it had arrived there, its response carried back frame by frame.

The front (the process holding the client's connection) sends one ``open`` frame (method,
headers, body, principal) and tells the home process when the client leaves; the home sends the
response as frames (``status`` and ``headers`` with the first, then ``body`` and ``more``).
Cancellation, resumption, questions to the client and their answers all follow from serving
the request at home as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..._runtime import Caller
from ..._server.backend import BackendUnavailable
from ..._server.relay import Conduit, PeerGone, Relay
from ...protocol.auth import Principal
from ...protocol.errors import INVALID_REQUEST
from .asgi import HeaderMapping, Headers, Receive, Send, WatchedReceive, answer_internal_error, send_jsonrpc_error
from .streaming import watching_disconnect

if TYPE_CHECKING:
    from .app import MCPApp

logger = logging.getLogger("trimcp.http")

SESSION_GONE = "Not Found: no such session (its worker stopped; initialize a new session)"
_UNAVAILABLE = "Service Unavailable: the session's worker cannot be reached; retry later"


def home_of(session_id: str) -> str:
    """The name of a session's home process (``<home>.<random>``; "" when none is named)."""
    home, dot, _ = session_id.partition(".")
    return home if dot else ""


# -- the front: the process the client reached --------------------------------------------------


@attrs.frozen
class RelayedRequest:
    """An HTTP request for a session another process owns, as its home process needs it (its host,
    origin, credentials and body were checked where it arrived). ``legacy_query`` is the query
    string of a POST to the deprecated HTTP+SSE transport's messages path (``None``: the
    Streamable HTTP endpoint)."""

    method: str
    headers: Headers
    caller: Caller
    body: bytes = b""
    legacy_query: bytes | None = None


async def relay_exchange(relay: Relay, home: str, request: RelayedRequest, receive: Receive, send: Send) -> None:
    """Serve ``request`` at the process ``home`` and pass its response on to ``send``, ending
    the exchange there when the client leaves. A gone home is a 404 (the client starts a new
    session); an unreachable backend a 503."""
    opening = {
        b"method": request.method.encode(),
        b"headers": _encode_headers(request.headers.raw),
        b"body": request.body,
        b"principal": _encode_principal(request.caller.principal),
    }
    if request.legacy_query is not None:
        opening[b"legacy"] = request.legacy_query
    try:
        conduit = await relay.connect(home, opening)
    except PeerGone:
        await send_jsonrpc_error(send, 404, INVALID_REQUEST, SESSION_GONE)
        return
    except BackendUnavailable:
        await send_jsonrpc_error(send, 503, INVALID_REQUEST, _UNAVAILABLE, headers=[(b"retry-after", b"1")])
        return
    started = completed = left = False

    def leave() -> None:
        nonlocal left
        if not completed:  # (the server ends the exchange once the last bytes are sent)
            left = True
            conduit.close()

    try:
        async with watching_disconnect(receive, leave):
            while (frame := await conduit.receive()) is not None:
                status = frame.get(b"status")
                if status is not None:
                    headers = _decode_headers(frame[b"headers"])
                    await send({"type": "http.response.start", "status": int(status), "headers": headers})
                    started = True
                if b"body" in frame:
                    more = frame.get(b"more") == b"1"
                    completed = not more
                    await send({"type": "http.response.body", "body": frame[b"body"], "more_body": more})
                    if completed:
                        break
    finally:
        conduit.close(tell_peer=not completed)
    if completed or left:
        return
    if started:  # the home process was lost mid-stream: end it (the client may resume elsewhere)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif conduit.lost and relay.gone(home):
        await send_jsonrpc_error(send, 404, INVALID_REQUEST, SESSION_GONE)
    else:
        await send_jsonrpc_error(send, 503, INVALID_REQUEST, _UNAVAILABLE, headers=[(b"retry-after", b"1")])


# -- home ------------------------------------------------------------------------------------------


async def serve_relayed(app: MCPApp, relay: Relay) -> None:
    """Serve the requests other processes relay to this one, each in its own task, until
    cancelled."""
    async with trio.open_nursery() as nursery:
        while True:
            nursery.start_soon(_serve_conduit, app, await relay.accept())


async def _serve_conduit(app: MCPApp, conduit: Conduit) -> None:
    send = _ResponseFrames(conduit)
    try:
        opening = conduit.opening
        headers = Headers(_decode_headers(opening[b"headers"]))
        request = RelayedRequest(
            opening[b"method"].decode(),
            headers,
            Caller(_decode_principal(opening.get(b"principal", b"")), HeaderMapping(headers)),
            opening.get(b"body", b""),
            opening.get(b"legacy"),
        )
        await app.serve_relayed(request, WatchedReceive(_receive_from(conduit, request.body), conduit.watch), send)
    except Exception:
        logger.exception("Serving a request relayed from worker %s failed", conduit.peer)
        await answer_internal_error(send)
    finally:
        conduit.close(tell_peer=not send.completed)


def _receive_from(conduit: Conduit, body: bytes) -> Receive:
    """An ASGI ``receive`` for a relayed request: its body, then a disconnect once the front
    ends the conduit (the client left)."""
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        while await conduit.receive() is not None:
            pass  # the front sends nothing after its request but the end
        return {"type": "http.disconnect"}

    return receive


class _ResponseFrames:
    """An ASGI ``send`` that carries the response to the front: the start goes with the first
    body chunk, except an event stream's (its client waits for the headers)."""

    def __init__(self, conduit: Conduit) -> None:
        self._conduit = conduit
        self._start: dict[str, Any] | None = None
        self._started = False
        self.completed = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            if self._started:
                raise RuntimeError("the response has started already")
            self._started = True
            start = self._start = {
                b"status": str(message["status"]).encode(),
                b"headers": _encode_headers(message.get("headers", ())),
            }
            if (b"content-type", b"text/event-stream") in message.get("headers", ()):
                self._start = None
                await self._conduit.send(start)
            return
        more = bool(message.get("more_body"))
        frame = {b"body": bytes(message.get("body", b"")), b"more": b"1" if more else b""}
        if self._start is not None:
            frame.update(self._start)
            self._start = None
        # complete only once the last frame is out (a send cancelled midway must still end
        # the front's response: the conduit is then closed telling it)
        self.completed = await self._conduit.send(frame) and not more


def _encode_headers(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    return json.dumps([[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers]).encode()


def _decode_headers(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in json.loads(data)]


def _encode_principal(principal: Principal | None) -> bytes:
    if principal is None:
        return b""
    fields = {
        "subject": principal.subject,
        "client_id": principal.client_id,
        "scopes": sorted(principal.scopes),
        "claims": principal.claims,
        "expires_at": principal.expires_at,
    }
    return json.dumps(fields).encode()


def _decode_principal(data: bytes) -> Principal | None:
    if not data:
        return None
    fields = json.loads(data)
    fields["scopes"] = frozenset(fields["scopes"])
    return Principal(**fields)
