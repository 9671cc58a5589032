"""The /tickets page in real headless Chromium at 360 px: keyboard, labels, live status."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases import tickets
from cases.db import Database
from cases.models import Office, Role, Ticket, TicketKind
from hotline.app import create_app
from tests.app import PASSWORD, make_settings
from tests.browser import chromium, serve
from tests.office.helpers import add_user

pytestmark = pytest.mark.browser


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Browser tests run on SQLite only; the database layer is covered on both elsewhere."""
    return f"sqlite:///{tmp_path}/hotline.sqlite3"


class TestTicketsPage:
    async def test_acknowledge_then_close_by_keyboard(
        self, seeded: Database, tmp_path: Path, chromium_path: str
    ) -> None:
        """At 360 px, with the keyboard only, a back-office officer acknowledges an
        escalation and closes it with a result; each change is announced and stored; every
        control has a label; nothing scrolls sideways."""
        await add_user(seeded, "wu", Role.BACK_OFFICE)
        async with seeded.session() as session:
            ticket = await tickets.open_ticket(
                session=session,
                kind=TicketKind.ESCALATION,
                office=Office.SUPERVISORS,
                actor="law",
                body="工地欠薪，农民工聚集",
            )
            ticket_id = ticket.id
        app = await create_app(make_settings(seeded.url, tmp_path))
        async with serve(app) as url, chromium(chromium_path) as browser:
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="zh-CN")
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(f"{url}/signin?next=/tickets")
            await page.fill("input[name=username]", "wu")
            await page.fill("input[name=password]", PASSWORD)
            await page.press("input[name=password]", "Enter")
            await page.wait_for_url(f"{url}/tickets")
            assert await page.text_content("h1") == "工单"
            unlabelled = await page.eval_on_selector_all(
                "main select, main textarea, main input:not([type=hidden])",
                "els => els.filter(e => !e.closest('label') && !e.labels?.length).length",
            )
            assert unlabelled == 0
            assert await page.evaluate("document.documentElement.scrollWidth") <= 360

            card = page.locator(f"#ticket-{ticket_id}")
            await card.locator("button[value=acknowledged]").focus()
            await page.keyboard.press("Enter")
            await page.locator(f"#ticket-{ticket_id}[data-status=acknowledged]").wait_for()
            assert await page.text_content("#ticket-status") == "已保存。"
            assert await page.text_content(f"#ticket-{ticket_id} [data-role=state]") == "已签收"
            note = page.locator(f"#ticket-{ticket_id} textarea[name=note]")
            await note.focus()
            await page.keyboard.type("已联系劳动监察")
            await page.keyboard.press("Tab")  # start work
            await page.keyboard.press("Tab")  # done
            await page.keyboard.press("Enter")
            await page.locator(f"#ticket-{ticket_id}[data-status=done]").wait_for()
            assert problems == []
        async with seeded.session() as session:
            stored = await session.get(Ticket, ticket_id)
        assert stored is not None
        assert stored.status == "done"
        assert stored.result_note == "已联系劳动监察"
