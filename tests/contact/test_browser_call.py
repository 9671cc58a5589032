"""A caller and a duty lawyer in two real Chromium pages, routed by the real engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.db import Database
from cases.models import SessionOutcome, SessionRecord, User
from hotline.app import create_app
from tests.app import PASSWORD, make_settings
from tests.browser import chromium, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


async def _recorded(db: Database) -> SessionRecord:
    async with asyncio.timeout(10):
        while True:
            async with db.session() as session:
                row = await session.scalar(select(SessionRecord))
            if row is not None:
                return row
            await asyncio.sleep(0.1)


class TestCallerReachesLawyer:
    async def test_queue_offer_accept_end(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """A caller queues, an available lawyer is offered the call, accepts, ends it; the
        caller sees each step and the database records one answered session."""
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            agent = await (await browser.new_context()).new_page()
            await agent.goto(f"{url}/signin?next=/agent")
            await agent.fill("input[name=username]", "law")
            await agent.fill("input[name=password]", PASSWORD)
            await agent.click("button[type=submit]")
            await agent.wait_for_url(f"{url}/agent")
            presence = agent.locator("[data-testid=presence]")
            await presence.filter(has_text="break").wait_for()

            caller = await (await browser.new_context()).new_page()
            await caller.goto(f"{url}/")
            await caller.select_option("select[name=category]", "general")
            await caller.select_option("select[name=priority]", "elderly")
            await caller.select_option("select[name=named_agent]", "law")
            await caller.fill("input[name=phone]", "13812345678")
            await caller.check("#recording-ok")
            await caller.click("#call")
            await caller.locator("#position-text").filter(has_text="You are next").wait_for()

            await agent.click("#go-available")
            offer = agent.locator("[data-testid=offers] li.offer")
            await offer.wait_for()
            assert "Elderly caller" in (await offer.text_content() or "")  # Chromium: en-US
            await offer.locator("button.accept").click()
            await agent.locator("[data-testid=live-session]").wait_for()
            await caller.locator("#status-text").filter(has_text="Connected").wait_for()

            await agent.click("#end-session")
            await caller.locator("#status-text").filter(has_text="Finished").wait_for()
            await agent.locator("[data-testid=last-outcome]").filter(has_text="answered").wait_for()

        row = await _recorded(seeded)
        assert row.outcome is SessionOutcome.ANSWERED
        assert row.queue == "general"
        assert row.priority_class == "elderly"
        assert row.answered_at is not None
        assert row.ended_at is not None
        async with seeded.session() as session:
            lawyer = await session.scalar(select(User).where(User.username == "law"))
        assert lawyer is not None
        assert row.agent_user_id == lawyer.id
