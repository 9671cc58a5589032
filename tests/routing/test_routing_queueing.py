"""Erlang C and the simulator that drives the real engine."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from routing import cli
from routing.erlang import agents_for_target, erlang_c, p_wait
from routing.errors import ConfigError
from routing.simulate import simulate, simulate_scenario


def erlang_c_by_factorials(agents: int, load: float) -> float:
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


class TestErlangC:
    def test_textbook_two_agents(self) -> None:
        """Two agents at one Erlang: a call waits with probability 1/3."""
        result = erlang_c(arrival_rate=1 / 180, aht=180, agents=2, sl_threshold=20)
        assert result["p_wait"] == pytest.approx(1 / 3)
        assert result["asa"] == pytest.approx(60.0)
        assert result["occupancy"] == pytest.approx(0.5)
        assert result["service_level"] == pytest.approx(1 - math.exp(-20 / 180) / 3)

    @pytest.mark.parametrize(("agents", "load"), [(1, 0.5), (5, 3.2), (12, 10.0), (40, 33.3)])
    def test_matches_the_factorial_formula(self, agents: int, load: float) -> None:
        """The Erlang B recursion gives the same answer as the textbook formula."""
        assert p_wait(agents, load) == pytest.approx(erlang_c_by_factorials(agents, load))

    def test_overloaded_queue(self) -> None:
        """At or above one Erlang per agent the queue is unstable: everyone waits."""
        result = erlang_c(arrival_rate=1 / 30, aht=300, agents=10)
        assert (result["stable"], result["p_wait"], result["asa"]) == (False, 1.0, None)
        assert result["occupancy"] == 1.0
        assert p_wait(3, 0.0) == 0.0

    def test_agents_for_a_target(self) -> None:
        """The agents needed are the fewest meeting the target; one fewer does not."""
        result = agents_for_target(arrival_rate=0.05, aht=240, target_sl=0.8, sl_threshold=15)
        n = result["agents"]
        assert result["service_level"] >= 0.8
        below = erlang_c(arrival_rate=0.05, aht=240, agents=n - 1, sl_threshold=15)
        assert below["service_level"] < 0.8
        assert json.loads(json.dumps(result)) == result

    def test_bad_input(self) -> None:
        """Negative rates, zero AHT, zero agents and impossible targets are refused."""
        with pytest.raises(ConfigError):
            erlang_c(arrival_rate=-1, aht=10, agents=1)
        with pytest.raises(ConfigError):
            erlang_c(arrival_rate=1, aht=10, agents=0)
        with pytest.raises(ConfigError):
            agents_for_target(arrival_rate=1, aht=10, target_sl=1.0)
        with pytest.raises(ConfigError):
            agents_for_target(arrival_rate=100, aht=100, target_sl=0.9, max_agents=50)


class TestSimulator:
    def test_one_fifo_queue_reproduces_erlang_c(self) -> None:
        """One queue, FIFO, no abandonment: the engine's figures match M/M/c theory."""
        theory = erlang_c(arrival_rate=8 / 300, aht=300, agents=10, sl_threshold=20)
        sim = simulate(
            agents=10, arrival_rate=8 / 300, aht=300, calls=60_000, seed=1, sl_threshold=20
        )
        assert sim["answered"] == sim["calls"] == 60_000
        assert sim["abandoned"] == 0
        assert sim["p_wait"] == pytest.approx(theory["p_wait"], abs=0.03)
        assert sim["service_level"] == pytest.approx(theory["service_level"], abs=0.03)
        assert sim["asa"] == pytest.approx(theory["asa"], rel=0.12)
        assert sim["occupancy"] == pytest.approx(theory["occupancy"], abs=0.02)

    def test_patience_makes_callers_abandon(self) -> None:
        """With impatient callers on an overloaded queue, some hang up."""
        sim = simulate(agents=2, arrival_rate=1 / 60, aht=300, calls=500, seed=3, patience=60)
        assert sim["abandoned"] > 0
        assert sim["answered"] + sim["abandoned"] == sim["calls"]
        assert 0 < sim["abandon_rate"] < 1
        assert sim["max_wait"] > 0

    def test_same_seed_same_result(self) -> None:
        """The simulator is deterministic for a seed."""
        a = simulate(agents=3, arrival_rate=0.01, aht=200, calls=300, seed=9)
        b = simulate(agents=3, arrival_rate=0.01, aht=200, calls=300, seed=9)
        assert a == b

    def test_multi_queue_scenario_from_a_file(self, tmp_path: Path) -> None:
        """A multi-queue, multi-skill scenario with priorities runs from a JSON file."""
        scenario = {
            "queues": [
                {"id": "labour", "required_skill": "labour", "wrap_up_s": 10},
                {
                    "id": "general",
                    "required_skill": "general",
                    "tiers": [{"tier": 1, "opens_after_s": 0}, {"tier": 2, "opens_after_s": 20}],
                    "max_wait_s": 600,
                },
            ],
            "agents": [
                {"count": 3, "skills": {"labour": 4}},
                {"count": 2, "skills": {"general": 3, "labour": 2}, "tiers": {"general": 2}},
            ],
            "streams": [
                {"queue": "labour", "arrival_rate": 0.01, "aht": 180, "priority": "wage_claim"},
                {"queue": "general", "arrival_rate": 0.005, "aht": 120, "handle": "fixed"},
                {"queue": "labour", "arrival_rate": 0.005, "aht": 180, "patience": 90},
            ],
            "calls": 2000,
            "seed": 4,
            "config": {"max_missed_offers": 3},
        }
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario), encoding="utf-8")
        result = simulate_scenario(path, sl_threshold=30)
        assert result["calls"] == 2000
        assert set(result["queues"]) == {"labour", "general"}
        assert result["answered"] + result["abandoned"] + result["other"] <= 2000
        assert result["answered"] > 1500
        assert simulate_scenario(scenario, calls=100)["calls"] == 100

    def test_bad_scenarios(self) -> None:
        """A scenario without agents, or streaming into an unknown queue, is refused."""
        base = {"queues": [{"id": "q", "required_skill": "q"}], "agents": [], "streams": []}
        with pytest.raises(ConfigError):
            simulate_scenario(base)
        with pytest.raises(ConfigError):
            simulate_scenario({"queues": []})
        bad_rate = {
            **base,
            "agents": [{"skills": {"q": 1}}],
            "streams": [{"queue": "q", "arrival_rate": 0, "aht": 10}],
        }
        with pytest.raises(ConfigError):
            simulate_scenario(bad_rate)
        with pytest.raises(ConfigError):
            simulate(agents=0, arrival_rate=1, aht=1, calls=1)


class TestCommandLine:
    def parse(self, add: Callable[[argparse.ArgumentParser], None], argv: list[str]):
        parser = argparse.ArgumentParser()
        add(parser)
        return parser.parse_args(argv)

    def test_erlang_with_agents_and_with_a_target(self) -> None:
        """`hotline erlang` gives the figures for N agents, or the agents for a target."""
        args = self.parse(
            cli.add_erlang_arguments,
            ["--arrival-rate", "0.05", "--aht", "240", "--agents", "15", "--sl-threshold", "20"],
        )
        assert cli.run_erlang(args)["agents"] == 15
        args = self.parse(
            cli.add_erlang_arguments,
            ["--arrival-rate", "0.05", "--aht", "240", "--target-sl", "0.8"],
        )
        result = cli.run_erlang(args)
        assert result["service_level"] >= 0.8
        assert result["sl_threshold"] == 15.0

    def test_erlang_needs_agents_or_target(self) -> None:
        """Giving neither --agents nor --target-sl is a usage error."""
        with pytest.raises(SystemExit):
            self.parse(cli.add_erlang_arguments, ["--arrival-rate", "1", "--aht", "1"])

    def test_simulate_one_queue_and_scenario(self, tmp_path: Path) -> None:
        """`hotline simulate` runs one queue from flags, or a scenario file."""
        argv = ["--agents", "2", "--arrival-rate", "0.01", "--aht", "60", "--calls", "50"]
        result = cli.run_simulate(
            self.parse(cli.add_simulate_arguments, [*argv, "--patience", "30"])
        )
        assert (result["calls"], result["patience"], result["seed"]) == (50, 30.0, 1)
        path = tmp_path / "s.json"
        path.write_text(
            json.dumps(
                {
                    "queues": [{"id": "q", "required_skill": "q"}],
                    "agents": [{"skills": {"q": 2}, "count": 2}],
                    "streams": [{"queue": "q", "arrival_rate": 0.01, "aht": 60}],
                }
            ),
            encoding="utf-8",
        )
        args = self.parse(cli.add_simulate_arguments, ["--scenario", str(path), "--calls", "40"])
        assert cli.run_simulate(args)["calls"] == 40
        with pytest.raises(ConfigError):
            cli.run_simulate(self.parse(cli.add_simulate_arguments, ["--agents", "2"]))


class TestBenchmark:
    def test_small_run_reports_its_figures(self) -> None:
        """The engine benchmark runs at a small scale and returns its figures as a dict."""
        from bench.routing_engine import run

        result = run(agents=30, waiting=60, queues=3, tiers=2, events=300, repeats=1)
        assert result["decisions_per_s"] > 0
        assert result["with_positions"]["position_updates_per_run"] > 0
        assert json.loads(json.dumps(result)) == result
