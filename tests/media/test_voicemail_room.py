"""A waiting caller's voice message end to end: an aiortc bot through /ws (issue 8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.media.netns import run_scenario

pytestmark = pytest.mark.netns

SPOKEN_S = 2.0
LIMIT_S = 1.5


class TestVoicemailRoom:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("voicemail_room", seconds=SPOKEN_S, limit_s=LIMIT_S)

    def test_the_waiting_caller_is_granted_its_sessions_voicemail_room(
        self, result: dict[str, Any]
    ) -> None:
        """record_voicemail answers voicemail_room V-<session>, 120 s; the caller enters."""
        granted = result["granted"]
        assert granted["room"] == f"V-{granted['session_id']}"
        assert granted["limit_s"] == 120.0
        assert result["participant"] == "caller-v-caller"

    def test_refusals_carry_codes(self, result: dict[str, Any]) -> None:
        """Sending an unrecorded message, recording twice, an agent's voicemail, a second
        message for the same session: each refused with its code."""
        assert result["send_unrecorded"]["code"] == "bad_state"
        assert result["record_twice"]["code"] == "bad_state"
        assert result["agent_record"]["code"] == "not_allowed"
        assert result["second_message"]["code"] == "bad_state"

    def test_nobody_else_enters_a_voicemail_room(self, result: dict[str, Any]) -> None:
        """Staff and another caller asking to join the room are refused not_allowed."""
        for refusal in result["refused"].values():
            assert refusal["code"] == "not_allowed"

    def test_the_caller_is_told_only_once_the_ticket_exists(self, result: dict[str, Any]) -> None:
        """When ended voicemail arrives the ticket is already in the record, with the text."""
        assert result["ended"]["outcome"] == "voicemail"
        assert result["ticket_when_told"] == {"kind": "voicemail", "body": "工资拖欠，请回电"}
        assert result["left"] is not None  # taken out of the voicemail room first

    def test_the_recording_is_real_audio_linked_to_the_session(
        self, result: dict[str, Any]
    ) -> None:
        """One WebM of Opus audio alone, in the data directory, linked to the session,
        decoding to about as long as the caller spoke."""
        recording = result["recording"]
        assert recording["session_id"] == result["granted"]["session_id"]
        assert recording["participants"] == ["caller-v-caller"]
        assert recording["sizes"][0] > 2000
        assert result["inside_data_dir"]
        (audio,) = result["audio"]
        assert audio["streams"] == ["audio"]
        assert audio["codec"] == "opus"
        assert SPOKEN_S * 0.5 < audio["decoded_s"] < SPOKEN_S + 3

    def test_the_limit_stops_the_recording_and_tells_the_caller(
        self, result: dict[str, Any]
    ) -> None:
        """At the limit the server stops and stores the recording and sends
        recording_limit; the caller is still in the room, the file no longer than it."""
        assert LIMIT_S <= result["limit_after_s"] < LIMIT_S + 5
        assert result["capped_stored"]
        assert result["still_in_room"]
        (audio,) = result["capped_audio"]
        assert 0 < audio["decoded_s"] <= LIMIT_S + 0.5

    def test_a_cancelled_message_is_deleted(self, result: dict[str, Any]) -> None:
        """cancel_voicemail takes the caller out, closes the room, and deletes the
        recording's row and files (nobody is to hear it)."""
        assert result["cancelled"] == {"row_gone": True, "files_gone": True, "room_closed": True}
