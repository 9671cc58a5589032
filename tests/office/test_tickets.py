"""Tickets (工单): the state machine, its audit, due times and overdue (吹哨报到)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases import audit, tickets
from cases.db import Database
from cases.models import Office, Ticket, TicketKind, TicketStatus, utcnow
from cases.tickets import DueTimes, IllegalTransition, TicketInvalid, TicketNotFound
from hotline.contact import OutcomeWriter
from routing import actions as act
from routing.ids import QueueId, SessionId

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
S = TicketStatus


async def _open(db: Database, kind: TicketKind = TicketKind.REFERRAL, **kw: object) -> int:
    async with db.session() as session:
        ticket = await tickets.open_ticket(
            session=session, kind=kind, office=Office.LEGAL_AID, actor="law", now=NOW, **kw
        )
        return ticket.id


async def _step(
    db: Database, ticket_id: int, to: TicketStatus, note: str = "", **kw: object
) -> Ticket:
    async with db.session() as session:
        return await tickets.transition(
            session=session, ticket_id=ticket_id, to=to, actor="wu", note=note, **kw
        )


class TestTransitionTable:
    def test_every_state_has_a_row_and_closed_states_end(self) -> None:
        """The table covers every state; done and returned lead nowhere."""
        assert set(tickets.TRANSITIONS) == set(TicketStatus)
        assert not tickets.TRANSITIONS[S.DONE]
        assert not tickets.TRANSITIONS[S.RETURNED]

    @pytest.mark.parametrize(
        ("current", "to"),
        [
            (S.OPEN, S.DONE),
            (S.OPEN, S.IN_PROGRESS),
            (S.DONE, S.OPEN),
            (S.RETURNED, S.DONE),
            (S.IN_PROGRESS, S.ACKNOWLEDGED),
        ],
    )
    def test_illegal_steps_raise(self, current: TicketStatus, to: TicketStatus) -> None:
        """A step not in the table raises."""
        with pytest.raises(IllegalTransition):
            tickets.check_transition(current, to)


class TestLifecycle:
    async def test_open_acknowledge_work_done_is_audited(self, db: Database) -> None:
        """Each step is stored and audited with who, from, to and the note."""
        ticket_id = await _open(db)
        await _step(db, ticket_id, S.ACKNOWLEDGED, now=NOW + timedelta(minutes=5))
        await _step(db, ticket_id, S.IN_PROGRESS)
        done = await _step(db, ticket_id, S.DONE, "legal aid granted")
        assert done.status == S.DONE
        assert done.result_note == "legal aid granted"
        assert done.resolved_at is not None
        async with db.session() as session:
            entries = await audit.recent(session=session)
        steps = [(e.action, e.actor, e.detail.get("from"), e.detail.get("to")) for e in entries]
        assert steps[::-1] == [
            ("ticket.open", "law", None, None),
            ("ticket.acknowledged", "wu", "open", "acknowledged"),
            ("ticket.in_progress", "wu", "acknowledged", "in_progress"),
            ("ticket.done", "wu", "in_progress", "done"),
        ]
        assert entries[0].detail["note"] == "legal aid granted"

    async def test_refused_step_changes_nothing(self, db: Database) -> None:
        """Closing an unacknowledged ticket is refused, and the ticket stays open, unaudited."""
        ticket_id = await _open(db)
        with pytest.raises(IllegalTransition):
            await _step(db, ticket_id, S.DONE)
        async with db.session() as session:
            ticket = await session.get(Ticket, ticket_id)
            entries = await audit.recent(session=session)
        assert ticket is not None
        assert ticket.status == S.OPEN
        assert [e.action for e in entries] == ["ticket.open"]

    async def test_returned_needs_a_reason(self, db: Database) -> None:
        """A ticket is returned with a reason, never silently."""
        ticket_id = await _open(db)
        await _step(db, ticket_id, S.ACKNOWLEDGED)
        with pytest.raises(TicketInvalid):
            await _step(db, ticket_id, S.RETURNED, "  ")
        returned = await _step(db, ticket_id, S.RETURNED, "not a legal-aid matter")
        assert returned.status == S.RETURNED

    async def test_unknown_ticket(self, db: Database) -> None:
        """A step on a ticket that does not exist is refused."""
        with pytest.raises(TicketNotFound):
            await _step(db, 999, S.ACKNOWLEDGED)


class TestOverdue:
    async def test_escalation_unacknowledged_after_ten_minutes_is_overdue(
        self, db: Database
    ) -> None:
        """吹哨报到: an escalation is overdue 10 minutes after it opens unless acknowledged."""
        late = await _open(db, TicketKind.ESCALATION)
        acked = await _open(db, TicketKind.ESCALATION)
        await _step(db, acked, S.ACKNOWLEDGED, now=NOW + timedelta(minutes=9))
        due = DueTimes()
        async with db.session() as session:
            before = await tickets.listing(
                session=session, now=NOW + timedelta(minutes=9), overdue=True
            )
            after = await tickets.listing(
                session=session, now=NOW + timedelta(minutes=11), overdue=True
            )
            on_time = await tickets.listing(
                session=session, now=NOW + timedelta(minutes=11), overdue=False
            )
            ticket = await session.get(Ticket, late)
        assert before == []
        assert [t.id for t in after] == [late]
        assert [t.id for t in on_time] == [acked]
        assert ticket is not None
        assert tickets.is_overdue(ticket, NOW + timedelta(minutes=11), due)

    async def test_due_time_by_kind_and_undated_voicemail(self, db: Database) -> None:
        """A referral is overdue after its kind's due time; a voicemail without a due time
        (as the outcome writer takes it) counts from when it was taken; closed never is."""
        referral = await _open(db)
        async with db.session() as session:
            session.add(
                Ticket(kind="voicemail", session_id="S-v", department="general", created_at=NOW)
            )
        closed = await _open(db)
        await _step(db, closed, S.ACKNOWLEDGED)
        await _step(db, closed, S.DONE, "answered")
        async with db.session() as session:
            day = await tickets.listing(
                session=session, now=NOW + timedelta(hours=25), overdue=True
            )
            week = await tickets.listing(session=session, now=NOW + timedelta(days=8), overdue=True)
        assert [t.kind for t in day] == ["voicemail"]
        assert sorted(t.id for t in week) == sorted([referral, day[0].id])

    async def test_filters_by_office_and_state(self, db: Database) -> None:
        """The list filters by office and by state, together or apart."""
        first = await _open(db)
        async with db.session() as session:
            await tickets.open_ticket(
                session=session,
                kind=TicketKind.REFERRAL,
                office=Office.NOTARY,
                actor="law",
                now=NOW,
            )
        await _step(db, first, S.ACKNOWLEDGED)
        async with db.session() as session:
            legal = await tickets.listing(session=session, now=NOW, office="legal_aid")
            acked = await tickets.listing(session=session, now=NOW, status=S.ACKNOWLEDGED)
            notary_open = await tickets.listing(
                session=session, now=NOW, office="notary", status=S.OPEN
            )
        assert [t.id for t in legal] == [first] == [t.id for t in acked]
        assert len(notary_open) == 1


class TestVoicemailCompatibility:
    async def test_the_outcome_writers_voicemail_is_worked_like_any_ticket(
        self, db: Database
    ) -> None:
        """A voicemail ticket as hotline.contact.OutcomeWriter takes it is listed in its
        queue, overdue after a day, and acknowledged and closed by the state machine."""
        await OutcomeWriter(lambda: db).create_ticket(
            act.CreateVoicemailTicket(
                session=SessionId("S-vm"), queue=QueueId("general"), caller=None, reason="请回电"
            )
        )
        async with db.session() as session:
            [ticket] = await tickets.listing(session=session, now=utcnow(), office="general")
            late = await tickets.listing(
                session=session, now=utcnow() + timedelta(hours=25), overdue=True
            )
        assert ticket.kind == "voicemail"
        assert [t.id for t in late] == [ticket.id]
        await _step(db, ticket.id, S.ACKNOWLEDGED)
        closed = await _step(db, ticket.id, S.DONE, "已回电")
        assert closed.status == S.DONE
