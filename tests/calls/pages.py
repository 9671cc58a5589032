"""The steps of a person on our pages that many browser tests take: a member of staff
signs in, a desk is ready, a caller joins the line, the desk takes the first offer."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from tests.app import PASSWORD

PHONE = {"width": 360, "height": 740}


async def signed_in(browser: Browser, url: str, username: str, page: str = "/agent") -> Page:
    """``username`` signed in (tests.app's password), on ``page``."""
    tab = await (await browser.new_context(locale="zh-CN")).new_page()
    await tab.goto(f"{url}/signin?next={page}")
    await tab.fill("input[name=username]", username)
    await tab.fill("input[name=password]", PASSWORD)
    await tab.click("button[type=submit]")
    await tab.wait_for_url(f"{url}{page}")
    return tab


async def desk_ready(browser: Browser, url: str, username: str = "law") -> Page:
    """A signed-in desk whose socket is up (agents sign in on a break)."""
    desk = await signed_in(browser, url, username)
    await desk.locator("[data-testid=presence][data-state=break]").wait_for()
    return desk


async def caller_in_line(
    browser: Browser, url: str, *, phone: str | None = None, wait: bool = True
) -> Page:
    """A caller on a phone-sized page who acknowledged the recording notice and pressed
    Start (with ``phone`` as the number given); with ``wait``, until they are in line."""
    page = await (await browser.new_context(viewport=PHONE, locale="zh-CN")).new_page()
    await page.goto(f"{url}/")
    if phone:
        await page.fill("input[name=phone]", phone)
    await page.check("#recording-ok")
    await page.click("#call")
    if wait:
        await page.locator("#call-status[data-state=queued]").wait_for()
    return page


async def take_first_offer(desk: Page) -> str:
    """The desk goes available and accepts what rings; returns the live session's id."""
    await desk.click("#go-available")
    await desk.locator("[data-testid=offers] li.offer button.accept").first.click()
    await desk.locator("[data-testid=live]").wait_for()
    session = await desk.text_content("[data-testid=live-session]")
    assert session
    return session


async def in_a_call(browser: Browser, url: str) -> tuple[Page, Page, str]:
    """The demo lawyer's desk and a caller, connected: (desk, caller, session id)."""
    desk = await desk_ready(browser, url)
    caller = await caller_in_line(browser, url)
    session = await take_first_offer(desk)
    await caller.locator("#call-status[data-state=connected]").wait_for()
    return desk, caller, session


async def lawyer_in_the_room(caller: Page) -> None:
    """Until the caller's page knows the lawyer is in the call's room (its
    ``participant_joined``), so that the lawyer's leaving is noticed."""
    await caller.wait_for_function(
        "() => [...window.hotline.room.people.values()].some((p) => p.role === 'host')"
    )
