"""The whole hand-over in headless Chromium, as one flow: the lawyer closes a call as
"referred to legal aid", the referral reaches /tickets, the caller rates the call 2, and
a callback ticket for a supervisor appears beside it; the back office acknowledges and
records a result, which the lawyer's own ticket list shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cases.db import Database
from hotline.app import create_app
from tests.app import make_settings
from tests.browser import chromium, serve
from tests.calls.pages import caller_in_line, desk_ready, in_a_call, signed_in, take_first_offer

pytestmark = pytest.mark.browser


async def test_referral_ticket_rating_and_callback_ticket(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk, caller, session = await in_a_call(browser, url)

        await desk.click("#end-session")
        form = desk.locator("[data-testid=disposition]")
        await form.wait_for()
        await form.locator("select[name=kind]").select_option("referred_legal_aid")
        await form.locator("select[name=category]").select_option("labour_wages")
        await form.locator("textarea[name=notes]").fill("拖欠工资三个月，需要法律援助")
        await form.locator("button[type=submit]").click()
        await desk.locator("[data-testid=last-outcome]").filter(has_text="已记录").wait_for()
        assert not await form.is_visible()

        survey = caller.locator("[data-testid=survey]")
        await survey.wait_for()
        await survey.locator("button[value='2']").click()
        await caller.locator("#status-detail").filter(has_text="谢谢您的评价").wait_for()

        office = await signed_in(browser, url, "sup", "/tickets")
        tickets = office.locator("[data-testid=tickets] li.ticket")
        kinds = [k.strip() for k in await tickets.locator(".kind").all_text_contents()]
        assert "转办" in kinds, kinds
        assert "不满意回访" in kinds, kinds
        referral = tickets.filter(has_text="法律援助中心")
        assert await referral.count() == 1
        assert "拖欠工资三个月" in (await referral.text_content() or "")
        await office.screenshot(path="/tmp/shots-ui/hand-over-tickets.png", full_page=True)

        # The back office takes the referral up and records a result for the lawyer.
        await referral.locator("button[value=acknowledged]").click()
        referral = office.locator("[data-testid=tickets] li.ticket").filter(has_text="法律援助中心")
        await referral.locator("textarea[name=note]").wait_for()
        await referral.locator("textarea[name=note]").fill("已受理，指派援助律师")
        await referral.locator("button[value=done]").click()
        await office.locator("li.ticket[data-status=done]").wait_for()

        mine = await desk.context.new_page()
        response = await mine.goto(f"{url}/api/my/tickets")
        assert response is not None
        assert response.ok
        results = {t["kind"]: t for t in (await response.json())["tickets"]}
        assert results["referral"]["status"] == "done"
        assert results["referral"]["result_note"] == "已受理，指派援助律师"
        assert results["referral"]["session_id"] == session
        # And on the lawyer's own history, beside the call.
        await mine.goto(f"{url}/agent/history")
        past = mine.locator(f"li.past[data-session='{session}']")
        handed = await past.locator("[data-role=ticket]").all_text_contents()
        assert any("法律援助中心" in h and "已受理，指派援助律师" in h for h in handed), handed
        await mine.set_viewport_size({"width": 360, "height": 740})
        await mine.screenshot(path="/tmp/shots-ui/history-tickets-360.png", full_page=True)


async def test_notes_carry_over_and_a_booked_callback_needs_its_time(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    """What the lawyer notes during the call is in the wrap-up form; "callback booked"
    asks when (refused without it, with the reason on screen), then is recorded."""
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk = await desk_ready(browser, url)
        await caller_in_line(browser, url)
        session = await take_first_offer(desk)
        assert await desk.text_content("[data-testid=live-where]") == "语音通话"
        await desk.fill("#live-notes", "来电人需要周五前回电")
        await desk.click("#end-session")
        form = desk.locator("[data-testid=disposition]")
        await form.wait_for()
        assert await form.locator("textarea[name=notes]").input_value() == "来电人需要周五前回电"
        when = form.locator("input[name=callback_at]")
        assert not await when.is_visible()
        await form.locator("select[name=kind]").select_option("callback_booked")
        assert await when.is_visible()
        await form.locator("button[type=submit]").click()
        assert "请填写回电时间" in (await desk.text_content("#disposition-error") or "")
        await form.screenshot(path="/tmp/shots-ui/disposition-callback.png")
        tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
        await when.fill(f"{tomorrow}T10:30")
        await form.locator("button[type=submit]").click()
        await desk.locator("[data-testid=last-outcome]").filter(has_text="已记录").wait_for()
        await desk.set_viewport_size({"width": 360, "height": 740})
        await desk.screenshot(path="/tmp/shots-ui/desk-after-disposition-360.png", full_page=True)
        assert await desk.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        stored = await desk.context.request.get(f"{url}/api/sessions/{session}/disposition")
        assert stored.ok
        values = (await stored.json())["disposition"]
        assert values["kind"] == "callback_booked"
        assert values["notes"] == "来电人需要周五前回电"
        assert values["callback_at"][:10] in {
            tomorrow,
            (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%d"),  # zone differences
            datetime.now().strftime("%Y-%m-%d"),
        }
