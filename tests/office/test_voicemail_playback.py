"""A voice message heard from its ticket (issue 8): the ticket carries the masked number
and a link to the recording; the file is served, audited, only to whom recordings.store
allows; past its retention ``hotline purge`` removes it and the ticket says so."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from cases import audit, callbacks
from cases.db import Database
from cases.models import Recording, RecordingFile, Role, Ticket, utcnow
from cases.retention import Retention, purge
from hotline import keys
from hotline.contact import CALLER_AUDIENCE, CALLER_SCOPE
from hotline.recordings_web import discard_voicemail
from media.bots import encode_opus_clip
from media.recording import RoomRecording
from recordings.store import (
    DISCARD_ACTION,
    READ_ACTION,
    READ_DENIED_ACTION,
    DatabaseRecordingSink,
)
from tests.app import AppClient, sign_in
from tests.office.helpers import add_session, add_user

SID = "S-vm1"
ROOM = f"V-{SID}"


async def _record(db: Database, recordings: Path, seconds: float = 1.0) -> str:
    """Record a voicemail room the way media does (media.recording, the database sink)."""
    recording = RoomRecording(ROOM, recordings, DatabaseRecordingSink(db), session_id=SID)
    recorder = recording.add("caller-v-x", kinds={"audio"})
    for index, (data, _) in enumerate(encode_opus_clip(seconds).frames):
        packet = av.Packet(data)
        packet.pts = index * 960
        packet.time_base = Fraction(1, 48000)
        recorder.write("audio", packet)
    (result,) = await recording.stop()
    return result.recording_id


@pytest.fixture
async def voicemail(seeded: Database, tmp_path: Path) -> dict[str, Any]:
    await add_user(seeded, "wu", Role.BACK_OFFICE)
    await add_session(seeded, SID, agent_user_id=None)
    recording_id = await _record(seeded, tmp_path / "recordings")
    async with seeded.session() as session:
        session.add(Ticket(kind="voicemail", session_id=SID, department="general", body="请回电"))
        await callbacks.store(
            session=session,
            seal=callbacks.NumberSeal("k" * 40),
            session_id=SID,
            number="13912345678",
            retention=timedelta(days=30),
        )
    return {"recording_id": recording_id, "url": f"/api/recordings/{recording_id}/files/0"}


async def _as(make_client: AppClient, username: str | None) -> TestClient:
    client = await make_client()
    if username is not None:
        assert await sign_in(client, username) == 303
    return client


async def _ticket(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/tickets")
    assert response.status == 200
    (ticket,) = [t for t in (await response.json())["tickets"] if t["kind"] == "voicemail"]
    return dict(ticket)


class TestTicket:
    async def test_the_ticket_carries_the_masked_number_and_the_voice(
        self, voicemail: dict[str, Any], make_client: AppClient
    ) -> None:
        """The voicemail ticket lists the number masked and its recording's address;
        the page shows an audio player for it."""
        client = await _as(make_client, "wu")
        ticket = await _ticket(client)
        assert ticket["caller_phone"] == "139****5678"
        assert ticket["recording"]["id"] == voicemail["recording_id"]
        assert ticket["recording"]["url"] == voicemail["url"]
        html = await (await client.get("/tickets")).text()
        assert f'src="{voicemail["url"]}"' in html
        assert "<audio controls" in html


async def _csrf(client: TestClient) -> dict[str, str]:
    html = await (await client.get("/tickets")).text()
    return {"X-CSRF-Token": html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]}


class TestCallBackNumber:
    async def test_the_back_office_is_shown_the_full_number_audited(
        self, voicemail: dict[str, Any], make_client: AppClient, seeded: Database
    ) -> None:
        """The list shows the number masked; the office working the ticket asks for it
        in full to call back, and each time it is audited (who, which ticket, masked)."""
        client = await _as(make_client, "wu")
        ticket = await _ticket(client)
        headers = await _csrf(client)
        response = await client.post(f"/api/tickets/{ticket['id']}/number", headers=headers)
        assert response.status == 200
        assert await response.json() == {"phone": "+8613912345678"}
        async with seeded.session() as session:
            (entry,) = await audit.recent(session=session, action="ticket.number_revealed")
        assert (entry.actor, entry.target) == ("wu", f"ticket:{ticket['id']}")
        assert entry.detail["number"] == "139****5678"
        assert "13912345678" not in str(entry.detail)
        html = await (await client.get("/tickets")).text()
        assert "data-reveal" in html
        assert "+8613912345678" not in html  # the page itself still shows it masked

    async def test_refused_to_others_without_a_number_and_once_done(
        self, voicemail: dict[str, Any], make_client: AppClient, seeded: Database
    ) -> None:
        """A lawyer is refused (403); no such ticket, or one with no number, is 404 in
        words; a done ticket's number is no longer shown (409); no CSRF token, 403."""
        await add_user(seeded, "li", Role.LAWYER)
        lawyer = await _as(make_client, "li")
        lawyer_page = await (await lawyer.get("/agent")).text()
        token = lawyer_page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        denied = await lawyer.post("/api/tickets/1/number", headers={"X-CSRF-Token": token})
        assert denied.status == 403
        client = await _as(make_client, "wu")
        ticket = await _ticket(client)
        headers = await _csrf(client)
        assert (await client.post(f"/api/tickets/{ticket['id']}/number")).status == 403
        for missing in ("99999", "x1", "1" * 13):
            response = await client.post(f"/api/tickets/{missing}/number", headers=headers)
            assert response.status == 404, missing
            assert (await response.json())["error"]
        async with seeded.session() as session:
            bare = Ticket(kind="complaint", department="supervisors", body="投诉")
            session.add(bare)
            await session.flush()
            bare_id = bare.id
        response = await client.post(f"/api/tickets/{bare_id}/number", headers=headers)
        assert response.status == 404
        assert "未留号码" in (await response.json())["error"]
        async with seeded.session() as session:
            await session.execute(
                update(Ticket).where(Ticket.id == ticket["id"]).values(status="done")
            )
        response = await client.post(f"/api/tickets/{ticket['id']}/number", headers=headers)
        assert response.status == 409
        async with seeded.session() as session:
            assert not await audit.recent(session=session, action="ticket.number_revealed")


class TestPlayback:
    async def test_back_office_hears_it_as_webm_opus_with_ranges(
        self, voicemail: dict[str, Any], make_client: AppClient, seeded: Database
    ) -> None:
        """200 audio/webm, the very bytes recorded, decodable; a range request is 206;
        never cached; the read is audited."""
        client = await _as(make_client, "wu")
        response = await client.get(voicemail["url"])
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/webm"
        assert "no-store" in response.headers["Cache-Control"]
        body = await response.read()
        async with seeded.session() as session:
            row = await session.scalar(select(RecordingFile))
        assert row is not None
        assert body == await asyncio.to_thread(Path(row.path).read_bytes)
        with av.open(row.path) as container:
            assert [s.type for s in container.streams] == ["audio"]
            assert container.streams.audio[0].codec_context.name == "opus"
        partial = await client.get(voicemail["url"], headers={"Range": "bytes=0-99"})
        assert partial.status == 206
        assert len(await partial.read()) == 100
        async with seeded.session() as session:
            reads = await audit.recent(session=session, action=READ_ACTION)
        assert {e.actor for e in reads} == {"wu"}

    async def test_who_may_not_hear_it(
        self, voicemail: dict[str, Any], make_client: AppClient, seeded: Database
    ) -> None:
        """A lawyer with no part in the session: 403 (audited). No staff session, or a
        caller's token: 401. A supervisor may. Unknown recordings and files: 404."""
        lawyer = await _as(make_client, "law")
        assert (await lawyer.get(voicemail["url"])).status == 403
        anonymous = await _as(make_client, None)
        assert (await anonymous.get(voicemail["url"], allow_redirects=False)).status == 401
        token = anonymous.server.app[keys.TOKENS].issue(
            aud=CALLER_AUDIENCE, sub="v-1", scope=CALLER_SCOPE, ttl_s=600, now=time.time()
        )
        bearer = await anonymous.get(
            voicemail["url"], headers={"Authorization": f"Bearer {token}"}, allow_redirects=False
        )
        assert bearer.status == 401
        assert (await anonymous.get(f"{voicemail['url']}?token={token}")).status == 401
        supervisor = await _as(make_client, "sup")
        assert (await supervisor.get(voicemail["url"])).status == 200
        for url in (
            f"/api/recordings/{voicemail['recording_id']}/files/1",
            f"/api/recordings/{voicemail['recording_id']}/files/x",
            "/api/recordings/no-such/files/0",
        ):
            assert (await supervisor.get(url)).status == 404, url
        async with seeded.session() as session:
            denied = await audit.recent(session=session, action=READ_DENIED_ACTION)
        assert "law" in {e.actor for e in denied}


class TestRetention:
    async def test_purge_removes_a_voicemail_recording_past_its_retention(
        self,
        voicemail: dict[str, Any],
        make_client: AppClient,
        seeded: Database,
        tmp_path: Path,
    ) -> None:
        """Recorded long ago: the purge deletes its file, manifest and rows; the open
        ticket stays, without a voice, and the address is 404."""
        old = utcnow() - timedelta(days=400)
        async with seeded.session() as session:
            await session.execute(update(Recording).values(started_at=old, ended_at=old))
            files = [Path(f.path) for f in await session.scalars(select(RecordingFile))]
        assert files
        assert all(f.exists() for f in files)
        retention = Retention(recordings_days=365, sessions_days=3650, tickets_days=3650)
        report = await purge(seeded, retention=retention, recording_dir=tmp_path / "recordings")
        assert report.counts["recordings"] == 1
        assert not any(f.exists() for f in files)
        client = await _as(make_client, "wu")
        ticket = await _ticket(client)
        assert ticket["recording"] is None
        assert ticket["body"] == "请回电"
        assert (await client.get(voicemail["url"])).status == 404


class TestDiscard:
    async def test_a_cancelled_message_is_deleted_and_audited(
        self,
        voicemail: dict[str, Any],
        make_client: AppClient,
        seeded: Database,
        tmp_path: Path,
    ) -> None:
        """signaling's discard hook deletes the voicemail room's recordings (files and
        rows), audits it, leaves other rooms alone; the ticket then shows no voice."""
        client = await _as(make_client, "wu")
        async with seeded.session() as session:
            files = [Path(f.path) for f in await session.scalars(select(RecordingFile))]
        with pytest.raises(ValueError, match="not a voicemail room"):
            await discard_voicemail(client.server.app, f"R-{SID}")
        assert all(await asyncio.gather(*(asyncio.to_thread(f.exists) for f in files)))
        await discard_voicemail(client.server.app, ROOM)
        assert not any(await asyncio.gather(*(asyncio.to_thread(f.exists) for f in files)))
        async with seeded.session() as session:
            assert list(await session.scalars(select(Recording))) == []
            entries = await audit.recent(session=session, action=DISCARD_ACTION)
        assert [(e.actor, e.detail["room"]) for e in entries] == [("caller", ROOM)]
        assert (await _ticket(client))["recording"] is None
        assert (await client.get(voicemail["url"])).status == 404
        await discard_voicemail(client.server.app, ROOM)  # nothing left: nothing to do
