"""Shared fixtures: where the real Redis, PostgreSQL and Chromium are.

A test that needs one of them asks for its fixture; a test that needs another outside
part calls ``need()`` (``compose``: tests/foundation/test_deploy.py) or carries a
marker checked here once per run (``netns``: root, ``ip`` and ``unshare``; see
tests/media/netns.py). When the part is missing the test is skipped with the reason,
unless ``HOTLINE_REQUIRE`` names it: ``.ci/run`` sets
``HOTLINE_REQUIRE=redis,postgres,browser,compose,netns``, and then a missing part is a
failure, so CI can never pass by skipping. A newcomer's ``make test`` passes without
any of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from cases import migrate
from cases.db import Database, create_engine
from cases.models import Base

pytest_plugins = ["tests.app"]


def _required() -> set[str]:
    return {part.strip() for part in os.environ.get("HOTLINE_REQUIRE", "").split(",") if part}


def need(service: str, reason: str) -> NoReturn:
    """Skip the current test for ``reason``, or fail if ``service`` is required."""
    if service in _required():
        pytest.fail(f"{service} is required (HOTLINE_REQUIRE) but unavailable: {reason}")
    pytest.skip(f"{reason} (set HOTLINE_REQUIRE={service} to make this a failure)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``netns`` test runs only where network namespaces can be made (checked once)."""
    if item.get_closest_marker("netns") is not None:
        from tests.media.netns import netns_unavailable

        reason = netns_unavailable()
        if reason is not None:
            need("netns", reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a real Redis server, from ``REDIS_URL``."""
    url = os.environ.get("REDIS_URL")
    if not url:
        need("redis", "REDIS_URL is not set")
    assert url is not None
    return url


@pytest.fixture(scope="session")
def redis_socket(redis_url: str) -> Iterator[str]:
    """The path of a Unix socket relayed to the test Redis by ``socat``: reachable from
    inside a network namespace (the file system is shared) and a ``unix://`` URL."""
    socat = shutil.which("socat")
    if socat is None:
        need("redis", "socat is needed to relay Redis to a Unix socket (.ci/run installs it)")
    parsed = urlsplit(redis_url)
    directory = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
    path = directory / "redis.sock"
    target = f"TCP:{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"
    proc = subprocess.Popen([socat, f"UNIX-LISTEN:{path},fork,mode=600", target])
    try:
        deadline = time.monotonic() + 5
        while not path.exists():
            if time.monotonic() > deadline:
                pytest.fail("socat did not create its socket")
            time.sleep(0.02)
        yield str(path)
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real, empty-able PostgreSQL database, from ``DATABASE_URL``."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        need("postgres", "DATABASE_URL does not name a PostgreSQL database")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the system Chromium (Debian's ``chromium`` package)."""
    path = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium")
    if not path:
        need("browser", "chromium is not installed")
    assert path is not None
    return path


# ---------------------------------------------------------------- databases
@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The same tests run on SQLite (a fresh file) and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hotline.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database; downgraded to nothing afterwards."""
    await _reset(database_url)
    await migrate.upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.close()
        await migrate.downgrade(database_url, "base")


async def _reset(url: str) -> None:
    """Drop what a crashed earlier run may have left in a shared PostgreSQL database."""
    if not url.startswith("postgresql"):
        return
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()
