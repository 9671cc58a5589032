"""The durable record on SQLite and PostgreSQL: migrations, staff, service points, audit."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from cases import audit, migrate, staff
from cases.db import Database, DatabaseError, async_url, create_engine
from cases.models import Base, Role, ServicePointLevel, SessionOutcome, SessionRecord
from cases.staff import StaffError
from hotline.contact import agent_profile
from routing.ids import QueueId
from routing.model import Shift


class TestMigrations:
    async def test_upgrade_matches_models(self, db: Database) -> None:
        """After `upgrade head` the schema is exactly what the models declare."""

        def diff(conn: object) -> list[object]:
            context = MigrationContext.configure(conn)  # type: ignore[arg-type]
            return list(compare_metadata(context, Base.metadata))

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
        assert await migrate.current_revision(db.url) == "0004"

    async def test_downgrade_removes_everything_and_upgrade_again(self, database_url: str) -> None:
        """Downgrade to base leaves only Alembic's table; upgrading again works."""
        await migrate.upgrade(database_url)
        await migrate.downgrade(database_url, "base")
        engine = create_engine(database_url)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        assert tables <= {"alembic_version"}
        await migrate.upgrade(database_url)
        assert await migrate.current_revision(database_url) == "0004"
        await migrate.downgrade(database_url, "base")


class TestStaff:
    async def test_agent_gets_profile_with_skills(self, db: Database) -> None:
        """An agent role brings a profile with skills, tier and languages."""
        async with db.session() as session:
            await staff.create_user(
                session=session,
                username="lawyer.a",
                display_name="A",
                password_hash="x",
                roles=[Role.LAWYER],
                skills={"labour_wages": 5},
                tier=2,
                languages=["zh", "sichuanese"],
            )
        async with db.session() as session:
            user = await staff.user_by_username(session=session, username="lawyer.a")
            assert user is not None
            assert user.role_set == {Role.LAWYER}
            assert user.profile is not None
            assert user.profile.tier == 2
            assert {(s.skill, s.proficiency) for s in user.profile.skills} == {("labour_wages", 5)}
            assert user.profile.languages == ["zh", "sichuanese"]
            assert [u.username for u in await staff.agents(session=session)] == ["lawyer.a"]

    async def test_supervisor_has_no_profile(self, db: Database) -> None:
        """Non-agent staff have no routing profile."""
        async with db.session() as session:
            user = await staff.create_user(
                session=session,
                username="sup",
                display_name="",
                password_hash="x",
                roles=[Role.SUPERVISOR],
            )
            assert user.profile is None
            assert user.display_name == "sup"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"username": "bad name"}, "username"),
            ({"username": ""}, "username"),
            ({"roles": []}, "role"),
            ({"skills": {"x": 6}}, "proficiency"),
            ({"skills": {"x": 0}}, "proficiency"),
            ({"tier": 0}, "tier"),
        ],
    )
    async def test_invalid_staff_is_refused(
        self, db: Database, kwargs: dict[str, object], message: str
    ) -> None:
        """Bad usernames, no roles, proficiency outside 1–5 and bad tiers are refused."""
        base: dict[str, object] = {
            "username": "ok",
            "display_name": "ok",
            "password_hash": "x",
            "roles": [Role.LAWYER],
        }
        async with db.session() as session:
            with pytest.raises(StaffError, match=message):
                await staff.create_user(session=session, **(base | kwargs))  # type: ignore[arg-type]

    async def test_duplicate_username_is_refused(self, db: Database) -> None:
        """A taken username raises StaffError, not a driver error."""
        for attempt in range(2):
            async with db.session() as session:
                if attempt == 0:
                    await staff.create_user(
                        session=session,
                        username="dup",
                        display_name="d",
                        password_hash="x",
                        roles=[Role.ADMIN],
                    )
                else:
                    with pytest.raises(StaffError, match="taken"):
                        await staff.create_user(
                            session=session,
                            username="dup",
                            display_name="d",
                            password_hash="x",
                            roles=[Role.ADMIN],
                        )


class TestServicePoints:
    async def test_three_tiers(self, db: Database) -> None:
        """District → town → village, each under the level above."""
        async with db.session() as session:
            district = await staff.add_service_point(
                session=session, code="D", name="D", level=ServicePointLevel.DISTRICT
            )
            town = await staff.add_service_point(
                session=session, code="T", name="T", level=ServicePointLevel.TOWN, parent=district
            )
            village = await staff.add_service_point(
                session=session, code="V", name="V", level=ServicePointLevel.VILLAGE, parent=town
            )
            assert village.parent_id == town.id
            with pytest.raises(StaffError, match="under a town"):
                await staff.add_service_point(
                    session=session,
                    code="X",
                    name="X",
                    level=ServicePointLevel.VILLAGE,
                    parent=district,
                )
            with pytest.raises(StaffError, match="only a district"):
                await staff.add_service_point(
                    session=session, code="Y", name="Y", level=ServicePointLevel.TOWN
                )


class TestRecords:
    async def test_session_outcome_and_audit_round_trip(self, db: Database) -> None:
        """A session's outcome enum and JSON detail, and audit entries, survive a round trip."""
        async with db.session() as session:
            session.add(
                SessionRecord(
                    id="s1",
                    queue="labour_wages",
                    channel="phone",
                    outcome=SessionOutcome.ANSWERED,
                    detail={"tier": 2},
                )
            )
            await audit.record(session=session, actor="admin", action="recording.read", target="r1")
        async with db.session() as session:
            row = await session.scalar(select(SessionRecord))
            assert row is not None
            assert row.outcome is SessionOutcome.ANSWERED
            assert row.detail == {"tier": 2}
            entries = await audit.recent(session=session, action="recording.read")
            assert [e.target for e in entries] == ["r1"]


class TestDatabaseUrl:
    def test_maps_to_async_drivers(self) -> None:
        """Plain sqlite and postgresql URLs are mapped to aiosqlite and asyncpg."""
        assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
        assert async_url("postgresql://u@h/d").startswith("postgresql+asyncpg://")

    @pytest.mark.parametrize("url", ["mysql://h/d", "not a url"])
    def test_refuses_others(self, url: str) -> None:
        """Unsupported or malformed URLs raise DatabaseError with a clear message."""
        with pytest.raises(DatabaseError):
            async_url(url)

    async def test_ping_false_when_unreachable(self) -> None:
        """An unreachable database is reported as not ready, not raised."""
        db = Database("postgresql://nobody@127.0.0.1:1/none")
        assert await db.ping() is False
        await db.close()


class TestRota:
    @pytest.mark.parametrize(
        ("text", "parsed"),
        [
            ("mon-fri 08:30-17:30", ((0, 1, 2, 3, 4), "08:30", "17:30")),
            ("sat,sun 09:00-12:00", ((5, 6), "09:00", "12:00")),
            ("daily 18:00-08:00", ((0, 1, 2, 3, 4, 5, 6), "18:00", "08:00")),
            ("fri-mon 00:00-24:00", ((0, 4, 5, 6), "00:00", "24:00")),
        ],
    )
    def test_parse_shift(self, text: str, parsed: tuple[object, ...]) -> None:
        """Weekday ranges (also across the week's end) and night duty parse."""
        assert staff.parse_shift(text) == parsed

    @pytest.mark.parametrize(
        "text", ["mon-fri", "mon-fri 8-17", "xyz 08:00-09:00", "mon 25:00-26:00", "mon 08:5-09:00"]
    )
    def test_bad_shift(self, text: str) -> None:
        """Malformed shifts are refused with a message naming the format."""
        with pytest.raises(StaffError):
            staff.parse_shift(text)

    async def test_shifts_reach_routing_profile(self, db: Database) -> None:
        """An agent's stored rota becomes the routing profile's shifts."""
        async with db.session() as session:
            await staff.create_user(
                session=session,
                username="night",
                display_name="N",
                password_hash="x",
                roles=[Role.LAWYER],
                skills={"criminal": 4},
                shifts=["daily 18:00-08:00"],
            )
        async with db.session() as session:
            user = await staff.user_by_username(session=session, username="night")
            assert user is not None
            profile = agent_profile(user, (QueueId("criminal"),))
        assert profile is not None
        assert profile.shifts == (Shift(start="18:00", end="08:00", weekdays=tuple(range(7))),)
        assert profile.tiers == {"criminal": 1}

    async def test_rota_only_for_agents(self, db: Database) -> None:
        """A supervisor cannot be given a duty rota."""
        async with db.session() as session:
            with pytest.raises(StaffError, match="only agents"):
                await staff.create_user(
                    session=session,
                    username="s",
                    display_name="S",
                    password_hash="x",
                    roles=[Role.SUPERVISOR],
                    shifts=["daily 08:00-09:00"],
                )
