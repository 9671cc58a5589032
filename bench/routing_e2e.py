"""End-to-end offer latency: an agent's ``available`` in on its WebSocket → ``offer`` out.

The population of issue 3: 1,000 agents signed in (on a break) over real WebSockets and
5,000 waiting sessions over 12 queues with 3 tiers each. Each sample takes one agent:
send ``presence available``, time until the ``offer`` arrives on the same socket, then
send ``presence break`` (the offer is withdrawn, the session waits again) so that the
population stays the same. ``concurrency`` agents do this at once (default one: the
latency of a single event; more: under load). The server is the real
``setup_signaling`` app on a TCP port; with ``backplane="redis"`` every event goes
through the Redis Stream and every message through pub/sub, as between processes.

The waiting sessions are appended to the log as ``join_queue`` records without caller
sockets (5,000 extra sockets would measure the client, not the server); their position
updates are dropped like those of a caller who has closed the page. The clients run in
the same process and event loop as the server, so the figures include their cost.

The agents' client is ``websockets`` (python-websockets), not aiohttp's: an
implementation independent of the server's own checks the server's framing and
handshake while it measures it. Compression is off, as it was with aiohttp's client, so
the figures stay comparable with earlier runs.

    python -m bench.routing_e2e --backplane memory
    python -m bench.routing_e2e --backplane redis --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from routing import actions as act
from routing.ids import AgentId, QueueId, Skill
from routing.model import AgentProfile, Category, QueueConfig, RoutingConfig, TierRule
from signaling import protocol as p
from signaling.backplane import Backplane, MemoryBackplane
from signaling.identity import Identity
from signaling.web import SIGNALING, setup_signaling

PRIORITIES = ("ordinary", "ordinary", "ordinary", "wage_claim", "elderly", "disabled")


def population(agents: int, queues: int, tiers: int, seed: int) -> tuple[RoutingConfig, list[str]]:
    rng = random.Random(seed)
    names = [c.value for c in Category][:queues]
    queue_configs = tuple(
        QueueConfig(
            id=QueueId(name),
            required_skill=Skill(name),
            tiers=tuple(TierRule(t, 30.0 * (t - 1)) for t in range(1, tiers + 1)),
            wrap_up_s=0.0,
            name=name,
        )
        for name in names
    )
    roster = []
    for i in range(agents):
        served = rng.sample(names, k=rng.randint(1, 3))
        roster.append(
            AgentProfile(
                id=AgentId(f"A{i}"),
                skills={Skill(q): rng.randint(1, 5) for q in served},
                tiers={QueueId(q): rng.randint(1, tiers) for q in served},
            )
        )
    config = RoutingConfig(
        queues=queue_configs, roster=tuple(roster), voicemail_outside_shifts=False
    )
    return config, names


async def _authenticate(request: web.Request) -> Identity | None:
    name = request.query.get("agent")
    if not name:
        return None
    return Identity(
        kind="staff", user_id=name, display_name=name, agent_id=name, roles=frozenset({"agent"})
    )


async def _discard(action: act.SessionRecorded) -> None:
    return None


class _Agent:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def until(self, cls: type[Any]) -> Any:
        while True:
            msg = p.parse_server(await self.ws.recv(decode=True))
            if isinstance(msg, cls):
                return msg


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _run(
    backplane: str,
    redis_url: str | None,
    *,
    agents: int,
    sessions: int,
    queues: int,
    tiers: int,
    samples: int,
    warmup: int,
    seed: int,
    concurrency: int,
) -> dict[str, Any]:
    if not 1 <= concurrency <= agents:
        raise ValueError("concurrency must be between 1 and the number of agents")
    config, names = population(agents, queues, tiers, seed)
    prefix = f"bench:e2e:{uuid.uuid4().hex[:8]}"
    factory: Callable[[], Backplane]
    if backplane == "memory":
        factory = MemoryBackplane
    elif backplane == "redis":
        if not redis_url:
            raise ValueError("the redis backplane needs redis_url")
        from signaling.backplane.redis import RedisBackplane

        def factory() -> Backplane:
            return RedisBackplane(redis_url, prefix=prefix)
    else:
        raise ValueError(f"unknown backplane {backplane!r}")

    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=factory,
        authenticate=_authenticate,
        record_outcome=_discard,
        engine_config=config,
        resume_secret=b"bench-secret-bench-secret-000000",
        snapshot_every=0,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state = app[SIGNALING]
    rng = random.Random(seed + 1)
    started = time.perf_counter()
    try:
        await asyncio.wait_for(state.backplane.wait_ready(), 10)
        await asyncio.wait_for(state.leader.leading.wait(), 10)
        # The waiting sessions, arrived over the last two minutes (so every tier is open).
        t0 = time.time() - 120.0
        for i in range(sessions):
            # Said hello (as a node records it), then joined; the socket is not kept.
            await state.backplane.append(
                {"t": "attach", "key": f"c:bench{i}", "conn": "bench", "now": t0 + i * 0.001}
            )
            await state.backplane.append(
                {
                    "t": "msg",
                    "key": f"c:bench{i}",
                    "conn": "bench",
                    "now": t0 + i * 0.001,
                    "sid": f"S-{i}",
                    "m": {
                        "type": "join_queue",
                        "category": names[i % len(names)],
                        "language": "zh",
                        "priority": rng.choice(PRIORITIES),
                    },
                }
            )
        async with contextlib.AsyncExitStack() as sockets:
            peers: list[_Agent] = []
            for i in range(agents):
                ws = await sockets.enter_async_context(  # closed when the block ends
                    connect(f"ws://127.0.0.1:{port}/ws?agent=A{i}", compression=None)
                )
                await ws.send('{"v":1,"type":"hello"}')
                peer = _Agent(ws)
                await peer.until(p.Welcome)
                await peer.until(p.PresenceChanged)  # signed in, on a break
                peers.append(peer)
            router = state.leader.router
            assert router is not None
            waiting = len(router.sessions)
            setup_s = time.perf_counter() - started
            available = json.dumps({"v": 1, "type": "presence", "state": "available"})
            on_break = json.dumps({"v": 1, "type": "presence", "state": "break", "reason": "bench"})
            latencies: list[float] = []

            async def worker(mine: list[_Agent], count: int, skip: int) -> None:
                for n in range(count):
                    peer = mine[n % len(mine)]
                    t = time.perf_counter()
                    await peer.ws.send(available)
                    await peer.until(p.Offer)
                    elapsed = time.perf_counter() - t
                    if n >= skip:
                        latencies.append(elapsed * 1000)
                    await peer.ws.send(on_break)
                    await peer.until(p.OfferCancelled)
                    await peer.until(p.PresenceChanged)

            # ``concurrency`` agents at a time, each cycling through its own share.
            shuffled = rng.sample(peers, len(peers))
            per = (samples + concurrency - 1) // concurrency
            skip = max(1, warmup // concurrency)
            async with asyncio.TaskGroup() as group:
                for w in range(concurrency):
                    group.create_task(worker(shuffled[w::concurrency], per + skip, skip))
    finally:
        await runner.cleanup()
        if backplane == "redis" and redis_url:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(redis_url)
            keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
    return {
        "benchmark": "routing_e2e",
        "backplane": backplane,
        "agents": agents,
        "waiting_sessions": waiting,
        "queues": queues,
        "tiers": tiers,
        "samples": len(latencies),
        "concurrency": concurrency,
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
        "mean_ms": round(statistics.fmean(latencies), 3),
        "target_p99_ms": 15.0 if backplane == "memory" else 30.0,
        "setup_s": round(setup_s, 2),
    }


def run(
    backplane: str,
    redis_url: str | None,
    *,
    agents: int = 1000,
    sessions: int = 5000,
    queues: int = 12,
    tiers: int = 3,
    samples: int = 1000,
    warmup: int = 50,
    seed: int = 12348,
    concurrency: int = 1,
) -> dict[str, Any]:
    """Measure offer latency over ``backplane`` ("memory" or "redis"); one JSON-able dict."""
    return asyncio.run(
        _run(
            backplane,
            redis_url,
            agents=agents,
            sessions=sessions,
            queues=queues,
            tiers=tiers,
            samples=samples,
            warmup=warmup,
            seed=seed,
            concurrency=concurrency,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backplane", choices=["memory", "redis"], default="memory")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    result = run(
        args.backplane,
        args.redis_url,
        agents=args.agents,
        sessions=args.sessions,
        samples=args.samples,
        concurrency=args.concurrency,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
