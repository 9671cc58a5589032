"""A voice message end to end in headless Chromium: the caller leaves ~3 s of voice with
nobody on duty, the back office plays it from the ticket (tests/calls/voicemail.py, in
a netns). Issue 8: "Voicemail with recorded audio, played back from the ticket"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import select

from cases.db import Database
from cases.models import Recording, Ticket
from hotline.app import create_app
from tests.app import make_settings
from tests.browser import CHROMIUM_ARGS, serve
from tests.calls.netns_scenario import run_scenario

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/voicemail-shots")
SPOKEN_S = 3.0


@pytest.fixture(scope="module")
def run(chromium_path: str) -> dict[str, Any]:
    params = {"chromium_path": chromium_path, "shots": str(SHOTS)}
    return run_scenario(
        "tests.calls.voicemail", ["voicemail", json.dumps(params)], what="voicemail"
    )


@pytest.mark.netns
class TestVoicemailEndToEnd:
    def test_the_caller_records_with_an_indicator_and_a_countdown(
        self, run: dict[str, Any]
    ) -> None:
        """留言 starts a recording: the page shows it and counts down from 2:00."""
        assert run["choice_label"] == "留言"
        assert "录音中" in run["indicator"]
        assert 100 < run["seconds_left"] < 120
        assert run["countdown_text"].startswith("还剩 1:")
        assert run["recording_no_sideways"]

    def test_the_caller_is_told_once_it_is_taken(self, run: dict[str, Any]) -> None:
        """After 发送留言 the page says the message was taken and lets the microphone go."""
        assert run["step"] == "done"
        assert "留言已收到" in run["caller_told"]
        assert run["microphone_released"]

    def test_the_ticket_has_the_number_the_text_and_the_voice(self, run: dict[str, Any]) -> None:
        """/tickets shows the voicemail ticket with the masked number and the written words."""
        assert run["phone"] == "138****5678"
        # Asked for (audited), the full number to dial, as a tel: link.
        assert run["full_phone"] == "+8613812345678"
        assert run["full_phone_href"] == "tel:+8613812345678"
        assert run["reveal_status"] == "已显示完整号码，此次查看已记录。"
        assert run["revealed_no_sideways"]
        assert "工资拖欠三个月，请回电" in run["ticket_text"]
        assert "语音留言" in run["ticket_text"]
        assert run["ticket_no_sideways"]

    def test_the_player_loads_the_recording(self, run: dict[str, Any]) -> None:
        """The page's <audio> reaches loadedmetadata with about the spoken duration; the
        file is served 200 as audio/webm."""
        assert SPOKEN_S * 0.6 < run["audio"]["duration"] < SPOKEN_S + 5
        assert run["fetch"]["status"] == 200
        assert run["fetch"]["type"] == "audio/webm"
        assert run["fetch"]["bytes"] > 3000

    def test_nobody_else_hears_it_and_every_read_is_audited(self, run: dict[str, Any]) -> None:
        """A caller (no staff session) gets 401, a lawyer with no part in it 403; the
        back office's reads and the lawyer's refusal are in the audit log."""
        assert run["caller_fetch"] == 401
        assert run["lawyer_fetch"] == 403
        assert ["recording.read", "office"] in run["audit"]
        assert ["recording.read_denied", "law"] in run["audit"]


class TestWithoutAMicrophone:
    async def test_no_microphone_offers_the_written_message(
        self, db: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """No devices at all: 留言 says no microphone can be used and takes a written
        message instead; the ticket has the text and no voice."""
        args = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]
        app = await create_app(make_settings(db.url, tmp_path))
        async with serve(app) as url, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=args)
            try:
                page = await (await browser.new_context(locale="zh-CN")).new_page()
                await page.goto(f"{url}/")
                await page.check("#recording-ok")
                await page.click("#call")
                await page.locator("[data-testid=callback-box]").wait_for()
                await page.click("#want-voicemail")
                hint = page.locator("#voicemail-hint").filter(has_text="无法使用麦克风")
                await hint.wait_for()
                recording_shown = await page.locator(
                    "[data-testid=voicemail-recording]"
                ).is_visible()
                await page.click("#send-voicemail")  # nothing written yet: asked to write
                await page.locator("#status-detail").filter(has_text="请先写下").wait_for()
                await page.fill("#voicemail-text", "拖欠工资，请回电")
                await page.click("#send-voicemail")
                await page.locator("#call-status[data-state=ended]").wait_for()
                told = await page.locator("#status-detail").text_content()
            finally:
                await browser.close()
        assert not recording_shown
        assert "留言已收到" in (told or "")
        async with db.session() as session:
            tickets = list(await session.scalars(select(Ticket)))
            recordings = list(await session.scalars(select(Recording)))
        assert [(t.kind, t.body) for t in tickets] == [("voicemail", "拖欠工资，请回电")]
        assert recordings == []
