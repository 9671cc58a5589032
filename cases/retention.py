"""Retention: every record type is kept only as long as needed, then deleted (PIPL).

``Retention`` holds one period per record type (settings ``HOTLINE_RETAIN_*_DAYS``);
``purge`` deletes what is past it — rows, and the recording files on disk — and
returns what it deleted (or, with ``dry_run``, what it would delete) for the
``hotline purge`` command to print and log as JSON:

- callback numbers: past their own ``expires_at`` (set from the retention when stored);
- recordings: started before the cutoff; their files (and manifest) are removed from
  disk first, then the rows; a file outside the recordings directory is never touched
  (listed under ``skipped``), and a file already gone is not an error;
- sessions: ended (or queued, if never ended) before the cutoff, with their
  dispositions and surveys (cascade); recordings and cases kept longer lose their link;
- tickets: closed (done or returned) before the cutoff.

A purge that deletes anything writes one audit entry, ``retention.purge``, with the
counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cases import audit
from cases.db import Database
from cases.models import (
    CallbackNumber,
    Case,
    Recording,
    SessionRecord,
    Ticket,
    TicketStatus,
    utcnow,
)

log = logging.getLogger("cases.retention")


@dataclass(frozen=True)
class Retention:
    """Days each record type is kept. Defaults: recordings and sessions three years,
    tickets three years after they close, callback numbers 30 days."""

    recordings_days: int = 3 * 365
    sessions_days: int = 3 * 365
    tickets_days: int = 3 * 365
    callback_numbers_days: int = 30

    @property
    def callback_numbers(self) -> timedelta:
        return timedelta(days=self.callback_numbers_days)


@dataclass
class PurgeReport:
    dry_run: bool
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "deleted" if not self.dry_run else "would_delete": {
                **self.counts,
                "recording_files": len(self.files),
            },
            "files": self.files,
            "skipped": self.skipped,
        }


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


async def purge(
    db: Database,
    *,
    retention: Retention,
    recording_dir: Path,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete every record past its retention (or only list it, with ``dry_run``)."""
    now = now or utcnow()
    report = PurgeReport(dry_run=dry_run, now=now)
    async with db.session() as session:
        await _callback_numbers(session, report, now)
        recordings_cutoff = now - timedelta(days=retention.recordings_days)
        await _recordings(session, report, recordings_cutoff, recording_dir)
        await _sessions(session, report, now - timedelta(days=retention.sessions_days))
        await _tickets(session, report, now - timedelta(days=retention.tickets_days))
        if not dry_run and any(report.counts.values()):
            await audit.record(
                session=session,
                actor="system",
                action="retention.purge",
                detail={**report.counts, "recording_files": len(report.files)},
            )
    log.info("purge", extra=report.to_json())
    return report


async def _count(session: AsyncSession, model: type[Any], *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _callback_numbers(session: AsyncSession, report: PurgeReport, now: datetime) -> None:
    where = (CallbackNumber.expires_at < now,)
    report.counts["callback_numbers"] = await _count(session, CallbackNumber, *where)
    if not report.dry_run:
        await session.execute(delete(CallbackNumber).where(*where))


async def _recordings(
    session: AsyncSession, report: PurgeReport, cutoff: datetime, root: Path
) -> None:
    old = list(await session.scalars(select(Recording).where(Recording.started_at < cutoff)))
    report.counts["recordings"] = len(old)
    for recording in old:
        paths = [f.path for f in recording.files]
        if recording.manifest_path:
            paths.append(recording.manifest_path)
        for text in paths:
            path = Path(text) if Path(text).is_absolute() else root / text
            if not _inside(path, root):
                report.skipped.append(str(path))
                continue
            report.files.append(str(path))
            if not report.dry_run:
                path.unlink(missing_ok=True)
        if not report.dry_run:
            await session.delete(recording)
    await session.flush()


async def _sessions(session: AsyncSession, report: PurgeReport, cutoff: datetime) -> None:
    old = or_(
        SessionRecord.ended_at < cutoff,
        (SessionRecord.ended_at.is_(None) & (SessionRecord.queued_at < cutoff)),
    )
    report.counts["sessions"] = await _count(session, SessionRecord, old)
    if report.dry_run:
        return
    ids = select(SessionRecord.id).where(old).scalar_subquery()
    await session.execute(
        update(Recording).where(Recording.session_id.in_(ids)).values(session_id=None)
    )
    await session.execute(update(Case).where(Case.session_id.in_(ids)).values(session_id=None))
    await session.execute(delete(SessionRecord).where(old))


async def _tickets(session: AsyncSession, report: PurgeReport, cutoff: datetime) -> None:
    where = (
        Ticket.status.in_([TicketStatus.DONE, TicketStatus.RETURNED]),
        Ticket.resolved_at < cutoff,
    )
    report.counts["tickets"] = await _count(session, Ticket, *where)
    if not report.dry_run:
        await session.execute(delete(Ticket).where(*where))
