"""A whole hotline call in real Chromium pages, run inside a network namespace.

``python -m tests.calls.scenario call '{"chromium_path": …, "shots": …}'`` runs the real
``create_app`` (SQLite, routing in memory) and two browser contexts with fake camera and
microphone: a caller on a 360 px wide phone screen and a duty lawyer at the desk. The
caller double-taps Start, waits, the lawyer rejects the first offer and accepts the
next; both pages' ``getStats()`` are sampled twice in the call, again after the caller
reloads the page and after the lawyer reloads the desk, and the caller hangs up. Prints
one JSON line of what was seen; on a failure it also carries ``error`` and the step it
happened in.
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
from playwright.async_api import Page, async_playwright

from cases import migrate, staff
from cases.db import Database
from cases.models import Role
from hotline.app import create_app
from hotline.auth import hash_password
from tests.app import PASSWORD, make_settings
from tests.browser import CHROMIUM_ARGS

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
STATS = "() => window.hotline.room.stats()"
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def totals(stats: dict[str, Any]) -> dict[str, int]:
    """Packets and decoded frames received from other participants, by kind."""
    inbound = [s for s in stats["inbound"] if s["source"]]
    return {
        "audio_packets": sum(s["packetsReceived"] for s in inbound if s["kind"] == "audio"),
        "video_packets": sum(s["packetsReceived"] for s in inbound if s["kind"] == "video"),
        "video_frames": sum(s["framesDecoded"] for s in inbound if s["kind"] == "video"),
        "sources": len({s["source"] for s in inbound}),
    }


async def sample(page: Page, seconds: float) -> dict[str, Any]:
    """Two getStats() samples ``seconds`` apart, once media from the other side flows."""
    for _ in range(120):
        now = totals(await page.evaluate(STATS))
        if now["video_frames"] > 0 and now["audio_packets"] > 0:
            break
        await asyncio.sleep(0.25)
    first = await page.evaluate(STATS)
    await asyncio.sleep(seconds)
    second = await page.evaluate(STATS)
    return {"first": totals(first), "second": totals(second), "state": second["state"]}


async def seed(database_url: str) -> None:
    await migrate.upgrade(database_url)
    db = Database(database_url)
    async with db.session() as session:
        await staff.create_user(
            session=session,
            username="law",
            display_name="王律师",
            password_hash=hash_password(PASSWORD),
            roles=[Role.LAWYER],
            skills={"general": 3},
        )
    await db.close()


async def call(chromium_path: str, shots: str, seconds: float = 2.0) -> dict[str, Any]:
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
                await _call(browser, url, out, seconds, result)
            finally:
                await browser.close()
    except Exception as error:  # report what was seen up to here
        result["error"] = f"{type(error).__name__}: {error}"
        result["traceback"] = traceback.format_exc()[-4000:]
    finally:
        await runner.cleanup()
    return result


async def _call(browser: Any, url: str, out: Path, seconds: float, result: dict[str, Any]) -> None:
    log = result["console"]
    agent_context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    agent = await agent_context.new_page()
    agent.on("console", lambda m: log.append(f"agent: {m.text}"))
    frames: list[str] = []
    result["agent_frames"] = frames

    def watch(ws: Any) -> None:
        def seen(payload: Any, way: str) -> None:
            try:
                kind = json.loads(payload)["type"]
            except Exception:
                return
            frames.append(way + kind)

        ws.on("framereceived", lambda p: seen(p, "<"))
        ws.on("framesent", lambda p: seen(p, ">"))

    agent.on("websocket", watch)
    result["step"] = "sign in"
    await agent.goto(f"{url}/signin?next=/agent")
    await agent.fill("input[name=username]", "law")
    await agent.fill("input[name=password]", PASSWORD)
    await agent.click("button[type=submit]")
    await agent.wait_for_url(f"{url}/agent")
    await agent.locator("[data-testid=presence][data-state=break]").wait_for()

    result["step"] = "caller page"
    caller_context = await browser.new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, locale="zh-CN"
    )
    caller = await caller_context.new_page()
    caller.on("console", lambda m: log.append(f"caller: {m.text}"))
    tokens: list[str] = []
    sockets: list[str] = []
    caller.on("request", lambda r: r.url.endswith("/api/caller/token") and tokens.append(r.url))
    caller.on("websocket", lambda ws: sockets.append(ws.url))
    await caller.goto(f"{url}/")
    result["caller_lang"] = await caller.evaluate("document.documentElement.lang")
    result["caller_heading"] = await caller.locator("h1").text_content()
    result["form_no_sideways"] = await caller.evaluate(NO_SIDEWAYS)
    await caller.screenshot(path=str(out / "caller-form-360.png"), full_page=True)

    result["step"] = "double tap on Start"
    await caller.check("input[name=media][value=video]")
    await caller.check("#recording-ok")
    await caller.locator("#call").dblclick()
    await caller.locator("[data-testid=position]").filter(has_text="1").wait_for(state="attached")
    await caller.locator("#position-text").filter(has_text="您是下一位").wait_for()
    result["form_hidden"] = not await caller.locator("#join-form").is_visible()
    result["status_in_view"] = await caller.evaluate(
        "() => { const r = document.querySelector('#call-status').getBoundingClientRect();"
        " return r.top >= 0 && r.top < innerHeight; }"
    )
    result["waiting_text"] = await caller.locator("#call-status").inner_text()
    result["waiting_no_sideways"] = await caller.evaluate(NO_SIDEWAYS)
    await caller.screenshot(path=str(out / "caller-waiting-360.png"), full_page=True)
    await caller.set_viewport_size(DESKTOP)
    await caller.screenshot(path=str(out / "caller-waiting-desktop.png"), full_page=True)
    await caller.set_viewport_size(PHONE)

    result["step"] = "first offer, rejected"
    await agent.click("#go-available")
    offer = agent.locator("[data-testid=offers] li.offer")
    await offer.first.wait_for()
    result["offer_text"] = await offer.first.inner_text()
    result["announce"] = await agent.locator("[data-testid=announce]").text_content()
    result["focus_after_offer"] = await agent.evaluate("document.activeElement.id")
    await agent.screenshot(path=str(out / "agent-offer-desktop.png"), full_page=True)
    await agent.set_viewport_size(PHONE)
    await agent.screenshot(path=str(out / "agent-offer-360.png"), full_page=True)
    result["agent_offer_no_sideways"] = await agent.evaluate(NO_SIDEWAYS)
    await agent.set_viewport_size(DESKTOP)
    await offer.first.locator("button.reject").click()
    # Counted at once, before the server could say anything more.
    result["offers_after_reject"] = await offer.count()

    result["step"] = "second offer, accepted"
    for _ in range(3):  # a reject may put the desk on a break: become available again
        try:
            await offer.first.wait_for(timeout=8_000)
            break
        except Exception:
            await agent.click("#go-available")
    await offer.first.locator("button.accept").click()
    await agent.locator("[data-testid=live]").wait_for()
    await caller.locator("#call-status[data-state=connected]").wait_for()
    result["agent_name"] = await caller.locator("[data-testid=agent-name]").text_content()

    result["step"] = "media in the call"
    result["caller_media"], result["agent_media"] = await asyncio.gather(
        sample(caller, seconds), sample(agent, seconds)
    )
    result["call_no_sideways"] = await caller.evaluate(NO_SIDEWAYS)
    await caller.screenshot(path=str(out / "caller-call-360.png"), full_page=True)
    await caller.set_viewport_size(DESKTOP)
    await caller.screenshot(path=str(out / "caller-call-desktop.png"), full_page=True)
    await caller.set_viewport_size(PHONE)
    await agent.screenshot(path=str(out / "agent-call-desktop.png"), full_page=True)
    await agent.set_viewport_size(PHONE)
    await agent.screenshot(path=str(out / "agent-call-360.png"), full_page=True)
    result["agent_call_no_sideways"] = await agent.evaluate(NO_SIDEWAYS)
    await agent.set_viewport_size(DESKTOP)
    result["step"] = "hold and resume"
    await agent.click("#hold")
    await agent.locator("#hold[aria-pressed=true]").wait_for()
    notice = caller.locator("[data-testid=device-notice]")
    await notice.filter(has_text="稍候").wait_for()
    result["hold_notice"] = await notice.text_content()
    # On hold the caller receives nothing from the lawyer: after what was in flight has
    # arrived, the counters stand still.
    await asyncio.sleep(1.0)
    held_first = totals(await caller.evaluate(STATS))
    await asyncio.sleep(seconds)
    result["caller_media_held"] = {
        "first": held_first,
        "second": totals(await caller.evaluate(STATS)),
    }
    await agent.click("#hold")
    await agent.locator("#hold[aria-pressed=false]").wait_for()
    await caller.wait_for_function(
        "document.querySelector('[data-testid=device-notice]').textContent === ''"
    )
    result["held_and_resumed"] = True
    result["caller_media_after_hold"] = await sample(caller, seconds)
    result["session_before_reload"] = await caller.evaluate("window.hotline.session()")

    result["step"] = "caller reloads"
    await caller.reload()
    await caller.locator("#call-status[data-state=connected]").wait_for()
    result["session_after_reload"] = await caller.evaluate("window.hotline.session()")
    result["caller_media_resumed"], result["agent_media_resumed"] = await asyncio.gather(
        sample(caller, seconds), sample(agent, seconds)
    )

    result["tiles_after_reload"] = {
        "caller": await caller.locator("#remotes figure").count(),
        "agent": await agent.locator("#remotes figure").count(),
    }
    result["step"] = "lawyer reloads the desk"
    await agent.fill("#live-notes", "当事人要求书面答复")
    result["desk_where_before_reload"] = await agent.locator("#live-where").text_content()
    await agent.reload()
    await agent.locator("[data-testid=live]").wait_for()
    await agent.locator("[data-testid=presence][data-state=in_session]").wait_for()
    result["desk_where_after_reload"] = await agent.locator("#live-where").text_content()
    result["desk_caller_after_reload"] = await agent.locator("#live-caller").text_content()
    result["desk_notes_after_reload"] = await agent.input_value("#live-notes")
    (
        result["caller_media_after_desk_reload"],
        result["agent_media_after_desk_reload"],
    ) = await asyncio.gather(sample(caller, seconds), sample(agent, seconds))
    result["caller_state_after_desk_reload"] = await caller.get_attribute(
        "#call-status", "data-state"
    )
    result["session_after_desk_reload"] = await caller.evaluate("window.hotline.session()")
    result["tiles_after_desk_reload"] = {
        "caller": await caller.locator("#remotes figure").count(),
        "agent": await agent.locator("#remotes figure").count(),
    }
    await agent.screenshot(path=str(out / "agent-call-reloaded-desktop.png"), full_page=True)

    result["step"] = "caller hangs up"
    await caller.click("#leave")
    await caller.locator("#call-status[data-state=ended]").wait_for()
    await agent.locator("[data-testid=live]").wait_for(state="hidden")
    await agent.locator("[data-testid=last-outcome]").filter(has_text="已接听").wait_for()
    await agent.locator("[data-testid=disposition]").wait_for()
    result["disposition_asked"] = True
    result["survey_asked"] = await caller.locator("[data-testid=survey]").is_visible()
    result["disposition_notes"] = await agent.input_value("[data-testid=disposition] [name=notes]")
    result["step"] = "disposition and rating"
    await caller.locator("[data-testid=survey] button[value='5']").click()
    await caller.locator("#status-detail").filter(has_text="谢谢").wait_for()
    result["rating_status"] = await caller.evaluate("window.hotline.rated()")
    await agent.click("[data-testid=disposition] button[type=submit]")
    await agent.locator("[data-testid=disposition]").wait_for(state="hidden")
    result["disposition_error"] = await agent.text_content("#disposition-error")
    await agent.click("#go-available")
    await agent.locator("[data-testid=presence][data-state=available]").wait_for()
    result["available_after_disposition"] = True
    result["caller_end_text"] = await caller.locator("#status-text").text_content()
    result["agent_end_text"] = await agent.locator("[data-testid=last-outcome]").text_content()
    result["tokens_fetched"] = len(tokens)
    result["sockets"] = len(sockets)
    result["step"] = "done"


SCENARIOS = {"call": call}


def main() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    name = sys.argv[1]
    params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(asyncio.run(SCENARIOS[name](**params)), default=str))


if __name__ == "__main__":
    main()
