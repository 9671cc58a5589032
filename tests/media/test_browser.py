"""Headless Chromium as a real participant in a room with two aiortc bots."""

from __future__ import annotations

from typing import Any

import pytest

from tests.media.netns import run_scenario

pytestmark = [pytest.mark.netns, pytest.mark.browser]


@pytest.fixture(scope="module")
def result(chromium_path: str) -> dict[str, Any]:
    return run_scenario("browser", timeout=120, chromium_path=chromium_path, seconds=3.0)


class TestChromiumInARoom:
    def test_browser_decodes_both_bots(self, result: dict[str, Any]) -> None:
        """getStats() in Chromium shows decoded video frames from each of the two bots."""
        stats = result["stats"]
        assert stats["error"] is None
        assert stats["state"] == "connected"
        source_of = {t["mid"]: t["stream"] for t in stats["tracks"]}
        decoded = {
            source_of.get(s["mid"]): s["framesDecoded"]
            for s in stats["inbound"]
            if s["kind"] == "video"
        }
        assert set(decoded) == {"bot1", "bot2"}
        for source, frames in decoded.items():
            assert frames >= 45, (source, decoded)  # 3 s at 30 fps, allowing for start-up
        audio = {
            source_of.get(s["mid"]): s["packetsReceived"]
            for s in stats["inbound"]
            if s["kind"] == "audio"
        }
        assert all(count > 50 for count in audio.values()), audio
        assert set(audio) == {"bot1", "bot2"}

    def test_bots_receive_and_decode_the_browser(self, result: dict[str, Any]) -> None:
        """The browser's VP8 and Opus reach both bots through the SFU and decode cleanly."""
        for bot in result["bots"].values():
            for kind in ("video", "audio"):
                inbound = bot["inbound"][f"browser.{kind}"]
                assert inbound["packets"] > 30, (kind, inbound)
                assert inbound["decode_errors"] == 0
                assert inbound["decoded"] >= inbound["packets"] - 1

    def test_server_never_decodes(self, result: dict[str, Any]) -> None:
        """No aiortc decoder ran anywhere in the server process."""
        assert result["get_decoder_calls"] == 0


@pytest.fixture(scope="module")
def rejoin(chromium_path: str) -> dict[str, Any]:
    return run_scenario("browser_rejoin", timeout=150, chromium_path=chromium_path)


class TestChromiumSeesARejoin:
    def test_reoffers_accepted_and_video_decoded_again(self, rejoin: dict[str, Any]) -> None:
        """After a bot leaves and rejoins, and after it reconnects, Chromium accepts the
        re-offer (old sections inactive beside the new ones) and decodes the new video."""
        steps = {s["step"]: s for s in rejoin["steps"]}
        assert list(steps) == ["first", "rejoined", "reconnected"], rejoin["steps"]
        assert len({s["track"] for s in steps.values()}) == 3  # a new track id each join
        for step in steps.values():
            assert step["error"] is None, step
            assert step["browser_in_room"], step
            assert step["frames"] >= 30, step
        assert rejoin["stats"]["state"] == "connected"
        assert rejoin["browser_negotiations"] >= 3

    def test_the_rejoined_bot_receives_the_browser(self, rejoin: dict[str, Any]) -> None:
        """The last connection of the bot decodes the browser's video through the SFU."""
        inbound = rejoin["bot"]["inbound"]["browser.video"]
        assert inbound["packets"] >= 30
        assert inbound["decode_errors"] == 0
