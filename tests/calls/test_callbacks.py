"""Calling a callback back, in headless Chromium: a caller who kept the page open is
rung there and answers; a caller who closed it is dialled, not reached, and tried again
after the retry delay with the full number; every attempt is in the record."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import select

from cases.db import Database
from cases.models import SessionOutcome, SessionRecord
from hotline.app import create_app
from hotline.contact import routing_config
from tests.app import make_settings
from tests.browser import chromium, serve
from tests.calls.pages import caller_in_line, desk_ready

pytestmark = pytest.mark.browser

NUMBER = "13812345678"


def short_waits(tmp_path: Path) -> str:
    """The default queues, but a callback is offered after 2 s and retried after 1 s."""
    base = routing_config(())
    queues = tuple(
        dataclasses.replace(q, max_wait_s=2.0, callback_retry_s=1.0) for q in base.queues
    )
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(dataclasses.replace(base, queues=queues).to_dict()))
    return str(path)


async def caller_keeps_a_place(browser: Browser, url: str) -> Page:
    page = await caller_in_line(browser, url, phone=NUMBER, wait=False)
    await page.locator("[data-testid=callback-box]").wait_for()
    await page.click("#want-callback")
    await page.locator("#status-text").filter(has_text="已为您保留位置").wait_for()
    return page


async def take_callback(desk: Page) -> None:
    await desk.click("#go-available")
    offer = desk.locator("[data-testid=offers] li.offer[data-kind=callback]")
    await offer.filter(has_text=NUMBER).wait_for()  # the full number, to this desk
    await offer.locator("button.accept").click()
    await desk.locator("[data-testid=callback-call]").wait_for()


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    return {"HOTLINE_ROUTING_CONFIG": short_waits(tmp_path)}


async def test_an_open_page_rings_and_the_caller_answers(
    seeded: Database, tmp_path: Path, chromium_path: str, settings_env: dict[str, str]
) -> None:
    app = await create_app(make_settings(seeded.url, tmp_path, **settings_env))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk = await desk_ready(browser, url)
        caller = await caller_keeps_a_place(browser, url)
        await take_callback(desk)
        assert "正在响铃" in (await desk.text_content("#callback-where") or "")
        assert "第 1 次，共 3 次" in (await desk.text_content("#callback-attempt") or "")
        ringing = caller.locator("[data-testid=ringing]")
        await ringing.wait_for()
        assert "LAW正在给您回电" in (await ringing.text_content() or "")
        await caller.screenshot(path="/tmp/shots-ui/callback-ringing-360.png")
        await caller.click("#answer")
        await caller.locator("#call-status[data-state=connected]").wait_for()
        await desk.locator("#callback-where").filter(has_text="已在网页上接听").wait_for()
        assert not await desk.locator("#callback-results").is_visible()
        await desk.click("#end-session")
        await desk.locator("[data-testid=disposition]").wait_for()
        await caller.locator("#call-status[data-state=ended]").wait_for()
        assert "我们已回拨给您" in (await caller.text_content("#status-detail") or "")


async def test_a_closed_page_is_dialled_retried_and_closed(
    seeded: Database, tmp_path: Path, chromium_path: str, settings_env: dict[str, str]
) -> None:
    app = await create_app(make_settings(seeded.url, tmp_path, **settings_env))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk = await desk_ready(browser, url)
        caller = await caller_keeps_a_place(browser, url)
        await caller.context.close()  # "you may close this page now"
        await take_callback(desk)
        assert "已关闭网页" in (await desk.text_content("#callback-where") or "")
        assert NUMBER in (await desk.text_content("[data-testid=callback-dial]") or "")
        await desk.screenshot(path="/tmp/shots-ui/callback-desk.png", full_page=True)
        assert await desk.is_checked("#callback-retry")
        await desk.click("#callback-results button[data-result=no_answer]")
        last = desk.locator("[data-testid=last-outcome]")
        await last.filter(has_text="稍后将再次回电").wait_for()
        assert not await desk.locator("[data-testid=disposition]").is_visible()
        # The retry comes back after its delay, to the same (free) desk, with the number.
        await take_callback(desk)
        assert "第 2 次，共 3 次" in (await desk.text_content("#callback-attempt") or "")
        await desk.click("#callback-results button[data-result=wrong_number]")
        # The first attempt's text also contains 回电未接通: wait for the whole new one.
        await last.filter(has_text=re.compile(r"^\s*回电未接通\s*$")).wait_for()
        await desk.locator("[data-testid=presence][data-state=available]").wait_for()
    async with seeded.session() as session:
        rows = (await session.scalars(select(SessionRecord).order_by(SessionRecord.ended_at))).all()
    assert [r.outcome for r in rows] == [SessionOutcome.CALLBACK_FAILED] * 2
    assert rows[1].id == f"{rows[0].id}:b2"
    assert [(r.detail["callback_attempt"], r.detail["callback_result"]) for r in rows] == [
        (1, "no_answer"),
        (2, "wrong_number"),
    ]


async def test_the_callback_keeps_its_place_ahead_of_a_later_caller(
    seeded: Database, tmp_path: Path, chromium_path: str, settings_env: dict[str, str]
) -> None:
    """Two callers wait; the first asks for a callback and closes the page. When the
    lawyer frees up, the callback is offered first, with the full number."""
    app = await create_app(make_settings(seeded.url, tmp_path, **settings_env))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk = await desk_ready(browser, url)
        first = await caller_keeps_a_place(browser, url)
        await caller_in_line(browser, url)
        await first.context.close()
        await desk.click("#go-available")
        offer = desk.locator("[data-testid=offers] li.offer")
        await offer.first.wait_for()
        assert await offer.count() == 1
        assert await offer.get_attribute("data-kind") == "callback"
        await offer.filter(has_text=NUMBER).wait_for()
        assert "138****5678" not in (await offer.text_content() or "")


async def test_a_desk_reloaded_during_a_callback_still_has_the_number(
    seeded: Database, tmp_path: Path, chromium_path: str, settings_env: dict[str, str]
) -> None:
    """The full number came with the offer; a reload has no offer, so the desk that
    comes back is sent it again (to this agent only) with the attempt and the results."""
    app = await create_app(make_settings(seeded.url, tmp_path, **settings_env))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk = await desk_ready(browser, url)
        caller = await caller_keeps_a_place(browser, url)
        await caller.context.close()
        await take_callback(desk)
        await desk.reload()
        await desk.locator("[data-testid=callback-call]").wait_for()
        dial = desk.locator("[data-testid=callback-dial]")
        await dial.filter(has_text=NUMBER).wait_for()
        assert "第 1 次，共 3 次" in (await desk.text_content("#callback-attempt") or "")
        assert "已关闭网页" in (await desk.text_content("#callback-where") or "")
        await desk.click("#callback-results button[data-result=busy]")
        last = desk.locator("[data-testid=last-outcome]")
        await last.filter(has_text="稍后将再次回电").wait_for()
