"""The audit log: who did what to which record, append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cases.models import AuditEntry


async def record(
    *,
    session: AsyncSession,
    actor: str,
    action: str,
    actor_user_id: int | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor[:100],
        actor_user_id=actor_user_id,
        action=action,
        target=target,
        detail=detail or {},
    )
    session.add(entry)
    await session.flush()
    return entry


async def recent(
    *, session: AsyncSession, action: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(await session.scalars(query))
