"""The demo district: three towns with their villages, duty lawyers, mediators, a notary,
a back-office officer, a supervisor, an admin.

Seeded once: a second run finds the staff already there and adds nothing. Passwords
are random and returned so the command line can print them once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cases import staff
from cases.db import Database
from cases.models import Role, ServicePointLevel
from hotline.auth import hash_password


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    roles: tuple[Role, ...]
    skills: dict[str, int]
    tier: int
    languages: tuple[str, ...]
    town: str | None
    shifts: tuple[str, ...] = ()


# Place names are proper nouns: shown as written in every language.
TOWNS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "QH-DB",
        "东坝镇",
        (("QH-DB-01", "东坝村"), ("QH-DB-02", "柳河村"), ("QH-DB-03", "杨庄村")),
    ),
    (
        "QH-XS",
        "西山镇",
        (("QH-XS-01", "石门村"), ("QH-XS-02", "青龙村"), ("QH-XS-03", "桃园村")),
    ),
    (
        "QH-NH",
        "南湖街道",
        (("QH-NH-01", "湖滨社区"), ("QH-NH-02", "文昌社区"), ("QH-NH-03", "新华社区")),
    ),
)

DEMO_STAFF = (
    DemoUser(
        "lawyer.wang",
        "王律师",
        (Role.LAWYER,),
        {"labour_wages": 5, "contract_debt": 3, "general": 3},
        1,
        ("zh", "zh-x-sichuan"),
        "QH-DB",
    ),
    DemoUser(
        "lawyer.li",
        "李律师",
        (Role.LAWYER,),
        {"marriage_family": 5, "property_housing": 4, "general": 3},
        1,
        ("zh",),
        "QH-XS",
    ),
    DemoUser(
        "lawyer.zhang",
        "张律师",
        (Role.LAWYER,),
        {"traffic": 4, "consumer": 3, "general": 4},
        2,
        ("zh", "en"),
        "QH-NH",
    ),
    DemoUser(
        "lawyer.chen",
        "陈律师",
        (Role.LAWYER, Role.LEGAL_AID),
        {"criminal": 4, "administrative": 3, "legal_aid": 4},
        2,
        ("zh",),
        None,
        ("mon-fri 08:30-17:30", "daily 18:00-08:00"),  # day desk and night duty
    ),
    DemoUser(
        "mediator.zhao",
        "赵调解员",
        (Role.MEDIATOR,),
        {"mediation_intake": 5, "marriage_family": 3},
        1,
        ("zh", "zh-x-sichuan"),
        "QH-DB",
    ),
    DemoUser(
        "mediator.sun",
        "孙调解员",
        (Role.MEDIATOR,),
        {"mediation_intake": 4, "property_housing": 3},
        2,
        ("zh",),
        "QH-XS",
    ),
    DemoUser("notary.zhou", "周公证员", (Role.NOTARY,), {"notarization": 5}, 1, ("zh",), None),
    DemoUser("supervisor.liu", "刘班长", (Role.SUPERVISOR,), {}, 1, ("zh",), None),
    # The back office: works the tickets of the legal aid centre, mediation committee …
    DemoUser("backoffice.wu", "吴专员", (Role.BACK_OFFICE,), {}, 1, ("zh",), None),
    DemoUser("admin", "系统管理员", (Role.ADMIN,), {}, 1, ("zh",), None),
)


async def seed_demo(db: Database) -> dict[str, str] | None:
    """Seed the demo district; returns {username: password}, or None if already seeded."""
    async with db.session() as session:
        if await staff.count_users(session=session) > 0:
            return None
        district = await staff.add_service_point(
            session=session,
            code="QH",
            name="清河区公共法律服务中心",
            level=ServicePointLevel.DISTRICT,
        )
        towns = {}
        for code, name, villages in TOWNS:
            town = await staff.add_service_point(
                session=session, code=code, name=name, level=ServicePointLevel.TOWN, parent=district
            )
            for village_code, village_name in villages:
                await staff.add_service_point(
                    session=session,
                    code=village_code,
                    name=village_name,
                    level=ServicePointLevel.VILLAGE,
                    parent=town,
                )
            towns[code] = town
        passwords: dict[str, str] = {}
        for person in DEMO_STAFF:
            password = secrets.token_urlsafe(9)
            await staff.create_user(
                session=session,
                username=person.username,
                display_name=person.display_name,
                password_hash=hash_password(password),
                roles=person.roles,
                skills=person.skills,
                tier=person.tier,
                languages=person.languages,
                home_point_id=towns[person.town].id if person.town else district.id,
                shifts=person.shifts,
            )
            passwords[person.username] = password
    return passwords
