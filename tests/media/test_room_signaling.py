"""Room signaling end to end: aiortc bots join a room through the application's /ws."""

from __future__ import annotations

from typing import Any

import pytest

from tests.media.netns import run_scenario

pytestmark = pytest.mark.netns


class TestRoomOverTheWebSocket:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("ws_room", seconds=1.5)

    def test_staff_and_invited_caller_join_and_exchange_media(self, result: dict[str, Any]) -> None:
        """join_room → room_joined, server re-offers answered, each receives the other."""
        mediator, party = result["participants"]
        assert mediator.startswith("staff-")
        assert party == "caller-v-party"
        for types in (result["mediator_types"], result["party_types"]):
            assert types[0] == "room_joined"
            assert "room_offer" in types

    def test_the_mediator_sees_who_comes_and_goes(self, result: dict[str, Any]) -> None:
        """participant_joined names the invited party's role; participant_left its going."""
        _, party = result["participants"]
        roster = [tuple(entry) for entry in result["mediator_roster"]]
        assert ("participant_joined", party, "party") in roster
        assert ("participant_left", party, None) in roster

    def test_a_token_for_another_room_is_refused(self, result: dict[str, Any]) -> None:
        """A caller whose token names another room gets room_error not_allowed."""
        error = result["intruder"]
        assert error is not None
        assert (error["code"], error["ref"], error["room"]) == (
            "not_allowed",
            "join_room",
            "mediation-1",
        )

    def test_recording_is_announced_and_lands_in_the_database(self, result: dict[str, Any]) -> None:
        """Both are told before recording; the files' SHA-256 in the database are the files'."""
        for types in (result["mediator_types"], result["party_types"]):
            assert types.index("recording_started") < types.index("recording_stopped")
        files = result["recording"]["files"]
        assert sorted(files) == sorted(result["participants"])
        for info in files.values():
            assert info["sha256"] == info["real_sha256"]
            assert info["size"] == info["real_size"] > 1000

    def test_staff_mute_is_enforced_and_only_staff_can_undo_it(
        self, result: dict[str, Any]
    ) -> None:
        """Muted by the mediator, the party's audio stops; the party can neither unmute
        itself nor mute the mediator."""
        marks = result["marks"]
        assert marks["muted_end"] == marks["muted_start"]
        [notice] = result["mute_notices"]
        assert notice["muted"] is True
        assert notice["participant"] == result["participants"][1]
        assert notice["by"] == result["participants"][0]
        assert [e["code"] for e in result["party_errors"]] == ["not_allowed", "not_allowed"]

    def test_leave_renegotiates_the_others_and_the_empty_room_closes(
        self, result: dict[str, Any]
    ) -> None:
        """leave_room → room_left; the mediator is re-offered; the last one out closes it."""
        assert "room_left" in result["party_types"]
        assert list(result["after_leave"]["participants"]) == [result["participants"][0]]
        assert result["mediator_reoffered_after_leave"]
        assert result["room_closed"]
        assert result["metrics_rooms"][0].endswith(" 0.0")

    def test_a_participant_media_drops_is_told(self, result: dict[str, Any]) -> None:
        """Answering a re-offer with an unusable SDP: media drops it, it gets room_left."""
        types = [t for t in result["flaky_types"] if not t.startswith("participant_")]
        assert types[:2] == ["room_joined", "room_offer"]
        assert "room_left" in types
        assert result["after_flaky"] == sorted(result["participants"])
