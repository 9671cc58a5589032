"""A waiting caller's voice message end to end over /ws (run in a netns).

``python -m tests.media.scenarios voicemail_room`` runs ``voicemail_room``: the real
``create_app`` on a migrated SQLite database, nobody on duty. A caller joins the line
with a number, asks ``record_voicemail``, joins the ``voicemail_room`` it is granted with
an aiortc bot sending Opus (microphone only) and speaks; staff and another caller are
refused that room; a second ``record_voicemail`` is refused; ``request_voicemail``
``recorded`` sends it: the caller's ``ended`` comes only once the ticket exists, and the
room's recording is in the record, linked to the session, decodable audio. A second
caller's message runs into the (shortened) limit: the server stops the recording and
says so (``recording_limit``); that caller then cancels it, and the recording is deleted.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from sqlalchemy import select

from cases.models import Recording, Role, Ticket
from hotline import keys
from hotline.auth import SESSION_COOKIE
from hotline.contact import CALLER_AUDIENCE, CALLER_SCOPE
from media.bots import Bot, encode_opus_clip
from tests.app import PASSWORD
from tests.media.room_signaling import WsBot, _until, serve_app


def _audio(path: str) -> dict[str, Any]:
    """What PyAV finds in a recorded file: its streams, decoded audio and duration."""
    with av.open(path) as container:
        streams = [s.type for s in container.streams]
        audio = container.streams.audio[0]
        samples = 0
        last = 0.0
        for packet in container.demux(audio):
            for frame in packet.decode():
                samples += frame.samples
                if frame.time is not None:
                    last = max(last, frame.time)
        return {
            "streams": streams,
            "codec": audio.codec_context.name,
            "decoded_s": samples / 48000,
            "last_frame_s": last,
        }


def _any_exists(paths: list[str]) -> bool:
    return any(Path(path).exists() for path in paths)


async def voicemail_room(seconds: float = 2.0, limit_s: float = 1.5) -> dict[str, Any]:
    served = await serve_app(
        username="law", display_name="李律师", role=Role.LAWYER, skills={"general": 3}
    )
    app, db, base = served.app, served.db, served.base
    cookie, _ = await app[keys.AUTH].sign_in(username="law", password=PASSWORD, remote="127.0.0.1")

    def token(sub: str) -> str:
        return app[keys.TOKENS].issue(
            aud=CALLER_AUDIENCE, sub=sub, scope=CALLER_SCOPE, ttl_s=600, now=time.time()
        )

    audio = encode_opus_clip()
    http = aiohttp.ClientSession()
    caller = WsBot(
        Bot("caller", video=None, audio=audio),
        await http.ws_connect(f"{base}/ws", params={"token": token("v-caller")}),
    )
    other = WsBot(
        Bot("other", video=None, audio=audio),
        await http.ws_connect(f"{base}/ws", params={"token": token("v-other")}),
    )
    lawyer = WsBot(
        Bot("lawyer", video=None, audio=audio),
        await http.ws_connect(f"{base}/ws", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}),
    )
    result: dict[str, Any] = {}
    try:
        await caller.send(type="hello")
        await caller.send(type="join_queue", category="general", language="zh", phone="13812345678")
        await _until(lambda: caller.last("queued") is not None, "queued")
        await caller.send(type="request_voicemail", recorded=True)
        await _until(lambda: caller.last("error") is not None, "unrecorded message refused")
        result["send_unrecorded"] = caller.last("error")
        await caller.send(type="record_voicemail")
        await _until(lambda: caller.last("voicemail_room") is not None, "voicemail room granted")
        granted = caller.last("voicemail_room")
        assert granted is not None
        result["granted"] = granted
        room, session_id = granted["room"], granted["session_id"]
        await caller.send(type="record_voicemail")
        await _until(
            lambda: [m for m in caller.received if m["type"] == "error"][1:] != [],
            "second recording refused",
        )
        result["record_twice"] = caller.last("error")

        await lawyer.send(type="hello")
        await lawyer.send(type="record_voicemail")
        await _until(lambda: lawyer.last("error") is not None, "an agent's voicemail refused")
        result["agent_record"] = lawyer.last("error")

        await caller.join(room)
        await asyncio.wait_for(caller.joined.wait(), 15)
        result["participant"] = caller.participant
        for bot in (lawyer, other):  # staff and another caller: not their room
            await bot.join(room)
            await asyncio.wait_for(bot.joined.wait(), 15)
        result["refused"] = {
            "lawyer": lawyer.last("room_error"),
            "other": other.last("room_error"),
        }
        await _until(
            lambda: any(
                m["type"] == "room_notice" and m["notice"] == "recording" for m in caller.received
            ),
            "told it is recorded",
        )
        await asyncio.sleep(seconds)  # the caller speaks
        await caller.send(type="request_voicemail", recorded=True, message="工资拖欠，请回电")
        await _until(lambda: caller.last("ended") is not None, "message taken")
        async with db.session() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.session_id == session_id))
            result["ticket_when_told"] = (
                None if ticket is None else {"kind": ticket.kind, "body": ticket.body}
            )
            recording = await session.scalar(select(Recording).where(Recording.room_id == room))
            assert recording is not None
            files = [f.path for f in recording.files]
            result["recording"] = {
                "session_id": recording.session_id,
                "participants": [f.participant for f in recording.files],
                "sizes": [f.size_bytes for f in recording.files],
            }
        result["ended"] = caller.last("ended")
        result["left"] = caller.last("room_left")
        result["audio"] = [_audio(path) for path in files]
        result["inside_data_dir"] = all(
            Path(path).is_relative_to(app[keys.SETTINGS].data_dir) for path in files
        )
        await caller.send(type="request_voicemail", message="again")
        await _until(lambda: caller.last("error") != result["record_twice"], "second refused")
        result["second_message"] = caller.last("error")

        # A message that runs into its limit (shortened here; 120 s in service).
        app[keys.ROOMS].recording_limit_s = limit_s
        await other.send(type="hello")
        await other.send(type="join_queue", category="general", language="zh")
        await other.send(type="record_voicemail")
        await _until(lambda: other.last("voicemail_room") is not None, "second room granted")
        other_room = other.last("voicemail_room")
        assert other_room is not None
        other.joined.clear()
        await other.join(other_room["room"])
        await asyncio.wait_for(other.joined.wait(), 15)
        started = time.monotonic()
        await _until(
            lambda: any(
                m["type"] == "room_notice" and m["notice"] == "recording_limit"
                for m in other.received
            ),
            "told the limit is reached",
            within=limit_s + 10,
        )
        result["limit_after_s"] = time.monotonic() - started
        async with db.session() as session:
            capped = await session.scalar(
                select(Recording).where(Recording.room_id == other_room["room"])
            )
            result["capped_stored"] = capped is not None and capped.ended_at is not None
            capped_files = [f.path for f in capped.files] if capped is not None else []
        result["capped_audio"] = [_audio(path) for path in capped_files]
        result["still_in_room"] = other_room["room"] in app[keys.MEDIA].rooms

        # The caller cancels it: taken out of the room, the recording deleted.
        await other.send(type="cancel_voicemail")
        await _until(lambda: other.last("room_left") is not None, "taken out on cancel")
        await other.send(type="ping", nonce="after-cancel")
        await _until(lambda: other.last("pong") is not None, "cancel carried out")
        async with db.session() as session:
            gone = await session.scalar(
                select(Recording).where(Recording.room_id == other_room["room"])
            )
        result["cancelled"] = {
            "row_gone": gone is None,
            "files_gone": not await asyncio.to_thread(_any_exists, capped_files),
            "room_closed": other_room["room"] not in app[keys.MEDIA].rooms,
        }
    finally:
        for bot in (caller, other, lawyer):
            await bot.close()
        await http.close()
        await served.close()
    return result
