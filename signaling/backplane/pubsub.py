"""A Redis pub/sub subscription that survives lost connections.

Pub/sub keeps nothing for an absent subscriber, so after a lost connection whatever
was published meanwhile is gone: the caller's ``on_subscribed(lost=True)`` is its
chance to make up for it (re-register, ask clients to resume). Each attempt uses a
fresh client: redis-py's pooled pub/sub connection can come back subscribed on a
socket nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RETRY_S = 0.2


def blocking_options(url: str) -> dict[str, Any]:
    """Options for connections that wait indefinitely; TCP keepalive where there is TCP
    (redis-py refuses the option on a unix:// socket)."""
    options: dict[str, Any] = {"socket_timeout": None}
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    return options


async def subscribe_forever(
    *,
    url: str,
    client_name: str,
    channels: Sequence[bytes | str],
    on_message: Callable[[Any, Any], None],
    subscribed: asyncio.Event,
    on_subscribed: Callable[[bool], Awaitable[None]] | None = None,
    decode_responses: bool = False,
    what: str = "pub/sub connection",
) -> None:
    """Call ``on_message(channel, data)`` for every message on ``channels``, until
    cancelled; ``subscribed`` is set while the subscription stands."""
    lost = False
    while True:
        client = aioredis.Redis.from_url(
            url, client_name=client_name, decode_responses=decode_responses, **blocking_options(url)
        )
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(*channels)
            if on_subscribed is not None:
                await on_subscribed(lost)
            lost = False
            subscribed.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    on_message(message["channel"], message["data"])
        except (RedisError, OSError) as exc:
            log.warning("%s lost (%s); resubscribing", what, exc)
            subscribed.clear()
            lost = True
            await asyncio.sleep(RETRY_S)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
