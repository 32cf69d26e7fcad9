"""trimcp.RedisEventStore on a real redis-server: resumable SSE events kept in Redis, bounded,
expiring, forgotten with their session, and never in the way of streaming when Redis is gone.
(Resumption through it, across two workers: tests/test_relay.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import coredis
import trio

import trimcp

from .redis_support import running_redis


@asynccontextmanager
async def store_on(url: str, **options: float) -> AsyncIterator[trimcp.RedisEventStore]:
    backend = trimcp.RedisBackend(url)
    async with trio.open_nursery() as nursery:
        await nursery.start(backend.run)
        yield trimcp.RedisEventStore(backend, **options)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()


def event(seq: int) -> bytes:
    return f"id: 1-1-{seq}\nevent: message\ndata: {{}}\n\n".encode()


async def test_events_are_replayed_after_an_id_and_only_those_of_their_stream() -> None:
    async with running_redis() as redis, store_on(redis.url) as store:
        for seq in range(1, 6):
            await store.append(1, 1, seq, event(seq))
        await store.append(1, 2, 1, b"other stream")
        await store.append(2, 1, 1, b"other session")
        assert await store.replay(1, 1, 2) == [event(3), event(4), event(5)]
        assert await store.replay(1, 1, 5) == []
        assert await store.replay(1, 3, 0) is None  # no such stream
        await store.forget(1)
        assert await store.replay(1, 1, 2) is None
        assert await store.replay(2, 1, 0) == [b"other session"]


async def test_streams_are_bounded_and_expire() -> None:
    async with running_redis() as redis, store_on(redis.url, max_events_per_stream=10, ttl_seconds=0.5) as store:
        for seq in range(1, 1001):
            await store.append(1, 1, seq, event(seq))
        kept = await store.replay(1, 1, 990)
        assert kept == [event(seq) for seq in range(991, 1001)]
        assert await store.replay(1, 1, 1) is None  # the oldest were dropped: the client starts over
        await trio.sleep(0.7)
        assert await store.replay(1, 1, 990) is None  # expired


async def test_an_unreachable_redis_keeps_nothing_and_raises_nothing() -> None:
    async with running_redis() as redis, store_on(redis.url) as store:
        await store.append(1, 1, 1, event(1))
        await redis.stop()
        with trio.fail_after(10):
            await store.append(1, 1, 2, event(2))  # streaming goes on
            assert await store.replay(1, 1, 0) is None  # the client is told to start over
            await store.forget(1)


async def test_a_stopping_process_withdraws_its_presence_at_once() -> None:
    """So the sessions it held answer 404 everywhere at once, not after its lease."""
    async with running_redis() as redis:
        backend = trimcp.RedisBackend(redis.url, lease_seconds=60)
        presence = f"trimcp:relay-alive:{backend.relay.name}"
        async with coredis.Redis.from_url(redis.url) as client:
            async with trio.open_nursery() as nursery:
                await nursery.start(backend.run)
                assert await client.exists([presence]) == 1
                nursery.cancel_scope.cancel()
            assert await client.exists([presence]) == 0
