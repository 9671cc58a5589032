"""A desk whose connection drops mid-call, in headless Chromium: within the grace period
the call is kept. The socket reconnects by itself (a network blip: the page stays) and
the desk rejoins the room with media; a desk reloaded in wrap-up is asked its
disposition again, with the notes taken during the call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSCloseCode, web
from playwright.async_api import Page

from cases.db import Database
from hotline.app import create_app
from signaling.web import SIGNALING
from tests.app import make_settings
from tests.browser import chromium, serve
from tests.calls.pages import in_a_call, lawyer_in_the_room, signed_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-ui")

INBOUND_AUDIO = (
    "async () => (await window.hotline.room.stats()).inbound"
    ".filter((s) => s.source && s.kind === 'audio')"
    ".reduce((n, s) => n + s.packetsReceived, 0)"
)


NOTE_WATCH = """() => {
  window.firstPc = window.hotline.room.pc;
  window.notes = [];
  const note = document.querySelector("[data-testid=desk-note]");
  new MutationObserver(() => {
    if (note.textContent) {
      window.notes.push([note.textContent, !document.querySelector("[data-testid=live]").hidden]);
    }
  }).observe(note, { childList: true, characterData: true, subtree: true });
}"""


def drop_desk(app: web.Application) -> None:
    """The server loses the desk's socket, as a network blip would (1012: reconnect)."""
    node = app[SIGNALING].node
    (conn,) = [c for key, c in node.conns.items() if key.startswith("a:")]
    conn.close(WSCloseCode.SERVICE_RESTART, "blip")


async def hears_the_caller(desk: Page, within: float = 20.0) -> None:
    """Audio packets from the caller keep arriving (at 50 a second, 20 more soon)."""
    before = await desk.evaluate(INBOUND_AUDIO)
    for _ in range(int(within / 0.25)):
        await asyncio.sleep(0.25)
        now = await desk.evaluate(INBOUND_AUDIO)
        if now > before + 20:
            return
        before = min(before, now)  # a new peer connection counts from 0
    raise AssertionError(f"no audio from the caller within {within} s")


async def test_a_network_blip_keeps_the_call_and_the_desk_rejoins_its_room(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk, caller, session = await in_a_call(browser, url)
        await hears_the_caller(desk)
        sockets: list[Any] = []
        desk.on("websocket", lambda ws: sockets.append(ws))
        # What the desk says while it is away is brief: every note is kept as it shows.
        await desk.evaluate(NOTE_WATCH)
        drop_desk(app)
        await desk.wait_for_function("() => window.notes.length > 0")
        await desk.locator("#connection[data-state=open]").wait_for()
        await desk.locator("[data-testid=desk-note]").wait_for(state="hidden")
        (note, live_shown) = (await desk.evaluate("window.notes"))[0]
        assert note == "连接中断，正在重新连接……通话为您保留 30 秒。"
        assert live_shown  # the call stayed on screen
        assert len(sockets) == 1  # the page reconnected by itself
        # A new peer connection in the same room, and the caller is heard on it.
        await desk.wait_for_function(
            "() => { const pc = window.hotline.room.pc;"
            " return pc && pc !== window.firstPc && pc.connectionState === 'connected'; }"
        )
        await hears_the_caller(desk)
        assert await desk.text_content("[data-testid=live-session]") == session
        assert await caller.get_attribute("#call-status", "data-state") == "connected"
        await desk.click("#end-session")
        await desk.locator("[data-testid=disposition]").wait_for()
        await caller.locator("#call-status[data-state=ended]").wait_for()


async def test_a_desk_reloaded_in_wrap_up_is_asked_its_disposition_again(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk, caller, _session = await in_a_call(browser, url)
        await desk.fill("#live-notes", "咨询拖欠工资，建议申请法律援助")
        await caller.click("#leave")
        await desk.locator("[data-testid=disposition]").wait_for()
        await desk.reload()
        form = desk.locator("[data-testid=disposition]")
        await form.wait_for()
        assert await desk.get_attribute("[data-testid=presence]", "data-state") == "wrap_up"
        assert await form.locator("[name=notes]").input_value() == "咨询拖欠工资，建议申请法律援助"
        await form.locator("button[type=submit]").click()
        await form.wait_for(state="hidden")
        await desk.click("#go-available")
        await desk.locator("[data-testid=presence][data-state=available]").wait_for()


async def test_the_caller_is_told_while_the_lawyer_is_away_and_the_lawyer_comes_back(
    seeded: Database, tmp_path: Path, chromium_path: str
) -> None:
    """The lawyer's browser closes mid-call and is opened again: the caller, still in the
    call, is told the lawyer's connection dropped; a new desk signed in as the same
    lawyer within the grace period takes the call back, and the notice goes."""
    app = await create_app(make_settings(seeded.url, tmp_path))
    async with serve(app) as url, chromium(chromium_path) as browser:
        desk, caller, session = await in_a_call(browser, url)
        await hears_the_caller(desk)
        await lawyer_in_the_room(caller)
        await desk.context.close()
        notice = caller.locator("[data-testid=device-notice]")
        await notice.filter(has_text="律师的网络连接中断").wait_for()
        assert await notice.text_content() == "律师的网络连接中断，正在恢复，请不要挂断。"
        assert await caller.get_attribute("#call-status", "data-state") == "connected"
        await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
        await caller.screenshot(path=str(SHOTS / "caller-lawyer-away-360.png"), full_page=True)
        back = await signed_in(browser, url, "law")
        await back.locator("[data-testid=live]").wait_for()
        assert await back.text_content("[data-testid=live-session]") == session
        await notice.filter(has_text="律师").wait_for(state="detached")
        assert await notice.text_content() == ""
        await hears_the_caller(back)
        await caller.click("#leave")
        await back.locator("[data-testid=disposition]").wait_for()
