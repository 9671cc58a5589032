"""Dispositions: how the agent who took a call closes its wrap-up.

One per session, by the agent who handled it (``SessionRecord.agent_user_id``):

- ``answered`` on the call;
- ``callback_booked``: ``callback_at`` says when;
- ``referred_legal_aid`` / ``referred_mediation`` / ``referred_notary`` /
  ``referred_12345`` / ``referred_other_agency`` (``agency`` names it): a referral
  ticket in that office's queue;
- ``complaint``: passed on, a complaint ticket for the supervisors;
- ``escalation``: an escalation ticket (吹哨报到, acknowledged within 10 minutes);
- ``abusive_ended``: an abusive call ended after two warnings (``warnings`` ≥ 2).

``parse`` validates a payload at the boundary (``DispositionInvalid`` names the
field); ``record`` stores it. A second ``record`` for the same session amends it: the
audit entry ``disposition.amended`` keeps the old and the new values. An amendment to
another kind that needs a ticket opens that ticket; a ticket already opened stays.

Errors: ``DispositionError`` (a ``cases.db.DatabaseError``) ├── ``DispositionInvalid``
├── ``SessionNotFound`` └── ``NotYourSession``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from cases import audit, tickets
from cases.db import Database, DatabaseError
from cases.models import Disposition, Office, SessionRecord, TicketKind, utcnow

NOTES_MAX = 2000
AGENCY_MAX = 100
CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,47}")
BOOK_AHEAD = timedelta(days=30)
BOOK_BEHIND = timedelta(hours=1)  # a clock a little behind is not an error
ABUSE_WARNINGS = 2  # DOMAIN.md: abusive callers may be ended after two warnings


class DispositionError(DatabaseError):
    pass


class DispositionInvalid(DispositionError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SessionNotFound(DispositionError):
    pass


class NotYourSession(DispositionError):
    pass


class DispositionKind(enum.StrEnum):
    ANSWERED = "answered"
    CALLBACK_BOOKED = "callback_booked"
    REFERRED_LEGAL_AID = "referred_legal_aid"
    REFERRED_MEDIATION = "referred_mediation"
    REFERRED_NOTARY = "referred_notary"
    REFERRED_12345 = "referred_12345"
    REFERRED_OTHER_AGENCY = "referred_other_agency"
    COMPLAINT = "complaint"
    ESCALATION = "escalation"
    ABUSIVE_ENDED = "abusive_ended"


K = DispositionKind
# Which kinds hand the matter to a back office, and as what kind of ticket.
TICKETS: dict[DispositionKind, tuple[TicketKind, Office]] = {
    K.REFERRED_LEGAL_AID: (TicketKind.REFERRAL, Office.LEGAL_AID),
    K.REFERRED_MEDIATION: (TicketKind.REFERRAL, Office.MEDIATION),
    K.REFERRED_NOTARY: (TicketKind.REFERRAL, Office.NOTARY),
    K.REFERRED_12345: (TicketKind.REFERRAL, Office.GOV_12345),
    K.REFERRED_OTHER_AGENCY: (TicketKind.REFERRAL, Office.OTHER_AGENCY),
    K.COMPLAINT: (TicketKind.COMPLAINT, Office.SUPERVISORS),
    K.ESCALATION: (TicketKind.ESCALATION, Office.SUPERVISORS),
}


@dataclass(frozen=True)
class DispositionInput:
    """A validated disposition."""

    kind: DispositionKind
    category: str
    notes: str = ""
    callback_at: datetime | None = None
    agency: str | None = None
    warnings: int = 0

    def values(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["callback_at"] = self.callback_at.isoformat() if self.callback_at else None
        return data


def _text(payload: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise DispositionInvalid(name, "required")
        return ""
    if not isinstance(value, str):
        raise DispositionInvalid(name, "must be text")
    if len(value) > limit:
        raise DispositionInvalid(name, f"at most {limit} characters")
    return value


def parse(
    payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
    categories: frozenset[str] | None = None,
) -> DispositionInput:
    """A disposition from a JSON payload, every field checked; ``DispositionInvalid``."""
    now = now or utcnow()
    if not isinstance(payload, Mapping):
        raise DispositionInvalid("body", "must be a JSON object")
    unknown = set(payload) - {"kind", "category", "notes", "callback_at", "agency", "warnings"}
    if unknown:
        raise DispositionInvalid(sorted(unknown)[0], "unknown field")
    raw_kind = payload.get("kind")
    try:
        kind = DispositionKind(raw_kind) if isinstance(raw_kind, str) else None
    except ValueError:
        kind = None
    if kind is None:
        raise DispositionInvalid("kind", "one of " + ", ".join(k.value for k in K))
    category = _text(payload, "category", 48, required=True)
    if not CATEGORY.fullmatch(category) or (categories is not None and category not in categories):
        raise DispositionInvalid("category", "not a service category")
    notes = _text(payload, "notes", NOTES_MAX)
    callback_at = None
    if kind == K.CALLBACK_BOOKED:
        when = _text(payload, "callback_at", 40, required=True)
        try:
            callback_at = datetime.fromisoformat(when)
        except ValueError:
            raise DispositionInvalid("callback_at", "an ISO 8601 time") from None
        if callback_at.tzinfo is None:
            raise DispositionInvalid("callback_at", "give the time zone (e.g. +08:00)")
        if not now - BOOK_BEHIND <= callback_at <= now + BOOK_AHEAD:
            raise DispositionInvalid("callback_at", "within the next 30 days")
    elif payload.get("callback_at") not in (None, ""):
        raise DispositionInvalid("callback_at", "only for a booked callback")
    agency = _text(payload, "agency", AGENCY_MAX) or None
    if kind == K.REFERRED_OTHER_AGENCY and agency is None:
        raise DispositionInvalid("agency", "name the agency the caller is referred to")
    warnings = payload.get("warnings", 0)
    if warnings is None:
        warnings = 0
    if isinstance(warnings, bool) or not isinstance(warnings, int) or not 0 <= warnings <= 10:
        raise DispositionInvalid("warnings", "a whole number 0–10")
    if kind == K.ABUSIVE_ENDED and warnings < ABUSE_WARNINGS:
        raise DispositionInvalid("warnings", "an abusive call is ended after two warnings")
    return DispositionInput(
        kind=kind,
        category=category,
        notes=notes,
        callback_at=callback_at,
        agency=agency,
        warnings=warnings,
    )


async def record(
    db: Database,
    session_id: str,
    agent_user_id: int,
    disposition: DispositionInput,
    *,
    actor: str,
    due: tickets.DueTimes | None = None,
    now: datetime | None = None,
) -> Disposition:
    """Store (or amend) the disposition of ``session_id`` by the agent who handled it.

    ``SessionNotFound`` if the session is not recorded yet, ``NotYourSession`` if
    another agent handled it. Referral, complaint and escalation open their ticket.
    """
    now = now or utcnow()
    async with db.session() as session:
        record_ = await session.get(SessionRecord, session_id)
        if record_ is None:
            raise SessionNotFound(f"no session {session_id}")
        if record_.agent_user_id is None or record_.agent_user_id != agent_user_id:
            raise NotYourSession("only the agent who handled the session may dispose of it")
        existing = await session.scalar(
            select(Disposition).where(Disposition.session_id == session_id).with_for_update()
        )
        old = values_of(existing) if existing is not None else None
        row = existing or Disposition(session_id=session_id, created_at=now)
        row.agent_user_id = agent_user_id
        row.kind = disposition.kind.value
        row.category = disposition.category
        row.notes = disposition.notes
        row.callback_at = disposition.callback_at
        row.agency = disposition.agency
        row.warnings = disposition.warnings
        row.updated_at = now
        if existing is None:
            session.add(row)
        wanted = TICKETS.get(disposition.kind)
        changed_kind = old is None or old["kind"] != disposition.kind.value
        if wanted is not None and changed_kind:
            kind, office = wanted
            body = disposition.notes
            if disposition.agency:
                body = f"{disposition.agency}\n{body}".strip()
            ticket = await tickets.open_ticket(
                session=session,
                kind=kind,
                office=office,
                actor=actor,
                actor_user_id=agent_user_id,
                session_id=session_id,
                agent_user_id=agent_user_id,
                body=body,
                due=due,
                now=now,
            )
            row.ticket_id = ticket.id
        await session.flush()
        await audit.record(
            session=session,
            actor=actor,
            actor_user_id=agent_user_id,
            action="disposition.recorded" if old is None else "disposition.amended",
            target=f"session:{session_id}",
            detail={"new": disposition.values()}
            if old is None
            else {"old": old, "new": disposition.values()},
        )
        return row


def values_of(row: Disposition) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "category": row.category,
        "notes": row.notes,
        "callback_at": row.callback_at.isoformat() if row.callback_at else None,
        "agency": row.agency,
        "warnings": row.warnings,
    }


async def of_session(db: Database, session_id: str) -> Disposition | None:
    async with db.session() as session:
        found: Disposition | None = await session.scalar(
            select(Disposition).where(Disposition.session_id == session_id)
        )
        return found
