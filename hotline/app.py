"""The composition root: ``create_app(settings)`` wires every package together.

The database engine, the Redis client and every background task are created and
torn down by ``app.cleanup_ctx``; nothing is started at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from agent_console.render import STATIC, environment
from cases.db import Database
from hotline import keys
from hotline.addresses import client_address
from hotline.auth import (
    PUBLIC,
    Authenticator,
    Csrf,
    MemoryFailureCounter,
    PasswordChecks,
    RedisFailureCounter,
    SignInLimits,
    allow,
)
from hotline.contact import CallerTokenQuota, Contact, load_roster, routing_config
from hotline.history import history_pass
from hotline.history import routes as history_routes
from hotline.media_web import routes as media_routes
from hotline.media_web import sfu_ice_servers
from hotline.metrics import Metrics
from hotline.office import keep_number, known_town, reveal_number, setup_office, survey_token
from hotline.proxies import forwarded_middleware
from hotline.recordings_web import discard_voicemail
from hotline.recordings_web import routes as recording_routes
from hotline.rooms import MediaRooms
from hotline.settings import Settings
from hotline.web import routes, security_middleware
from media.manager import RoomManager
from recordings.store import DatabaseRecordingSink
from signaling.backplane.base import Backplane
from signaling.backplane.memory import MemoryBackplane
from signaling.backplane.redis import RedisBackplane
from signaling.errors import BackplaneError
from signaling.media_nodes import MediaNodeLoad, RedisMediaNodes
from signaling.room_forwarding import PlacedRooms
from signaling.rooms import RoomService
from signaling.tokens import TokenSigner
from signaling.web import setup_signaling

log = logging.getLogger("hotline.app")

# A media node's heartbeat: its load every second, live for three (docs/operations.md).
MEDIA_HEARTBEAT_S = 1.0
MEDIA_NODE_TTL_MS = 3000


class StartupError(Exception):
    """A service the configuration names does not answer at start."""


async def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        # The client's address first: the security middleware logs and throttles by it.
        middlewares=[forwarded_middleware(settings.trusted_proxies), security_middleware],
        client_max_size=1024 * 1024,
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()
    app[keys.TEMPLATES] = environment()
    app[keys.CSRF] = Csrf(settings.secret_key)
    app[keys.TOKENS] = TokenSigner(settings.secret_key)
    app[keys.ROOMS] = MediaRooms(app)
    if settings.redis_url:
        # Many processes: rooms are placed on media nodes and reached through the home.
        nodes = RedisMediaNodes(settings.redis_url, prefix=settings.redis_prefix + ":media")
        placed = PlacedRooms(app[keys.ROOMS], nodes)
        app[keys.ROOMS].room_closed = placed.room_closed
        app[keys.PLACED_ROOMS] = placed
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_auth)
    app.cleanup_ctx.append(_media)
    app.cleanup_ctx.append(_media_node)
    app.router.add_routes(routes)
    app.router.add_routes(media_routes)
    app.router.add_routes(history_routes)
    app.router.add_routes(recording_routes)
    setup_office(app, settings.secret_key)
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    await _setup_contact_centre(app, settings)
    return app


async def _setup_contact_centre(app: web.Application, settings: Settings) -> None:
    """Routing over the backplane, with the roster of agents read from the record."""
    queues = tuple(q.id for q in routing_config(()).queues)
    db = Database(settings.database_url)
    try:
        roster = await load_roster(db, queues)
    except SQLAlchemyError as exc:
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else type(exc).__name__
        raise StartupError(
            f"cannot read staff from the database ({reason}): run `hotline migrate` first"
        ) from exc
    finally:
        await db.close()
    config = routing_config(roster, settings.routing_config, settings.timezone)
    contact = Contact(app, tuple(q.id for q in config.queues))

    def backplane() -> Backplane:
        if settings.redis_url:
            return RedisBackplane(settings.redis_url, prefix=settings.redis_prefix + ":routing")
        return MemoryBackplane()

    setup_signaling(
        app,
        backplane_factory=backplane,
        authenticate=contact.authenticate,
        record_outcome=contact.outcomes,  # writes batches (signaling.driver.RecordsBatches)
        create_ticket=contact.outcomes.create_ticket,
        load_profile=contact.load_profile,
        engine_config=config,
        resume_secret=hashlib.sha256(b"hotline-resume:" + settings.secret_key.encode()).digest(),
        path="/ws",
        rooms=_room_service(app),
        allowed_origins=settings.allowed_origins,
        sockets_per_address=settings.sockets_per_address,
        client_address=client_address,
        tickets_per_hour=settings.tickets_per_hour,
        grace_s=float(settings.resume_grace_s),
        refused=app[keys.METRICS].refused,
        # The record behind the caller's town and the callback number store (hotline.office).
        known_town=functools.partial(known_town, app),
        keep_number=functools.partial(keep_number, app),
        discard_recording=functools.partial(discard_voicemail, app),
        reveal_number=functools.partial(reveal_number, app),
        survey_token=functools.partial(survey_token, app),
        history_pass=functools.partial(history_pass, app),
    )
    app.cleanup_ctx.append(_caller_quota)
    # The WebSocket authenticates its peers itself (staff cookie or caller token).
    for resource in app.router.resources():
        if resource.canonical == "/ws":
            for route in resource:
                allow(PUBLIC)(route.handler)


async def _caller_quota(app: web.Application) -> AsyncIterator[None]:
    """Caller tokens per address an hour, counted in Redis when there is one."""
    settings = app[keys.SETTINGS]
    redis = app[keys.REDIS]
    counter: MemoryFailureCounter | RedisFailureCounter = (
        RedisFailureCounter(redis, prefix=f"{settings.redis_prefix}:caller-tokens:")
        if redis is not None
        else MemoryFailureCounter()
    )
    app[keys.CALLER_QUOTA] = CallerTokenQuota(counter, settings.caller_tokens_per_hour)
    yield


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    app[keys.DB] = db
    try:
        yield
    finally:
        await db.close()


async def _media(app: web.Application) -> AsyncIterator[None]:
    """This process's media node: rooms, recordings to the record, load in /metrics."""
    settings = app[keys.SETTINGS]
    manager = RoomManager(
        ice_servers=sfu_ice_servers(settings),  # explicit, possibly empty: never aiortc's STUN
        recording_dir=settings.data_dir / "recordings",
        recording_sink=DatabaseRecordingSink(app[keys.DB]),
        announce=app[keys.ROOMS].announce,  # recording_started before any file starts
        on_left=app[keys.ROOMS].on_left,  # room_left to a participant media dropped
        capacity_rooms=settings.media_capacity_rooms,
    )
    app[keys.MEDIA] = manager
    app[keys.METRICS].watch_media(manager.load)
    try:
        yield
    finally:
        # Stops any recording (files finished and reported), closes every peer connection;
        # one room failing to report its recording does not keep the others open.
        await app[keys.ROOMS].aclose()
        for room_id in list(manager.rooms):
            try:
                await manager.close_room(room_id)
            except Exception:  # logged; shutdown goes on
                log.exception("media_room_close_failed", extra={"room": room_id})


def _room_service(app: web.Application) -> RoomService:
    placed = app.get(keys.PLACED_ROOMS)
    return placed if placed is not None else app[keys.ROOMS]


def _node_load(manager: RoomManager) -> MediaNodeLoad:
    load = manager.load(sample_cpu=False)  # the CPU figure stays /metrics' own
    return MediaNodeLoad(
        rooms=load.rooms,
        participants=load.participants,
        capacity=load.capacity_rooms,
        load=load.load,
    )


async def _media_node(app: web.Application) -> AsyncIterator[None]:
    """With Redis: publish this node's media load (heartbeat) and serve forwarded rooms."""
    placed = app.get(keys.PLACED_ROOMS)
    if placed is None:
        yield  # one process: every room is here
        return
    nodes = placed.nodes
    manager = app[keys.MEDIA]
    try:
        await nodes.start()
        await nodes.publish(_node_load(manager), ttl_ms=MEDIA_NODE_TTL_MS)
    except BackplaneError as exc:
        await nodes.close()
        raise StartupError(f"media node directory: {exc}") from exc

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(MEDIA_HEARTBEAT_S)
            try:
                await nodes.publish(_node_load(manager), ttl_ms=MEDIA_NODE_TTL_MS)
            except BackplaneError as exc:
                log.warning("media_heartbeat_failed", extra={"error": str(exc)})

    tasks = [
        asyncio.create_task(placed.run(), name="media-node-forwarding"),
        asyncio.create_task(heartbeat(), name="media-node-heartbeat"),
    ]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(nodes.wait_ready(), 5.0)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("media node task ended with %r", result)
        await nodes.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.redis_url is None:
        app[keys.REDIS] = None
        yield
        return
    client: Redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise StartupError(f"Redis at {settings.redis_url} does not answer: {exc}") from exc
    app[keys.REDIS] = client
    try:
        yield
    finally:
        await client.aclose()


async def _auth(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    redis = app[keys.REDIS]
    failures: MemoryFailureCounter | RedisFailureCounter = (
        RedisFailureCounter(redis, prefix=f"{settings.redis_prefix}:signin-fail:")
        if redis is not None
        else MemoryFailureCounter()
    )
    passwords = PasswordChecks(settings.password_threads)
    app[keys.METRICS].signin_checks.set_function(lambda: passwords.in_progress)
    app[keys.AUTH] = Authenticator(
        db=app[keys.DB],
        failures=failures,
        limits=SignInLimits(
            user_address=settings.signin_max_failures,
            user=settings.signin_user_max_failures,
            address=settings.signin_address_max_failures,
            window_s=settings.signin_window_s,
        ),
        passwords=passwords,
        session_ttl_s=settings.session_ttl_s,
    )
    try:
        yield
    finally:
        passwords.close()
