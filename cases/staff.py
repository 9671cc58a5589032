"""Staff accounts, roles, agent profiles and service points (keyword-only repository)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cases.db import DatabaseError
from cases.models import (
    AgentProfile,
    AgentShift,
    AgentSkill,
    Role,
    ServicePoint,
    ServicePointLevel,
    User,
    UserRole,
)

USERNAME_MAX = 64


class StaffError(DatabaseError):
    """A staff record would be invalid (bad username, duplicate, bad proficiency)."""


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_shift(text: str) -> tuple[tuple[int, ...], str, str]:
    """``"mon-fri 08:30-17:30"``, ``"sat,sun 09:00-12:00"``, ``"daily 18:00-08:00"`` (night).

    Returns (weekdays with 0 = Monday, start, end). Times are the centre's local time.
    """
    days_text, _, times = text.strip().lower().partition(" ")
    start, sep, end = times.strip().partition("-")
    if not sep:
        raise StaffError(
            f"a shift is 'DAYS HH:MM-HH:MM', e.g. 'mon-fri 08:30-17:30' (got {text!r})"
        )
    days: set[int] = set()
    for part in days_text.split(","):
        if part in {"daily", "all"}:
            days.update(range(7))
            continue
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise StaffError(f"unknown weekday in shift {text!r}: use mon … sun or daily")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    for hhmm in (start, end):
        hh, colon, mm = hhmm.partition(":")
        if not (colon and hh.isdigit() and mm.isdigit() and len(mm) == 2):
            raise StaffError(f"shift times are HH:MM (got {hhmm!r} in {text!r})")
        if not (0 <= int(hh) <= 24 and 0 <= int(mm) < 60) or (int(hh) == 24 and int(mm) > 0):
            raise StaffError(f"shift time {hhmm!r} is out of range")
    return tuple(sorted(days)), start, end


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > USERNAME_MAX or not all(c.isalnum() or c in "._-" for c in name):
        raise StaffError(
            f"username must be 1–64 letters, digits, '.', '_' or '-' (got {username!r})"
        )
    return name


async def create_user(
    *,
    session: AsyncSession,
    username: str,
    display_name: str,
    password_hash: str,
    roles: Iterable[Role],
    skills: Mapping[str, int] | None = None,
    tier: int = 1,
    languages: Iterable[str] = ("zh",),
    home_point_id: int | None = None,
    shifts: Iterable[str] = (),
) -> User:
    """Add a member of staff; agents (lawyer, mediator, notary, legal aid) get a profile."""
    username = _check_username(username)
    role_set = frozenset(roles)
    if not role_set:
        raise StaffError("a user needs at least one role")
    if not 1 <= tier <= 9:
        raise StaffError(f"tier must be 1–9 (got {tier})")
    for skill, level in (skills or {}).items():
        if not 1 <= level <= 5:
            raise StaffError(f"proficiency for {skill!r} must be 1–5 (got {level})")
    rota = [parse_shift(text) for text in shifts]
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=password_hash,
        roles=[UserRole(role=r) for r in sorted(role_set)],
        profile=None,
    )
    if any(r.is_agent for r in role_set):
        user.profile = AgentProfile(
            tier=tier,
            languages=list(languages),
            home_point_id=home_point_id,
            skills=[AgentSkill(skill=s, proficiency=p) for s, p in (skills or {}).items()],
            shifts=[AgentShift(weekdays=list(d), start=a, end=b) for d, a, b in rota],
        )
    elif rota:
        raise StaffError("only agents (lawyer, mediator, notary, legal aid) have a duty rota")
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise StaffError(f"username {username!r} is taken") from exc
    return user


async def user_by_username(*, session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username.strip()))


async def user_by_id(*, session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def count_users(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(User.id))) or 0)


async def add_service_point(
    *,
    session: AsyncSession,
    code: str,
    name: str,
    level: ServicePointLevel,
    parent: ServicePoint | None = None,
) -> ServicePoint:
    """District → town → village: a point's parent is exactly one level up."""
    order = list(ServicePointLevel)
    if (parent is None) != (level is ServicePointLevel.DISTRICT):
        raise StaffError("only a district has no parent")
    if parent is not None and order.index(parent.level) != order.index(level) - 1:
        raise StaffError(f"a {level.value} must sit under a {order[order.index(level) - 1].value}")
    point = ServicePoint(code=code, name=name, level=level, parent_id=parent.id if parent else None)
    session.add(point)
    await session.flush()
    return point


async def agents(*, session: AsyncSession) -> list[User]:
    """Active staff with an agent profile, by username."""
    rows = await session.scalars(
        select(User).join(AgentProfile).where(User.active.is_(True)).order_by(User.username)
    )
    return list(rows)
