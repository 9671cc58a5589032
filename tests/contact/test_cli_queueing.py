"""`hotline erlang` and `hotline simulate`: JSON out, clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline.cli import main


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


class TestErlang:
    def test_agents_given(self, capsys: pytest.CaptureFixture[str]) -> None:
        """With --agents, the Erlang C figures for that staffing are printed."""
        out = run_json(
            capsys, "erlang", "--arrival-rate", "0.1", "--aht", "180", "--agents", "20",
            "--sl-threshold", "15",
        )  # fmt: skip
        assert out["p_wait"] == pytest.approx(0.5508, abs=1e-3)
        assert out["asa"] == pytest.approx(49.57, abs=0.05)
        assert out["occupancy"] == pytest.approx(0.9)
        assert set(out) >= {"p_wait", "asa", "service_level", "occupancy"}

    def test_target_service_level(self, capsys: pytest.CaptureFixture[str]) -> None:
        """With --target-sl, the fewest agents that reach it are printed."""
        out = run_json(
            capsys, "erlang", "--arrival-rate", "0.1", "--aht", "180", "--target-sl", "0.9"
        )
        assert out["agents"] == 24

    @pytest.mark.parametrize(
        ("argv", "code"),
        [
            (["--arrival-rate", "-1", "--aht", "3", "--agents", "2"], 2),
            (["--arrival-rate", "nan", "--aht", "3", "--agents", "2"], 2),
            (["--arrival-rate", "x", "--aht", "3", "--agents", "2"], 2),
        ],
    )
    def test_bad_figures(
        self, argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Negative, NaN or non-numeric figures are refused with a clear error."""
        try:
            result = main(["erlang", *argv])
        except SystemExit as exc:  # argparse refuses what is not a number at all
            result = exc.code  # type: ignore[assignment]
        assert result == code
        assert "error" in capsys.readouterr().err

    def test_missing_staffing(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Neither --agents nor --target-sl is a usage error."""
        with pytest.raises(SystemExit) as info:
            main(["erlang", "--arrival-rate", "1", "--aht", "3"])
        assert info.value.code == 2
        assert "--agents" in capsys.readouterr().err

    def test_unreachable_target(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A target service level outside (0, 1) is a clear error."""
        code = main(["erlang", "--arrival-rate", "1", "--aht", "3", "--target-sl", "1.5"])
        assert code == 2
        assert "service level" in capsys.readouterr().err


class TestSimulate:
    def test_single_queue(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A short run prints the documented fields, every call accounted for."""
        out = run_json(
            capsys, "simulate", "--agents", "3", "--arrival-rate", "0.01", "--aht", "200",
            "--calls", "500", "--seed", "3", "--sl-threshold", "15", "--patience", "120",
        )  # fmt: skip
        for key in ("calls", "answered", "abandoned", "asa", "service_level", "p_wait",
                    "occupancy", "max_wait"):  # fmt: skip
            assert key in out
        assert out["calls"] == 500
        assert out["answered"] + out["abandoned"] == 500  # type: ignore[operator]

    def test_scenario_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A multi-queue scenario file drives the engine over several queues."""
        scenario = {
            "queues": [
                {"id": "labour_wages", "required_skill": "labour_wages"},
                {"id": "general", "required_skill": "general"},
            ],
            "agents": [
                {"count": 2, "skills": {"labour_wages": 5, "general": 3}},
                {"count": 2, "skills": {"general": 4}},
            ],
            "streams": [
                {"queue": "labour_wages", "arrival_rate": 0.005, "aht": 240},
                {"queue": "general", "arrival_rate": 0.01, "aht": 180},
            ],
        }
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario))
        out = run_json(capsys, "simulate", "--scenario", str(path), "--calls", "400", "--seed", "2")
        assert out["calls"] == 400
        assert set(out["queues"]) == {"labour_wages", "general"}  # type: ignore[arg-type]

    def test_missing_parameters(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a scenario, the single-queue figures are required."""
        assert main(["simulate", "--agents", "3"]) == 2
        assert "--arrival-rate" in capsys.readouterr().err

    def test_bad_scenario(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A scenario file that is not a scenario is a clear error, not a traceback."""
        path = tmp_path / "bad.json"
        path.write_text('{"queues": 3}')
        assert main(["simulate", "--scenario", str(path)]) == 2
        assert "error" in capsys.readouterr().err
        assert main(["simulate", "--scenario", str(tmp_path / "missing.json")]) == 2
