"""A returning caller on the lawyer's desk, in headless Chromium: the earlier session from
the same number shows beside the offer and through the call, by name and in labels."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from cases.db import Database
from cases.models import Disposition, Role, SessionRecord
from hotline.app import create_app
from signaling.web import SIGNALING
from tests.app import make_settings
from tests.browser import chromium, serve
from tests.calls.pages import signed_in
from tests.office.helpers import add_session, add_user

pytestmark = pytest.mark.browser
NUMBER = "13812345678"
NO_SIDEWAYS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


async def test_returning_callers_earlier_session_on_the_desk(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    """李 took this number's call before and referred it to legal aid; when the number
    calls again, the desk of the lawyer it rings for shows that session (category,
    outcome, disposition, notes, 李's name) and keeps it through the call, a reload of
    the desk included."""
    shots = Path(os.environ.get("HOTLINE_SHOTS") or tmp_path / "shots")
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        li = await add_user(seeded, "li", Role.LAWYER)
        await add_session(
            seeded,
            "S-before",
            agent_user_id=li,
            detail={"caller": app[SIGNALING].node.tokens.caller_key(NUMBER)},
        )
        async with seeded.session() as session:
            before = await session.get(SessionRecord, "S-before")
            assert before is not None
            before.queue = "labour_wages"
            session.add(
                Disposition(
                    session_id="S-before",
                    agent_user_id=li,
                    kind="referred_legal_aid",
                    category="labour_wages",
                    notes="欠薪三个月",
                )
            )
        agent = await signed_in(browser, url, "law")
        problems: list[str] = []
        agent.on("pageerror", lambda exc: problems.append(str(exc)))
        await agent.locator("[data-testid=presence][data-state=break]").wait_for()
        await agent.click("#go-available")
        caller = await (await browser.new_context(locale="zh-CN")).new_page()
        await caller.goto(f"{url}/")
        await caller.fill("input[name=phone]", NUMBER)
        await caller.check("#recording-ok")
        await caller.click("#call")
        await agent.locator("[data-testid=offers] li.offer").wait_for()
        earlier = agent.locator("[data-testid=earlier]")
        card = earlier.locator("li.past[data-session=S-before]")
        await card.wait_for()
        assert "此号码的以往来电" in (await earlier.text_content() or "")
        assert "劳动争议与欠薪" in (await card.text_content() or "")
        assert await card.locator("[data-role=outcome]").text_content() == "已接听"
        assert await card.locator("[data-role=disposition]").text_content() == "转法律援助"
        assert await card.locator("[data-role=agent]").text_content() == "LI"
        assert await card.locator("[data-role=notes]").text_content() == "欠薪三个月"
        assert NUMBER not in (await agent.text_content("body") or "")
        await agent.set_viewport_size({"width": 1280, "height": 900})
        await agent.screenshot(path=str(shots / "desk-earlier-1280.png"), full_page=True)
        await agent.set_viewport_size({"width": 360, "height": 740})
        assert await agent.evaluate(NO_SIDEWAYS)
        await agent.screenshot(path=str(shots / "desk-earlier-360.png"), full_page=True)
        await agent.locator("[data-testid=offers] li.offer button.accept").click()
        await caller.locator("#call-status[data-state=connected]").wait_for()
        await agent.locator("[data-testid=live]").wait_for()
        assert await card.is_visible()  # through the call
        # A reload has no offer: the desk that comes back to the call gets a pass of its own.
        await agent.reload()
        await agent.locator("[data-testid=live]").wait_for()
        await card.wait_for()
        assert await card.locator("[data-role=notes]").text_content() == "欠薪三个月"
        assert problems == []
