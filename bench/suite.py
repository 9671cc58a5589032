"""``hotline bench NAME``: each benchmark as one JSON object of parameters and figures.

Benchmarks are never part of ``make test``: they take minutes and the machines are
shared, so figures are medians, p99s and ratios from dedicated runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any


def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="run a benchmark, print one JSON object")
    names = bench.add_subparsers(dest="bench", required=True, metavar="NAME")

    routing = names.add_parser("routing", help="engine decisions/s; offer latency end to end")
    routing.add_argument("--agents", type=int, default=1000)
    routing.add_argument("--waiting", type=int, default=5000)
    routing.add_argument("--queues", type=int, default=12)
    routing.add_argument("--tiers", type=int, default=3)
    routing.add_argument("--samples", type=int, default=1000, help="latency samples per backplane")
    routing.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL"), help="for the Redis run (REDIS_URL)"
    )
    routing.set_defaults(bench_run=run_routing)

    media = names.add_parser("media", help="recorded three-party rooms through the SFU")
    media.add_argument("--rooms", type=int, default=4, help="load level to report (N)")
    media.add_argument("--seconds", type=int, default=30)
    media.add_argument("--max-rooms", type=int, default=8, help="sweep up to this N for N max")
    media.add_argument("--no-sweep", action="store_true", help="skip the N-max sweep")
    media.add_argument("--no-janus", action="store_true", help="skip the Janus comparison")
    media.set_defaults(bench_run=run_media)

    calls = names.add_parser("calls", help="concurrent recorded two-party calls, voice and video")
    calls.add_argument(
        "--calls", type=int, nargs="+", default=[2, 4], help="load levels: concurrent calls"
    )
    calls.add_argument("--seconds", type=int, default=10, help="measured window per level")
    kind = calls.add_mutually_exclusive_group()
    kind.add_argument("--voice-only", action="store_true", help="voice calls only")
    kind.add_argument("--video-only", action="store_true", help="video calls only")
    calls.set_defaults(bench_run=run_calls)

    outcomes = names.add_parser("outcomes", help="outcome writer rows/s, SQLite and PostgreSQL")
    outcomes.add_argument("--sessions", type=int, default=5000, help="callers in the burst")
    outcomes.add_argument(
        "--batch-size",
        type=int,
        nargs="+",
        default=[1, 500],
        help="rows per transaction to compare (default: 1 500)",
    )
    outcomes.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    outcomes.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL for the second run (DATABASE_URL); a schema of its own, dropped after",
    )
    outcomes.set_defaults(bench_run=run_outcomes)


def run_routing(args: argparse.Namespace) -> dict[str, Any]:
    from bench import routing_e2e, routing_engine

    population = {
        "agents": args.agents,
        "queues": args.queues,
        "tiers": args.tiers,
    }
    result: dict[str, Any] = {
        "benchmark": "routing",
        "engine": routing_engine.run(waiting=args.waiting, **population),
        "offer_latency": {
            "memory": routing_e2e.run(
                "memory", None, sessions=args.waiting, samples=args.samples, **population
            )
        },
    }
    if args.redis_url:
        result["offer_latency"]["redis"] = routing_e2e.run(
            "redis", args.redis_url, sessions=args.waiting, samples=args.samples, **population
        )
    else:
        result["offer_latency"]["redis"] = {"skipped": "no REDIS_URL / --redis-url"}
    return result


def run_media(args: argparse.Namespace) -> dict[str, Any]:
    from bench import media

    if args.no_janus:
        result: dict[str, Any] = {"benchmark": "media", "ours": media.run(args.rooms, args.seconds)}
    else:
        if shutil.which("janus") is None:
            raise RuntimeError("Janus is not installed: `apt-get install janus`, or --no-janus")
        result = media.compare(args.rooms, args.seconds)
        result["benchmark"] = "media"
    if not args.no_sweep:
        sweep = media.sweep(args.max_rooms, args.seconds)
        result["n_max"] = sweep["n_max"]
        result["sweep"] = sweep["levels"]
    return result


def run_calls(args: argparse.Namespace) -> dict[str, Any]:
    from bench import calls

    if any(n < 1 for n in args.calls) or args.seconds < 1:
        raise RuntimeError("--calls and --seconds must be at least 1")
    return calls.compare(
        args.calls, args.seconds, voice=not args.video_only, video=not args.voice_only
    )


def run_outcomes(args: argparse.Namespace) -> dict[str, Any]:
    from bench import outcomes

    if any(size < 1 for size in args.batch_size):
        raise RuntimeError("--batch-size must be at least 1")
    return outcomes.run(
        database_url=args.database_url,
        sessions=args.sessions,
        batch_sizes=args.batch_size,
        repeats=args.repeats,
    )
