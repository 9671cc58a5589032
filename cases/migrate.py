"""Run the Alembic migrations from code (the ``hotline migrate`` command, tests).

Alembic's ``env.py`` accepts a ready connection through ``config.attributes``, so
migrations run on the same async engine as the application, inside a running loop.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from cases.db import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def _run(url: str, fn: object, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:

            def go(sync_conn: Connection) -> None:
                config = alembic_config()
                config.attributes["connection"] = sync_conn
                fn(config, revision)  # type: ignore[operator]

            await conn.run_sync(go)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, command.upgrade, revision)


async def downgrade(url: str, revision: str = "base") -> None:
    await _run(url, command.downgrade, revision)


async def current_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()
