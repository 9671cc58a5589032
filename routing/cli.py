"""Command-line helpers for ``hotline erlang`` and ``hotline simulate``.

The ``hotline`` command (in ``hotline/cli.py``) wires them in two lines each::

    routing.cli.add_erlang_arguments(subparsers.add_parser("erlang"))
    print(json.dumps(routing.cli.run_erlang(args)))

Arrival rates are calls per second; times are seconds. Bad input raises
:class:`~routing.errors.ConfigError` (a ``RoutingError``).
"""

from __future__ import annotations

import argparse
from typing import Any

from routing.erlang import agents_for_target, erlang_c
from routing.errors import ConfigError
from routing.simulate import simulate, simulate_scenario


def add_erlang_arguments(parser: argparse.ArgumentParser) -> None:
    """``--arrival-rate L --aht S (--agents N | --target-sl X) [--sl-threshold T]``."""
    parser.add_argument("--arrival-rate", type=float, required=True, help="calls per second")
    parser.add_argument("--aht", type=float, required=True, help="average handle time, s")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--agents", type=int, help="agents answering")
    group.add_argument("--target-sl", type=float, help="service level to reach, 0..1")
    parser.add_argument(
        "--sl-threshold", type=float, default=15.0, help="answer within T seconds (15)"
    )


def run_erlang(args: argparse.Namespace) -> dict[str, Any]:
    """Erlang C figures for ``--agents``, or the agents needed for ``--target-sl``."""
    if args.agents is not None:
        return erlang_c(
            arrival_rate=args.arrival_rate,
            aht=args.aht,
            agents=args.agents,
            sl_threshold=args.sl_threshold,
        )
    return agents_for_target(
        arrival_rate=args.arrival_rate,
        aht=args.aht,
        target_sl=args.target_sl,
        sl_threshold=args.sl_threshold,
    )


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """``--agents N --arrival-rate L --aht S --calls K --seed R --sl-threshold T
    [--patience S] [--wrap-up S] [--scenario FILE]``."""
    parser.add_argument("--agents", type=int, help="agents (one queue)")
    parser.add_argument("--arrival-rate", type=float, help="calls per second")
    parser.add_argument("--aht", type=float, help="average handle time, s (exponential)")
    parser.add_argument("--calls", type=int, default=None, help="calls to simulate (10000)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (1)")
    parser.add_argument(
        "--sl-threshold", type=float, default=None, help="answer within T seconds (15)"
    )
    parser.add_argument("--patience", type=float, default=None, help="mean patience, s")
    parser.add_argument("--wrap-up", type=float, default=0.0, help="wrap-up per call, s (0)")
    parser.add_argument("--scenario", default=None, help="JSON scenario file (multi-queue)")


def run_simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run the simulator over the real engine; one JSON-able dict of results."""
    if args.scenario:
        return simulate_scenario(
            args.scenario, calls=args.calls, seed=args.seed, sl_threshold=args.sl_threshold
        )
    if args.agents is None or args.arrival_rate is None or args.aht is None:
        raise ConfigError("--agents, --arrival-rate and --aht are needed without --scenario")
    return simulate(
        agents=args.agents,
        arrival_rate=args.arrival_rate,
        aht=args.aht,
        calls=args.calls if args.calls is not None else 10_000,
        seed=args.seed if args.seed is not None else 1,
        sl_threshold=args.sl_threshold if args.sl_threshold is not None else 15.0,
        patience=args.patience,
        wrap_up_s=args.wrap_up,
    )
