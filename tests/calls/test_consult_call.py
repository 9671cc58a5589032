"""A consult and a hand-over end to end in headless Chromium: a caller and two duty
lawyers, three browser contexts with fake microphones (tests/calls/consult_scenario.py,
in a netns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.calls.netns_scenario import run_scenario

pytestmark = [pytest.mark.netns, pytest.mark.browser]

SHOTS = Path("/tmp/consult-shots")


@pytest.fixture(scope="module")
def consult(chromium_path: str) -> dict[str, Any]:
    params = {"chromium_path": chromium_path, "shots_dir": str(SHOTS)}
    return run_scenario(
        "tests.calls.consult_scenario",
        [json.dumps(params)],
        what="consult",
        timeout=300,
        console=30,
    )


def rose(hearing: dict[str, Any], sources: int) -> None:
    assert hearing["rising"] == sources, hearing


class TestConsult:
    def test_the_desk_offers_colleagues_by_name_and_queues_by_label(
        self, consult: dict[str, Any]
    ) -> None:
        """The colleague is listed by display name (free), the queue by its label; the
        move is confirmed before it is sent; the controls fit a phone."""
        assert consult["colleague_option"] == "李律师（空闲）"
        assert consult["queue_option"].startswith("综合法律咨询")
        assert "李律师" in consult["confirm_text"]
        assert consult["desk_controls_fit"]

    def test_the_colleague_is_offered_a_consult_marked_as_one(
        self, consult: dict[str, Any]
    ) -> None:
        assert "同事请求会商/三方通话" in consult["consult_offer_text"]
        assert "综合法律咨询" in consult["consult_offer_text"]
        assert "王律师" in consult["consult_offer_text"]
        assert consult["consult_offer_fits"]

    def test_three_in_one_room_hear_each_other(self, consult: dict[str, Any]) -> None:
        """getStats() on all three pages: audio from both others rises; the caller is told
        another member of staff joined, and never joins another room."""
        for page in ("caller", "wang", "li"):
            rose(consult["three"][page], 2)
        assert consult["caller_notice"] == "另一位工作人员加入了通话：李律师。"
        assert "李律师已加入通话" in consult["requester_panel"]
        assert "王律师" in consult["consultant_panel"]
        assert consult["three_way_fits"]

    def test_both_desks_reloaded_mid_consult_come_back_to_it(self, consult: dict[str, Any]) -> None:
        """A reload of either desk within the grace period keeps the consult: the
        requester's panel says the colleague is in, the colleague's who asked, and all
        three hear both others again (the hand-over that follows still works)."""
        assert "李律师已加入通话" in consult["requester_panel_reloaded"]
        assert "王律师" in consult["consultant_panel_reloaded"]
        for page in ("caller", "wang", "li"):
            rose(consult["three_reloaded"][page], 2)

    def test_hand_over_leaves_the_caller_with_the_colleague(self, consult: dict[str, Any]) -> None:
        """After the hand-over the first lawyer is out (their leg transferred), the caller
        sees the new lawyer's name and the two still hear each other in the same room."""
        assert consult["agent_name_before"] == "王律师"
        assert consult["agent_name_after"] == "李律师"
        assert consult["wang_outcome"] == "已转接"
        rose(consult["two"]["caller"], 1)
        rose(consult["two"]["li"], 1)
        assert consult["caller_room_joins"] == 1
        assert consult["li_session"] == f"{consult['call_session']}:c1"

    def test_both_legs_are_recorded_and_disposed_with_one_recording(
        self, consult: dict[str, Any]
    ) -> None:
        """The first lawyer's leg ends transferred, the colleague's answered; each has its
        disposition; the call's one room was recorded once, under the first leg."""
        assert consult["step"] == "done"
        sid = consult["call_session"]
        record = consult["record"]
        assert record["legs"][sid] == ["transferred", "law"]
        assert record["legs"][f"{sid}:c1"] == ["answered", "law2"]
        assert record["disposed"] == sorted([sid, f"{sid}:c1"])
        assert [r[:2] for r in record["recordings"]] == [[f"R-{sid}", sid]]
        assert consult["li_outcome"].startswith("已接听")
