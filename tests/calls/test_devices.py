"""The caller's devices in headless Chromium: a refused camera falls back to voice and
says so; with no microphone at all the page says the lawyer cannot hear."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from cases.db import Database
from hotline.app import create_app
from tests.app import make_settings
from tests.browser import CHROMIUM_ARGS, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


async def start_video_call(
    chromium_path: str, url: str, args: list[str], permissions: list[str]
) -> str:
    """Start a video call; what the page says about the devices."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=args)
        try:
            context = await browser.new_context(permissions=permissions, locale="zh-CN")
            page = await context.new_page()
            await page.goto(f"{url}/")
            await page.check("input[name=media][value=video]")
            await page.check("#recording-ok")
            await page.click("#call")
            notice = page.locator("[data-testid=device-notice]")
            await notice.filter(has_text="麦克风").or_(notice.filter(has_text="摄像头")).wait_for()
            await page.locator("#call-status[data-state=queued]").wait_for()
            return await notice.text_content() or ""
        finally:
            await browser.close()


class TestCallerDevices:
    async def test_camera_refused_falls_back_to_voice(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """Only the microphone is allowed: the caller is told it is a voice call, and
        still joins the line."""
        args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url:
            said = await start_video_call(chromium_path, url, args, ["microphone"])
        assert "改为语音通话" in said

    async def test_no_microphone_is_said(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """No devices at all (no fake ones): the page says no microphone was found."""
        args = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url:
            said = await start_video_call(chromium_path, url, args, [])
        assert "没有找到麦克风" in said
