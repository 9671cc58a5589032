"""/agent/history in real headless Chromium: Chinese first, 360 px without sideways
scroll, the recording link plays the agent's own call."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from cases.db import Database
from hotline.app import create_app
from tests.app import PASSWORD, make_settings
from tests.browser import chromium, serve

pytestmark = pytest.mark.browser
NO_SIDEWAYS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Browser tests run on SQLite only; the database layer is covered on both elsewhere."""
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


async def test_history_page_at_360_and_1280(
    calls: Database, tmp_path: Path, chromium_path: str
) -> None:
    """The lawyer goes from the desk header to their sessions: both of theirs, labelled
    in Chinese, none sideways at 360 px; English by the switch; the recording link
    answers with the WebM."""
    shots = Path(os.environ.get("HOTLINE_SHOTS") or tmp_path / "shots")
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    app = await create_app(make_settings(calls.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="zh-CN")
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(f"{url}/signin?next=/agent")
        await page.fill("input[name=username]", "wang")
        await page.fill("input[name=password]", PASSWORD)
        await page.press("input[name=password]", "Enter")
        await page.wait_for_url(f"{url}/agent")
        await page.click("[data-testid=my-history]")
        await page.wait_for_url(f"{url}/agent/history")
        assert await page.text_content("h1") == "我的接听记录"
        cards = page.locator("[data-testid=history] li")
        assert await cards.count() == 2
        first = cards.nth(0)
        assert await first.get_attribute("data-session") == "S-1"
        assert await first.locator("[data-role=channel]").text_content() == "网页视频"
        assert await first.locator("[data-role=town]").text_content() == "石门镇"
        assert await first.locator("[data-role=duration]").text_content() == "4:05"
        assert await page.evaluate(NO_SIDEWAYS)
        await page.screenshot(path=str(shots / "history-360.png"), full_page=True)
        link = first.locator("[data-testid=recording-link]")
        href = await link.get_attribute("href")
        assert href == "/api/recordings/R-1/files/0"
        played = await page.request.get(f"{url}{href}")
        assert played.status == 200
        assert await played.body() == b"webm R-1"
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.screenshot(path=str(shots / "history-1280.png"), full_page=True)
        await page.click("[data-locale=en]")
        await page.wait_for_url(f"{url}/agent/history")
        assert await page.text_content("h1") == "My sessions"
        await page.set_viewport_size({"width": 360, "height": 740})
        assert await page.evaluate(NO_SIDEWAYS)
        await page.screenshot(path=str(shots / "history-en-360.png"), full_page=True)
        assert problems == []
