"""The media node inside the application: its wiring, /metrics, and /api/rtc-config."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline import keys
from recordings.store import DatabaseRecordingSink
from tests.app import AppClient, sign_in


def _metric(text: str, name: str) -> float:
    """The value of the one sample of ``name`` in Prometheus text."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + "{", name + " "))
    ]
    assert len(values) == 1, (name, values)
    return values[0]


async def _caller_token(client: TestClient[web.Request, web.Application]) -> str:
    response = await client.post("/api/caller/token")
    token: str = (await response.json())["token"]
    return token


class TestMediaNode:
    async def test_wired_with_explicit_servers_recordings_dir_and_database_sink(
        self, make_client: AppClient
    ) -> None:
        """The app's RoomManager has explicit (empty) ICE servers and records to the database."""
        client = await make_client()
        manager = client.app[keys.MEDIA]
        settings = client.app[keys.SETTINGS]
        assert manager.ice_servers == []
        assert manager.recording_dir == settings.data_dir / "recordings"
        assert isinstance(manager.recording_sink, DatabaseRecordingSink)
        assert manager.recording_sink.db is client.app[keys.DB]

    async def test_configured_ice_servers_reach_the_sfu(self, make_client: AppClient) -> None:
        """HOTLINE_ICE_SERVERS become the SFU's aiortc servers."""
        client = await make_client(HOTLINE_ICE_SERVERS='[{"urls": ["stun:stun.example.org:3478"]}]')
        [server] = client.app[keys.MEDIA].ice_servers
        assert server.urls == ["stun:stun.example.org:3478"]

    async def test_shutdown_closes_every_room(self, make_client: AppClient) -> None:
        """When the application stops, every room (and its peer connections) is closed."""
        client = await make_client()
        manager = client.app[keys.MEDIA]
        rooms = [manager.create_room(name) for name in ("a", "b")]
        await client.close()
        assert manager.rooms == {}
        assert all(room.closed for room in rooms)


class TestMediaMetrics:
    async def test_capacity_and_load_on_scrape(self, make_client: AppClient) -> None:
        """/metrics shows the node's rooms, participants, capacity and load, read on scrape."""
        client = await make_client()
        text = await (await client.get("/metrics")).text()
        assert _metric(text, "hotline_media_rooms") == 0
        assert _metric(text, "hotline_media_participants") == 0
        assert _metric(text, "hotline_media_capacity_rooms") == 8
        assert _metric(text, "hotline_media_load") == 0
        assert _metric(text, "hotline_media_forwarded_packets_total") == 0
        node = client.app[keys.MEDIA].node_id
        assert f'hotline_media_rooms{{node="{node}"}} 0.0' in text

        client.app[keys.MEDIA].create_room("mediation-1")
        client.app[keys.MEDIA].create_room("mediation-2")
        text = await (await client.get("/metrics")).text()
        assert _metric(text, "hotline_media_rooms") == 2
        assert _metric(text, "hotline_media_load") == 0.25
        assert _metric(text, "hotline_media_cpu_percent") >= 0


class TestRtcConfig:
    async def test_refused_without_sign_in_or_token(self, make_client: AppClient) -> None:
        """Anonymous visitors and forged tokens get 401, no servers."""
        client = await make_client()
        assert (await client.get("/api/rtc-config")).status == 401
        forged = await client.get("/api/rtc-config", params={"token": "abc.def"})
        assert forged.status == 401
        assert "iceServers" not in await forged.json()

    async def test_caller_token_gets_the_configured_servers(self, make_client: AppClient) -> None:
        """A caller with a valid token gets the configured servers, as query or bearer token."""
        client = await make_client(HOTLINE_ICE_SERVERS='[{"urls": "stun:stun.example.org:3478"}]')
        token = await _caller_token(client)
        for kwargs in (
            {"params": {"token": token}},
            {"headers": {"Authorization": f"Bearer {token}"}},
        ):
            response = await client.get("/api/rtc-config", **kwargs)  # type: ignore[arg-type]
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            body = await response.json()
            assert body == {"iceServers": [{"urls": "stun:stun.example.org:3478"}], "ttl_s": None}

    async def test_staff_get_short_lived_turn_credentials(self, make_client: AppClient) -> None:
        """With TURN configured, signed-in staff get coturn REST-API credentials for themselves."""
        secret = "turn-shared-secret-0123456789"
        client = await make_client(
            HOTLINE_TURN_URLS="turn:turn.example.org:3478?transport=udp",
            HOTLINE_TURN_SECRET=secret,
            HOTLINE_TURN_TTL="600",
        )
        assert await sign_in(client, "law") == 303
        before = time.time()
        body = await (await client.get("/api/rtc-config")).json()
        [turn] = body["iceServers"]
        assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp"]
        expiry, user = turn["username"].split(":")
        assert user == "law"
        assert before + 600 - 1 <= int(expiry) <= time.time() + 600
        expected = hmac.new(secret.encode(), turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(expected).decode()
        assert body["ttl_s"] == 600


class TestMediaNodesOnRedis:
    async def test_one_process_needs_no_directory(self, make_client: AppClient) -> None:
        """Without Redis every room is in this process: no placement, MediaRooms serves /ws."""
        client = await make_client()
        assert keys.PLACED_ROOMS not in client.app

    async def test_each_process_publishes_its_load_and_leaves_on_shutdown(
        self, make_client: AppClient, redis_url: str
    ) -> None:
        """Two apps on one Redis: both are live media nodes with their capacity; one stops."""
        first = await make_client(REDIS_URL=redis_url, HOTLINE_MEDIA_ROOMS="3")
        second = await make_client(REDIS_URL=redis_url, HOTLINE_MEDIA_ROOMS="5")
        placed = first.app[keys.PLACED_ROOMS]
        assert placed.nodes.prefix == first.app[keys.SETTINGS].redis_prefix + ":media"
        nodes, now_ms = await placed.nodes.nodes()
        live = {n.node: n.capacity for n in nodes if n.live(now_ms)}
        assert live == {placed.node_id: 3, second.app[keys.PLACED_ROOMS].node_id: 5}
        assert first.app[keys.MEDIA].capacity_rooms == 3
        await second.close()
        nodes, now_ms = await placed.nodes.nodes()
        assert [n.node for n in nodes] == [placed.node_id]
        await placed.nodes.delete_all()
