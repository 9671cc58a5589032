"""The back office over HTTP: roles (403), bad input (400, never 500), the caller's survey."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cases import audit, staff
from cases.db import Database
from cases.models import Role, ServicePointLevel, SessionRecord
from hotline import keys
from hotline.office import keep_number, known_town, reveal_number, survey_token
from signaling.identity import Identity
from tests.app import AppClient, sign_in
from tests.office.helpers import add_session, add_user


async def _csrf(client: TestClient, path: str) -> str:
    html = await (await client.get(path)).text()
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@pytest.fixture
async def office(seeded: Database) -> Database:
    law = await add_user(seeded, "wang", Role.LAWYER)
    await add_user(seeded, "wu", Role.BACK_OFFICE)
    await add_session(seeded, "S-1", agent_user_id=law, detail={"caller": "sub:PLACEHOLDER"})
    return seeded


async def _agent(make_client: AppClient) -> tuple[TestClient, dict[str, str]]:
    client = await make_client()
    assert await sign_in(client, "wang") == 303
    return client, {"X-CSRF-Token": await _csrf(client, "/agent")}


class TestRoles:
    async def test_who_may_use_what(self, office: Database, make_client: AppClient) -> None:
        """Agents may not see the ticket list; back office may not dispose of sessions;
        anonymous callers are sent to sign in; the town list is public."""
        client, _headers = await _agent(make_client)
        assert (await client.get("/tickets")).status == 403
        assert (await client.get("/api/tickets")).status == 403
        assert (await client.get("/api/my/tickets")).status == 200

        back = await make_client()
        assert await sign_in(back, "wu") == 303
        token = await _csrf(back, "/tickets")
        denied = await back.post(
            "/api/sessions/S-1/disposition",
            json={"kind": "answered", "category": "general"},
            headers={"X-CSRF-Token": token},
        )
        assert denied.status == 403
        assert (await back.get("/api/my/tickets")).status == 403

        anonymous = await make_client()
        assert (await anonymous.get("/api/tickets")).status == 401
        assert (await anonymous.get("/api/towns")).status == 200

    async def test_another_agent_may_not_dispose(
        self, office: Database, make_client: AppClient
    ) -> None:
        """An agent who did not take the call may not record its disposition (403)."""
        await add_user(office, "li", Role.LAWYER)
        client = await make_client()
        await sign_in(client, "li")
        response = await client.post(
            "/api/sessions/S-1/disposition",
            json={"kind": "answered", "category": "general"},
            headers={"X-CSRF-Token": await _csrf(client, "/agent")},
        )
        assert response.status == 403


class TestDispositionRoute:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"kind": "answered"}, "category"),
            ({"kind": "answered", "category": "astrology"}, "category"),
            (
                {"kind": "callback_booked", "category": "general", "callback_at": "soon"},
                "callback_at",
            ),
            ({"kind": "abusive_ended", "category": "general"}, "warnings"),
            ([1, 2], "body"),
        ],
    )
    async def test_bad_input_is_400_with_the_field(
        self, office: Database, make_client: AppClient, body: Any, field: str
    ) -> None:
        """Every bad field is a 400 that names it, never a 500."""
        client, headers = await _agent(make_client)
        response = await client.post("/api/sessions/S-1/disposition", json=body, headers=headers)
        assert response.status == 400
        assert (await response.json())["field"] == field

    async def test_not_json_unknown_session_and_success(
        self, office: Database, make_client: AppClient
    ) -> None:
        """A body that is not JSON is 400, an unknown session 404; a referral is stored,
        opens its ticket, and the agent sees it."""
        client, headers = await _agent(make_client)
        garbled = await client.post(
            "/api/sessions/S-1/disposition",
            data=b"{nope",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert garbled.status == 400
        missing = await client.post(
            "/api/sessions/S-x/disposition",
            json={"kind": "answered", "category": "general"},
            headers=headers,
        )
        assert missing.status == 404
        done = await client.post(
            "/api/sessions/S-1/disposition",
            json={"kind": "referred_legal_aid", "category": "labour_wages", "notes": "欠薪"},
            headers=headers,
        )
        assert done.status == 200
        assert (await done.json())["ticket_id"] is not None
        mine = await (await client.get("/api/my/tickets")).json()
        assert [(t["kind"], t["office"], t["status"]) for t in mine["tickets"]] == [
            ("referral", "legal_aid", "open")
        ]
        recorded = await (await client.get("/api/sessions/S-1/disposition")).json()
        assert recorded["disposition"]["kind"] == "referred_legal_aid"
        assert recorded["disposition"]["notes"] == "欠薪"
        none_yet = await (await client.get("/api/sessions/S-x/disposition")).json()
        assert none_yet["disposition"] is None


class TestTicketRoutes:
    async def test_back_office_works_a_ticket_and_the_agent_sees_the_result(
        self, office: Database, make_client: AppClient
    ) -> None:
        """The back office is refused illegal and bad steps (409, 400, 404), acknowledges
        and closes by form, and the agent sees the result."""
        agent, headers = await _agent(make_client)
        await agent.post(
            "/api/sessions/S-1/disposition",
            json={"kind": "escalation", "category": "labour_wages"},
            headers=headers,
        )
        back = await make_client()
        await sign_in(back, "wu")
        page = await back.get("/tickets?office=supervisors")
        assert page.status == 200
        assert 'data-ticket="' in await page.text()
        token = {"X-CSRF-Token": await _csrf(back, "/tickets")}
        listed = await (await back.get("/api/tickets?status=open")).json()
        ticket_id = listed["tickets"][0]["id"]
        url = f"/api/tickets/{ticket_id}/transition"
        refused = await back.post(url, json={"to": "done"}, headers=token)
        assert refused.status == 409
        for bad in ({"to": "finished"}, {"to": "acknowledged", "note": 5}, {}):
            assert (await back.post(url, json=bad, headers=token)).status == 400
        assert (
            await back.post(
                "/api/tickets/99999/transition", json={"to": "acknowledged"}, headers=token
            )
        ).status == 404
        assert (await back.post(url, json={"to": "acknowledged"}, headers=token)).status == 200
        form = await back.post(
            f"/tickets/{ticket_id}",
            data={
                "to": "done",
                "note": "已回访",
                "csrf_token": token["X-CSRF-Token"],
                "back": "status=done",
            },
            allow_redirects=False,
        )
        assert form.status == 303
        assert form.headers["Location"] == "/tickets?status=done"
        mine = await (await agent.get("/api/my/tickets")).json()
        assert mine["tickets"][0]["status"] == "done"
        assert mine["tickets"][0]["result_note"] == "已回访"
        for query in ("status=later", "overdue=yes"):
            assert (await back.get(f"/api/tickets?{query}")).status == 400


class TestSurveyRoute:
    async def test_the_caller_of_the_session_rates_it_once(
        self, office: Database, make_client: AppClient
    ) -> None:
        """A caller token whose subject matches the session rates it; a 1 opens a callback;
        no token is 401, a stranger's token 403, bad ratings 400, a second survey 409."""
        client = await make_client()
        issued = await (await client.post("/api/caller/token")).json()
        stranger = await (await client.post("/api/caller/token")).json()
        claims = client.app[keys.TOKENS].verify(
            issued["token"], aud=frozenset({"caller"}), now=time.time()
        )
        async with office.session() as session:
            record = await session.get(SessionRecord, "S-1")
            assert record is not None
            record.detail = {"caller": f"sub:{claims.sub}"}
        mine = {"Authorization": f"Bearer {issued['token']}"}
        url = "/api/sessions/S-1/survey"
        assert (await client.post(url, json={"rating": 1})).status == 401
        other = await client.post(
            url, json={"rating": 1}, headers={"Authorization": f"Bearer {stranger['token']}"}
        )
        assert other.status == 403
        for bad in ({"rating": 9}, {"rating": 3, "comment": "长" * 501}, {"stars": 3}):
            assert (await client.post(url, json=bad, headers=mine)).status == 400
        ok = await client.post(url, json={"rating": 1, "comment": "没解决"}, headers=mine)
        assert ok.status == 200
        assert (await ok.json())["callback"] is True
        assert (await client.post(url, json={"rating": 5}, headers=mine)).status == 409


class TestTowns:
    async def test_towns_tree(self, office: Database, make_client: AppClient) -> None:
        """The public town list is the district's tree, towns under it, villages under them."""
        async with office.session() as session:
            district = await staff.add_service_point(
                session=session, code="QH", name="清河区", level=ServicePointLevel.DISTRICT
            )
            town = await staff.add_service_point(
                session=session,
                code="QH-DB",
                name="东坝镇",
                level=ServicePointLevel.TOWN,
                parent=district,
            )
            await staff.add_service_point(
                session=session,
                code="QH-DB-01",
                name="东坝村",
                level=ServicePointLevel.VILLAGE,
                parent=town,
            )
        client = await make_client()
        body = await (await client.get("/api/towns")).json()
        assert body == {
            "districts": [
                {
                    "code": "QH",
                    "name": "清河区",
                    "level": "district",
                    "children": [
                        {
                            "code": "QH-DB",
                            "name": "东坝镇",
                            "level": "town",
                            "children": [
                                {"code": "QH-DB-01", "name": "东坝村", "level": "village"}
                            ],
                        }
                    ],
                }
            ]
        }


class TestSurveyToken:
    async def test_a_survey_token_rates_its_own_session_only(
        self, office: Database, make_client: AppClient
    ) -> None:
        """A caller who gave a number (so the record names no token subject) rates the call
        with the survey token handed over at its end; that token rates no other session."""
        await add_session(office, "S-2", agent_user_id=None, detail={"caller": "k:hash"})
        client = await make_client()
        url = "/api/sessions/S-1/survey"
        other = {"Authorization": f"Bearer {survey_token(client.app, 'S-2')}"}
        assert (await client.post(url, json={"rating": 4}, headers=other)).status == 401
        own = {"Authorization": f"Bearer {survey_token(client.app, 'S-1')}"}
        answer = await client.post(url, json={"rating": 4}, headers=own)
        assert answer.status == 200
        assert (await answer.json())["callback"] is False
        assert (await client.post(url, json={"rating": 4}, headers=own)).status == 409


class TestSignalingHooks:
    async def test_number_store_and_towns_behind_the_signaling_hooks(
        self, office: Database, make_client: AppClient
    ) -> None:
        """What signaling's hooks reach: the number kept sealed and revealed to an agent
        only (audited both ways), and towns checked against the record."""
        client = await make_client()
        app = client.app
        await keep_number(app, "S-1", "139 1234 5678")
        agent = Identity(kind="staff", user_id="2", display_name="W", agent_id="wang")
        caller = Identity(kind="caller", user_id="v-1", display_name="caller", subject="v-1")
        assert await reveal_number(app, "S-1", agent) == "+8613912345678"
        assert await reveal_number(app, "S-1", caller) is None
        assert await reveal_number(app, "S-none", agent) is None
        async with office.session() as session:
            actions = [e.action for e in await audit.recent(session=session)]
            district = await staff.add_service_point(
                session=session, code="QH", name="清河区", level=ServicePointLevel.DISTRICT
            )
            await staff.add_service_point(
                session=session,
                code="QH-DB",
                name="东坝镇",
                level=ServicePointLevel.TOWN,
                parent=district,
            )
        assert actions[:2] == ["callback_number.reveal_denied", "callback_number.reveal"]
        assert await known_town(app, "QH-DB")
        assert not await known_town(app, "QH")  # the district is not a caller's town
        assert not await known_town(app, "nowhere")
