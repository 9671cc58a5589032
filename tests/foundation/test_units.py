"""Settings, signed tokens and log masking: pure functions, no I/O."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cases.phone import mask_text
from hotline.logs import JsonFormatter
from hotline.settings import SettingsError, load_settings
from signaling.tokens import TokenError, TokenSigner

GOOD = "s" * 40


class TestSettings:
    def test_defaults_in_dev(self, tmp_path: Path) -> None:
        """Development needs nothing set: SQLite under the data dir, a kept random secret."""
        settings = load_settings({"HOTLINE_DEV": "1", "HOTLINE_DATA_DIR": str(tmp_path)})
        assert settings.database_url == f"sqlite:///{tmp_path}/hotline.sqlite3"
        assert settings.backplane == "memory"
        assert len(settings.secret_key) >= 32
        again = load_settings({"HOTLINE_DEV": "1", "HOTLINE_DATA_DIR": str(tmp_path)})
        assert again.secret_key == settings.secret_key
        assert settings.secure_cookies is False

    @pytest.mark.parametrize("secret", [None, "short", "changeme"])
    def test_missing_or_weak_secret_refused_outside_dev(self, secret: str | None) -> None:
        """Production refuses a missing, short or default secret, with a clear message."""
        env = {} if secret is None else {"HOTLINE_SECRET_KEY": secret}
        with pytest.raises(SettingsError, match="HOTLINE_SECRET_KEY"):
            load_settings(env)

    def test_every_problem_reported_at_once(self) -> None:
        """All bad values are listed together."""
        with pytest.raises(SettingsError) as info:
            load_settings(
                {
                    "HOTLINE_SECRET_KEY": GOOD,
                    "HOTLINE_PORT": "http",
                    "HOTLINE_DEV": "maybe",
                    "DATABASE_URL": "mysql://x",
                    "REDIS_URL": "localhost:6379",
                    "HOTLINE_TIMEZONE": "Mars/Base",
                    "HOTLINE_LOG_LEVEL": "loud",
                    "HOTLINE_ICE_SERVERS": "[1]",
                    "HOTLINE_TURN_URLS": "turn:x",
                    "HOTLINE_SESSION_TTL": "5",
                    "HOTLINE_RESUME_GRACE": "0",
                }
            )
        text = str(info.value)
        for name in (
            "HOTLINE_RESUME_GRACE",
            "HOTLINE_PORT",
            "HOTLINE_DEV",
            "DATABASE_URL",
            "REDIS_URL",
            "HOTLINE_TIMEZONE",
            "HOTLINE_LOG_LEVEL",
            "HOTLINE_ICE_SERVERS",
            "HOTLINE_TURN_SECRET",
            "HOTLINE_SESSION_TTL",
        ):
            assert name in text
        assert len(info.value.problems) == 10

    def test_production_configuration(self) -> None:
        """Redis, PostgreSQL and ICE servers are taken from the environment."""
        settings = load_settings(
            {
                "HOTLINE_SECRET_KEY": GOOD,
                "DATABASE_URL": "postgres://u@db/hotline",
                "REDIS_URL": "redis://cache:6379/0",
                "HOTLINE_ICE_SERVERS": '[{"urls": "stun:stun.example:3478"}]',
                "HOTLINE_TURN_URLS": "turn:turn.example:3478",
                "HOTLINE_TURN_SECRET": "t",
            }
        )
        assert settings.database_url == "postgresql://u@db/hotline"
        assert settings.backplane == "redis"
        assert settings.ice_servers == ({"urls": "stun:stun.example:3478"},)
        assert settings.secure_cookies is True


class TestTokens:
    signer = TokenSigner("secret-one")

    def test_round_trip(self) -> None:
        """A fresh token verifies for its purpose and scope."""
        token = self.signer.issue(aud="caller", sub="c1", scope="room-1", ttl_s=60, now=1000)
        claims = self.signer.verify(token, aud="caller", scope="room-1", now=1030)
        assert (claims.sub, claims.scope) == ("c1", "room-1")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"now": 1061}, "expired"),
            ({"aud": "party"}, "not 'party'"),
            ({"scope": "room-2"}, "another room"),
        ],
    )
    def test_refused(self, change: dict[str, object], message: str) -> None:
        """Expired, wrong-purpose and wrong-room tokens are refused."""
        token = self.signer.issue(aud="caller", sub="c1", scope="room-1", ttl_s=60, now=1000)
        kwargs: dict[str, object] = {"aud": "caller", "scope": "room-1", "now": 1030} | change
        with pytest.raises(TokenError, match=message):
            self.signer.verify(token, **kwargs)  # type: ignore[arg-type]

    @pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 3000, "e30.AAAA"])
    def test_garbage_refused(self, token: str) -> None:
        """Malformed input is a TokenError, never another exception."""
        with pytest.raises(TokenError):
            self.signer.verify(token, aud="caller", now=0)

    def test_other_secret_refused(self) -> None:
        """A token signed with another secret does not verify."""
        token = TokenSigner("other").issue(aud="caller", sub="c", scope="s", ttl_s=60, now=0)
        with pytest.raises(TokenError, match="signature"):
            self.signer.verify(token, aud="caller", now=1)

    def test_signed_garbage_payload_refused(self) -> None:
        """A correctly signed body that is not our JSON is refused as malformed."""
        body = "bm90IGpzb24"
        token = f"{body}.{self.signer._mac(body)}"
        with pytest.raises(TokenError, match="malformed"):
            self.signer.verify(token, aud="caller", now=1)


class TestLogs:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("call from 13812345678", "call from 138****5678"),
            ("+8613812345678", "138****5678"),
            ("order 1234567890123", "order 1234567890123"),
            ("12812345678", "12812345678"),
        ],
    )
    def test_mask_phone(self, text: str, masked: str) -> None:
        """Mobile numbers are masked; other long numbers are left alone (every format:
        tests/cases/test_phone.py)."""
        assert mask_text(text) == masked

    def test_one_json_event_per_line_masked(self) -> None:
        """A log record becomes one JSON line with fields, phone numbers masked."""
        record = logging.LogRecord("t", logging.INFO, "f", 1, "callback %s", ("13912345678",), None)
        record.caller = {"phone": "13912345678"}
        line = JsonFormatter().format(record)
        assert "\n" not in line
        event = json.loads(line)
        assert event["event"] == "callback 139****5678"
        assert event["caller"] == {"phone": "139****5678"}
        assert event["level"] == "info"
