"""The desk's blind transfer in headless Chromium: a queue nobody serves is refused in
words and the call stays; a colleague picked by name takes it, and the desk goes to
wrap-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cases import staff
from cases.db import Database
from cases.models import Role
from hotline.app import create_app
from hotline.auth import hash_password
from tests.app import PASSWORD, make_settings
from tests.browser import chromium, serve
from tests.calls.pages import caller_in_line, desk_ready, take_first_offer

pytestmark = pytest.mark.browser


async def test_refused_in_words_then_transferred_to_a_colleague_by_name(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    async with seeded.session() as session:
        await staff.create_user(
            session=session,
            username="law2",
            display_name="李律师",
            password_hash=hash_password(PASSWORD),
            roles=[Role.LAWYER],
            skills={"general": 3},
        )
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk = await desk_ready(browser, url)
        colleague = await desk_ready(browser, url, "law2")
        caller = await caller_in_line(browser, url)
        session = await take_first_offer(desk)
        await caller.locator("#call-status[data-state=connected]").wait_for()

        # Nobody serves the labour queue: refused, said in words, and the call goes on.
        queue = desk.locator("#move-queues option[value='queue:labour_wages']")
        await queue.filter(has_text="无人签入").wait_for(state="attached")
        await desk.select_option("#move-target", "queue:labour_wages")
        await desk.click("[data-testid=transfer]")
        confirm = desk.locator("[data-testid=move-confirm]")
        assert "劳动争议与欠薪" in await confirm.inner_text()
        await desk.click("[data-testid=move-yes]")
        status = desk.locator("[data-testid=move-status]")
        await status.filter(has_text="未能转接").wait_for()
        assert await status.text_content() == "未能转接：劳动争议与欠薪目前无人签入可以接听"
        assert await desk.locator("[data-testid=live]").is_visible()
        assert await desk.text_content("[data-testid=live-session]") == session

        # A colleague by name (only those who could take it are listed).
        await colleague.click("#go-available")
        await colleague.locator("[data-testid=presence][data-state=available]").wait_for()
        option = desk.locator("#move-agents option[value='agent:law2']")
        free = desk.locator("#move-agents option[value='agent:law2']", has_text="空闲")
        for _ in range(80):  # until the desk has heard that the colleague is free
            if await free.count():
                break
            await desk.focus("#end-session")
            await desk.focus("#move-target")  # asks again who could take it
            await asyncio.sleep(0.25)
        assert await option.text_content() == "李律师（空闲）"
        assert await desk.locator("#move-agents option").count() == 1  # never yourself
        await desk.select_option("#move-target", "agent:law2")
        await desk.click("[data-testid=transfer]")
        assert "李律师" in await confirm.inner_text()
        await desk.click("[data-testid=move-yes]")
        await desk.locator("[data-testid=live]").wait_for(state="hidden")
        await desk.locator("[data-testid=disposition]").wait_for()
        assert await desk.text_content("[data-testid=last-outcome]") == "已转接"

        offer = colleague.locator("[data-testid=offers] li.offer")
        await offer.first.locator("button.accept").click()
        await colleague.locator("[data-testid=live]").wait_for()
        await caller.locator("[data-testid=agent-name]").filter(has_text="李律师").wait_for()
