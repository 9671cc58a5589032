"""The district's places: district (区) → town/street (镇/街) → village/community (村/居).

Read from ``service_points`` (``cases.models.ServicePoint``, seeded by
``hotline.demo`` or by an administrator), for the caller page's town picker
(``GET /api/towns``) and wherever a place is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cases.models import ServicePoint, ServicePointLevel


@dataclass
class Place:
    code: str
    name: str
    level: ServicePointLevel
    children: list[Place] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "name": self.name, "level": self.level.value}
        if self.level is not ServicePointLevel.VILLAGE:
            data["children"] = [c.to_json() for c in self.children]
        return data


async def tree(*, session: AsyncSession) -> list[Place]:
    """Every district with its towns and their villages, each level ordered by code."""
    points = list(await session.scalars(select(ServicePoint).order_by(ServicePoint.code)))
    places = {
        p.id: Place(code=p.code, name=p.name, level=ServicePointLevel(p.level)) for p in points
    }
    roots: list[Place] = []
    for point in points:
        place = places[point.id]
        parent = places.get(point.parent_id) if point.parent_id is not None else None
        if parent is None:
            roots.append(place)
        else:
            parent.children.append(place)
    return roots


async def is_place(*, session: AsyncSession, code: str) -> bool:
    """Whether ``code`` names a town or a village of the district (a caller's town)."""
    if not code or len(code) > 32:
        return False
    found = await session.scalar(
        select(ServicePoint.id).where(
            ServicePoint.code == code,
            ServicePoint.level.in_([ServicePointLevel.TOWN, ServicePointLevel.VILLAGE]),
        )
    )
    return found is not None
