"""Wiring the contact centre: routing configuration, identities and the record.

The routing engine knows nothing of the database and signaling knows nothing of
staff accounts; this module is where the composition root joins them:

- the routing configuration (queues per service category, tiers opening with the
  wait, green-channel classes) and the roster of agents from ``cases``;
- ``authenticate``: a staff session cookie, a caller's token or an invited party's room
  token → ``Identity``;
- ``OutcomeWriter``: what the routing driver writes durably (session outcomes and
  voicemail tickets), a batch per transaction.

Anonymous tokens (``signaling.tokens.TokenSigner``) come in two kinds:

- a *caller* token (``aud`` ``caller``, ``scope`` the queue ``hotline``), from
  ``POST /api/caller/token``, at most ``HOTLINE_CALLER_TOKENS_PER_HOUR`` per address
  an hour (``CallerTokenQuota``): it lets a caller wait in line and admits to no media
  room;
- a *room* token (``aud`` ``room``, ``scope`` one room id) for an invited party: it
  admits to that room only (``hotline.rooms``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cases import staff
from cases.db import Database
from cases.models import SessionChannel, SessionOutcome, SessionRecord, Ticket, User
from hotline import keys
from hotline.auth import SESSION_COOKIE, FailureCounter
from routing import actions as act
from routing.errors import RoutingError
from routing.ids import AgentId, Language, QueueId, Skill
from routing.model import AgentProfile, RoutingConfig, Shift, TierRule, default_queues
from signaling.driver import Recorded
from signaling.identity import Identity
from signaling.router import RecordedCall
from signaling.tokens import TokenClaims, TokenError

log = logging.getLogger("hotline.contact")

CALLER_AUDIENCE = "caller"
CALLER_SCOPE = "hotline"  # a caller token's scope: the queue, never a room
ROOM_AUDIENCE = "room"
ANONYMOUS_AUDIENCES = frozenset({CALLER_AUDIENCE, ROOM_AUDIENCE})
# Tier 1 (specialists) at once; tier 2 after 30 s; tier 3 after 90 s. A tier with
# nobody signed in does not hold the caller back (FreeSWITCH no-agent-no-wait).
DEFAULT_TIERS = (TierRule(1, 0.0), TierRule(2, 30.0), TierRule(3, 90.0))


class ConfigFileError(Exception):
    """The routing configuration file is unreadable or invalid."""


def utc_offset_s(timezone: str) -> float:
    """The centre's offset from UTC now (China has no daylight saving: +8 h all year)."""
    offset = datetime.now(ZoneInfo(timezone)).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def routing_config(
    roster: tuple[AgentProfile, ...], path: Path | None = None, timezone: str = "Asia/Shanghai"
) -> RoutingConfig:
    """The configuration from ``path`` (JSON, ``RoutingConfig.to_dict`` form) or the default."""
    if path is not None:
        try:
            data = json.loads(path.read_text())
            config = RoutingConfig.from_dict(data)
        except (OSError, ValueError, TypeError, KeyError, RoutingError) as exc:
            raise ConfigFileError(f"routing configuration {path}: {exc}") from exc
        return dataclasses.replace(config, roster=roster, utc_offset_s=utc_offset_s(timezone))
    queues = tuple(
        # A call's wrap-up lasts until its disposition is recorded (the agent's desk).
        dataclasses.replace(
            q, tiers=DEFAULT_TIERS, skip_empty_tiers=True, max_wait_s=600.0, wrap_up_s=None
        )
        for q in default_queues()
    )
    return RoutingConfig(queues=queues, roster=roster, utc_offset_s=utc_offset_s(timezone))


def agent_profile(user: User, queues: tuple[QueueId, ...]) -> AgentProfile | None:
    """The routing view of a member of staff: skills, one tier for every queue, languages."""
    profile = user.profile
    if profile is None or not user.active:
        return None
    return AgentProfile(
        id=AgentId(user.username),
        skills={Skill(s.skill): s.proficiency for s in profile.skills},
        tiers=dict.fromkeys(queues, profile.tier),
        languages=frozenset(Language(lang) for lang in profile.languages),
        shifts=tuple(
            Shift(start=s.start, end=s.end, weekdays=tuple(s.weekdays)) for s in profile.shifts
        ),
        name=user.display_name,
    )


async def load_roster(db: Database, queues: tuple[QueueId, ...]) -> tuple[AgentProfile, ...]:
    async with db.session() as session:
        users = await staff.agents(session=session)
    return tuple(p for u in users if (p := agent_profile(u, queues)) is not None)


def caller_claims(request: web.Request, *, now: float) -> TokenClaims | None:
    """The caller or room token a request carries (``Authorization: Bearer`` or
    ``?token=``, which is all a browser's WebSocket can send), verified; ``None`` if
    absent or bad."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.query.get("token", "")
    if not token:
        return None
    try:
        return request.app[keys.TOKENS].verify(token, aud=ANONYMOUS_AUDIENCES, now=now)
    except TokenError as exc:
        log.info("caller_token_refused", extra={"reason": str(exc), "path": request.path})
        return None


def session_ref(session_id: str) -> str:
    """How signaling names a staff web session: a hash, so the cookie never travels."""
    return hashlib.sha256(b"hotline-ws-session:" + session_id.encode()).hexdigest()[:32]


class CallerTokenQuota:
    """At most ``per_hour`` caller tokens an hour per client address (shared through
    Redis when the platform runs on it). A town station's booths share one address."""

    WINDOW_S = 3600

    def __init__(self, counter: FailureCounter, per_hour: int) -> None:
        self.counter = counter
        self.per_hour = per_hour

    async def take(self, address: str) -> bool:
        """Count one token for ``address``; ``False`` if its hour's tokens are spent."""
        # An atomic reservation: tokens asked for at once cannot all pass.
        return await self.counter.reserve(f"addr:{address}", self.per_hour, self.WINDOW_S)


class OutcomeWriter:
    """Writes what the routing driver records: each session's one terminal outcome and
    the voicemail tickets, many in one transaction (``write_batch``, which the driver
    hands batches of up to ``signaling.driver.BATCH_SIZE``; calling the writer with one
    outcome is a batch of one).

    Idempotent, as the driver requires: a session already recorded, or a voicemail
    ticket already taken for its session, is skipped, so a batch written again (after a
    failover, or a retry) changes nothing. All of a batch is written or none of it.
    """

    def __init__(self, database: Callable[[], Database]) -> None:
        self.database = database

    async def __call__(self, action: RecordedCall) -> None:
        await self.write_batch([action])

    async def create_ticket(self, action: act.CreateVoicemailTicket) -> None:
        await self.write_batch([action])

    async def write_batch(self, items: Sequence[Recorded]) -> None:
        tickets = [i for i in items if isinstance(i, act.CreateVoicemailTicket)]
        outcomes = [i for i in items if not isinstance(i, act.CreateVoicemailTicket)]
        async with self.database().session() as session:
            if outcomes:
                await self._sessions(session, outcomes)
            if tickets:
                await self._tickets(session, tickets)

    async def _sessions(self, session: AsyncSession, outcomes: list[RecordedCall]) -> None:
        ids = {o.session for o in outcomes}
        done = set(await session.scalars(select(SessionRecord.id).where(SessionRecord.id.in_(ids))))
        agents = {o.agent for o in outcomes if o.agent is not None}
        user_ids: dict[str, int] = {}
        if agents:
            found = await session.execute(
                select(User.username, User.id).where(User.username.in_(agents))
            )
            user_ids = dict(found.all())
        rows: list[dict[str, Any]] = []
        for action in outcomes:
            if action.session in done:
                continue  # one terminal outcome per session: a replay changes nothing
            done.add(action.session)
            rows.append(
                {
                    "id": action.session,
                    "queue": action.queue,
                    "channel": SessionChannel(action.channel),
                    "priority_class": action.priority,
                    "agent_user_id": user_ids.get(action.agent) if action.agent else None,
                    "queued_at": _ts(action.queued_at),
                    "offered_at": _ts(action.offered_at),
                    "answered_at": _ts(action.answered_at),
                    "ended_at": _ts(action.ended_at),
                    "outcome": SessionOutcome(action.outcome.value),
                    "detail": _detail(action),
                }
            )
        if rows:
            # One multi-row INSERT (ORM bulk insert), not a unit of work per object.
            await session.execute(insert(SessionRecord), rows)

    async def _tickets(
        self, session: AsyncSession, tickets: list[act.CreateVoicemailTicket]
    ) -> None:
        """A voicemail becomes a ticket a lawyer answers the next day (one per session)."""
        sessions = {t.session for t in tickets}
        done = set(
            await session.scalars(
                select(Ticket.session_id).where(
                    Ticket.kind == "voicemail", Ticket.session_id.in_(sessions)
                )
            )
        )
        for action in tickets:
            if action.session in done:
                continue
            done.add(action.session)
            session.add(
                Ticket(
                    kind="voicemail",
                    session_id=action.session,
                    department=action.queue,
                    body=action.reason,
                )
            )


class Contact:
    """The callables ``setup_signaling`` needs, bound to this application."""

    def __init__(self, app: web.Application, queues: tuple[QueueId, ...]) -> None:
        self.app = app
        self.queues = queues
        self.outcomes = OutcomeWriter(lambda: app[keys.DB])

    async def authenticate(self, request: web.Request) -> Identity | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            viewer = await self.app[keys.AUTH].viewer(cookie)
            if viewer is not None:
                return Identity(
                    kind="staff",
                    user_id=str(viewer.user_id),
                    display_name=viewer.display_name,
                    agent_id=viewer.username if viewer.is_agent else None,
                    roles=frozenset(r.value for r in viewer.roles),
                    session_ref=session_ref(viewer.session_id),
                    expires_at=viewer.expires_at.timestamp(),
                )
        claims = caller_claims(request, now=time.time())
        if claims is None:
            return None
        return Identity(
            kind="caller",
            user_id=claims.sub,
            display_name="caller",
            subject=claims.sub,
            room=claims.scope if claims.aud == ROOM_AUDIENCE else None,
        )

    async def load_profile(self, identity: Identity) -> AgentProfile | None:
        if identity.agent_id is None:
            return None
        async with self.app[keys.DB].session() as session:
            user = await staff.user_by_username(session=session, username=identity.agent_id)
            return agent_profile(user, self.queues) if user else None

    async def record_outcome(self, action: RecordedCall) -> None:
        """Write a session's one terminal outcome; a replayed action changes nothing."""
        await self.outcomes(action)

    async def create_ticket(self, action: act.CreateVoicemailTicket) -> None:
        """A voicemail becomes a ticket a lawyer answers the next day."""
        await self.outcomes.create_ticket(action)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _detail(action: RecordedCall) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for name in (
        "caller",
        "resumed_from",
        "transferred_to",
        "town",
        "callback_attempt",
        "callback_result",
    ):
        value = getattr(action, name)
        if value is not None:
            detail[name] = value
    return detail
