"""A hotline call's room end to end: two aiortc bots, caller and lawyer, through /ws."""

from __future__ import annotations

from typing import Any

import pytest

from tests.media.netns import run_scenario

pytestmark = pytest.mark.netns


class TestCallRoom:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("call_room", seconds=1.0)

    def test_the_room_is_the_calls(self, result: dict[str, Any]) -> None:
        """connected names R-<session>; caller and lawyer both enter it."""
        assert result["room"] == f"R-{result['session_id']}"
        assert result["participants"]["agent"].startswith("staff-")
        assert result["participants"]["caller"] == "caller-v-caller"

    def test_each_learns_who_is_there_by_role_and_name(self, result: dict[str, Any]) -> None:
        """participant_joined: the lawyer is host with her display name, the caller caller."""
        agent, caller = result["participants"]["agent"], result["participants"]["caller"]
        assert result["joined"]["caller"] == [[agent, "host", "李律师"]]
        assert [(pid, role) for pid, role, _ in result["joined"]["agent"]] == [(caller, "caller")]

    def test_both_hear_each_other(self, result: dict[str, Any]) -> None:
        """The caller's packets from the lawyer keep rising before any hold."""
        start, end = result["rising"]
        assert end > start

    def test_recorded_from_the_first_join_and_told_first(self, result: dict[str, Any]) -> None:
        """Both are told recording_started and room_notice recording; it runs while held."""
        for types in (result["agent_types"], result["caller_types"]):
            assert "recording_started" in types
        for notices in result["notices"].values():
            assert notices[0]["notice"] == "recording"
        assert result["recording_while_held"] is not None

    def test_hold_cuts_the_caller_off_both_ways(self, result: dict[str, Any]) -> None:
        """On hold the caller receives nothing from the lawyer, and the lawyer nothing from it."""
        start, end = result["held"]["caller_from_agent"]
        assert end == start
        start, end = result["held"]["agent_from_caller"]
        assert end == start
        caller = result["participants"]["caller"]
        for notices in result["notices"].values():
            assert [(n["notice"], n.get("participant")) for n in notices[1:]] == [
                ("on_hold", caller),
                ("resumed", caller),
            ]

    def test_resume_restores_the_callers_audio_and_video(self, result: dict[str, Any]) -> None:
        """After resume the caller's packets from the lawyer rise again, video too (it
        waits for the keyframe the resume asks the lawyer for)."""
        start, end = result["resumed"]
        assert end > start
        start, end = result["resumed_video"]
        assert end > start

    def test_only_the_host_holds(self, result: dict[str, Any]) -> None:
        """The caller's hold is refused not_allowed."""
        assert result["caller_hold"]["code"] == "not_allowed"

    def test_stopping_the_recording_is_refused(self, result: dict[str, Any]) -> None:
        """set_recording off in a call's room is bad_state with a clear reason."""
        refusal = result["stop_recording"]
        assert refusal["code"] == "bad_state"
        assert refusal["detail"] == "a hotline call is recorded until it ends"

    def test_ending_the_call_closes_the_room_and_links_the_recording(
        self, result: dict[str, Any]
    ) -> None:
        """After end the room is gone and its recording names the call's session."""
        assert result["room_closed"]
        assert result["recording"] == {
            "room": result["room"],
            "session_id": result["session_id"],
            "participants": sorted(result["participants"].values()),
        }
        assert result["caller_types"][-1] == "room_left"
