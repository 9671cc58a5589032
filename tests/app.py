"""Fixtures for tests of the whole application: a migrated database with a few staff."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from cases import staff
from cases.db import Database
from cases.models import Role
from hotline.app import create_app
from hotline.auth import hash_password
from hotline.settings import Settings, load_settings

PASSWORD = "correct horse battery"
STAFF = {
    "sup": [Role.SUPERVISOR],
    "law": [Role.LAWYER],
    "adm": [Role.ADMIN],
}


def make_settings(database_url: str, data_dir: Path, **env: str) -> Settings:
    return load_settings(
        {
            "HOTLINE_SECRET_KEY": "k" * 40,
            "HOTLINE_SECURE_COOKIES": "0",
            "HOTLINE_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            **env,
        }
    )


@pytest.fixture
async def seeded(db: Database) -> Database:
    async with db.session() as session:
        for name, roles in STAFF.items():
            await staff.create_user(
                session=session,
                username=name,
                display_name=name.upper(),
                password_hash=hash_password(PASSWORD),
                roles=roles,
                skills={"general": 3} if Role.LAWYER in roles else None,
            )
    return db


AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def make_client(
    seeded: Database, tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> AppClient:
    prefix = f"test-{uuid.uuid4().hex[:10]}"  # the apps of one test share Redis keys

    async def make(**env: str) -> TestClient[web.Request, web.Application]:
        env.setdefault("HOTLINE_REDIS_PREFIX", prefix)
        app = await create_app(make_settings(seeded.url, tmp_path, **env))
        return await aiohttp_client(app)

    return make


async def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    """Fill the sign-in form as a browser would (pre-session cookie + CSRF field)."""
    form = await client.get("/signin")
    html = await form.text()
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/signin",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        allow_redirects=False,
    )
    return response.status
