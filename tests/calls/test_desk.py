"""The desk and the caller page around a call, in headless Chromium (no media needed):
a second desk tab, who sees the Supervisor link, the administrator's desk, and a caller
with nobody on duty who asks to be called back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cases.db import Database
from hotline.app import create_app
from tests.app import make_settings
from tests.browser import chromium, serve
from tests.calls.pages import in_a_call, lawyer_in_the_room, signed_in

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


class TestDesk:
    async def test_second_tab_takes_over_and_the_first_stops(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """The older tab, closed with 4001, says the desk moved and opens no new socket."""
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            first = await signed_in(browser, url, "law")
            sockets: list[str] = []
            first.on("websocket", lambda ws: sockets.append(ws.url))
            await first.locator("[data-testid=presence][data-state=break]").wait_for()
            sockets.clear()
            second = await first.context.new_page()
            await second.goto(f"{url}/agent")
            await second.locator("[data-testid=connection][data-state=open]").wait_for()
            note = first.locator("[data-testid=desk-note]")
            await note.wait_for()
            assert "另一个标签页" in (await note.text_content() or "")
            assert await first.get_attribute("[data-testid=connection]", "data-state") == "moved"
            assert await first.locator("#go-available").is_disabled()
            await asyncio.sleep(1.5)  # longer than the first reconnect delays
            assert sockets == []
            assert await second.get_attribute("[data-testid=connection]", "data-state") == "open"
            # The lawyer sees no Supervisor link; people are shown by name, not login.
            assert await first.locator("header a[href='/supervisor']").count() == 0
            assert await first.text_content("[data-testid=viewer]") == "LAW"

    async def test_admin_desk_explains_it_takes_no_calls(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            page = await signed_in(browser, url, "adm")
            note = page.locator("[data-testid=desk-note]")
            await note.wait_for()
            assert "此账号不接听来电" in (await note.text_content() or "")
            assert "only agents take sessions" not in (await page.text_content("body") or "")
            assert await page.locator("header a[href='/supervisor']").count() == 1


class TestCallerNobodyOnDuty:
    async def test_off_duty_offers_callback_and_keeps_the_place(
        self, db: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """Nobody serves the line (no staff at all): the caller is told nobody is on duty
        (no minutes), asked for a number when none was given, and told the place is kept."""
        app = await create_app(make_settings(db.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            phone = await browser.new_context(
                viewport={"width": 360, "height": 740}, locale="zh-CN"
            )
            page = await phone.new_page()
            await page.goto(f"{url}/")
            await page.check("#recording-ok")
            await page.click("#call")
            box = page.locator("[data-testid=callback-box]")
            await box.wait_for()
            assert "现在没有值班人员" in (await box.text_content() or "")
            assert not await page.locator("#wait-box").is_visible()
            await page.click("#want-callback")
            assert "请填写回拨号码" in (await page.text_content("#status-detail") or "")
            await page.fill("#callback-phone", "123-45")  # refused: the box stays to retry
            await page.click("#want-callback")
            await page.locator("#status-detail").filter(has_text="有效").wait_for()
            assert await box.is_visible()
            await page.fill("#callback-phone", "13812345678")
            await page.click("#want-callback")
            await page.locator("#status-text").filter(has_text="已为您保留位置").wait_for()
            assert "可以关闭此页面" in (await page.text_content("#status-detail") or "")
            assert await page.evaluate(
                "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )


class TestLawyerLost:
    async def test_caller_is_told_and_keeps_the_head_of_the_line(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """The lawyer's desk closes mid-call and does not come back: the caller, told at
        once that the lawyer's connection dropped, stays in the call for the grace period
        (3 s here); then the page leaves the call view and says they are first in line
        again."""
        settings = make_settings(seeded.url, tmp_path, HOTLINE_RESUME_GRACE="3")
        app = await create_app(settings)
        async with serve(app) as url, chromium(chromium_path) as browser:
            agent, caller, _session = await in_a_call(browser, url)
            assert await caller.locator("[data-testid=in-call]").is_visible()
            await lawyer_in_the_room(caller)
            await agent.context.close()
            notice = caller.locator("[data-testid=device-notice]")
            await notice.filter(has_text="律师的网络连接中断，正在恢复").wait_for()
            await caller.locator("#status-text").filter(has_text="律师的连接中断了").wait_for()
            assert "排在最前面" in (await caller.text_content("#status-detail") or "")
            assert not await caller.locator("[data-testid=in-call]").is_visible()
            assert await caller.get_attribute("#call-status", "data-state") == "queued"
            assert await notice.text_content() == ""  # no longer in a call
