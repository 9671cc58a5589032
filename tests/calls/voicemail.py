"""A voice message in real Chromium, from the caller's page to the back office's ticket.

``python -m tests.calls.voicemail voicemail '{"chromium_path": …, "shots": …}'`` runs the
real ``create_app`` (SQLite, routing in memory) with nobody on duty. A caller on a
360 px phone (fake microphone) joins the line with a number, is offered a callback or a
message, chooses 留言, speaks for about three seconds through the voicemail room (the
recording indicator and countdown shown), adds a few written words and sends. A
back-office user then opens /tickets, finds the voicemail ticket with the masked number
and an <audio> player, and the page loads it (``loadedmetadata``: a duration). The same
file is refused to a caller (no staff session) and to a lawyer who has no part in it.
Prints one JSON line; on a failure it carries ``error`` and the step.
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
from playwright.async_api import async_playwright
from sqlalchemy import select

from cases import migrate, staff
from cases.db import Database
from cases.models import AuditEntry, Role
from hotline.app import create_app
from hotline.auth import hash_password
from tests.app import PASSWORD, make_settings
from tests.browser import CHROMIUM_ARGS

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
SPEAK_S = 3.0
# The page's own <audio>: wait for its metadata (or its error) and report what it found.
AUDIO_METADATA = """async () => {
  const a = document.querySelector('[data-testid=voicemail-audio]');
  if (a.readyState < 1) {
    await new Promise((resolve, reject) => {
      a.addEventListener('loadedmetadata', resolve, { once: true });
      const failed = () => reject(new Error('audio error ' + (a.error && a.error.code)));
      a.addEventListener('error', failed, { once: true });
      a.load();
    });
  }
  let duration = a.duration;
  if (!Number.isFinite(duration)) {  // a file without a duration: seek to its end to learn it
    a.currentTime = 1e9;
    await new Promise((resolve) => a.addEventListener('durationchange', resolve, { once: true }));
    duration = a.duration;
  }
  return { duration, src: a.currentSrc, readyState: a.readyState };
}"""


async def seed(database_url: str) -> None:
    await migrate.upgrade(database_url)
    db = Database(database_url)
    async with db.session() as session:
        for username, name, role in (
            ("office", "后台小李", Role.BACK_OFFICE),
            ("law", "王律师", Role.LAWYER),
        ):
            await staff.create_user(
                session=session,
                username=username,
                display_name=name,
                password_hash=hash_password(PASSWORD),
                roles=[role],
                skills=None,  # serves no queue: nobody is on duty for "general"
            )
    await db.close()


async def voicemail(chromium_path: str, shots: str) -> dict[str, Any]:
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
    out = Path(shots)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    result: dict[str, Any] = {"step": "start", "console": []}
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            try:
                await _voicemail(browser, url, out, result)
            finally:
                await browser.close()
        db = Database(database_url)
        try:
            async with db.session() as session:
                rows = await session.scalars(
                    select(AuditEntry).where(AuditEntry.action.like("recording.%"))
                )
                result["audit"] = sorted({(a.action, a.actor) for a in rows})
        finally:
            await db.close()
    except Exception as error:  # report what was seen up to here
        result["error"] = f"{type(error).__name__}: {error}"
        result["traceback"] = traceback.format_exc()[-4000:]
    finally:
        await runner.cleanup()
    return result


async def _sign_in(browser: Any, url: str, username: str, viewport: dict[str, int]) -> Any:
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{url}/signin?next=/tickets")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    return page


async def _voicemail(browser: Any, url: str, out: Path, result: dict[str, Any]) -> None:
    log = result["console"]
    result["step"] = "caller joins with nobody on duty"
    caller_context = await browser.new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, locale="zh-CN"
    )
    caller = await caller_context.new_page()
    caller.on("console", lambda m: log.append(f"caller: {m.text}"))
    await caller.goto(f"{url}/")
    await caller.fill("input[name=phone]", "13812345678")
    await caller.check("#recording-ok")
    await caller.click("#call")
    await caller.locator("[data-testid=callback-box]").wait_for()

    result["step"] = "the caller chooses 留言"
    result["choice_label"] = await caller.locator("#want-voicemail").text_content()
    await caller.click("#want-voicemail")
    recording = caller.locator("[data-testid=voicemail-recording]")
    await recording.wait_for()
    result["indicator"] = await recording.inner_text()
    # Speak: wait until the microphone's packets reach the server, then ~3 s of them.
    await caller.wait_for_function(
        "async () => (await window.hotline.voice.stats()).outbound"
        ".some((s) => s.kind === 'audio' && s.packetsSent > 10)"
    )
    await asyncio.sleep(SPEAK_S)
    left = await caller.locator("[data-testid=voicemail-left]").get_attribute("data-seconds")
    result["seconds_left"] = int(left or "0")
    result["countdown_text"] = await caller.locator("[data-testid=voicemail-left]").text_content()
    await caller.fill("#voicemail-text", "工资拖欠三个月，请回电")
    result["recording_no_sideways"] = await caller.evaluate(NO_SIDEWAYS)
    await caller.screenshot(path=str(out / "caller-recording-360.png"), full_page=True)
    await caller.set_viewport_size(DESKTOP)
    await caller.screenshot(path=str(out / "caller-recording-1280.png"), full_page=True)
    await caller.set_viewport_size(PHONE)

    result["step"] = "the caller sends it"
    await caller.click("#send-voicemail")
    await caller.locator("#call-status[data-state=ended]").wait_for()
    result["caller_told"] = await caller.locator("#status-detail").text_content()
    result["microphone_released"] = await caller.evaluate("window.hotline.voice.local === null")

    result["step"] = "the back office opens /tickets"
    office = await _sign_in(browser, url, "office", DESKTOP)
    office.on("console", lambda m: log.append(f"office: {m.text}"))
    await office.wait_for_url(f"{url}/tickets")
    ticket = office.locator("li.ticket").filter(has=office.locator("[data-testid=voicemail-audio]"))
    await ticket.wait_for()
    result["ticket_text"] = await ticket.inner_text()
    result["phone"] = await ticket.locator("[data-testid=ticket-phone]").text_content()
    result["audio"] = await office.evaluate(AUDIO_METADATA)
    src = await ticket.locator("[data-testid=voicemail-audio]").get_attribute("src")
    assert src is not None
    response = await office.request.get(f"{url}{src}")
    result["fetch"] = {
        "status": response.status,
        "type": response.headers.get("content-type"),
        "bytes": len(await response.body()),
    }
    await office.screenshot(path=str(out / "ticket-player-1280.png"), full_page=True)
    await office.set_viewport_size(PHONE)
    result["ticket_no_sideways"] = await office.evaluate(NO_SIDEWAYS)
    await office.screenshot(path=str(out / "ticket-player-360.png"), full_page=True)

    result["step"] = "the back office asks for the full number to call back"
    await ticket.locator("[data-testid=reveal-number]").click()
    await ticket.locator("[data-testid=ticket-phone] a").wait_for()
    result["full_phone"] = await ticket.locator("[data-testid=ticket-phone]").text_content()
    result["full_phone_href"] = await ticket.locator("[data-testid=ticket-phone] a").get_attribute(
        "href"
    )
    result["reveal_status"] = await office.locator("#ticket-status").text_content()
    result["revealed_no_sideways"] = await office.evaluate(NO_SIDEWAYS)
    await office.screenshot(path=str(out / "ticket-number-360.png"), full_page=True)

    result["step"] = "nobody else hears it"
    anonymous = await caller_context.request.get(f"{url}{src}", max_redirects=0)
    result["caller_fetch"] = anonymous.status
    lawyer = await _sign_in(browser, url, "law", DESKTOP)
    await lawyer.wait_for_load_state()
    denied = await lawyer.request.get(f"{url}{src}", max_redirects=0)
    result["lawyer_fetch"] = denied.status
    result["step"] = "done"


SCENARIOS = {"voicemail": voicemail}


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    name = sys.argv[1]
    params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(asyncio.run(SCENARIOS[name](**params)), default=str))


if __name__ == "__main__":
    main()
