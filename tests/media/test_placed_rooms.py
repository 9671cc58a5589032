"""One room across two application processes on Redis: placed on one node, reached from both.

The scenario runs in its own network namespace (netns.py), where the machine's Redis is
not reachable over TCP; the test forwards a Unix socket to it with ``socat`` (the file
system is shared), and the scenario a TCP port inside the namespace to that socket.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from tests.media.netns import run_scenario

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def result(redis_socket: str, redis_url: str) -> Iterator[dict[str, Any]]:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    db = int((urlparse(redis_url).path or "/0").lstrip("/") or "0")
    try:
        yield run_scenario(
            "two_node_room", timeout=120, redis_socket=redis_socket, prefix=prefix, db=db
        )
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


class TestOneRoomTwoNodes:
    def test_the_room_lives_on_the_less_loaded_node_only(self, result: dict[str, Any]) -> None:
        """Mediator on busier A opens it: it lives on B alone, with both participants."""
        assert result["homes"] == ["B"]
        assert result["directory_home"] == result["node_ids"]["B"]
        assert result["home_participants"] == ["caller-v-party", "staff-1"]

    def test_the_home_checks_a_forwarded_callers_token(self, result: dict[str, Any]) -> None:
        """A caller on A with a token for another room is refused by the home: not_allowed."""
        error = result["intruder_error"]
        assert (error["code"], error["ref"], error["room"]) == (
            "not_allowed",
            "join_room",
            "mediation-9",
        )

    def test_media_flows_between_the_bots_and_the_home(self, result: dict[str, Any]) -> None:
        """Both bots receive the other's audio and video, one of them from a forwarded join."""
        for figures in result["received"].values():
            assert figures["audio"] > 20
            assert figures["video"] > 20
        for types in (result["mediator_types"], result["party_types"]):
            assert types[0] == "room_joined"
        assert result["mediator_offers"] + result["party_offers"] >= 1

    def test_forwarded_notices_reach_the_other_node(self, result: dict[str, Any]) -> None:
        """A staff mute from one node reaches the party's socket on the other."""
        muted = result["party_muted"]
        assert (muted["participant"], muted["kind"], muted["muted"], muted["by"]) == (
            "caller-v-party",
            "audio",
            True,
            "staff-1",
        )
        assert "room_left" in result["party_types"]

    def test_the_directory_forgets_a_closed_room(self, result: dict[str, Any]) -> None:
        """The last participant leaving closes the room on its home and clears its entry."""
        assert result["directory_after_close"] is None


class TestQualityStats:
    def test_the_room_owner_gets_every_participants_figures(self, result: dict[str, Any]) -> None:
        """Two room_stats per request; the second carries bitrates and the media's packets."""
        stats = result["mediator_stats"]
        assert [(s["index"], s["count"]) for s in stats] == [(1, 2), (2, 2)] * 2
        assert {s["participant"] for s in stats} == {"staff-1", "caller-v-party"}
        for s in stats[2:]:
            assert s["packets_received"] > 20
            assert 0.0 <= s["uplink_loss"] <= 0.05
            assert s["bitrate_in_kbps"] > 10
            assert s["bitrate_out_kbps"] > 10
            assert s["jitter_ms"] >= 0

    def test_callers_are_refused(self, result: dict[str, Any]) -> None:
        """An invited party asking for the figures: room_error not_allowed."""
        error = result["party_stats_error"]
        assert (error["code"], error["ref"]) == ("not_allowed", "get_room_stats")

    def test_a_supervisor_on_the_other_node_sees_them(self, result: dict[str, Any]) -> None:
        """A supervisor in no room, on the node that is not the home, gets both participants."""
        assert result["supervisor_node"] == "A"
        stats = result["supervisor_stats"]
        assert sorted(s["participant"] for s in stats) == ["caller-v-party", "staff-1"]
