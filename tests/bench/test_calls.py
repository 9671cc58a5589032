"""``hotline bench calls`` at the smallest scale: one voice call, one second, in a netns.

It runs the real ``hotline serve`` and two bots (about 15 s); what is checked is that the
call was placed, recorded and measured, and that its folder is gone afterwards, never
how fast anything was.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from bench import calls

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-calls")


@pytest.fixture(scope="module")
def result(scratch: Path) -> dict[str, Any]:
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)  # the run's folder (database, recordings) goes here
    try:
        return calls.run(1, 1, video=False, warmup=0.5)
    finally:
        tempfile.tempdir = saved


class TestOneVoiceCall:
    def test_the_call_is_placed_recorded_and_measured(self, result: dict[str, Any]) -> None:
        assert (result["calls"], result["video"], result["kinds"]) == (1, False, ["audio"])
        assert result["calls_connected"] == 1
        assert (result["recordings"], result["recording_files"]) == (1, 2)
        assert result["server_cpu_percent"] >= 0
        for direction in ("caller_to_agent", "agent_to_caller"):
            figures = result["delivery"][direction]
            assert list(figures) == ["audio"]
            assert figures["audio"]["worst"] is not None
            assert figures["audio"]["worst"] > 0

    def test_nothing_is_left_behind(self, result: dict[str, Any], scratch: Path) -> None:
        """The database and the recordings were in the run's folder, removed at the end."""
        assert result["recording_files"] == 2
        assert list(scratch.iterdir()) == []
