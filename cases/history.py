"""Sessions looked back on: an agent's own recent sessions, a caller's earlier ones.

- ``agent_sessions``: the sessions an agent handled (``SessionRecord.agent_user_id``),
  newest first, with the disposition and the recordings of each. The agent may read
  these recordings (``recordings.store.open_recording`` allows a session's own agent).
- ``earlier_from_caller``: the sessions of the same caller key (``detail.caller``, the
  keyed hash ``tel:…`` of the number given) before a given one, newest first, with who
  took each (display names) and the disposition. Who may ask is decided by the caller
  of this function (``hotline/history.py``: the agent who holds the live session).

Only codes and times leave here; screens name them (``agent_console.labels``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cases.models import (
    Disposition,
    Recording,
    RecordingFile,
    ServicePoint,
    SessionRecord,
    Ticket,
    User,
)

LIMIT = 50
EARLIER_LIMIT = 10
CALLER_KEY_MAX = 200


@dataclass(frozen=True)
class PastSession:
    id: str
    queued_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    category: str  # the disposition's category, else the queue the call came in on
    town: str | None  # the town's name (its code if the district no longer has it)
    channel: str
    outcome: str | None
    disposition: str | None  # cases.dispositions.DispositionKind
    notes: str
    agent_name: str | None
    recordings: tuple[tuple[str, int], ...]  # (recording id, its files), oldest first
    # The tickets the session handed on: (kind, office, status, result note), oldest first.
    tickets: tuple[tuple[str, str, str, str], ...] = ()

    @property
    def duration_s(self) -> int | None:
        """From answer to end; ``None`` for a session nobody answered."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0, round((utc(self.ended_at) - utc(self.answered_at)).total_seconds()))


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def agent_sessions(
    *, session: AsyncSession, agent_user_id: int, limit: int = LIMIT
) -> list[PastSession]:
    """The agent's own sessions, newest first (at most ``limit``)."""
    rows = list(
        await session.scalars(
            select(SessionRecord)
            .where(SessionRecord.agent_user_id == agent_user_id)
            .order_by(SessionRecord.queued_at.desc(), SessionRecord.id)
            .limit(limit)
        )
    )
    return await _described(session, rows)


async def earlier_from_caller(
    *, session: AsyncSession, caller: str, before: str, limit: int = EARLIER_LIMIT
) -> list[PastSession]:
    """The caller key's sessions other than ``before`` (the live one), newest first.

    Only a number's key (``tel:…``) joins sessions: a web caller's token subject is new
    with every token, so it never names an earlier session.
    """
    if not caller.startswith("tel:") or len(caller) > CALLER_KEY_MAX:
        return []
    rows = list(
        await session.scalars(
            select(SessionRecord)
            .where(
                SessionRecord.detail["caller"].as_string() == caller,
                SessionRecord.id != before,
            )
            .order_by(SessionRecord.queued_at.desc(), SessionRecord.id)
            .limit(limit)
        )
    )
    return await _described(session, rows)


async def _described(session: AsyncSession, rows: list[SessionRecord]) -> list[PastSession]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    dispositions = {
        d.session_id: d
        for d in await session.scalars(select(Disposition).where(Disposition.session_id.in_(ids)))
    }
    recordings: dict[str, list[tuple[str, int]]] = {}
    for session_id, recording_id, files in await session.execute(
        select(Recording.session_id, Recording.id, func.count(RecordingFile.id))
        .join(RecordingFile, RecordingFile.recording_id == Recording.id)
        .where(Recording.session_id.in_(ids))
        .group_by(Recording.session_id, Recording.id, Recording.started_at)
        .order_by(Recording.started_at, Recording.id)
    ):
        if session_id is not None:
            recordings.setdefault(session_id, []).append((recording_id, files))
    handed: dict[str, list[tuple[str, str, str, str]]] = {}
    for ticket in await session.scalars(
        select(Ticket).where(Ticket.session_id.in_(ids)).order_by(Ticket.created_at, Ticket.id)
    ):
        if ticket.session_id is not None:
            handed.setdefault(ticket.session_id, []).append(
                (
                    str(ticket.kind),
                    ticket.department or "",
                    str(ticket.status),
                    ticket.result_note or "",
                )
            )
    agents = {r.agent_user_id for r in rows if r.agent_user_id is not None}
    names: dict[int, str] = {}
    if agents:
        found = await session.execute(select(User.id, User.display_name).where(User.id.in_(agents)))
        names = {uid: str(name) for uid, name in found.all() if name}
    codes = {str(r.detail.get("town")) for r in rows if r.detail.get("town")}
    towns: dict[str, str] = {}
    if codes:
        found = await session.execute(
            select(ServicePoint.code, ServicePoint.name).where(ServicePoint.code.in_(codes))
        )
        towns = {str(code): str(name) for code, name in found.all()}
    result = []
    for row in rows:
        disposition = dispositions.get(row.id)
        town = row.detail.get("town")
        result.append(
            PastSession(
                id=row.id,
                queued_at=utc(row.queued_at),
                answered_at=row.answered_at,
                ended_at=row.ended_at,
                category=disposition.category if disposition else row.queue,
                town=towns.get(str(town), str(town)) if town else None,
                channel=str(row.channel),
                outcome=str(row.outcome) if row.outcome is not None else None,
                disposition=disposition.kind if disposition else None,
                notes=disposition.notes if disposition else "",
                agent_name=names.get(row.agent_user_id) if row.agent_user_id else None,
                recordings=tuple(recordings.get(row.id, ())),
                tickets=tuple(handed.get(row.id, ())),
            )
        )
    return result
