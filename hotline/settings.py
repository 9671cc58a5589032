"""Settings from the environment, validated once at start (never at import time).

``HOTLINE_*`` variables, ``DATABASE_URL`` and ``REDIS_URL``. Every problem is
collected and reported together in one :class:`SettingsError`, so an operator fixes
a bad configuration in one pass. Outside development a missing, default or short
secret is refused.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cases.models import TicketKind
from cases.retention import Retention
from cases.tickets import DueTimes
from hotline.proxies import Network, parse_networks

MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
KNOWN_WEAK_SECRETS = frozenset({"secret", "changeme", "change-me", "dev", "development", "hotline"})


class SettingsError(Exception):
    """The environment does not describe a valid configuration."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Settings:
    dev: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    database_url: str = "sqlite:///data/hotline.sqlite3"
    redis_url: str | None = None
    secret_key: str = ""
    session_ttl_s: int = 8 * 3600
    caller_token_ttl_s: int = 2 * 3600
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    secure_cookies: bool = True
    signin_max_failures: int = 5  # for one username from one address
    signin_user_max_failures: int = 20  # for one username from every address together
    signin_address_max_failures: int = 100  # from one address, every username together
    signin_window_s: int = 300
    password_threads: int = 2
    trusted_proxies: tuple[Network, ...] = ()
    metrics_token: str | None = None
    ice_servers: tuple[dict[str, Any], ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_s: int = 3600
    public_url: str | None = None
    routing_config: Path | None = None
    redis_prefix: str = "hotline"
    media_capacity_rooms: int = 8
    # Pages that may open the signaling socket besides its own host (scheme://host[:port]).
    allowed_origins: tuple[str, ...] = ()
    sockets_per_address: int = 50
    caller_tokens_per_hour: int = 300
    tickets_per_hour: int = 30
    # How long a dropped caller, or a desk dropped in a call, keeps its place or call.
    resume_grace_s: int = 30
    # How long each record type is kept (HOTLINE_RETAIN_*_DAYS), then `hotline purge`.
    retention: Retention = field(default_factory=Retention)
    # Ticket due times by kind (HOTLINE_TICKET_DUE_<KIND>_HOURS) and the escalation's
    # acknowledgement (吹哨报到, HOTLINE_ESCALATION_ACK_MINUTES, 10).
    ticket_due: DueTimes = field(default_factory=DueTimes)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def backplane(self) -> str:
        return "redis" if self.redis_url else "memory"


def _bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) or raise SettingsError."""
    env = os.environ if env is None else env
    problems: list[str] = []

    def flag(name: str, default: bool) -> bool:
        raw = env.get(name)
        if raw is None:
            return default
        parsed = _bool(raw)
        if parsed is None:
            problems.append(f"{name} must be true/false, 1/0, yes/no (got {raw!r})")
            return default
        return parsed

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name} must be a whole number (got {raw!r})")
            return default
        if not low <= value <= high:
            problems.append(f"{name} must be between {low} and {high} (got {value})")
            return default
        return value

    dev = flag("HOTLINE_DEV", False)
    data_dir = Path(env.get("HOTLINE_DATA_DIR") or "data")
    host = env.get("HOTLINE_HOST") or "127.0.0.1"
    port = integer("HOTLINE_PORT", 8080, 1, 65535)

    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'hotline.sqlite3'}"
    if not database_url.startswith(("sqlite", "postgresql", "postgres://")):
        problems.append(
            f"DATABASE_URL must be sqlite:///… or postgresql://… (got {database_url!r})"
        )
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")

    redis_url = env.get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append(
            f"REDIS_URL must start with redis://, rediss:// or unix:// (got {redis_url!r})"
        )

    secret = env.get("HOTLINE_SECRET_KEY", "")
    if not secret:
        if dev:
            secret = _dev_secret(data_dir)
        else:
            problems.append(
                "HOTLINE_SECRET_KEY is not set: give it at least "
                f"{MIN_SECRET_LENGTH} random characters (or set HOTLINE_DEV=1 for development)"
            )
    elif (len(secret) < MIN_SECRET_LENGTH or secret.lower() in KNOWN_WEAK_SECRETS) and not dev:
        problems.append(
            f"HOTLINE_SECRET_KEY is too short or a known default: use at least "
            f"{MIN_SECRET_LENGTH} random characters"
        )

    tz = env.get("HOTLINE_TIMEZONE") or "Asia/Shanghai"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"HOTLINE_TIMEZONE is not a known time zone (got {tz!r})")

    log_level = (env.get("HOTLINE_LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(
            f"HOTLINE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got {log_level!r})"
        )

    ice_servers: tuple[dict[str, Any], ...] = ()
    raw_ice = env.get("HOTLINE_ICE_SERVERS")
    if raw_ice:
        try:
            parsed = json.loads(raw_ice)
            if not isinstance(parsed, list) or not all(
                isinstance(s, dict) and isinstance(s.get("urls"), str | list) for s in parsed
            ):
                raise ValueError
            ice_servers = tuple(parsed)
        except ValueError:
            problems.append(
                'HOTLINE_ICE_SERVERS must be a JSON list like [{"urls": "stun:stun.example:3478"}]'
            )
    turn_urls = tuple(u for u in (env.get("HOTLINE_TURN_URLS") or "").split(",") if u.strip())
    turn_secret = env.get("HOTLINE_TURN_SECRET") or None
    if turn_urls and not turn_secret:
        problems.append(
            "HOTLINE_TURN_URLS is set but HOTLINE_TURN_SECRET is not (coturn use-auth-secret)"
        )

    routing_path = (
        Path(env["HOTLINE_ROUTING_CONFIG"]) if env.get("HOTLINE_ROUTING_CONFIG") else None
    )
    if routing_path is not None and not routing_path.is_file():
        problems.append(f"HOTLINE_ROUTING_CONFIG names no file: {routing_path}")
    redis_prefix = env.get("HOTLINE_REDIS_PREFIX") or "hotline"
    if not redis_prefix.replace("-", "").replace("_", "").replace(":", "").isalnum():
        problems.append(
            f"HOTLINE_REDIS_PREFIX must be letters, digits, '-', '_' or ':' (got {redis_prefix!r})"
        )

    public_url = env.get("HOTLINE_PUBLIC_URL") or None
    raw_origins = env.get("HOTLINE_ALLOWED_ORIGINS")
    public_origin = _origin(public_url) if public_url else None
    allowed_origins: tuple[str, ...]
    if raw_origins is None:
        allowed_origins = (public_origin,) if public_origin else ()
    else:
        allowed_origins = tuple(o.strip().rstrip("/") for o in raw_origins.split(",") if o.strip())
        bad = [o for o in allowed_origins if _origin(o) != o.lower()]
        if bad:
            problems.append(
                "HOTLINE_ALLOWED_ORIGINS must be origins like https://hotline.example.org "
                f"(scheme, host and port only; got {', '.join(map(repr, bad))})"
            )
    try:
        trusted_proxies = parse_networks(env.get("HOTLINE_TRUSTED_PROXIES") or "")
    except ValueError as exc:
        trusted_proxies = ()
        problems.append(f"HOTLINE_TRUSTED_PROXIES must list IP addresses or CIDRs: {exc}")
    metrics_token = env.get("HOTLINE_METRICS_TOKEN") or None
    if metrics_token is not None and (
        len(metrics_token) < MIN_METRICS_TOKEN_LENGTH or not metrics_token.isprintable()
    ):
        problems.append(
            f"HOTLINE_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LENGTH} printable "
            "characters"
        )

    defaults = Retention()
    retention = Retention(
        recordings_days=integer(
            "HOTLINE_RETAIN_RECORDINGS_DAYS", defaults.recordings_days, 1, 100 * 365
        ),
        sessions_days=integer("HOTLINE_RETAIN_SESSIONS_DAYS", defaults.sessions_days, 1, 100 * 365),
        tickets_days=integer("HOTLINE_RETAIN_TICKETS_DAYS", defaults.tickets_days, 1, 100 * 365),
        callback_numbers_days=integer(
            "HOTLINE_RETAIN_CALLBACK_NUMBERS_DAYS", defaults.callback_numbers_days, 1, 3650
        ),
    )
    due_defaults = DueTimes()
    ticket_due = DueTimes(
        by_kind={
            kind: timedelta(
                hours=integer(
                    f"HOTLINE_TICKET_DUE_{kind.name}_HOURS",
                    int(due_defaults.due(kind).total_seconds() // 3600),
                    1,
                    24 * 365,
                )
            )
            for kind in TicketKind
        },
        escalation_ack=timedelta(minutes=integer("HOTLINE_ESCALATION_ACK_MINUTES", 10, 1, 24 * 60)),
    )

    settings = Settings(
        dev=dev,
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret,
        session_ttl_s=integer("HOTLINE_SESSION_TTL", 8 * 3600, 60, 7 * 86400),
        caller_token_ttl_s=integer("HOTLINE_CALLER_TOKEN_TTL", 2 * 3600, 60, 7 * 86400),
        timezone=tz,
        log_level=log_level,
        secure_cookies=flag("HOTLINE_SECURE_COOKIES", not dev),
        signin_max_failures=integer("HOTLINE_SIGNIN_MAX_FAILURES", 5, 1, 1000),
        signin_user_max_failures=integer("HOTLINE_SIGNIN_USER_MAX_FAILURES", 20, 1, 100_000),
        signin_address_max_failures=integer(
            "HOTLINE_SIGNIN_ADDRESS_MAX_FAILURES", 100, 1, 1_000_000
        ),
        signin_window_s=integer("HOTLINE_SIGNIN_WINDOW", 300, 1, 86400),
        password_threads=integer("HOTLINE_PASSWORD_THREADS", 2, 1, 64),
        trusted_proxies=trusted_proxies,
        metrics_token=metrics_token,
        ice_servers=ice_servers,
        turn_urls=turn_urls,
        turn_secret=turn_secret,
        turn_ttl_s=integer("HOTLINE_TURN_TTL", 3600, 60, 86400),
        public_url=public_url,
        routing_config=routing_path,
        redis_prefix=redis_prefix,
        media_capacity_rooms=integer("HOTLINE_MEDIA_ROOMS", 8, 1, 1000),
        allowed_origins=allowed_origins,
        sockets_per_address=integer("HOTLINE_SOCKETS_PER_ADDRESS", 50, 1, 100_000),
        caller_tokens_per_hour=integer("HOTLINE_CALLER_TOKENS_PER_HOUR", 300, 1, 1_000_000),
        tickets_per_hour=integer("HOTLINE_TICKETS_PER_HOUR", 30, 1, 1_000_000),
        resume_grace_s=integer("HOTLINE_RESUME_GRACE", 30, 1, 600),
        retention=retention,
        ticket_due=ticket_due,
    )
    if problems:
        raise SettingsError(problems)
    return settings


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower case; ``None`` if it has none."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _dev_secret(data_dir: Path) -> str:
    """In development, a random secret kept in the data directory across restarts."""
    path = data_dir / ".secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
        return secret
