"""A consult (warm transfer) in three real Chromium contexts, run inside a network namespace.

``python -m tests.calls.consult_scenario '{"chromium_path": …, "shots": …}'`` runs the
real ``create_app`` with two duty lawyers (王律师 ``law``, 李律师 ``law2``) and a caller
on a phone screen, all with fake microphones: the caller reaches 王律师, who consults
李律师 from the desk; 李律师 accepts and joins the same call room; getStats() on all
three pages must show audio from both others rising; 王律师 hands over and leaves (and
records the disposition of their leg); the caller and 李律师 still hear each other;
李律师 ends the call and records theirs. Prints one JSON line of what was seen; on a
failure it also carries ``error`` and the step it happened in.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from cases import migrate, staff
from cases.db import Database
from cases.models import Role
from hotline.app import create_app
from hotline.auth import hash_password
from tests.app import PASSWORD, make_settings
from tests.browser import CHROMIUM_ARGS
from tests.calls.scenario import DESKTOP, NO_SIDEWAYS, PHONE, STATS

LAWYERS = {"law": "王律师", "law2": "李律师"}


def audio_by_source(stats: dict[str, Any]) -> dict[str, int]:
    """Audio packets received, by the participant they come from."""
    out: dict[str, int] = {}
    for s in stats["inbound"]:
        if s["source"] and s["kind"] == "audio":
            out[s["source"]] = out.get(s["source"], 0) + s["packetsReceived"]
    return out


async def hearing(page: Page, sources: int, seconds: float) -> dict[str, Any]:
    """Two samples ``seconds`` apart once audio comes from ``sources`` others; whether
    each of them rose."""
    for _ in range(160):
        now = audio_by_source(await page.evaluate(STATS))
        if len([n for n in now.values() if n > 0]) >= sources:
            break
        await asyncio.sleep(0.25)
    first = audio_by_source(await page.evaluate(STATS))
    await asyncio.sleep(seconds)
    second = audio_by_source(await page.evaluate(STATS))
    rising = sorted(src for src, n in second.items() if n > first.get(src, 0) > 0)
    return {"first": first, "second": second, "rising": len(rising)}


async def seed(database_url: str) -> None:
    await migrate.upgrade(database_url)
    db = Database(database_url)
    async with db.session() as session:
        for username, name in LAWYERS.items():
            await staff.create_user(
                session=session,
                username=username,
                display_name=name,
                password_hash=hash_password(PASSWORD),
                roles=[Role.LAWYER],
                skills={"general": 3},
            )
    await db.close()


async def desk(browser: Browser, url: str, username: str, log: list[str]) -> Page:
    page = await (await browser.new_context(viewport=DESKTOP, locale="zh-CN")).new_page()
    page.on("console", lambda m: log.append(f"{username}: {m.text}"))
    await page.goto(f"{url}/signin?next=/agent")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/agent")
    await page.locator("[data-testid=presence][data-state=break]").wait_for()
    return page


async def shots(page: Page, out: Path, name: str) -> bool:
    """Screenshots at 1280 and 360 px; whether nothing scrolls sideways at 360."""
    await page.screenshot(path=str(out / f"{name}-1280.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(out / f"{name}-360.png"), full_page=True)
    fits: bool = await page.evaluate(NO_SIDEWAYS)
    await page.set_viewport_size(DESKTOP)
    return fits


async def dispose(page: Page) -> None:
    await page.locator("[data-testid=disposition]").wait_for()
    await page.click("[data-testid=disposition] button[type=submit]")
    await page.locator("[data-testid=disposition]").wait_for(state="hidden")


async def run(chromium_path: str, shots_dir: str, seconds: float = 2.0) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp())
    database_url = f"sqlite:///{directory / 'hotline.sqlite3'}"
    await seed(database_url)
    app = await create_app(make_settings(database_url, directory))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    out = Path(shots_dir)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    result: dict[str, Any] = {"step": "start", "console": []}
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            try:
                await _consult(browser, url, out, seconds, result)
            finally:
                await browser.close()
    except Exception as error:  # report what was seen up to here
        result["error"] = f"{type(error).__name__}: {error}"
        result["traceback"] = traceback.format_exc()[-4000:]
    finally:
        await runner.cleanup()
    if result["step"] == "done":
        result["record"] = await stored(database_url, result["call_session"])
    return result


async def stored(database_url: str, call_session: str) -> dict[str, Any]:
    """What the database kept: the two legs, their dispositions, the call's recordings."""
    from sqlalchemy import select

    from cases.models import Disposition, Recording, SessionRecord, User

    db = Database(database_url)
    try:
        async with db.session() as session:
            users = {u.id: u.username for u in await session.scalars(select(User))}
            legs = {
                r.id: [r.outcome.value if r.outcome else None, users.get(r.agent_user_id or 0)]
                for r in await session.scalars(select(SessionRecord))
            }
            disposed = sorted(d.session_id for d in await session.scalars(select(Disposition)))
            rooms = [
                [r.room_id, r.session_id, len(r.files)]
                for r in await session.scalars(select(Recording))
            ]
    finally:
        await db.close()
    return {"legs": legs, "disposed": disposed, "recordings": rooms, "call": call_session}


async def _consult(
    browser: Browser, url: str, out: Path, seconds: float, result: dict[str, Any]
) -> None:
    log = result["console"]
    result["step"] = "two desks"
    wang = await desk(browser, url, "law", log)
    li = await desk(browser, url, "law2", log)

    result["step"] = "the caller reaches 王律师"
    context = await browser.new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, locale="zh-CN"
    )
    caller = await context.new_page()
    caller.on("console", lambda m: log.append(f"caller: {m.text}"))
    joins: list[str] = []

    def watch(ws: Any) -> None:
        def seen(payload: Any) -> None:
            try:
                kind = json.loads(payload)["type"]
            except Exception:
                return
            if kind == "room_joined":
                joins.append(kind)

        ws.on("framereceived", seen)

    caller.on("websocket", watch)
    await caller.goto(f"{url}/")
    await caller.check("#recording-ok")
    await caller.click("#call")
    await caller.locator("#call-status[data-state=queued]").wait_for()
    await wang.click("#go-available")
    await wang.locator("[data-testid=offers] li.offer button.accept").first.click()
    await wang.locator("[data-testid=live]").wait_for()
    await caller.locator("#call-status[data-state=connected]").wait_for()
    result["agent_name_before"] = await caller.locator("[data-testid=agent-name]").text_content()
    call_session = await wang.text_content("[data-testid=live-session]")

    result["step"] = "李律师 is free; 王律师 picks them and confirms"
    await li.click("#go-available")
    await li.locator("[data-testid=presence][data-state=available]").wait_for()
    target = wang.locator("#move-agents option[value='agent:law2']")
    for _ in range(40):  # the list comes from get_targets (on connect and on focus)
        await wang.focus("#move-target")
        if await target.count():
            break
        await asyncio.sleep(0.25)
    result["colleague_option"] = await target.text_content()
    result["queue_option"] = await wang.locator(
        "#move-queues option[value='queue:general']"
    ).text_content()
    result["desk_controls_fit"] = await shots(wang, out, "desk-transfer-controls")
    await wang.select_option("#move-target", "agent:law2")
    await wang.click("[data-testid=consult]")
    result["confirm_text"] = await wang.locator("[data-testid=move-confirm]").inner_text()
    await wang.click("[data-testid=move-yes]")

    result["step"] = "李律师 is offered the consult and accepts"
    offer = li.locator("[data-testid=offers] li.offer[data-kind=consult]")
    await offer.wait_for()
    result["consult_offer_text"] = await offer.inner_text()
    result["consult_offer_fits"] = await shots(li, out, "desk-consult-offer")
    await offer.locator("button.accept").click()
    await li.locator("[data-testid=live]").wait_for()
    await wang.locator("[data-testid=consult-text]").filter(has_text="李律师已加入").wait_for()
    result["requester_panel"] = await wang.locator("[data-testid=consult-panel]").inner_text()
    result["consultant_panel"] = await li.locator("[data-testid=consult-panel]").inner_text()
    notice = caller.locator("[data-testid=device-notice]")
    await notice.filter(has_text="另一位工作人员加入了通话").wait_for()
    result["caller_notice"] = await notice.text_content()

    result["step"] = "three in the call: everyone hears both others"
    result["three"] = dict(
        zip(
            ("caller", "wang", "li"),
            await asyncio.gather(
                hearing(caller, 2, seconds), hearing(wang, 2, seconds), hearing(li, 2, seconds)
            ),
            strict=True,
        )
    )
    result["three_way_fits"] = await shots(wang, out, "desk-consult-three-way")
    await shots(li, out, "desk-consultant")

    result["step"] = "both desks reload mid-consult and come back to it"
    await li.reload()
    await li.locator("[data-testid=live]").wait_for()
    await wang.reload()
    await wang.locator("[data-testid=live]").wait_for()
    await wang.locator("[data-testid=consult-text]").filter(has_text="李律师已加入").wait_for()
    result["requester_panel_reloaded"] = await wang.locator(
        "[data-testid=consult-panel]"
    ).inner_text()
    result["consultant_panel_reloaded"] = await li.locator(
        "[data-testid=consult-panel]"
    ).inner_text()
    result["three_reloaded"] = dict(
        zip(
            ("caller", "wang", "li"),
            await asyncio.gather(
                hearing(caller, 2, seconds), hearing(wang, 2, seconds), hearing(li, 2, seconds)
            ),
            strict=True,
        )
    )
    await shots(li, out, "desk-consultant-reloaded")

    result["step"] = "王律师 hands over and leaves"
    await wang.click("[data-testid=hand-over]")
    await wang.locator("[data-testid=live]").wait_for(state="hidden")
    result["wang_outcome"] = await wang.locator("[data-testid=last-outcome]").text_content()
    await dispose(wang)
    await caller.locator("[data-testid=agent-name]").filter(has_text="李律师").wait_for()
    result["agent_name_after"] = await caller.locator("[data-testid=agent-name]").text_content()
    new_session = li.locator("[data-testid=live-session]").filter(has_text=f"{call_session}:c1")
    await new_session.wait_for()
    result["li_session"] = await new_session.text_content()
    result["li_status"] = await li.locator("[data-testid=move-status]").text_content()

    result["step"] = "the caller and 李律师 go on"
    result["two"] = dict(
        zip(
            ("caller", "li"),
            await asyncio.gather(hearing(caller, 1, seconds), hearing(li, 1, seconds)),
            strict=True,
        )
    )
    result["caller_room_joins"] = len(joins)

    result["step"] = "李律师 ends the call and records the disposition"
    await li.click("#end-session")
    await caller.locator("#call-status[data-state=ended]").wait_for()
    await li.locator("[data-testid=live]").wait_for(state="hidden")
    result["li_outcome"] = await li.locator("[data-testid=last-outcome]").text_content()
    await dispose(li)
    await li.click("#go-available")
    await li.locator("[data-testid=presence][data-state=available]").wait_for()
    result["call_session"] = call_session
    result["step"] = "done"


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    params = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    print(json.dumps(asyncio.run(run(**params)), default=str))


if __name__ == "__main__":
    main()
