"""Erlang C and the simulator refuse figures that are not finite and positive."""

from __future__ import annotations

import math

import pytest

from routing.erlang import erlang_c
from routing.errors import ConfigError
from routing.simulate import simulate, simulate_scenario

SCENARIO = {
    "queues": [{"id": "general", "required_skill": "general"}],
    "agents": [{"count": 1, "skills": {"general": 3}}],
    "streams": [{"queue": "general", "arrival_rate": 0.01, "aht": 60}],
}


class TestBadFigures:
    @pytest.mark.parametrize(
        ("rate", "aht"), [(math.nan, 10.0), (1.0, math.inf), (-1.0, 10.0), (1.0, 0.0)]
    )
    def test_erlang(self, rate: float, aht: float) -> None:
        """NaN, infinite, negative or zero figures raise ConfigError."""
        with pytest.raises(ConfigError, match="finite"):
            erlang_c(arrival_rate=rate, aht=aht, agents=2)

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [
            ({"arrival_rate": math.nan}, "arrival_rate"),
            ({"aht": -5.0}, "aht"),
            ({"patience": -3.0}, "patience"),
            ({"sl_threshold": 0.0}, "sl_threshold"),
        ],
    )
    def test_simulate(self, kwargs: dict[str, float], name: str) -> None:
        """The simulator names the bad figure instead of running on it."""
        base: dict[str, float] = {"arrival_rate": 0.1, "aht": 10.0}
        with pytest.raises(ConfigError, match=name):
            simulate(agents=2, calls=10, **(base | kwargs))  # type: ignore[arg-type]

    def test_scenario_with_no_calls(self) -> None:
        """A scenario run asked for zero calls is refused."""
        with pytest.raises(ConfigError, match="calls"):
            simulate_scenario(SCENARIO, calls=0)
