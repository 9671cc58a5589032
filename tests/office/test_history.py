"""The duty lawyer's own sessions (``/agent/history``) and the recordings linked there."""

from __future__ import annotations

import time

from sqlalchemy import select

from cases.db import Database
from cases.models import AuditEntry, SessionRecord
from hotline import keys
from hotline.history import HISTORY_HEADER, history_pass
from tests.app import AppClient, sign_in

NUMBER = "tel:0123456789abcdef01234567"


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
        assert 'href="/api/recordings/R-1/files/0"' in html

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
        """The link on wang's page plays his call's recording (audited as a read); li's
        recording is 403 for him (audited as refused); unknown recordings and parts are
        404; the supervisor may read any."""
        client = await make_client()
        assert await sign_in(client, "wang") == 303
        own = await client.get("/api/recordings/R-1/files/0")
        assert own.status == 200
        assert await own.read() == b"webm R-1"
        assert own.headers["Content-Type"] == "video/webm"
        assert (await client.get("/api/recordings/R-2/files/0")).status == 403
        assert (await client.get("/api/recordings/R-9/files/0")).status == 404
        assert (await client.get("/api/recordings/R-1/files/1")).status == 404
        supervisor = await make_client()
        assert await sign_in(supervisor, "sup") == 303
        assert (await supervisor.get("/api/recordings/R-2/files/0")).status == 200
        anonymous = await make_client()
        refused = await anonymous.get("/api/recordings/R-1/files/0")
        assert refused.status == 401
        assert await _audit(calls) == [
            ("wang", "recording.read", "recording:R-1"),
            ("wang", "recording.read_denied", "recording:R-2"),
            ("wang", "recording.read_denied", "recording:R-9"),
            ("wang", "recording.read", "recording:R-1"),
            ("sup", "recording.read", "recording:R-2"),
        ]


class TestEarlierSessions:
    """``GET /api/sessions/{id}/earlier``: only with the pass the agent's offer brought."""

    async def _numbered(self, db: Database) -> None:
        # S-1 (wang's) and S-3 came from the number of the live call S-live; S-2 did not.
        async with db.session() as session:
            for sid, caller in (("S-1", NUMBER), ("S-2", "tel:someoneelse"), ("S-3", NUMBER)):
                row = await session.get(SessionRecord, sid)
                assert row is not None
                row.detail = {**row.detail, "caller": caller}

    async def test_the_offered_agent_sees_the_numbers_earlier_sessions(
        self, calls: Database, make_client: AppClient
    ) -> None:
        """With the pass: the number's sessions other than this one, newest first, by
        whom (display names) and how they were closed; no number, no key, on screen."""
        await self._numbered(calls)
        client = await make_client()
        assert await sign_in(client, "li") == 303
        token = history_pass(client.app, "S-live", "li", NUMBER, 20.0)
        response = await client.get("/api/sessions/S-live/earlier", headers={HISTORY_HEADER: token})
        assert response.status == 200
        body = await response.json()
        assert [(s["id"], s["agent"], s["disposition"]) for s in body["sessions"]] == [
            ("S-1", "WANG", "referred_legal_aid"),
            ("S-3", "WANG", None),
        ]
        assert body["sessions"][0]["category"] == "labour_wages"
        assert NUMBER not in await response.text()
        # the pass of another session lists that session's earlier ones, never itself
        own = history_pass(client.app, "S-1", "li", NUMBER, 20.0)
        earlier = await (
            await client.get("/api/sessions/S-1/earlier", headers={HISTORY_HEADER: own})
        ).json()
        assert [s["id"] for s in earlier["sessions"]] == ["S-3"]
        async with calls.session() as session:
            audited = await session.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith("caller_history."))
            )
            assert [(a.actor, a.action, a.target) for a in audited] == [
                ("li", "caller_history.read", "session:S-live"),
                ("li", "caller_history.read", "session:S-1"),
            ]

    async def test_everyone_else_is_refused(self, calls: Database, make_client: AppClient) -> None:
        """No pass, a pass for another agent or another session, an expired or forged
        pass: 403; a back-office officer 403; anonymous visitors and callers 401."""
        await self._numbered(calls)
        client = await make_client()
        assert await sign_in(client, "li") == 303
        url = "/api/sessions/S-live/earlier"
        tokens = client.app[keys.TOKENS]
        expired = tokens.issue(
            aud="caller_history", sub="li", scope=f"S-live {NUMBER}", ttl_s=5, now=time.time() - 60
        )
        survey = tokens.issue(
            aud="survey", sub="li", scope=f"S-live {NUMBER}", ttl_s=60, now=time.time()
        )
        for headers in (
            {},
            {HISTORY_HEADER: history_pass(client.app, "S-live", "wang", NUMBER, 20.0)},
            {HISTORY_HEADER: history_pass(client.app, "S-other", "li", NUMBER, 20.0)},
            {HISTORY_HEADER: expired},
            {HISTORY_HEADER: survey},
            {HISTORY_HEADER: "forged.pass"},
        ):
            assert (await client.get(url, headers=headers)).status == 403, headers
        good = {HISTORY_HEADER: history_pass(client.app, "S-live", "wu", NUMBER, 20.0)}
        back = await make_client()
        assert await sign_in(back, "wu") == 303
        assert (await back.get(url, headers=good)).status == 403
        anonymous = await make_client()
        assert (await anonymous.get(url, headers=good)).status == 401
        caller_token = (await (await anonymous.post("/api/caller/token")).json())["token"]
        as_caller = {**good, "Authorization": f"Bearer {caller_token}"}
        assert (await anonymous.get(url, headers=as_caller)).status == 401
        async with calls.session() as session:
            audited = list(
                await session.scalars(
                    select(AuditEntry).where(AuditEntry.action.startswith("caller_history."))
                )
            )
        assert {a.action for a in audited} == {"caller_history.read_denied"}
        assert [a.actor for a in audited] == ["li"] * 6  # the role check refuses wu first
        assert audited[1].detail == {"reason": "pass for another agent"}
