"""A hotline call end to end across two server processes on one Redis and one PostgreSQL.

The scenario (scaled_calls.py) runs in its own network namespace (netns.py); Redis and
PostgreSQL are relayed into it through Unix sockets made here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from bench.calls import unix_relay
from tests.media.netns import run_scenario

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def postgres_socket(postgres_url: str) -> Iterator[str]:
    parsed = urlparse(postgres_url)
    with unix_relay(parsed.hostname or "127.0.0.1", parsed.port or 5432) as path:
        yield path


@pytest.fixture(scope="module")
def result(
    redis_socket: str, redis_url: str, postgres_socket: str, postgres_url: str
) -> Iterator[dict[str, Any]]:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    db = int((urlparse(redis_url).path or "/0").lstrip("/") or "0")
    database = urlparse(postgres_url).path.lstrip("/")
    try:
        yield run_scenario(
            "two_node_call",
            timeout=240,
            redis_socket=redis_socket,
            postgres_socket=postgres_socket,
            database=database,
            prefix=prefix,
            db=db,
        )
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


class TestACallAcrossTwoProcesses:
    def test_the_agent_on_b_gets_the_caller_on_a(self, result: dict[str, Any]) -> None:
        """The offer crosses Redis: both ends are sent the same connected, with its room."""
        connected = result["connected"]
        assert connected["room"] == f"R-{connected['session_id']}"
        assert connected["channel"] == "web_video"
        assert result["agent_connected"]["session_id"] == connected["session_id"]

    def test_media_flows_both_ways(self, result: dict[str, Any]) -> None:
        """Each bot receives the other's audio packets and video frames."""
        for figure in result["first"].values():
            assert figure > 20

    def test_the_call_survives_the_callers_reconnect(self, result: dict[str, Any]) -> None:
        """A new socket on A with the resume token: welcome resumed, connected again with
        the same session, the room rejoined, media again both ways."""
        assert result["resumed_welcome"]["resumed"] is True
        again = result["resumed_connected"]
        assert (again["session_id"], again["room"]) == (
            result["connected"]["session_id"],
            result["connected"]["room"],
        )
        assert result["rejoined"]["room"] == result["connected"]["room"]
        for figure in result["after_resume"].values():
            assert figure > 20

    def test_hanging_up_ends_it_for_both(self, result: dict[str, Any]) -> None:
        session_id = result["connected"]["session_id"]
        assert result["caller_ended"]["session_id"] == session_id
        assert result["caller_ended"]["outcome"] == "answered"
        assert result["agent_ended"]["session_id"] == session_id
        assert "room_left" in result["agent_types"]

    def test_the_call_is_recorded_once(self, result: dict[str, Any]) -> None:
        """One recording row for the room, linked to the call's session, written by the
        room's one home (the other process has no files): every file on disk is in it,
        one per leg in the room (the agent's, the caller's before and after the reconnect)."""
        [recording] = result["recordings"]
        assert recording["ended"]
        homes = [name for name, files in result["webm_files"].items() if files]
        assert len(homes) == 1
        paths = [path for _, path, _ in recording["files"]]
        assert sorted(paths) == result["webm_files"][homes[0]]
        legs = sorted(participant for participant, _, _ in recording["files"])
        caller = result["rejoined"]["participant"]
        assert legs.count(caller) == 2
        assert len(legs) == 3
        assert next(leg for leg in legs if leg != caller).startswith("staff-")
        assert all(size > 1000 for _, _, size in recording["files"])
        assert recording["session_id"] == result["connected"]["session_id"]
