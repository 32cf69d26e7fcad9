"""Regressions found by the relayed fuzz target (``python -m tests.fuzz http-relayed``): two apps
sharing one real redis-server (``tests/test_relay.py``'s ``two_workers``), a session opened on
``a`` and used through ``b``, so that its requests are relayed to ``a``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from trimcp._redis.relay import RedisConduit

from .redis_support import running_redis
from .test_relay import call, open_session, post_headers, two_workers


async def _events_until_response(stream: Any, request_id: int) -> list[Any]:
    """Read ``stream``'s events until the response to ``request_id`` arrived."""
    seen: list[Any] = []
    while not any(event.data and json.loads(event.data).get("id") == request_id for event in seen):
        seen += await stream.events(1)
    return seen


@pytest.mark.parametrize("resume_through", ["a", "b"])
async def test_a_relayed_stream_taken_over_while_its_end_is_relayed_still_ends(
    resume_through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST's stream relayed from ``b`` to its owner ``a`` is taken over by a ``GET`` with
    ``Last-Event-ID`` just as ``a`` relays the stream's end (the last, empty body frame): the
    POST's response on ``b`` must end all the same.

    Found by the fuzzer's take-over cases (``drip`` calls resumed while they run: about 2 % of
    them): the POST had received every event, its response included, and then never ended.
    ``_ResponseFrames`` (trimcp/_transports/http/relayed.py) sets ``completed`` before
    ``conduit.send`` of the final frame returns; the take-over cancels that send, the frame is
    never written, and ``_serve_conduit`` closes the conduit with ``tell_peer=not
    send.completed``, i.e. without telling ``b``, whose ``relay_exchange`` then waits for a
    frame that never comes (until the client leaves; the exchange stays open on ``b`` meanwhile).
    Here the final frame's write is held back a moment so that the take-over lands in it."""
    ending = trio.Event()
    send = RedisConduit.send

    async def slow_end(self: RedisConduit, frame: dict[bytes, bytes]) -> bool:
        if b"body" in frame and frame.get(b"more") == b"" and not ending.is_set():
            ending.set()
            await trio.sleep(1)
        return await send(self, frame)

    monkeypatch.setattr(RedisConduit, "send", slow_end)
    async with running_redis() as redis, two_workers(redis) as (a, b, _, _):
        session = await open_session(a)
        resuming = a if resume_through == "a" else b
        body = call(1, "steps", {"count": 2}, progressToken="p")
        async with b.open("POST", "/mcp", post_headers(session), body) as posted:
            assert posted.status == 200 and posted.headers["content-type"] == "text/event-stream"
            with trio.fail_after(10):
                seen = await _events_until_response(posted, 1)
                await ending.wait()  # a is relaying the stream's end
            headers = {"accept": "text/event-stream", "last-event-id": seen[-1].id, **session}
            async with resuming.open("GET", "/mcp", headers) as resumed:
                assert resumed.status == 200
                with trio.fail_after(10):
                    await resumed.rest()  # the stream had finished: nothing more to replay
            with trio.fail_after(5):
                rest = await posted.rest()  # ends (it hung here)
        assert b'"result"' not in rest  # (the response was delivered once, before)
