"""Typed keys for what the application shares between handlers and tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from jinja2 import Environment

from cases.db import Database

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from hotline.auth import Authenticator, Csrf
    from hotline.contact import CallerTokenQuota
    from hotline.metrics import Metrics
    from hotline.rooms import MediaRooms
    from hotline.settings import Settings
    from media.manager import RoomManager
    from signaling.room_forwarding import PlacedRooms
    from signaling.tokens import TokenSigner

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
REDIS: web.AppKey[Redis | None] = web.AppKey("redis")
AUTH: web.AppKey[Authenticator] = web.AppKey("auth")
CSRF: web.AppKey[Csrf] = web.AppKey("csrf")
TOKENS: web.AppKey[TokenSigner] = web.AppKey("tokens")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
TEMPLATES: web.AppKey[Environment] = web.AppKey("templates")
MEDIA: web.AppKey[RoomManager] = web.AppKey("media")
ROOMS: web.AppKey[MediaRooms] = web.AppKey("rooms")
PLACED_ROOMS: web.AppKey[PlacedRooms] = web.AppKey("placed_rooms")  # with Redis only
CALLER_QUOTA: web.AppKey[CallerTokenQuota] = web.AppKey("caller_quota")
