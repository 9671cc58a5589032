"""Records the back-office tests start from: staff and recorded sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases import staff
from cases.db import Database
from cases.models import Role, SessionChannel, SessionOutcome, SessionRecord, utcnow
from hotline.auth import hash_password

PASSWORD = "correct horse battery"


async def add_user(db: Database, username: str, *roles: Role) -> int:
    async with db.session() as session:
        user = await staff.create_user(
            session=session,
            username=username,
            display_name=username.upper(),
            password_hash=hash_password(PASSWORD),
            roles=list(roles),
            skills={"general": 3} if any(r.is_agent for r in roles) else None,
        )
        return user.id


async def add_session(
    db: Database,
    session_id: str,
    *,
    agent_user_id: int | None,
    detail: dict[str, Any] | None = None,
    ended_at: datetime | None = None,
) -> None:
    now = ended_at or utcnow()
    async with db.session() as session:
        session.add(
            SessionRecord(
                id=session_id,
                queue="general",
                channel=SessionChannel.WEB_VOICE,
                agent_user_id=agent_user_id,
                queued_at=now,
                answered_at=now,
                ended_at=now,
                outcome=SessionOutcome.ANSWERED,
                detail=detail or {},
            )
        )
