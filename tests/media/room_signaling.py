"""The whole application serving a room over its WebSocket to aiortc bots (run in a netns).

``python -m tests.media.scenarios ws_room`` runs ``ws_room``: the real ``create_app`` on
a migrated SQLite database, a signed-in mediator and a party holding a room token for the
room join through ``/ws`` with ``join_room``, answer the server's ``room_offer``s, record,
mute and leave; a second caller whose token is for another room is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from cases import migrate, staff
from cases.db import Database
from cases.models import Recording, Role
from hotline import keys
from hotline.app import create_app
from hotline.auth import SESSION_COOKIE, hash_password
from hotline.contact import ROOM_AUDIENCE
from media.bots import Bot, encode_opus_clip, encode_vp8_clip
from tests.app import PASSWORD, make_settings

ROOM = "mediation-1"


class WsBot:
    """An aiortc bot speaking the room protocol over the application's WebSocket."""

    def __init__(
        self, bot: Bot, ws: aiohttp.ClientWebSocketResponse, *, bad_answers: bool = False
    ) -> None:
        self.bot = bot
        self.ws = ws
        self.bad_answers = bad_answers  # answer re-offers with an unusable SDP
        self.received: list[dict[str, Any]] = []
        self.participant: str | None = None
        self.joined = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"ws-bot {bot.name}")

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps({"v": 1, **message}))

    async def join(self, room: str) -> None:
        await self.send(type="join_room", room=room, sdp=await self.bot.offer())

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            kind = message["type"]
            self.received.append(
                {k: v for k, v in message.items() if k != "sdp"} | {"has_sdp": "sdp" in message}
            )
            if kind == "room_joined":
                self.participant = message["participant"]
                await self.bot.accept_answer(message["sdp"])
                self.joined.set()
            elif kind == "room_offer":
                if self.bad_answers:
                    answer = "v=0\r\n"
                else:
                    answer = await self.bot.renegotiate(message["sdp"])
                await self.send(
                    type="room_answer", room=message["room"], seq=message["seq"], sdp=answer
                )
            elif kind == "room_error" and message.get("ref") == "join_room":
                self.joined.set()

    def types(self) -> list[str]:
        return [m["type"] for m in self.received]

    def last(self, kind: str) -> dict[str, Any] | None:
        found = [m for m in self.received if m["type"] == kind]
        return found[-1] if found else None

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.bot.close()


async def _until(check: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


@dataclass
class ServedApp:
    """The whole application on a loopback port, with a fresh SQLite database."""

    app: web.Application
    runner: web.AppRunner
    db: Database
    base: str

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.db.close()


async def serve_app(
    *, username: str, display_name: str, role: Role, skills: dict[str, int]
) -> ServedApp:
    """Migrate a fresh database with one member of staff and serve the app on it."""
    directory = Path(tempfile.mkdtemp())
    database_url = f"sqlite:///{directory / 'hotline.sqlite3'}"
    await migrate.upgrade(database_url)
    db = Database(database_url)
    async with db.session() as session:
        await staff.create_user(
            session=session,
            username=username,
            display_name=display_name,
            password_hash=hash_password(PASSWORD),
            roles=[role],
            skills=skills,
        )
    app = await create_app(make_settings(database_url, directory))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return ServedApp(app, runner, db, f"http://127.0.0.1:{port}")


async def ws_room(seconds: float = 1.5) -> dict[str, Any]:
    served = await serve_app(
        username="med", display_name="Mediator", role=Role.MEDIATOR, skills={"mediation_intake": 4}
    )
    app, db, base = served.app, served.db, served.base
    session_id, _ = await app[keys.AUTH].sign_in(
        username="med", password=PASSWORD, remote="127.0.0.1"
    )

    def token(sub: str, room: str) -> str:
        return app[keys.TOKENS].issue(
            aud=ROOM_AUDIENCE, sub=sub, scope=room, ttl_s=600, now=time.time()
        )

    video, audio = encode_vp8_clip(320, 240, 30), encode_opus_clip()
    http = aiohttp.ClientSession()
    mediator = WsBot(
        Bot("mediator", video=video, audio=audio),
        await http.ws_connect(f"{base}/ws", headers={"Cookie": f"{SESSION_COOKIE}={session_id}"}),
    )
    party = WsBot(
        Bot("party", video=video, audio=audio),
        await http.ws_connect(f"{base}/ws", params={"token": token("v-party", ROOM)}),
    )
    intruder = WsBot(
        Bot("intruder", video=video, audio=audio),
        await http.ws_connect(f"{base}/ws", params={"token": token("v-intruder", "other")}),
    )
    flaky = WsBot(
        Bot("flaky", video=video, audio=audio),
        await http.ws_connect(f"{base}/ws", params={"token": token("v-flaky", ROOM)}),
        bad_answers=True,
    )
    result: dict[str, Any] = {}
    try:
        for bot in (mediator, party, intruder):
            await bot.join(ROOM)
            await asyncio.wait_for(bot.joined.wait(), 15)
        me, pa = mediator.participant, party.participant
        assert me is not None
        assert pa is not None
        result["participants"] = [me, pa]
        result["intruder"] = intruder.last("room_error")

        await _until(
            lambda: min(mediator.bot.received(pa, "video"), party.bot.received(me, "video")) > 20,
            "media flowing both ways",
        )
        # A participant whose answers media cannot use is dropped, and told so.
        await flaky.join(ROOM)
        await asyncio.wait_for(flaky.joined.wait(), 15)
        await _until(lambda: "room_left" in flaky.types(), "flaky participant dropped")
        result["flaky_types"] = flaky.types()
        result["after_flaky"] = sorted(app[keys.MEDIA].get(ROOM).participants)

        await mediator.send(type="set_recording", room=ROOM, on=True)
        await _until(
            lambda: all("recording_started" in b.types() for b in (mediator, party)),
            "recording announced",
        )
        await asyncio.sleep(seconds)

        marks = {"audio": mediator.bot.received(pa, "audio")}
        await mediator.send(type="mute", room=ROOM, participant=pa, kind="audio", muted=True)
        await _until(lambda: party.last("muted") is not None, "mute announced")
        await asyncio.sleep(0.3)
        marks["muted_start"] = mediator.bot.received(pa, "audio")
        await asyncio.sleep(0.7)
        marks["muted_end"] = mediator.bot.received(pa, "audio")
        await party.send(type="mute", room=ROOM, participant=pa, kind="audio", muted=False)
        await party.send(type="mute", room=ROOM, participant=me, kind="video", muted=True)
        await _until(lambda: party.types().count("room_error") >= 2, "party refused twice")
        result["party_errors"] = [m for m in party.received if m["type"] == "room_error"]
        result["mute_notices"] = [m for m in mediator.received if m["type"] == "muted"]
        result["marks"] = marks

        await mediator.send(type="set_recording", room=ROOM, on=False)
        await _until(
            lambda: all("recording_stopped" in b.types() for b in (mediator, party)),
            "recording stopped",
        )
        async with db.session() as session:
            recording = await session.scalar(select(Recording))
            assert recording is not None
            files = {
                f.participant: {"sha256": f.sha256, "size": f.size_bytes, "path": f.path}
                for f in recording.files
            }
        for info in files.values():
            data = await asyncio.to_thread(Path(info["path"]).read_bytes)
            info["real_sha256"] = hashlib.sha256(data).hexdigest()
            info["real_size"] = len(data)
        result["recording"] = {"room": recording.room_id, "files": files}

        offers_before = mediator.types().count("room_offer")
        await party.send(type="leave_room", room=ROOM)
        await _until(lambda: "room_left" in party.types(), "party left")
        result["after_leave"] = app[keys.MEDIA].get(ROOM).describe()
        await asyncio.sleep(0.5)
        result["mediator_reoffered_after_leave"] = mediator.types().count("room_offer") > (
            offers_before
        )
        await mediator.close()
        await _until(lambda: ROOM not in app[keys.MEDIA].rooms, "room closed when empty")
        result["room_closed"] = True
        metrics = await (await http.get(f"{base}/metrics")).text()
        result["metrics_rooms"] = [
            line for line in metrics.splitlines() if line.startswith("hotline_media_rooms{")
        ]
        result["mediator_roster"] = [
            (m["type"], m["participant"], m.get("role"))
            for m in mediator.received
            if m["type"] in ("participant_joined", "participant_left")
        ]
        result["mediator_types"] = mediator.types()
        result["party_types"] = party.types()
    finally:
        for bot in (mediator, party, intruder, flaky):
            await bot.close()
        await http.close()
        await served.close()
    return result
