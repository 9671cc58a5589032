"""Dispositions, surveys and the callback number store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cases import audit, callbacks, dispositions, surveys
from cases.db import Database
from cases.models import CallbackNumber, Disposition, Role, Ticket
from cases.phone import PhoneError
from tests.office.helpers import add_session, add_user

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _parse(**payload: Any) -> dispositions.DispositionInput:
    return dispositions.parse({"category": "labour_wages", **payload}, now=NOW)


@pytest.fixture
async def agents(db: Database) -> tuple[int, int]:
    wang = await add_user(db, "wang", Role.LAWYER)
    li = await add_user(db, "li", Role.LAWYER)
    await add_session(db, "S-1", agent_user_id=wang, detail={"caller": "sub:v-abc"})
    return wang, li


class TestDispositionParse:
    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"kind": "nonsense"}, "kind"),
            ({"kind": 3}, "kind"),
            ({"kind": "answered", "category": ""}, "category"),
            ({"kind": "answered", "category": "Robert'); DROP"}, "category"),
            ({"kind": "answered", "notes": "x" * 2001}, "notes"),
            ({"kind": "answered", "notes": ["list"]}, "notes"),
            ({"kind": "callback_booked"}, "callback_at"),
            ({"kind": "callback_booked", "callback_at": "tomorrow"}, "callback_at"),
            ({"kind": "callback_booked", "callback_at": "2026-12-02T09:00:00"}, "callback_at"),
            (
                {"kind": "callback_booked", "callback_at": "2027-06-01T09:00:00+08:00"},
                "callback_at",
            ),
            ({"kind": "answered", "callback_at": "2026-12-02T09:00:00+08:00"}, "callback_at"),
            ({"kind": "referred_other_agency"}, "agency"),
            ({"kind": "abusive_ended", "warnings": 1}, "warnings"),
            ({"kind": "abusive_ended", "warnings": "2"}, "warnings"),
            ({"kind": "answered", "extra": 1}, "extra"),
        ],
    )
    def test_bad_fields_are_named(self, payload: dict[str, Any], field: str) -> None:
        """Every field is checked at the boundary and the error names it."""
        with pytest.raises(dispositions.DispositionInvalid) as caught:
            dispositions.parse({"category": "labour_wages", **payload}, now=NOW)
        assert caught.value.field == field

    def test_good_ones(self) -> None:
        """A booked callback keeps its time (in UTC); an abusive call after two warnings
        is accepted."""
        booked = _parse(kind="callback_booked", callback_at="2026-12-02T09:00:00+08:00")
        assert booked.callback_at == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
        assert _parse(kind="abusive_ended", warnings=2).warnings == 2


class TestDispositionRecord:
    async def test_referral_opens_a_ticket_in_that_office(
        self, db: Database, agents: tuple[int, int]
    ) -> None:
        """Referred to mediation: a referral ticket in the mediation committee's queue,
        carrying the agent so the result comes back to them."""
        wang, _ = agents
        row = await dispositions.record(
            db, "S-1", wang, _parse(kind="referred_mediation", notes="neighbours"), actor="wang"
        )
        async with db.session() as session:
            ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None
        assert (ticket.kind, ticket.department, ticket.agent_user_id) == (
            "referral",
            "mediation",
            wang,
        )

    async def test_escalation_ticket_must_be_acknowledged_in_ten_minutes(
        self, db: Database, agents: tuple[int, int]
    ) -> None:
        wang, _ = agents
        row = await dispositions.record(
            db, "S-1", wang, _parse(kind="escalation"), actor="wang", now=NOW
        )
        async with db.session() as session:
            ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None
        assert ticket.kind == "escalation"
        assert ticket.ack_due_at is not None
        assert ticket.ack_due_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=10)

    async def test_only_the_agent_who_handled_it(
        self, db: Database, agents: tuple[int, int]
    ) -> None:
        """Another agent may not dispose of the session; an unknown session is not found."""
        _, li = agents
        with pytest.raises(dispositions.NotYourSession):
            await dispositions.record(db, "S-1", li, _parse(kind="answered"), actor="li")
        with pytest.raises(dispositions.SessionNotFound):
            await dispositions.record(db, "S-none", li, _parse(kind="answered"), actor="li")
        assert await dispositions.of_session(db, "S-1") is None

    async def test_amendment_is_audited_with_old_and_new(
        self, db: Database, agents: tuple[int, int]
    ) -> None:
        """A second disposition amends the first; the audit keeps both values."""
        wang, _ = agents
        await dispositions.record(db, "S-1", wang, _parse(kind="answered", notes="a"), actor="wang")
        await dispositions.record(
            db, "S-1", wang, _parse(kind="complaint", notes="b"), actor="wang"
        )
        async with db.session() as session:
            rows = list(await session.scalars(select(Disposition)))
            entries = await audit.recent(session=session, action="disposition.amended")
            complaint = await session.scalar(select(Ticket).where(Ticket.kind == "complaint"))
        assert len(rows) == 1
        assert rows[0].kind == "complaint"
        assert entries[0].detail["old"]["kind"] == "answered"
        assert entries[0].detail["new"]["kind"] == "complaint"
        assert entries[0].detail["old"]["notes"] == "a"
        assert entries[0].actor == "wang"
        assert complaint is not None
        assert complaint.department == "supervisors"


class TestSurvey:
    async def test_dissatisfied_opens_a_callback_ticket_once(
        self, db: Database, agents: tuple[int, int]
    ) -> None:
        """A rating of 2 opens a callback ticket for the supervisors; a second survey is refused."""
        wang, _ = agents
        row = await surveys.record(
            db, "S-1", "v-abc", surveys.parse({"rating": 2, "comment": "慢"})
        )
        async with db.session() as session:
            ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None
        assert (ticket.kind, ticket.department, ticket.agent_user_id) == (
            "callback",
            "supervisors",
            wang,
        )
        with pytest.raises(surveys.AlreadyAnswered):
            await surveys.record(db, "S-1", "v-abc", surveys.parse({"rating": 5}))

    async def test_satisfied_opens_nothing_and_strangers_are_refused(
        self, db: Database, agents: tuple[int, int]
    ) -> None:
        with pytest.raises(surveys.NotYourSession):
            await surveys.record(db, "S-1", "v-other", surveys.parse({"rating": 1}))
        row = await surveys.record(db, "S-1", "v-abc", surveys.parse({"rating": 4}))
        assert row.ticket_id is None

    @pytest.mark.parametrize(
        "payload",
        [
            {},
            {"rating": 0},
            {"rating": 6},
            {"rating": "5"},
            {"rating": True},
            {"rating": 3, "comment": "x" * 501},
            {"rating": 3, "comment": 7},
            {"rating": 3, "mood": "ok"},
        ],
    )
    def test_bad_payloads(self, payload: dict[str, Any]) -> None:
        """A rating outside 1–5, a long or non-text comment, or an unknown field is refused."""
        with pytest.raises(surveys.SurveyInvalid):
            surveys.parse(payload)


class TestCallbackNumbers:
    SEAL = callbacks.NumberSeal("k" * 40)

    async def _store(self, db: Database, number: str = "139 1234 5678") -> None:
        async with db.session() as session:
            await callbacks.store(
                session=session,
                seal=self.SEAL,
                session_id="S-1",
                number=number,
                retention=timedelta(days=30),
                now=NOW,
            )

    async def test_reveal_to_the_offer_holder_only_and_every_reveal_audited(
        self, db: Database
    ) -> None:
        """The holder gets E.164; anyone else is refused; both attempts are in the audit log;
        the table holds no clear number."""
        await self._store(db)
        number = await callbacks.reveal(
            db=db,
            seal=self.SEAL,
            session_id="S-1",
            viewer="wang",
            viewer_user_id=None,
            allowed=True,
        )
        assert number == "+8613912345678"
        with pytest.raises(callbacks.RevealRefused):
            await callbacks.reveal(
                db=db,
                seal=self.SEAL,
                session_id="S-1",
                viewer="li",
                viewer_user_id=None,
                allowed=False,
            )
        async with db.session() as session:
            row = await session.scalar(select(CallbackNumber))
            shown = await callbacks.masked(session=session, session_id="S-1")
            entries = await audit.recent(session=session)
        assert row is not None
        assert "13912345678" not in row.sealed
        assert shown == "139****5678"
        assert [(e.action, e.actor) for e in entries[:2]] == [
            ("callback_number.reveal_denied", "li"),
            ("callback_number.reveal", "wang"),
        ]
        assert all("13912345678" not in str(e.detail) for e in entries)

    async def test_rubbish_is_refused_and_missing_is_not_found(self, db: Database) -> None:
        """A text that is no phone number is not stored; a session without a number has
        nothing to reveal."""
        with pytest.raises(PhoneError):
            await self._store(db, "12345")
        with pytest.raises(callbacks.NumberNotFound):
            await callbacks.reveal(
                db=db,
                seal=self.SEAL,
                session_id="S-1",
                viewer="wang",
                viewer_user_id=None,
                allowed=True,
            )

    async def test_keep_replaces_the_number_of_a_session(self, db: Database) -> None:
        """A second number for the same session replaces the first (one row a session)."""
        await self._store(db)
        shown = await callbacks.keep(
            db,
            seal=self.SEAL,
            session_id="S-1",
            number="010 1234 5678",
            retention=timedelta(days=1),
        )
        assert shown == "010****5678"
        number = await callbacks.reveal(
            db=db, seal=self.SEAL, session_id="S-1", viewer="w", viewer_user_id=None, allowed=True
        )
        assert number == "+861012345678"

    def test_a_sealed_number_does_not_open_for_another_session(self) -> None:
        """A sealed number copied to another session's row does not open."""
        sealed = self.SEAL.seal("+8613912345678", "S-1")
        with pytest.raises(callbacks.CallbackNumberError):
            self.SEAL.open(sealed, "S-2")
