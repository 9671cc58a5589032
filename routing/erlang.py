"""Erlang C (M/M/c): waiting probability, speed of answer, service level, occupancy.

Supervisors use it to size a rota; the simulator's tests use it to check the engine.
Units: ``arrival_rate`` in calls per second, ``aht`` (average handle time) and
``sl_threshold`` in seconds. Results are plain dicts, ready to print as JSON; values
that are infinite for an overloaded queue (offered load ≥ agents) are ``None``.
"""

from __future__ import annotations

import math
from typing import Any

from routing.errors import ConfigError


def _check(arrival_rate: float, aht: float, agents: int | None = None) -> float:
    if not (math.isfinite(arrival_rate) and math.isfinite(aht)) or arrival_rate < 0 or aht <= 0:
        raise ConfigError("arrival rate must be a finite number >= 0 and AHT finite > 0")
    if agents is not None and agents < 1:
        raise ConfigError("agents must be >= 1")
    return arrival_rate * aht


def p_wait(agents: int, load: float) -> float:
    """Probability that a call waits (Erlang C), for ``load`` Erlangs on ``agents``.

    Computed through the Erlang B recursion, which stays stable for hundreds of agents.
    """
    if load <= 0:
        return 0.0
    if load >= agents:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1.0 - b))


def erlang_c(
    *, arrival_rate: float, aht: float, agents: int, sl_threshold: float = 15.0
) -> dict[str, Any]:
    """Predicted figures for ``agents`` answering calls at ``arrival_rate`` with ``aht``.

    Keys: ``arrival_rate``, ``aht``, ``agents``, ``sl_threshold``, ``load`` (Erlangs),
    ``stable``, ``p_wait``, ``asa`` (s), ``service_level`` (share answered within
    ``sl_threshold``), ``occupancy``.
    """
    load = _check(arrival_rate, aht, agents)
    stable = load < agents
    pw = p_wait(agents, load)
    if stable:
        asa: float | None = pw * aht / (agents - load)
        sl: float | None = 1.0 - pw * math.exp(-(agents - load) * sl_threshold / aht)
    else:
        asa, sl = None, 0.0
    return {
        "arrival_rate": arrival_rate,
        "aht": aht,
        "agents": agents,
        "sl_threshold": sl_threshold,
        "load": load,
        "stable": stable,
        "p_wait": pw,
        "asa": asa,
        "service_level": sl,
        "occupancy": min(1.0, load / agents),
    }


def agents_for_target(
    *,
    arrival_rate: float,
    aht: float,
    target_sl: float,
    sl_threshold: float = 15.0,
    max_agents: int = 10_000,
) -> dict[str, Any]:
    """The fewest agents whose predicted service level reaches ``target_sl``.

    Returns :func:`erlang_c`'s dict for that many agents plus ``target_sl``.
    GB/T 33358 and our defaults: answer within 15 s.
    """
    if not 0 < target_sl < 1:
        raise ConfigError("target service level must be between 0 and 1")
    load = _check(arrival_rate, aht)
    agents = max(1, math.floor(load) + 1)
    while agents <= max_agents:
        result = erlang_c(
            arrival_rate=arrival_rate, aht=aht, agents=agents, sl_threshold=sl_threshold
        )
        if result["service_level"] >= target_sl:
            return {**result, "target_sl": target_sl}
        agents += 1
    raise ConfigError(f"more than {max_agents} agents would be needed")
