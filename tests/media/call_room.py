"""A hotline call's room end to end over the application's /ws (run in a netns).

``python -m tests.media.scenarios call_room`` runs ``call_room``: the real
``create_app`` on a migrated SQLite database; a lawyer signs in, a caller holding a
caller token joins the queue, the lawyer accepts, and both join the room ``connected``
names (``R-<session>``) with aiortc bots. The room records from the first join; the
lawyer puts the caller on hold and back; stopping the recording is refused; ending the
call closes the room and its recording lands in the database linked to the session.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from sqlalchemy import select

from cases.models import Recording, Role
from hotline import keys
from hotline.auth import SESSION_COOKIE
from hotline.contact import CALLER_AUDIENCE, CALLER_SCOPE
from media.bots import Bot, encode_opus_clip, encode_vp8_clip
from tests.app import PASSWORD
from tests.media.room_signaling import WsBot, _until, serve_app


async def _quiet(
    bot: WsBot, source: str, seconds: float = 0.7, kind: str = "audio"
) -> tuple[int, int]:
    """Frames of ``kind`` ``bot`` received from ``source`` at the start and end of a pause."""
    await asyncio.sleep(0.3)  # what was in flight when the routes changed
    start = bot.bot.received(source, kind)
    await asyncio.sleep(seconds)
    return start, bot.bot.received(source, kind)


async def call_room(seconds: float = 1.0) -> dict[str, Any]:
    served = await serve_app(
        username="law", display_name="李律师", role=Role.LAWYER, skills={"general": 3}
    )
    app, db, base = served.app, served.db, served.base
    cookie, _ = await app[keys.AUTH].sign_in(username="law", password=PASSWORD, remote="127.0.0.1")
    token = app[keys.TOKENS].issue(
        aud=CALLER_AUDIENCE, sub="v-caller", scope=CALLER_SCOPE, ttl_s=600, now=time.time()
    )
    video, audio = encode_vp8_clip(320, 240, 30), encode_opus_clip()
    http = aiohttp.ClientSession()
    agent = WsBot(
        Bot("agent", video=video, audio=audio),
        await http.ws_connect(f"{base}/ws", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}),
    )
    caller = WsBot(
        Bot("caller", video=video, audio=audio),
        await http.ws_connect(f"{base}/ws", params={"token": token}),
    )
    result: dict[str, Any] = {}
    try:
        await agent.send(type="hello")
        await agent.send(type="presence", state="available")
        await caller.send(type="hello")
        await caller.send(type="join_queue", category="general", language="zh")
        await _until(lambda: agent.last("offer") is not None, "the call offered")
        offer = agent.last("offer")
        assert offer is not None
        await agent.send(type="accept", offer_id=offer["offer_id"])
        await _until(lambda: all(b.last("connected") for b in (agent, caller)), "both connected")
        connected = caller.last("connected")
        assert connected is not None
        room, session_id = connected["room"], connected["session_id"]
        result["room"], result["session_id"] = room, session_id

        for bot in (agent, caller):
            await bot.join(room)
            await asyncio.wait_for(bot.joined.wait(), 15)
        ag, ca = agent.participant, caller.participant
        assert ag is not None
        assert ca is not None
        result["participants"] = {"agent": ag, "caller": ca}
        await _until(
            lambda: min(agent.bot.received(ca, "audio"), caller.bot.received(ag, "audio")) > 20,
            "audio flowing both ways",
        )
        result["joined"] = {
            name: sorted(
                (m["participant"], m["role"], m["name"])
                for m in bot.received
                if m["type"] == "participant_joined"
            )
            for name, bot in (("agent", agent), ("caller", caller))
        }
        result["rising"] = await _quiet(caller, ag, seconds)

        await caller.send(type="hold", room=room, on=True)
        await _until(lambda: caller.last("room_error") is not None, "caller's hold refused")
        result["caller_hold"] = caller.last("room_error")

        await agent.send(type="hold", room=room, on=True)
        await _until(
            lambda: all(
                any(m["type"] == "room_notice" and m["notice"] == "on_hold" for m in b.received)
                for b in (agent, caller)
            ),
            "hold told",
        )
        held_in, held_out = await asyncio.gather(_quiet(caller, ag, seconds), _quiet(agent, ca))
        result["held"] = {"caller_from_agent": held_in, "agent_from_caller": held_out}

        await agent.send(type="hold", room=room, on=False)
        await _until(
            lambda: any(
                m["type"] == "room_notice" and m["notice"] == "resumed" for m in caller.received
            ),
            "resume told",
        )
        result["resumed"], result["resumed_video"] = await asyncio.gather(
            _quiet(caller, ag, seconds), _quiet(caller, ag, seconds, "video")
        )

        await agent.send(type="set_recording", room=room, on=False)
        await _until(lambda: agent.last("room_error") is not None, "stop refused")
        result["stop_recording"] = agent.last("room_error")
        result["recording_while_held"] = app[keys.MEDIA].get(room).describe()["recording"]

        await agent.send(type="end", session_id=session_id)
        await _until(lambda: room not in app[keys.MEDIA].rooms, "the call's room closed")
        result["room_closed"] = True

        async def stored() -> Recording | None:
            async with db.session() as session:
                return await session.scalar(select(Recording).where(Recording.room_id == room))

        row: Recording | None = None
        for _ in range(100):
            row = await stored()
            if row is not None and len(row.files) == 2:
                break
            await asyncio.sleep(0.1)
        assert row is not None
        result["recording"] = {
            "room": row.room_id,
            "session_id": row.session_id,
            "participants": sorted(f.participant for f in row.files),
        }
        result["agent_types"] = agent.types()
        result["caller_types"] = caller.types()
        result["notices"] = {
            name: [m for m in bot.received if m["type"] == "room_notice"]
            for name, bot in (("agent", agent), ("caller", caller))
        }
    finally:
        for bot in (agent, caller):
            await bot.close()
        await http.close()
        await served.close()
    return result
