"""One signaling process for the failover test: ``python -m tests.signaling.failover_node``.

Serves ``/ws`` over a Redis backplane, identifies peers from ``?as=`` like the test
fixtures, and records outcomes into Redis (``{prefix}:outcomes`` keeps the first write
per session, ``{prefix}:writes`` lists every write) so the test can check from outside
that no session was lost or recorded twice. ``/ready`` says whether this process leads.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging

import redis.asyncio as aioredis
from aiohttp import web

from routing import actions as act
from routing.model import Category, RoutingConfig
from signaling.backplane.redis import RedisBackplane
from signaling.identity import Identity
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, make_config, profile

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


def config() -> RoutingConfig:
    """A1–A8 serve every queue except criminal; A9 serves only criminal."""
    base = make_config(agents=8)
    everyone_but = tuple(c.value for c in Category if c is not Category.CRIMINAL)
    roster = tuple(profile(f"A{i}", skills=everyone_but) for i in range(1, 9))
    return dataclasses.replace(
        base, roster=(*roster, profile("A9", skills=(Category.CRIMINAL.value,)))
    )


def build(redis_url: str, prefix: str, lease_ms: int, grace_s: float) -> web.Application:
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
        engine_config=config(),
        resume_secret=SECRET,
        grace_s=grace_s,
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
    parser.add_argument("--grace-s", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(
        build(args.redis, args.prefix, args.lease_ms, args.grace_s),
        host="127.0.0.1",
        port=args.port,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
