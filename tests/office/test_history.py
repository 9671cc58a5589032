"""The duty lawyer's own sessions (``/agent/history``) and the recordings linked there."""

from __future__ import annotations

from sqlalchemy import select

from cases.db import Database
from cases.models import AuditEntry
from tests.app import AppClient, sign_in


async def _audit(db: Database) -> list[tuple[str, str, str]]:
    async with db.session() as session:
        rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(r.actor, r.action, r.target) for r in rows if r.action.startswith("recording.")]


class TestHistoryPage:
    async def test_the_agent_sees_only_their_own_sessions_labelled(
        self, calls: Database, make_client: AppClient
    ) -> None:
        """wang's page lists S-1 and S-3, newest first, in Chinese labels (never codes),
        and not li's S-2; the desk header links to it."""
        client = await make_client()
        assert await sign_in(client, "wang") == 303
        desk = await (await client.get("/agent")).text()
        assert 'href="/agent/history"' in desk
        response = await client.get("/agent/history")
        assert response.status == 200
        html = await response.text()
        assert html.index('data-session="S-1"') < html.index('data-session="S-3"')
        assert 'data-session="S-2"' not in html
        for shown in ("劳动", "法律援助", "视频", "石门镇", "4:05", "我的接听记录"):
            assert shown in html, shown
        for code in ("labour_wages", "referred_legal_aid", "web_video", "T-01", "answered"):
            assert f">{code}<" not in html
        assert html.count('data-testid="recording-link"') == 1
        assert 'href="/recordings/R-1/1"' in html

    async def test_who_may_open_it(self, calls: Database, make_client: AppClient) -> None:
        """Anonymous visitors and callers are sent to sign in (401 as JSON); staff who
        take no calls are refused (403)."""
        anonymous = await make_client()
        page = await anonymous.get("/agent/history", allow_redirects=False)
        assert page.status == 303
        assert page.headers["Location"].startswith("/signin")
        as_json = await anonymous.get("/agent/history", headers={"Accept": "application/json"})
        assert as_json.status == 401
        token = (await (await anonymous.post("/api/caller/token")).json())["token"]
        caller = await anonymous.get(
            "/agent/history",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        assert caller.status == 401
        back = await make_client()
        assert await sign_in(back, "wu") == 303
        assert (await back.get("/agent/history")).status == 403


class TestRecordingLinks:
    async def test_own_recording_plays_anothers_is_refused_both_audited(
        self, calls: Database, make_client: AppClient
    ) -> None:
        """wang opens his call's recording (the file, audited as a read); li's recording
        is 403 for him (audited as refused); unknown recordings and parts are 404; the
        supervisor may read any."""
        client = await make_client()
        assert await sign_in(client, "wang") == 303
        own = await client.get("/recordings/R-1/1")
        assert own.status == 200
        assert await own.read() == b"webm R-1"
        assert own.headers["Content-Type"] == "video/webm"
        assert (await client.get("/recordings/R-2/1")).status == 403
        assert (await client.get("/recordings/R-9/1")).status == 404
        assert (await client.get("/recordings/R-1/2")).status == 404
        assert (await client.get("/recordings/R-1/x")).status == 404
        supervisor = await make_client()
        assert await sign_in(supervisor, "sup") == 303
        assert (await supervisor.get("/recordings/R-2/1")).status == 200
        anonymous = await make_client()
        refused = await anonymous.get("/recordings/R-1/1", headers={"Accept": "application/json"})
        assert refused.status == 401
        assert await _audit(calls) == [
            ("wang", "recording.read", "recording:R-1"),
            ("wang", "recording.read_denied", "recording:R-2"),
            ("wang", "recording.read_denied", "recording:R-9"),
            ("wang", "recording.read", "recording:R-1"),
            ("wang", "recording.read", "recording:R-1"),
            ("sup", "recording.read", "recording:R-2"),
        ]
