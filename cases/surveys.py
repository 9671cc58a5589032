"""The caller's satisfaction survey after a call: one per session.

A rating of 1–5 and an optional comment of at most 500 characters. A rating of 1 or 2
("dissatisfied") opens a callback ticket for the supervisors: every dissatisfied caller
is called back (DOMAIN.md service targets: 100 % callback on dissatisfied).

Who may answer: the caller who held the session. Either the web layer holds a survey
token issued for this very session (``for_session=True``: ``hotline.office.survey_token``,
which works whatever the caller gave), or the caller's token subject must match the
record: ``detail["caller"]`` is ``sub:<token subject>`` when the caller gave no number
(``signaling.node``), or ``detail["subject"]``; ``caller_matches`` checks either.

Errors: ``SurveyError`` (a ``cases.db.DatabaseError``) ├── ``SurveyInvalid``
├── ``SessionNotFound`` ├── ``NotYourSession`` └── ``AlreadyAnswered``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cases import audit, tickets
from cases.db import Database, DatabaseError
from cases.models import Office, SessionRecord, Survey, TicketKind, utcnow

COMMENT_MAX = 500
DISSATISFIED = frozenset({1, 2})


class SurveyError(DatabaseError):
    pass


class SurveyInvalid(SurveyError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SessionNotFound(SurveyError):
    pass


class NotYourSession(SurveyError):
    pass


class AlreadyAnswered(SurveyError):
    pass


@dataclass(frozen=True)
class SurveyInput:
    rating: int
    comment: str = ""


def parse(payload: Mapping[str, Any]) -> SurveyInput:
    if not isinstance(payload, Mapping):
        raise SurveyInvalid("body", "must be a JSON object")
    unknown = set(payload) - {"rating", "comment"}
    if unknown:
        raise SurveyInvalid(sorted(unknown)[0], "unknown field")
    rating = payload.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise SurveyInvalid("rating", "a whole number 1–5")
    comment = payload.get("comment") or ""
    if not isinstance(comment, str):
        raise SurveyInvalid("comment", "must be text")
    if len(comment) > COMMENT_MAX:
        raise SurveyInvalid("comment", f"at most {COMMENT_MAX} characters")
    return SurveyInput(rating=rating, comment=comment.strip())


def caller_matches(detail: Mapping[str, Any], subject: str) -> bool:
    """Whether the caller token ``subject`` held the session with this ``detail``."""
    if not subject:
        return False
    return detail.get("subject") == subject or detail.get("caller") == f"sub:{subject}"


async def record(
    db: Database,
    session_id: str,
    subject: str,
    survey: SurveyInput,
    *,
    for_session: bool = False,
    due: tickets.DueTimes | None = None,
    now: datetime | None = None,
) -> Survey:
    """Store the caller's survey; a dissatisfied one opens a callback ticket."""
    now = now or utcnow()
    try:
        async with db.session() as session:
            record_ = await session.get(SessionRecord, session_id)
            if record_ is None:
                raise SessionNotFound(f"no session {session_id}")
            if not for_session and not caller_matches(record_.detail or {}, subject):
                raise NotYourSession("this survey is for the caller of the session")
            if await session.scalar(select(Survey.id).where(Survey.session_id == session_id)):
                raise AlreadyAnswered("this call has been rated already")
            row = Survey(
                session_id=session_id, rating=survey.rating, comment=survey.comment, created_at=now
            )
            session.add(row)
            await session.flush()
            if survey.rating in DISSATISFIED:
                ticket = await tickets.open_ticket(
                    session=session,
                    kind=TicketKind.CALLBACK,
                    office=Office.SUPERVISORS,
                    actor="caller",
                    session_id=session_id,
                    agent_user_id=record_.agent_user_id,
                    body=f"★{survey.rating} {survey.comment}".strip(),
                    due=due,
                    now=now,
                )
                row.ticket_id = ticket.id
            await audit.record(
                session=session,
                actor="caller",
                action="survey.recorded",
                target=f"session:{session_id}",
                detail={"rating": survey.rating, "ticket": row.ticket_id},
            )
            return row
    except IntegrityError as exc:  # two answers at once: the unique session id holds
        raise AlreadyAnswered("this call has been rated already") from exc
