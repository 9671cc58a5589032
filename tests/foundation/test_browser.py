"""The product in real headless Chromium: staff sign-in."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Page

from cases.db import Database
from hotline.app import create_app
from tests.app import PASSWORD, make_settings
from tests.browser import chromium, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Browser tests run on SQLite only; the database layer is covered on both elsewhere."""
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


class TestSignInInBrowser:
    async def test_supervisor_signs_in_and_sees_wall(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """The supervisor is sent to sign in, signs in, and lands on the supervisor page."""
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            page = await browser.new_page()
            await page.goto(f"{url}/supervisor")
            assert "/signin" in page.url
            await page.fill("input[name=username]", "sup")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{url}/supervisor")
            assert await page.text_content("h1") == "Supervisor"  # Chromium asks for en-US
            assert "SUP" in (await page.text_content("[data-testid=viewer]") or "")

    async def test_wrong_password_shows_error_and_no_session(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """A wrong password shows a clear error and leaves no session cookie."""
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{url}/signin")
            await page.fill("input[name=username]", "sup")
            await page.fill("input[name=password]", "not-the-password")
            await page.click("button[type=submit]")
            error = page.locator("[data-testid=signin-error]")
            assert await error.text_content() == "Wrong username or password."
            cookies = {c["name"] for c in await context.cookies()}
            assert "hotline_session" not in cookies
            await page.goto(f"{url}/supervisor")
            assert "/signin" in page.url


class TestContentSecurityPolicyInBrowser:
    async def test_pages_work_under_the_policy(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """Chromium enforces the policy (an inline script is refused), and the caller page
        and the agent desk still load their scripts and open their sockets without a
        single violation."""
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            refused: list[str] = []
            caller = await browser.new_page()
            caller.on("console", lambda msg: refused.append(msg.text))
            await caller.goto(f"{url}/")
            await caller.check("#recording-ok")
            await caller.click("#call")
            await caller.locator("#status-text").filter(has_text="You are in line").wait_for()
            agent = await browser.new_page()
            agent.on("console", lambda msg: refused.append(msg.text))
            await agent.goto(f"{url}/signin?next=/agent")
            await agent.fill("input[name=username]", "law")
            await agent.fill("input[name=password]", PASSWORD)
            await agent.click("button[type=submit]")
            await agent.wait_for_url(f"{url}/agent")
            await agent.locator("[data-testid=connection]").filter(has_text="Online").wait_for()
            assert not [text for text in refused if "Content Security Policy" in text]

            # The check above would see a violation: Chromium reports each one there.
            report = agent.expect_console_message(lambda m: "Content Security Policy" in m.text)
            async with report:
                ran = await agent.evaluate(
                    """() => {
                        window.inlineRan = false;
                        const script = document.createElement("script");
                        script.textContent = "window.inlineRan = true";
                        document.body.append(script);
                        return window.inlineRan;
                    }"""
                )
            assert ran is False


class TestLanguagesInBrowser:
    async def test_chinese_first_english_by_the_switch_at_360_px(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """A Chinese browser gets the caller page and its script's words in Chinese; the
        switch turns both to English; at 360 px nothing scrolls sideways. Screenshots go
        to $HOTLINE_SCREENSHOTS when it is set."""
        shots = os.environ.get("HOTLINE_SCREENSHOTS")
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            context = await browser.new_context(
                locale="zh-CN", viewport={"width": 360, "height": 780}
            )
            caller = await context.new_page()
            await caller.goto(f"{url}/")
            assert await caller.text_content("h1") == "12348 法律服务热线"
            assert await caller.text_content("#call") == "开始咨询"
            await caller.check("#recording-ok")
            await caller.click("#call")
            await caller.locator("#status-text").filter(has_text="正在排队").wait_for()
            # Alone in line: next, with a wait in the script's words (ws.js formatWait).
            await caller.locator("#position-text").filter(has_text="您是下一位").wait_for()
            wait = await caller.text_content("#wait") or ""
            assert re.fullmatch(r"\d+ (秒|分钟)|暂无法估计", wait)
            assert await _scroll_width(caller) <= 360
            if shots:
                await caller.screenshot(path=f"{shots}/caller-zh-360.png", full_page=True)
            await caller.click("#leave")
            await caller.locator("#status-text").filter(has_text="通话结束").wait_for()

            await caller.click("[data-testid=language-switch] a[data-locale=en]")
            await caller.wait_for_load_state()
            assert await caller.get_attribute("html", "lang") == "en"
            assert await caller.text_content("h1") == "12348 legal-service hotline"
            await caller.check("#recording-ok")
            await caller.click("#call")
            await caller.locator("#status-text").filter(has_text="You are in line").wait_for()
            await caller.locator("#position-text").filter(has_text="You are next.").wait_for()
            wait = await caller.text_content("#wait") or ""
            assert re.fullmatch(r"\d+ (s|min)|not known yet", wait)
            assert await _scroll_width(caller) <= 360
            if shots:
                await caller.screenshot(path=f"{shots}/caller-en-360.png", full_page=True)

            agent = await (
                await browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 780})
            ).new_page()
            await agent.goto(f"{url}/signin?next=/agent")
            await agent.fill("input[name=username]", "law")
            await agent.fill("input[name=password]", PASSWORD)
            await agent.click("button[type=submit]")
            await agent.wait_for_url(f"{url}/agent")
            await agent.locator("[data-testid=connection]").filter(has_text="在线").wait_for()
            await agent.click("#go-available")
            await agent.locator("[data-testid=presence]").filter(has_text="示闲").wait_for()
            offer = agent.locator("[data-testid=offers] li.offer")
            await offer.wait_for()
            assert "综合法律咨询" in (await offer.text_content() or "")
            assert await _scroll_width(agent) <= 360
            if shots:
                await agent.screenshot(path=f"{shots}/agent-zh-360.png", full_page=True)
            await agent.click("[data-testid=language-switch] a[data-locale=en]")
            await agent.wait_for_url(f"{url}/agent")
            await agent.locator("[data-testid=connection]").filter(has_text="Online").wait_for()
            if shots:
                await agent.screenshot(path=f"{shots}/agent-en-360.png", full_page=True)
            assert await _scroll_width(agent) <= 360


async def _scroll_width(page: Page) -> int:
    width: int = await page.evaluate("document.scrollingElement.scrollWidth")
    return width
