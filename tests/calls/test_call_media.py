"""A hotline call end to end in headless Chromium: a caller and a duty lawyer hear and
see each other through the real application (tests/calls/scenario.py, in a netns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.calls.netns_scenario import run_scenario

pytestmark = [pytest.mark.netns, pytest.mark.browser]

SHOTS = Path("/tmp/shots-ui")


def run_call(chromium_path: str) -> dict[str, Any]:
    params = {"chromium_path": chromium_path, "shots": str(SHOTS)}
    return run_scenario("tests.calls.scenario", ["call", json.dumps(params)], what="call")


@pytest.fixture(scope="module")
def call(chromium_path: str) -> dict[str, Any]:
    return run_call(chromium_path)


def rising(media: dict[str, Any]) -> None:
    first, second = media["first"], media["second"]
    assert media["state"] == "connected"
    assert second["sources"] == 1, media
    for figure in ("audio_packets", "video_packets", "video_frames"):
        assert second[figure] > first[figure] > 0, (figure, media)


class TestCallEndToEnd:
    def test_both_sides_decode_the_other(self, call: dict[str, Any]) -> None:
        """In the call, getStats() on both pages: packets received and frames decoded
        from the other side rise between two samples, for audio and for video."""
        rising(call["caller_media"])
        rising(call["agent_media"])
        assert call["agent_name"] == "王律师"

    def test_reload_resumes_the_call_with_media(self, call: dict[str, Any]) -> None:
        """The caller reloads mid-call: the same session, a new peer connection, and media
        flows both ways again (the lawyer receives the caller's new streams)."""
        assert call["session_after_reload"] == call["session_before_reload"]
        rising(call["caller_media_resumed"])
        rising(call["agent_media_resumed"])
        assert call["tiles_after_reload"] == {"caller": 1, "agent": 1}
        assert call["tokens_fetched"] == 1  # the reload reuses the page session's token

    def test_desk_reload_keeps_the_call_with_media_and_notes(self, call: dict[str, Any]) -> None:
        """The lawyer reloads the desk mid-call: within the grace period the call is
        kept (the caller never leaves it), the desk shows it again with what it is about,
        rejoins its room with media both ways, and the notes typed before the reload
        are still there and carried into the wrap-up."""
        assert call["caller_state_after_desk_reload"] == "connected"
        assert call["session_after_desk_reload"] == call["session_before_reload"]
        assert call["desk_where_after_reload"] == call["desk_where_before_reload"]
        assert call["desk_where_after_reload"].startswith("视频通话")
        assert "综合法律咨询" in call["desk_caller_after_reload"]
        rising(call["caller_media_after_desk_reload"])
        rising(call["agent_media_after_desk_reload"])
        assert call["tiles_after_desk_reload"] == {"caller": 1, "agent": 1}
        assert call["desk_notes_after_reload"] == "当事人要求书面答复"
        assert call["disposition_notes"] == "当事人要求书面答复"

    def test_caller_hangs_up_and_both_see_the_end(self, call: dict[str, Any]) -> None:
        assert call["step"] == "done"
        assert call["caller_end_text"] == "通话结束"
        assert call["agent_end_text"] == "已接听；已记录处置"  # answered, then disposed

    def test_wrap_up_asks_the_disposition_and_the_caller_a_rating(
        self, call: dict[str, Any]
    ) -> None:
        """After the end the desk shows the disposition form (wrap-up lasts until it is
        recorded) and the caller is invited to rate the call."""
        assert call["disposition_asked"]
        assert call["survey_asked"]
        assert call["available_after_disposition"]  # recorded: wrap-up is over
        assert call["rating_status"] == 201 or call["rating_status"] == 200

    def test_video_call_is_announced_as_video(self, call: dict[str, Any]) -> None:
        assert "视频通话" in call["offer_text"]

    def test_hold_tells_the_caller_and_resume_clears_it(self, call: dict[str, Any]) -> None:
        assert call["hold_notice"] == "律师请您稍候，请不要挂断。"
        assert call["held_and_resumed"]

    def test_on_hold_the_caller_receives_nothing_then_media_again(
        self, call: dict[str, Any]
    ) -> None:
        """getStats() on the caller's page: while held, no packet or frame arrives from
        the lawyer; after resume, audio and video rise again."""
        held = call["caller_media_held"]
        for figure in ("audio_packets", "video_packets", "video_frames"):
            assert held["second"][figure] == held["first"][figure] > 0, (figure, held)
        rising(call["caller_media_after_hold"])

    def test_double_tap_on_start_opens_one_session(self, call: dict[str, Any]) -> None:
        """Start tapped twice: one caller token, one socket (and one more after the reload;
        the desk's reload opens none on the caller's page)."""
        assert call["tokens_fetched"] == 1
        assert call["sockets"] == 2

    def test_rejected_offer_leaves_the_desk_at_once(self, call: dict[str, Any]) -> None:
        assert call["offers_after_reject"] == 0

    def test_desk_fits_a_phone(self, call: dict[str, Any]) -> None:
        assert call["agent_offer_no_sideways"]
        assert call["agent_call_no_sideways"]

    def test_offer_is_announced_without_taking_focus(self, call: dict[str, Any]) -> None:
        assert call["announce"] == "来电：综合法律咨询"
        assert call["focus_after_offer"] == "go-available"  # the button last pressed
        assert "来电：综合法律咨询" in call["offer_text"]
        assert "普通话" in call["offer_text"]

    def test_caller_page_is_chinese_and_fits_a_phone(self, call: dict[str, Any]) -> None:
        """Chinese (a zh-CN browser); at 360 px nothing scrolls sideways, before and after Start;
        the form hides and the status is in view once Start is tapped."""
        assert call["caller_lang"] == "zh-CN"
        assert "热线" in call["caller_heading"]
        assert call["form_no_sideways"]
        assert call["waiting_no_sideways"]
        assert call["call_no_sideways"]
        assert call["form_hidden"]
        assert call["status_in_view"]
        assert "您是下一位" in call["waiting_text"]
        assert "前面还有" not in call["waiting_text"]
