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
