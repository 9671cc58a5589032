"""The WebSocket edge of the whole application, over real loopback sockets.

Who may open ``/ws`` (origin), how many sockets and caller tokens one address gets,
what signing out does to open sockets on every process, which rooms a token admits
to, and a caller whose token expires while they are away. "Every process" runs on the
in-process backplane (one app) and on real Redis (two apps sharing one prefix).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from hotline import keys
from hotline.auth import SESSION_COOKIE
from hotline.contact import CALLER_AUDIENCE, CALLER_SCOPE, ROOM_AUDIENCE
from hotline.settings import SettingsError, load_settings
from signaling.web import SIGNALING
from tests.app import AppClient, sign_in
from tests.signaling.conftest import delete_prefix

Client = TestClient[web.Request, web.Application]
Pair = Callable[..., Awaitable[tuple[Client, Client]]]

CLOSE_SIGNED_OUT = 4003


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def processes(request: pytest.FixtureRequest, make_client: AppClient) -> AsyncIterator[Pair]:
    """``make(**env)``: two processes' worth of the app. On memory both are one app (one
    process is every process); on Redis two apps on one key prefix."""
    prefix = f"test-edge-{uuid.uuid4().hex[:10]}"
    url: str | None = request.getfixturevalue("redis_url") if request.param == "redis" else None

    async def make(**env: str) -> tuple[Client, Client]:
        if url is None:
            one = await make_client(**env)
            return one, one
        env = {"REDIS_URL": url, "HOTLINE_REDIS_PREFIX": prefix, **env}
        first, second = await make_client(**env), await make_client(**env)
        for client in (first, second):
            await asyncio.wait_for(client.app[SIGNALING].backplane.wait_ready(), 5)
        return first, second

    yield make
    if url is not None:
        await delete_prefix(url, prefix)


async def caller_token(client: Client) -> str:
    response = await client.post("/api/caller/token")
    assert response.status == 200, await response.text()
    token: str = (await response.json())["token"]
    return token


def session_cookie(client: Client) -> str:
    """The staff session cookie ``sign_in`` left in the client's jar."""
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value


async def signed_in(client: Client, username: str) -> str:
    """Sign in through the form; the cookie, which the client's jar then forgets (every
    request here says explicitly whose it is)."""
    assert await sign_in(client, username) == 303
    cookie = session_cookie(client)
    client.session.cookie_jar.clear()
    return cookie


async def connect(client: Client, *, cookie: str | None = None, **params: str) -> Any:
    """A real WebSocket client on ``client``'s app (no cookie from the jar unless given)."""
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {}
    return await client.session.ws_connect(client.make_url("/ws"), params=params, headers=headers)


async def upgrade(client: Client, **kwargs: Any) -> tuple[int, Any]:
    """(101, the socket) if the upgrade is accepted, else (its HTTP status, None)."""
    try:
        ws = await client.session.ws_connect(client.make_url("/ws"), **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status, None
    return 101, ws


async def refused_status(client: Client, **kwargs: Any) -> int:
    """The HTTP status a refused upgrade got (fails if the upgrade was accepted)."""
    status, ws = await upgrade(client, **kwargs)
    if ws is not None:
        await ws.close()
        pytest.fail("the upgrade was accepted")
    return status


async def send(ws: Any, type: str, **fields: Any) -> None:
    await ws.send_str(json.dumps({"v": 1, "type": type, **fields}))


async def expect(ws: Any, type: str, within: float = 5.0) -> dict[str, Any]:
    """The next message of ``type``, skipping position and presence updates."""
    async with asyncio.timeout(within):
        while True:
            frame = await ws.receive()
            assert frame.type == WSMsgType.TEXT, (frame, ws.close_code)
            message: dict[str, Any] = json.loads(frame.data)
            if message["type"] == type:
                return message
            assert message["type"] in ("position", "presence_changed"), message


async def closed_with(ws: Any, within: float = 5.0) -> int | None:
    """Read until the server closes ``ws``; its close code."""
    async with asyncio.timeout(within):
        while not ws.closed:
            frame = await ws.receive()
            if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                break
    code: int | None = ws.close_code
    return code


def refusals(text: str, reason: str) -> float:
    """``hotline_refusals_total{reason=...}`` in Prometheus text (0 if absent)."""
    prefix = f'hotline_refusals_total{{reason="{reason}"}} '
    values = [float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


async def metrics(client: Client) -> str:
    return await (await client.get("/metrics")).text()


SECRET_ENV = {"HOTLINE_SECRET_KEY": "k" * 40}


class TestSettings:
    def test_defaults_and_the_public_origin(self) -> None:
        """Generous limits by default; the public URL's origin is allowed unless told."""
        settings = load_settings(SECRET_ENV)
        assert (settings.sockets_per_address, settings.caller_tokens_per_hour) == (50, 300)
        assert settings.allowed_origins == ()
        public = load_settings(
            {**SECRET_ENV, "HOTLINE_PUBLIC_URL": "https://Hotline.example.org/x"}
        )
        assert public.allowed_origins == ("https://hotline.example.org",)
        listed = load_settings(
            {**SECRET_ENV, "HOTLINE_PUBLIC_URL": "https://a.example", "HOTLINE_ALLOWED_ORIGINS": ""}
        )
        assert listed.allowed_origins == ()

    def test_bad_origins_and_limits_are_reported(self) -> None:
        """An origin with a path or no scheme, and limits out of range, are all reported."""
        with pytest.raises(SettingsError) as info:
            load_settings(
                {
                    **SECRET_ENV,
                    "HOTLINE_ALLOWED_ORIGINS": "https://ok.example, https://x.example/page, x.org",
                    "HOTLINE_SOCKETS_PER_ADDRESS": "0",
                    "HOTLINE_CALLER_TOKENS_PER_HOUR": "many",
                }
            )
        text = str(info.value)
        assert "'https://x.example/page', 'x.org'" in text
        assert "HOTLINE_SOCKETS_PER_ADDRESS" in text
        assert "HOTLINE_CALLER_TOKENS_PER_HOUR" in text


class TestOrigin:
    async def test_a_page_of_another_site_cannot_open_a_staff_socket(
        self, make_client: AppClient
    ) -> None:
        """A cross-origin upgrade carrying a staff cookie is refused with 403, and counted."""
        client = await make_client()
        cookie = await signed_in(client, "law")
        status = await refused_status(
            client,
            headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": "https://evil.example"},
        )
        assert status == 403
        for hostile in ("null", "http://127.0.0.1.evil.example", "file://"):
            assert await refused_status(client, headers={"Origin": hostile}) == 403
        assert refusals(await metrics(client), "origin") == 4

    async def test_own_host_configured_origins_and_clients_without_origin_may(
        self, make_client: AppClient
    ) -> None:
        """The page's own host, an origin in HOTLINE_ALLOWED_ORIGINS, and a bot that sends
        no Origin all open the socket."""
        client = await make_client(
            HOTLINE_ALLOWED_ORIGINS="https://hotline.example.org, https://kiosk.example.org:8443"
        )
        cookie = await signed_in(client, "law")
        own = f"http://{client.host}:{client.port}"
        for origin in (own, "https://hotline.example.org", "https://KIOSK.example.org:8443"):
            ws = await client.session.ws_connect(
                client.make_url("/ws"),
                headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": origin},
            )
            await send(ws, "ping", nonce=origin)
            assert (await expect(ws, "pong"))["nonce"] == origin
            await ws.close()
        bot = await connect(client, token=await caller_token(client))
        await send(bot, "hello")
        await expect(bot, "welcome")
        await bot.close()
        assert await refused_status(client, headers={"Origin": "https://other.example.org"}) == 403

    async def test_the_public_url_is_an_allowed_origin_by_default(
        self, make_client: AppClient
    ) -> None:
        """Behind a proxy the page's origin is HOTLINE_PUBLIC_URL's."""
        client = await make_client(HOTLINE_PUBLIC_URL="https://hotline.example.org/")
        ws = await client.session.ws_connect(
            client.make_url("/ws"),
            params={"token": await caller_token(client)},
            headers={"Origin": "https://hotline.example.org"},
        )
        await ws.close()


class TestSignOut:
    async def test_signing_out_closes_the_sessions_sockets_on_every_process(
        self, processes: Pair
    ) -> None:
        """Signed out on one process, the agent's socket on another is closed with 4003
        and cannot come back; another member of staff's socket stays open."""
        first, second = await processes()
        cookie = await signed_in(first, "law")
        other = await signed_in(second, "sup")
        agent = await connect(second, cookie=cookie)
        await send(agent, "hello")
        assert (await expect(agent, "welcome"))["role"] == "agent"
        room_only = await connect(second, cookie=cookie)  # never said hello
        supervisor = await connect(second, cookie=other)

        viewer = await first.app[keys.AUTH].viewer(cookie)
        assert viewer is not None
        response = await first.session.post(
            first.make_url("/signout"),
            data={"csrf_token": viewer.csrf_token},
            headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
            allow_redirects=False,
        )
        assert response.status == 303

        assert await closed_with(agent) == CLOSE_SIGNED_OUT
        assert await closed_with(room_only) == CLOSE_SIGNED_OUT
        await send(supervisor, "ping", nonce="still-here")
        assert (await expect(supervisor, "pong"))["nonce"] == "still-here"
        await supervisor.close()
        assert await refused_status(second, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}) == 401


class TestAbuseLimits:
    async def test_the_51st_socket_from_one_address_is_refused(
        self, make_client: AppClient
    ) -> None:
        """Fifty sockets from one address are served; the 51st upgrade gets 429 and is
        counted; once one closes, another may open."""
        client = await make_client()
        token = await caller_token(client)
        sockets = [await connect(client, token=token) for _ in range(50)]
        assert await refused_status(client, params={"token": token}) == 429
        assert refusals(await metrics(client), "sockets_per_address") == 1
        await sockets.pop().close()
        # The server lets the place go once it has seen the close.
        async with asyncio.timeout(5):
            while True:
                status, ws = await upgrade(client, params={"token": token})
                if ws is not None:
                    sockets.append(ws)
                    break
                assert status == 429
                await asyncio.sleep(0.02)
        for ws in sockets:
            await ws.close()

    async def test_caller_tokens_are_limited_per_address_per_hour(self, processes: Pair) -> None:
        """Past HOTLINE_CALLER_TOKENS_PER_HOUR from one address (counted on every
        process), a caller token is refused with 429 and a JSON error, and counted."""
        first, second = await processes(HOTLINE_CALLER_TOKENS_PER_HOUR="3")
        for client in (first, second, first):
            await caller_token(client)
        response = await second.post("/api/caller/token")
        assert response.status == 429
        body = await response.json()
        assert body["status"] == 429
        assert "try again later" in body["error"]
        assert refusals(await metrics(second), "caller_tokens_per_address") == 1


class TestRoomAdmission:
    async def test_a_caller_token_admits_to_no_room(self, make_client: AppClient) -> None:
        """A caller's token is for the queue: joining any room, even one staff opened
        (and even one named like the token's scope), is refused not_allowed."""
        client = await make_client()
        for room in (CALLER_SCOPE, "mediation-1"):
            client.app[keys.MEDIA].create_room(room)  # staff have opened it
        for _ in range(2):  # two unrelated callers
            ws = await connect(client, token=await caller_token(client))
            for room in (CALLER_SCOPE, "mediation-1"):
                await send(ws, "join_room", room=room, sdp="v=0\r\n")
                error = await expect(ws, "room_error")
                assert (error["room"], error["code"]) == (room, "not_allowed")
            await ws.close()
        assert all(not room.participants for room in client.app[keys.MEDIA].rooms.values())

    async def test_staff_and_a_room_token_get_past_admission_to_their_room(
        self, make_client: AppClient
    ) -> None:
        """Staff may join any room and a room token admits to its own room (here they get
        as far as the SDP, which is unusable); a room token for X is refused elsewhere."""
        client = await make_client()
        cookie = await signed_in(client, "law")
        staff = await connect(client, cookie=cookie)
        await send(staff, "join_room", room="mediation-1", sdp="v=0\r\n")
        assert (await expect(staff, "room_error"))["code"] == "negotiation_failed"

        token = client.app[keys.TOKENS].issue(
            aud=ROOM_AUDIENCE, sub="v-party", scope="mediation-2", ttl_s=600, now=time.time()
        )
        party = await connect(client, token=token)
        await send(party, "join_room", room="mediation-2", sdp="v=0\r\n")
        assert (await expect(party, "room_error"))["code"] == "bad_state"  # not open yet
        client.app[keys.MEDIA].create_room("mediation-2")
        await send(party, "join_room", room="mediation-2", sdp="v=0\r\n")
        assert (await expect(party, "room_error"))["code"] == "negotiation_failed"
        client.app[keys.MEDIA].create_room("mediation-3")
        await send(party, "join_room", room="mediation-3", sdp="v=0\r\n")
        assert (await expect(party, "room_error"))["code"] == "not_allowed"
        for ws in (staff, party):
            await ws.close()


class TestResumeAfterTokenExpiry:
    async def test_an_expired_caller_token_does_not_cost_the_place(self, processes: Pair) -> None:
        """A caller whose token expired while they were away reconnects (to another
        process) with ?resume=: the same caller, resumed, with their place in line."""
        first, second = await processes()
        issued = time.time()
        token = first.app[keys.TOKENS].issue(
            aud=CALLER_AUDIENCE, sub="v-away", scope=CALLER_SCOPE, ttl_s=1.0, now=issued
        )
        caller = await connect(first, token=token)
        await send(caller, "hello")
        resume = (await expect(caller, "welcome"))["resume_token"]
        await send(caller, "join_queue", category="general", language="zh")
        queued = await expect(caller, "queued")
        await caller.close()

        await asyncio.sleep(max(0.0, issued + 1.0 - time.time()) + 0.05)
        assert await refused_status(second, params={"token": token}) == 401  # it has expired

        back = await connect(second, token=token, resume=resume)
        await send(back, "hello", resume_token=resume)
        welcome = await expect(back, "welcome")
        assert welcome["resumed"] is True
        assert (await expect(back, "queued"))["session_id"] == queued["session_id"]
        await back.close()

    async def test_a_bad_or_staff_resume_token_admits_nobody(self, make_client: AppClient) -> None:
        """?resume= with a forged token, or an agent's resume token, is no identity: 401."""
        client = await make_client()
        agent = await connect(client, cookie=await signed_in(client, "law"))
        await send(agent, "hello")
        staff_resume = (await expect(agent, "welcome"))["resume_token"]
        await agent.close()
        for resume in ("forged.token", staff_resume):
            assert await refused_status(client, params={"resume": resume}) == 401

    async def test_a_resume_only_socket_must_resume(self, make_client: AppClient) -> None:
        """A socket admitted by ?resume= alone cannot say a plain hello (a fresh caller
        key would get around the caller-token quota); a room token joins no queue."""
        client = await make_client()
        caller = await connect(client, token=await caller_token(client))
        await send(caller, "hello")
        resume = (await expect(caller, "welcome"))["resume_token"]
        await caller.close()
        back = await connect(client, resume=resume)
        await send(back, "hello")
        assert (await expect(back, "error"))["code"] == "bad_token"
        await send(back, "hello", resume_token=resume)
        assert (await expect(back, "welcome"))["resumed"] is True
        await back.close()
        token = client.app[keys.TOKENS].issue(
            aud=ROOM_AUDIENCE, sub="v-party", scope="mediation-9", ttl_s=600, now=time.time()
        )
        party = await connect(client, token=token)
        await send(party, "hello")
        assert (await expect(party, "error"))["code"] == "not_allowed"
        await party.close()
