"""Two application processes' worth of ``create_app`` on one Redis, one room between them.

``python -m tests.media.scenarios two_node_room '{"redis_socket": …, "prefix": …}'``
runs ``two_node_room``: apps A and B share a migrated SQLite database and a Redis
(reached through a Unix socket the test forwards to it, and a TCP port in the namespace
forwarded to that socket). A mediator's socket is on
A and an invited party's on B; both join one room through ``/ws``. The room lives on
one node only (its home), the other's messages are forwarded there, and the aiortc
bots exchange media with the home directly. Quality figures are asked for by the
mediator, by the party (refused) and by a supervisor on the node that is not the home.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from cases import migrate, staff
from cases.db import Database
from cases.models import Role
from hotline import keys
from hotline.app import create_app
from hotline.auth import SESSION_COOKIE, hash_password
from hotline.contact import ROOM_AUDIENCE
from media.bots import Bot, encode_opus_clip, encode_vp8_clip
from tests.app import PASSWORD, make_settings
from tests.media.room_signaling import WsBot, _until

ROOM = "mediation-9"


class Watcher:
    """A socket that joins no room and keeps what it is sent (the supervisor)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read(), name="watcher")

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            self.received.append(json.loads(frame.data))

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def _stats(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "room_stats"]


async def two_node_room(redis_socket: str, prefix: str, db: int = 0) -> dict[str, Any]:
    # Inside the namespace, a TCP port on its loopback forwarded to the outside Redis's
    # Unix socket: the apps see an ordinary redis:// URL.
    port = _free_port()
    forwarder = await asyncio.create_subprocess_exec(
        "socat",
        f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
        f"UNIX-CONNECT:{redis_socket}",
    )
    try:
        await _until(lambda: _listening(port), "the Redis forwarder", within=5)
        return await _two_node_room(f"redis://127.0.0.1:{port}/{db}", prefix)
    finally:
        forwarder.terminate()
        await forwarder.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _two_node_room(redis_url: str, prefix: str) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp())
    database_url = f"sqlite:///{directory / 'hotline.sqlite3'}"
    await migrate.upgrade(database_url)
    db = Database(database_url)
    async with db.session() as session:
        for username, role in (("med", Role.MEDIATOR), ("sup", Role.SUPERVISOR)):
            await staff.create_user(
                session=session,
                username=username,
                display_name=username.upper(),
                password_hash=hash_password(PASSWORD),
                roles=[role],
                skills={"mediation_intake": 4} if role is Role.MEDIATOR else None,
            )
    env = {"REDIS_URL": redis_url, "HOTLINE_REDIS_PREFIX": prefix}
    apps: dict[str, web.Application] = {}
    runners: list[web.AppRunner] = []
    bases: dict[str, str] = {}
    for name in ("A", "B"):
        app = await create_app(make_settings(database_url, directory / name, **env))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        apps[name], bases[name] = app, f"http://127.0.0.1:{port}"
        runners.append(runner)

    async def cookie(name: str, username: str) -> dict[str, str]:
        session_id, _ = await apps[name][keys.AUTH].sign_in(
            username=username, password=PASSWORD, remote="127.0.0.1"
        )
        return {"Cookie": f"{SESSION_COOKIE}={session_id}"}

    # A is busier (one room open) by the time the mediator opens the room: it goes to B,
    # so the mediator's socket on A reaches its room on B through forwarding.
    apps["A"][keys.MEDIA].create_room("busy")
    placed = apps["A"][keys.PLACED_ROOMS]
    a_id = placed.node_id

    async def a_looks_busy() -> bool:
        nodes, _ = await placed.nodes.nodes()
        return any(n.node == a_id and n.rooms == 1 for n in nodes)

    deadline = time.monotonic() + 5
    while not await a_looks_busy():
        assert time.monotonic() < deadline, "A's heartbeat never showed its room"
        await asyncio.sleep(0.1)

    def token(sub: str, room: str) -> str:
        return apps["B"][keys.TOKENS].issue(
            aud=ROOM_AUDIENCE, sub=sub, scope=room, ttl_s=600, now=time.time()
        )

    video, audio = encode_vp8_clip(320, 240, 30), encode_opus_clip()
    http = aiohttp.ClientSession()
    mediator = WsBot(
        Bot("mediator", video=video, audio=audio),
        await http.ws_connect(f"{bases['A']}/ws", headers=await cookie("A", "med")),
    )
    party = WsBot(
        Bot("party", video=video, audio=audio),
        await http.ws_connect(f"{bases['B']}/ws", params={"token": token("v-party", ROOM)}),
    )
    # A caller on A whose token is for another room: refused by the home, on B.
    intruder = WsBot(
        Bot("intruder", video=video, audio=audio),
        await http.ws_connect(f"{bases['A']}/ws", params={"token": token("v-x", "other")}),
    )
    watcher: Watcher | None = None
    result: dict[str, Any] = {}
    try:
        for bot in (mediator, party):
            await bot.join(ROOM)
            await asyncio.wait_for(bot.joined.wait(), 20)
        me, pa = mediator.participant, party.participant
        assert me is not None, mediator.received
        assert pa is not None, party.received
        homes = [name for name, app in apps.items() if ROOM in app[keys.MEDIA].rooms]
        result["homes"] = homes
        home = homes[0]
        result["home_participants"] = sorted(apps[home][keys.MEDIA].get(ROOM).participants)
        await intruder.join(ROOM)
        await asyncio.wait_for(intruder.joined.wait(), 20)
        result["intruder_error"] = intruder.last("room_error")
        result["directory_home"] = await placed.nodes.home(ROOM)
        result["node_ids"] = {name: app[keys.PLACED_ROOMS].node_id for name, app in apps.items()}

        await _until(
            lambda: (
                min(mediator.bot.received(pa, "video"), party.bot.received(me, "video")) > 20
                and min(mediator.bot.received(pa, "audio"), party.bot.received(me, "audio")) > 20
            ),
            "media flowing both ways across nodes",
            within=20,
        )
        result["received"] = {
            "mediator_from_party": {k: mediator.bot.received(pa, k) for k in ("audio", "video")},
            "party_from_mediator": {k: party.bot.received(me, k) for k in ("audio", "video")},
        }
        # The bots' ICE peer is the home's media: their remote candidates are its addresses.
        result["party_offers"] = party.types().count("room_offer")
        result["mediator_offers"] = mediator.types().count("room_offer")

        # Quality: the mediator asks twice (bitrates need two samples).
        await mediator.send(type="get_room_stats", room=ROOM)
        await _until(lambda: len(_stats(mediator.received)) >= 2, "first stats")
        await asyncio.sleep(1.0)
        await mediator.send(type="get_room_stats", room=ROOM)
        await _until(lambda: len(_stats(mediator.received)) >= 4, "second stats")
        result["mediator_stats"] = _stats(mediator.received)

        await party.send(type="get_room_stats", room=ROOM)
        await _until(lambda: party.last("room_error") is not None, "party refused stats")
        result["party_stats_error"] = party.last("room_error")

        other = "B" if home == "A" else "A"
        result["supervisor_node"] = other
        watcher = Watcher(
            await http.ws_connect(f"{bases[other]}/ws", headers=await cookie(other, "sup"))
        )
        await watcher.ws.send_str(json.dumps({"v": 1, "type": "get_room_stats", "room": ROOM}))
        await _until(lambda: len(_stats(watcher.received)) >= 2, "supervisor stats")
        result["supervisor_stats"] = _stats(watcher.received)

        # A forwarded notice: the mediator mutes the party; both sockets are told.
        await mediator.send(type="mute", room=ROOM, participant=pa, kind="audio", muted=True)
        await _until(
            lambda: party.last("muted") is not None and mediator.last("muted") is not None,
            "mute announced on both nodes",
        )
        result["party_muted"] = party.last("muted")

        await party.send(type="leave_room", room=ROOM)
        await _until(lambda: "room_left" in party.types(), "party left")
        await _until(
            lambda: sorted(apps[home][keys.MEDIA].get(ROOM).participants) == [me],
            "party gone from the home",
        )
        await mediator.close()
        await _until(lambda: ROOM not in apps[home][keys.MEDIA].rooms, "room closed when empty")
        await asyncio.sleep(0.2)
        result["directory_after_close"] = await placed.nodes.home(ROOM)
        result["mediator_types"] = mediator.types()
        result["party_types"] = party.types()
    finally:
        if watcher is not None:
            await watcher.close()
        for bot in (mediator, party, intruder):
            await bot.close()
        await http.close()
        for runner in runners:
            await runner.cleanup()
        await db.close()
    return result
