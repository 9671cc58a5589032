"""The Redis backplane over a unix:// socket, as settings allow for REDIS_URL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from signaling.backplane.base import Delivery
from signaling.backplane.redis import RedisBackplane

pytestmark = pytest.mark.redis


@pytest.fixture
def unix_redis(redis_socket: str) -> str:
    return f"unix://{redis_socket}"


class TestUnixSocket:
    async def test_start_append_and_listen(self, unix_redis: str) -> None:
        """The backplane starts, appends to its log and runs its listener over a unix
        socket (keepalive is a TCP option and must not be passed there)."""
        received: list[Delivery] = []

        async def receive(delivery: Delivery) -> None:
            received.append(delivery)

        prefix = f"test:{uuid.uuid4().hex[:8]}"
        backplane = RedisBackplane(unix_redis, prefix=prefix)
        await backplane.start(receive)
        listener = asyncio.create_task(backplane.run())
        try:
            entry_id = await backplane.append({"kind": "probe"})
            assert entry_id
            await asyncio.sleep(0.2)
            assert not listener.done()
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await backplane.close()
            cleaner = aioredis.Redis.from_url(unix_redis)
            keys = [k async for k in cleaner.scan_iter(f"{prefix}:*")]
            if keys:
                await cleaner.delete(*keys)
            await cleaner.aclose()
