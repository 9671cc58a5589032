"""Staff authentication and access control.

- Passwords: argon2id (argon2-cffi), never logged.
- Sessions: server-side rows (``web_sessions``); the cookie holds only a random id.
- CSRF: every state-changing form carries a token. Before sign-in it is a signed
  value tied to a random cookie (double submit); after sign-in, the session's own.
- Roles: every route declares who may use it (:func:`allow`); a route that declares
  nothing is refused (deny by default).
- Failed sign-ins are rate limited per username at one address, per username and per
  address (a much higher ceiling), in Redis when the platform runs on Redis so that
  every process shares the count. Each attempt reserves its place before its password
  is checked, so guesses sent at once are limited like guesses sent one by one.
- Password checks (argon2) run in a small thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from redis.asyncio import Redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cases import audit, staff
from cases.db import Database
from cases.models import Role, User, WebSession

log = logging.getLogger("hotline.auth")

SESSION_COOKIE = "hotline_session"
PRESESSION_COOKIE = "hotline_presession"
PASSWORD_MAX = 256

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_hasher = PasswordHasher()
# Verifying against this keeps the time of "no such user" close to "wrong password".
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if not 8 <= len(password) <= PASSWORD_MAX:
        raise ValueError(f"a password must be 8–{PASSWORD_MAX} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Viewer:
    """The signed-in member of staff behind a request."""

    user_id: int
    username: str
    display_name: str
    roles: frozenset[Role]
    session_id: str
    csrf_token: str
    expires_at: datetime  # when the session lapses (its open sockets close then)

    @property
    def is_agent(self) -> bool:
        return any(r.is_agent for r in self.roles)


# ---------------------------------------------------------------- passwords off the loop
class PasswordChecks:
    """argon2 verification in a small pool of threads, never on the event loop.

    A check costs about 180 ms of CPU; on the loop, 60 bad sign-ins at once held every
    WebSocket for 1.5 s. argon2-cffi releases the GIL while it hashes, so in a thread
    the loop stays free. The pool's size bounds how many checks run at once; the others
    wait their turn (``in_progress`` counts both, for /metrics).
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self.in_progress = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        self.in_progress += 1
        try:
            return await loop.run_in_executor(self._pool, verify_password, password_hash, password)
        finally:
            self.in_progress -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- rate limiting
class FailureCounter(Protocol):
    """Failed sign-ins per key in a window, counted by reservation.

    An attempt reserves its place *before* its password is checked: ``reserve`` adds
    one unless the key already holds ``limit``, atomically, so attempts sent at once
    cannot all pass a check made before any of them failed. A successful attempt gives
    its place back with ``release``; a failed one keeps it, and that is the failure.
    """

    async def reserve(self, key: str, limit: int, window_s: int) -> bool: ...
    async def release(self, key: str) -> None: ...


class MemoryFailureCounter:
    """Sliding-window counts for one process. Each method runs without awaiting
    anything, so on one event loop it is atomic."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, sweep_at: int = 10_000
    ) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._min_sweep_at = sweep_at  # keys kept before expired ones are swept out
        self._sweep_at = sweep_at

    def __len__(self) -> int:
        """How many keys are kept."""
        return len(self._hits)

    async def reserve(self, key: str, limit: int, window_s: int) -> bool:
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            self._sweep(now - window_s)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    async def release(self, key: str) -> None:
        hits = self._hits.get(key)
        if hits:
            hits.pop()
        if not hits:
            self._hits.pop(key, None)

    def _sweep(self, cutoff: float) -> None:
        """Forget keys whose newest failure left the window (made-up usernames)."""
        if len(self._hits) < self._sweep_at:
            return
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]
        self._sweep_at = max(self._min_sweep_at, 2 * len(self._hits))


# Check and add in one step on the server, so that every process shares one count.
_RESERVE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""
# Never below zero, and never a key without a TTL if the window ran out meanwhile.
_RELEASE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 1 then redis.call('DECR', KEYS[1]) elseif count == 1 then redis.call('DEL', KEYS[1]) end
return count
"""


class RedisFailureCounter:
    """Fixed-window counts (the window starts at a key's first failure) shared by every
    process through Redis; each step is one Lua script, atomic on the server."""

    def __init__(self, redis: Redis, prefix: str = "hotline:signin-fail:") -> None:
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    async def reserve(self, key: str, limit: int, window_s: int) -> bool:
        taken = await self._reserve(keys=[self._prefix + key], args=[limit, window_s])
        return bool(int(taken))

    async def release(self, key: str) -> None:
        await self._release(keys=[self._prefix + key])


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins allowed in ``window_s`` seconds: for one username from one
    address, for one username from everywhere (guesses spread over addresses), and
    from one address for every username (a proxy's address must be trusted, see
    hotline.proxies, or all its clients share this one)."""

    user_address: int = 5
    user: int = 20
    address: int = 100
    window_s: int = 300


# ---------------------------------------------------------------- sign-in service
class SignInError(Exception):
    """Sign-in refused; ``message`` is safe to show."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Authenticator:
    def __init__(
        self,
        *,
        db: Database,
        failures: FailureCounter,
        limits: SignInLimits,
        passwords: PasswordChecks,
        session_ttl_s: int,
    ) -> None:
        self.db = db
        self.failures = failures
        self.limits = limits
        self.passwords = passwords
        self.session_ttl = timedelta(seconds=session_ttl_s)

    def _counts(self, username: str, remote: str) -> list[tuple[str, int]]:
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:24]
        return [
            (f"user-addr:{digest}:{remote}", self.limits.user_address),
            (f"user:{digest}", self.limits.user),
            (f"addr:{remote}", self.limits.address),
        ]

    async def _reserve(self, username: str, remote: str) -> list[str] | None:
        """A place in every count, or None (and nothing held) if one of them is full."""
        held: list[str] = []
        for key, limit in self._counts(username, remote):
            if not await self.failures.reserve(key, limit, self.limits.window_s):
                for taken in held:
                    await self.failures.release(taken)
                return None
            held.append(key)
        return held

    async def sign_in(self, *, username: str, password: str, remote: str) -> tuple[str, Viewer]:
        """Check the password and open a session; returns (session id, viewer).

        An unknown username, an inactive account and a wrong password take the same
        path (one argon2 check, against a dummy hash when there is no user), count the
        same and get the same message: the answer never tells which names exist.
        """
        held = await self._reserve(username, remote)
        if held is None:
            log.warning("signin_throttled", extra={"username": username[:64], "remote": remote})
            raise SignInError(
                "Too many failed sign-ins. Wait a few minutes and try again.", status=429
            )
        if not username or len(username) > 64 or len(password) > PASSWORD_MAX:
            user = None
        else:
            async with self.db.session() as session:
                user = await staff.user_by_username(session=session, username=username)
        ok = await self.passwords.verify(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not ok or not user.active:
            # The reservations stay: they are this failure.
            log.warning("signin_failed", extra={"username": username[:64], "remote": remote})
            raise SignInError("Wrong username or password.")
        for key in held:
            await self.failures.release(key)
        return await self._open_session(user, remote)

    async def _open_session(self, user: User, remote: str) -> tuple[str, Viewer]:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.db.session() as session:
            session.add(
                WebSession(
                    id=_session_key(session_id),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + self.session_ttl,
                )
            )
            await _audit(session, user, "signin", remote)
        log.info("signin", extra={"username": user.username, "remote": remote})
        return session_id, _viewer(user, session_id, csrf, now + self.session_ttl)

    async def viewer(self, session_id: str) -> Viewer | None:
        """The viewer for a cookie value, or None if unknown or expired."""
        if not session_id or len(session_id) > 128:
            return None
        async with self.db.session() as session:
            row = await session.get(WebSession, _session_key(session_id))
            if row is None:
                return None
            expires = row.expires_at
            if expires.tzinfo is None:  # SQLite returns naive datetimes
                expires = expires.replace(tzinfo=UTC)
            if expires <= datetime.now(UTC):
                await session.delete(row)
                return None
            user = await staff.user_by_id(session=session, user_id=row.user_id)
            if user is None or not user.active:
                return None
            return _viewer(user, session_id, row.csrf_token, expires)

    async def sign_out(self, viewer: Viewer) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(WebSession).where(WebSession.id == _session_key(viewer.session_id))
            )


def _session_key(session_id: str) -> str:
    # Only a hash of the cookie is stored: a leaked table does not leak sessions.
    return hashlib.sha256(session_id.encode()).hexdigest()


def _viewer(user: User, session_id: str, csrf: str, expires_at: datetime) -> Viewer:
    return Viewer(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=user.role_set,
        session_id=session_id,
        csrf_token=csrf,
        expires_at=expires_at,
    )


async def _audit(session: AsyncSession, user: User, action: str, remote: str) -> None:
    await audit.record(
        session=session,
        actor=user.username,
        actor_user_id=user.id,
        action=action,
        detail={"remote": remote},
    )


# ---------------------------------------------------------------- CSRF
class Csrf:
    """Tokens for forms shown before sign-in, bound to a random cookie."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"hotline-csrf:" + secret.encode()).digest()

    def token_for(self, presession: str) -> str:
        return hmac.new(self._key, presession.encode(), hashlib.sha256).hexdigest()

    def check_presession(self, presession: str | None, token: str | None) -> bool:
        if not presession or not token:
            return False
        return hmac.compare_digest(self.token_for(presession), token)


def check_session_csrf(viewer: Viewer, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(viewer.csrf_token, token or "")


# ---------------------------------------------------------------- access policy
PUBLIC = "public"
SIGNED_IN = "signed-in"
ACCESS_ATTR = "__hotline_access__"


def allow(policy: str | Iterable[Role]) -> Callable[[Handler], Handler]:
    """Declare who may use a handler: PUBLIC, SIGNED_IN, or a set of roles."""
    value: str | frozenset[Role] = policy if isinstance(policy, str) else frozenset(policy)

    def mark(handler: Handler) -> Handler:
        setattr(handler, ACCESS_ATTR, value)
        return handler

    return mark


def policy_of(handler: object) -> str | frozenset[Role] | None:
    return getattr(handler, ACCESS_ATTR, None)


def permits(policy: str | frozenset[Role] | None, viewer: Viewer | None) -> bool | None:
    """True: allowed. False: signed in but forbidden. None: must sign in first."""
    if policy == PUBLIC:
        return True
    if policy is None or (isinstance(policy, str) and policy != SIGNED_IN):
        return False  # undeclared: deny by default
    if viewer is None:
        return None
    if policy == SIGNED_IN:
        return True
    assert isinstance(policy, frozenset)
    return bool(policy & viewer.roles) or Role.ADMIN in viewer.roles
