"""Staff authentication and access control.

- Passwords: argon2id (argon2-cffi), never logged.
- Sessions: server-side rows (``web_sessions``); the cookie holds only a random id.
- CSRF: every state-changing form carries a token. Before sign-in it is a signed
  value tied to a random cookie (double submit); after sign-in, the session's own.
- Roles: every route declares who may use it (:func:`allow`); a route that declares
  nothing is refused (deny by default).
- Failed sign-ins are rate limited per username and per address, in Redis when the
  platform runs on Redis so that every process shares the count.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
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


# ---------------------------------------------------------------- rate limiting
class FailureCounter(Protocol):
    async def add(self, key: str, window_s: int) -> int: ...
    async def count(self, key: str, window_s: int) -> int: ...


class MemoryFailureCounter:
    """Sliding-window counts of failed sign-ins, for one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def _trim(self, key: str, window_s: int) -> deque[float]:
        hits = self._hits[key]
        cutoff = self._clock() - window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    async def add(self, key: str, window_s: int) -> int:
        hits = self._trim(key, window_s)
        hits.append(self._clock())
        return len(hits)

    async def count(self, key: str, window_s: int) -> int:
        hits = self._trim(key, window_s)
        if not hits:
            self._hits.pop(key, None)
        return len(hits)


class RedisFailureCounter:
    """Fixed-window counts shared by every process through Redis."""

    def __init__(self, redis: object, prefix: str = "hotline:signin-fail:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def add(self, key: str, window_s: int) -> int:
        name = self._prefix + key
        pipe = self._redis.pipeline()  # type: ignore[attr-defined]
        pipe.incr(name)
        pipe.expire(name, window_s, nx=True)
        count, _ = await pipe.execute()
        return int(count)

    async def count(self, key: str, window_s: int) -> int:
        value = await self._redis.get(self._prefix + key)  # type: ignore[attr-defined]
        return int(value or 0)


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
        max_failures: int,
        window_s: int,
        session_ttl_s: int,
    ) -> None:
        self.db = db
        self.failures = failures
        self.max_failures = max_failures
        self.window_s = window_s
        self.session_ttl = timedelta(seconds=session_ttl_s)

    @staticmethod
    def _keys(username: str, remote: str) -> tuple[str, str]:
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:24]
        return f"user:{digest}", f"addr:{remote}"

    async def sign_in(self, *, username: str, password: str, remote: str) -> tuple[str, Viewer]:
        """Check the password and open a session; returns (session id, viewer)."""
        user_key, addr_key = self._keys(username, remote)
        for key in (user_key, addr_key):
            if await self.failures.count(key, self.window_s) >= self.max_failures:
                log.warning("signin_throttled", extra={"username": username[:64], "remote": remote})
                raise SignInError(
                    "Too many failed sign-ins. Wait a few minutes and try again.", status=429
                )
        if not username or len(username) > 64 or len(password) > PASSWORD_MAX:
            user = None
        else:
            async with self.db.session() as session:
                user = await staff.user_by_username(session=session, username=username)
        ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not ok or not user.active:
            await self.failures.add(user_key, self.window_s)
            await self.failures.add(addr_key, self.window_s)
            log.warning("signin_failed", extra={"username": username[:64], "remote": remote})
            raise SignInError("Wrong username or password.")
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
