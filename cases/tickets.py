"""Tickets (工单): what the front desk could not settle, handed to a back office.

前台统一受理、后台分别办理、结果及时反馈 (DOMAIN.md): a ticket goes to one office's
queue, is acknowledged, worked and closed as done or returned, and the agent who took
the call sees the result.

A state machine over ``cases.models.Ticket``::

    open ──► acknowledged ──► in_progress ──► done
                  │                 └───────► returned
                  └──► done / returned (settled at once)

Every step is audited (``ticket.<status>``, with who, when, from, to and the note);
an illegal step raises ``IllegalTransition`` and changes nothing.

Due times come by kind (``DueTimes``, from settings). An escalation must also be
acknowledged within ten minutes (吹哨报到); an open ticket past either time is
*overdue*, which is a query over due times (``overdue_clause``), never a timer.
Voicemail tickets written by ``hotline.contact.OutcomeWriter`` carry no due time:
theirs is counted from ``created_at`` by the same query.

The number to call back is shown masked on every list; ``call_back_number`` gives it
in full to the back office working the ticket, audited (``ticket.number_revealed``),
until the ticket is done.

Errors: ``TicketError`` (a ``cases.db.DatabaseError``) ├── ``TicketNotFound``
├── ``IllegalTransition`` ├── ``TicketInvalid`` (a field is out of bounds)
└── ``NoNumber`` (the caller left none, or it is past its retention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cases import audit, callbacks, phone
from cases.callbacks import NumberSeal
from cases.db import Database, DatabaseError
from cases.models import Office, Ticket, TicketKind, TicketStatus, utcnow

NOTE_MAX = 2000
BODY_MAX = 4000
OFFICE_MAX = 64  # Ticket.department


class TicketError(DatabaseError):
    """Root of the ticket errors."""


class TicketNotFound(TicketError):
    pass


class IllegalTransition(TicketError):
    pass


class TicketInvalid(TicketError):
    pass


class NoNumber(TicketError):
    pass


NUMBER_REVEALED = "ticket.number_revealed"


S = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED}),
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.DONE, S.RETURNED}),
    S.IN_PROGRESS: frozenset({S.DONE, S.RETURNED}),
    S.DONE: frozenset(),
    S.RETURNED: frozenset(),
}
CLOSED = frozenset({S.DONE, S.RETURNED})


def _hours(h: float) -> timedelta:
    return timedelta(hours=h)


@dataclass(frozen=True)
class DueTimes:
    """How long each kind of ticket may take (settings ``HOTLINE_TICKET_DUE_*``).

    Defaults: online messages answered within 24 h (DOMAIN.md service targets); a
    dissatisfied caller called back within a day; legal aid decides within 7 days;
    an escalation acknowledged within 10 minutes (吹哨报到) and settled within a day.
    """

    by_kind: dict[TicketKind, timedelta] = field(
        default_factory=lambda: {
            TicketKind.REFERRAL: _hours(7 * 24),
            TicketKind.VOICEMAIL: _hours(24),
            TicketKind.CALLBACK: _hours(24),
            TicketKind.COMPLAINT: _hours(3 * 24),
            TicketKind.ESCALATION: _hours(24),
        }
    )
    escalation_ack: timedelta = timedelta(minutes=10)

    def due(self, kind: TicketKind) -> timedelta:
        return self.by_kind.get(kind, _hours(24))


def check_transition(current: TicketStatus, to: TicketStatus) -> None:
    """Raise ``IllegalTransition`` unless ``current → to`` is in ``TRANSITIONS``."""
    if to not in TRANSITIONS[current]:
        raise IllegalTransition(f"a ticket cannot go from {current.value} to {to.value}")


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every time here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def due_at(ticket: Ticket, due: DueTimes) -> datetime:
    """When the ticket is due: its own time, or (a voicemail taken without one) its
    kind's due time from when it was taken."""
    own = aware(ticket.due_at)
    if own is not None:
        return own
    created = aware(ticket.created_at)
    assert created is not None
    return created + due.due(_kind(ticket.kind))


def is_overdue(ticket: Ticket, now: datetime, due: DueTimes) -> bool:
    """The same rule as ``overdue_clause``, for one loaded ticket."""
    if ticket.status in CLOSED:
        return False
    ack_due = aware(ticket.ack_due_at)
    if ticket.status == S.OPEN and ack_due is not None and ack_due < now:
        return True
    return due_at(ticket, due) < now


def _kind(text: str) -> TicketKind:
    try:
        return TicketKind(text)
    except ValueError:
        return TicketKind.REFERRAL


def overdue_clause(now: datetime, due: DueTimes) -> ColumnElement[bool]:
    """SQL for "open and past a due time": portable comparisons of stored times with
    constants (no interval arithmetic, which SQLite and PostgreSQL spell differently)."""
    undated = [
        and_(Ticket.kind == kind.value, Ticket.created_at < now - due.due(kind))
        for kind in TicketKind
    ]
    return and_(
        Ticket.status.not_in(CLOSED),
        or_(
            and_(
                Ticket.status == S.OPEN,
                Ticket.ack_due_at.is_not(None),
                Ticket.ack_due_at < now,
            ),
            and_(Ticket.due_at.is_not(None), Ticket.due_at < now),
            and_(Ticket.due_at.is_(None), or_(false(), *undated)),
        ),
    )


def _check_text(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise TicketInvalid(f"{name}: at most {limit} characters")
    return value


async def open_ticket(
    *,
    session: AsyncSession,
    kind: TicketKind,
    office: Office | str,
    actor: str,
    actor_user_id: int | None = None,
    session_id: str | None = None,
    agent_user_id: int | None = None,
    body: str = "",
    due: DueTimes | None = None,
    now: datetime | None = None,
) -> Ticket:
    """A new open ticket in ``office``'s queue with its due times; audited ``ticket.open``."""
    due = due or DueTimes()
    now = now or utcnow()
    office = str(office)
    if not office or len(office) > OFFICE_MAX:
        raise TicketInvalid(f"office: 1–{OFFICE_MAX} characters")
    ticket = Ticket(
        kind=kind.value,
        status=S.OPEN,
        session_id=session_id,
        department=office,
        body=_check_text("body", body, BODY_MAX),
        created_at=now,
        due_at=now + due.due(kind),
        ack_due_at=now + due.escalation_ack if kind == TicketKind.ESCALATION else None,
        agent_user_id=agent_user_id,
    )
    session.add(ticket)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        actor_user_id=actor_user_id,
        action="ticket.open",
        target=f"ticket:{ticket.id}",
        detail={"kind": kind.value, "office": office, "session": session_id},
    )
    return ticket


async def transition(
    *,
    session: AsyncSession,
    ticket_id: int,
    to: TicketStatus,
    actor: str,
    actor_user_id: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Ticket:
    """Move a ticket one step (``TRANSITIONS``), audited ``ticket.<to>``.

    Acknowledging stamps ``acknowledged_at``; done and returned stamp ``resolved_at``
    and keep ``note`` as the result the agent sees. A ticket is returned with a reason.
    """
    now = now or utcnow()
    _check_text("note", note, NOTE_MAX)
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound(f"no ticket {ticket_id}")
    current = TicketStatus(ticket.status)
    check_transition(current, to)
    if to == S.RETURNED and not note.strip():
        raise TicketInvalid("note: say why the ticket is returned")
    ticket.status = to
    if to == S.ACKNOWLEDGED:
        ticket.acknowledged_at = now
    if to in CLOSED:
        ticket.resolved_at = now
        ticket.result_note = note
    await audit.record(
        session=session,
        actor=actor,
        actor_user_id=actor_user_id,
        action=f"ticket.{to.value}",
        target=f"ticket:{ticket.id}",
        detail={"from": current.value, "to": to.value, "note": note, "at": now.isoformat()},
    )
    await session.flush()
    return ticket


async def listing(
    *,
    session: AsyncSession,
    now: datetime,
    due: DueTimes | None = None,
    office: str | None = None,
    status: TicketStatus | None = None,
    overdue: bool | None = None,
    limit: int = 200,
) -> Sequence[Ticket]:
    """Tickets, newest first, filtered by office, status and whether they are overdue."""
    due = due or DueTimes()
    query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if office is not None:
        query = query.where(Ticket.department == office)
    if status is not None:
        query = query.where(Ticket.status == status)
    if overdue is True:
        query = query.where(overdue_clause(now, due))
    elif overdue is False:
        query = query.where(~overdue_clause(now, due))
    return list(await session.scalars(query))


async def for_agent(
    *, session: AsyncSession, agent_user_id: int, limit: int = 100
) -> Sequence[Ticket]:
    """The tickets raised from an agent's sessions, newest first (their results)."""
    query = (
        select(Ticket)
        .where(Ticket.agent_user_id == agent_user_id)
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


async def call_back_number(
    *, db: Database, seal: NumberSeal, ticket_id: int, actor: str, actor_user_id: int | None
) -> str:
    """The full number to call the caller of ticket ``ticket_id`` back: the ticket's own,
    or a voicemail's, kept sealed under its session (``cases.callbacks``). Every reveal
    is audited, in its own unit of work. ``IllegalTransition`` once the ticket is done
    (nobody needs to dial it any more), ``NoNumber`` when there is none."""
    async with db.session() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        if TicketStatus(ticket.status) is S.DONE:
            raise IllegalTransition(f"ticket {ticket_id} is done")
        number = ticket.caller_phone
        if number is None and ticket.kind == TicketKind.VOICEMAIL and ticket.session_id:
            root = ticket.session_id.partition(":")[0]  # numbers are kept under the first leg
            number = await callbacks.opened(session=session, seal=seal, session_id=root)
        if number is None:
            raise NoNumber(f"ticket {ticket_id} has no number to call back")
        await audit.record(
            session=session,
            actor=actor,
            actor_user_id=actor_user_id,
            action=NUMBER_REVEALED,
            target=f"ticket:{ticket_id}",
            detail={"number": phone.mask(number), "session": ticket.session_id},
        )
        return number
