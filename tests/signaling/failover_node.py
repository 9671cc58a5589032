"""One signaling process for the failover test: ``python -m tests.signaling.failover_node``.

Serves ``/ws`` over a Redis backplane, identifies peers from ``?as=`` like the test
fixtures, and records outcomes into Redis (``{prefix}:outcomes`` keeps the first write
per session, ``{prefix}:writes`` lists every write) so the test can check from outside
that no session was lost or recorded twice. ``/ready`` says whether this process leads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

import redis.asyncio as aioredis
from aiohttp import web

from routing import actions as act
from signaling.backplane.redis import RedisBackplane
from signaling.identity import Identity
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, make_config

OUTCOMES = web.AppKey("outcomes", aioredis.Redis)


async def authenticate(request: web.Request) -> Identity | None:
    kind, _, name = request.query.get("as", "").partition(":")
    if kind == "agent" and name:
        return Identity(
            kind="staff",
            user_id=f"user-{name}",
            display_name=name,
            agent_id=name,
            roles=frozenset({"agent"}),
        )
    if kind == "caller" and name:
        return Identity(kind="caller", user_id=name, display_name="caller", subject=name)
    return None


def build(redis_url: str, prefix: str, lease_ms: int) -> web.Application:
    app = web.Application()
    client = aioredis.Redis.from_url(redis_url)

    async def record_outcome(action: act.SessionRecorded) -> None:
        payload = json.dumps(action.to_dict())
        async with client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(f"{prefix}:outcomes", action.session, payload)
            pipe.rpush(f"{prefix}:writes", action.session)
            await pipe.execute()

    async def ready(request: web.Request) -> web.Response:
        state = request.app[SIGNALING]
        return web.json_response(
            {"process": state.backplane.process_id, "leading": state.leader.leading.is_set()}
        )

    async def close_client(app: web.Application) -> None:
        await client.aclose()

    setup_signaling(
        app,
        backplane_factory=lambda: RedisBackplane(redis_url, prefix=prefix, lease_ms=lease_ms),
        authenticate=authenticate,
        record_outcome=record_outcome,
        engine_config=make_config(agents=8),
        resume_secret=SECRET,
        grace_s=10.0,
        snapshot_every=25,
    )
    app.router.add_get("/ready", ready)
    app.on_cleanup.append(close_client)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lease-ms", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(
        build(args.redis, args.prefix, args.lease_ms),
        host="127.0.0.1",
        port=args.port,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
