"""The callback number store: the full number of a caller who asked to be called back.

Everywhere else a number is masked (DOMAIN.md: 138****5678) or a keyed hash. Here the
full number is kept, because someone must dial it, and it is guarded:

- stored in E.164 (``cases.phone.parse``), sealed with AES-GCM under a key the
  application derives from its secret (``NumberSeal``); the table holds no clear number
  and nothing here logs one;
- kept until ``expires_at`` (the retention setting ``HOTLINE_RETAIN_CALLBACK_NUMBERS_DAYS``),
  then purged (``cases.retention``);
- ``reveal`` gives the number only when the caller of the function says the viewer is
  allowed (the agent holding that callback offer: signaling knows, this module does
  not), and audits every attempt: ``callback_number.reveal`` or
  ``callback_number.reveal_denied``.

Errors: ``CallbackNumberError`` (a ``cases.db.DatabaseError``) ├── ``NumberNotFound``
└── ``RevealRefused``; ``cases.phone.PhoneError`` for a number that is not one.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cases import audit, phone
from cases.db import Database, DatabaseError
from cases.models import CallbackNumber, utcnow

REVEAL = "callback_number.reveal"
REVEAL_DENIED = "callback_number.reveal_denied"


class CallbackNumberError(DatabaseError):
    pass


class NumberNotFound(CallbackNumberError):
    pass


class RevealRefused(CallbackNumberError):
    pass


class NumberSeal:
    """AES-256-GCM with a key derived from the application's secret; the session id is
    the associated data, so a sealed number copied to another row does not open."""

    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(b"hotline-callback-numbers:" + secret.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, number: str, session_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, number.encode(), session_id.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, session_id: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], session_id.encode()).decode()
        except InvalidTag as exc:
            raise CallbackNumberError("the stored number does not open with this key") from exc


async def store(
    *,
    session: AsyncSession,
    seal: NumberSeal,
    session_id: str,
    number: str,
    retention: timedelta,
    now: datetime | None = None,
) -> CallbackNumber:
    """Keep ``number`` for the callback of ``session_id`` (replacing an earlier one)."""
    now = now or utcnow()
    e164 = phone.parse(number)
    row = await session.scalar(
        select(CallbackNumber).where(CallbackNumber.session_id == session_id)
    )
    if row is None:
        row = CallbackNumber(session_id=session_id)
        session.add(row)
    row.sealed = seal.seal(e164, session_id)
    row.masked = phone.mask(e164)
    row.created_at = now
    row.expires_at = now + retention
    await session.flush()
    await audit.record(
        session=session,
        actor="system",
        action="callback_number.stored",
        target=f"session:{session_id}",
        detail={"number": row.masked, "expires_at": row.expires_at.isoformat()},
    )
    return row


async def keep(
    db: Database,
    *,
    seal: NumberSeal,
    session_id: str,
    number: str,
    retention: timedelta,
    now: datetime | None = None,
) -> str:
    """``store`` in a unit of work of its own; returns the mask to show."""
    async with db.session() as session:
        row = await store(
            session=session,
            seal=seal,
            session_id=session_id,
            number=number,
            retention=retention,
            now=now,
        )
        return row.masked


async def opened(*, session: AsyncSession, seal: NumberSeal, session_id: str) -> str | None:
    """The full number kept for ``session_id``, or None. Not audited here: the caller
    audits the reveal in the same unit of work (``cases.tickets.call_back_number``)."""
    sealed = await session.scalar(
        select(CallbackNumber.sealed).where(CallbackNumber.session_id == session_id)
    )
    return seal.open(sealed, session_id) if sealed is not None else None


async def masked(*, session: AsyncSession, session_id: str) -> str | None:
    """The number as screens show it, or None if none is kept."""
    value: str | None = await session.scalar(
        select(CallbackNumber.masked).where(CallbackNumber.session_id == session_id)
    )
    return value


async def reveal(
    *,
    db: Database,
    seal: NumberSeal,
    session_id: str,
    viewer: str,
    viewer_user_id: int | None,
    allowed: bool,
) -> str:
    """The full E.164 number for the agent holding the callback offer; audited.

    ``allowed`` is decided by the caller (who holds the offer); when it is false the
    refusal is audited (in its own committed unit of work, so the refusal stays in the
    log) and ``RevealRefused`` raised. ``NumberNotFound`` when no number is kept (never
    given, or purged after its retention).
    """
    async with db.session() as session:
        row = await session.scalar(
            select(CallbackNumber).where(CallbackNumber.session_id == session_id)
        )
        if row is None:
            raise NumberNotFound(f"no callback number for session {session_id}")
        await audit.record(
            session=session,
            actor=viewer,
            actor_user_id=viewer_user_id,
            action=REVEAL if allowed else REVEAL_DENIED,
            target=f"session:{session_id}",
            detail={"number": row.masked},
        )
        sealed = row.sealed
    if not allowed:
        raise RevealRefused("only the agent holding the callback offer sees the full number")
    return seal.open(sealed, session_id)
