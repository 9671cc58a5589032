"""Media benchmark: N recorded three-party rooms of bots through the SFU, in a netns.

``run(rooms, seconds)`` returns one JSON-able dict: server CPU (% of one core) per room,
delivery ratio (frames received / frames sent to be forwarded), recording completeness
(packets in the WebM files / frames sent while recording), per kind. ``sweep()`` runs
increasing N and reports the largest N with delivery >= 99 %.

Layout: the caller's process starts ``python -m bench.media inside`` under
``unshare -n`` (lo up, 127.0.0.2 added: aioice skips 127.0.0.1; nothing leaves the
namespace). Inside, the SFU runs in its own process (``python -m bench.media server``)
behind a minimal JSON-over-WebSocket endpoint (bench only, not the product protocol),
and its CPU time is read from /proc. The bots run in the inside process: they send a
pre-encoded 640x480 VP8 clip at 30 fps and Opus at 50 packets/s, and count what they
receive without decoding, so the figures are the server's. On a 2-core machine the bots
share the second core, so at high N the bots, not the server, may be what saturates:
``bots_cpu_percent`` is reported alongside to tell.

A run records about 150 MB of WebM. The recordings go to a temporary folder that
``sfu_server()`` removes with the server process at the end of the measurement, even on
error; the outer process owns a folder above it too, so nothing stays behind even when
the child in the namespace is killed on timeout. Janus's folder is handled the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NETNS_SETUP = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'
KINDS = ("audio", "video")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the SFU process ----------------------------------------------------------------------


async def serve(port: int, recording_dir: Path) -> None:
    """The SFU behind a tiny WebSocket endpoint; prints ``READY <port>`` when listening
    (``port`` 0: any free port)."""
    from aiohttp import WSMsgType, web

    from media.manager import RoomManager

    manager = RoomManager(ice_servers=[], recording_dir=recording_dir, capacity_rooms=64)
    profile_path = os.environ.get("BENCH_MEDIA_PROFILE")  # where to dump a cProfile
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        answers: asyncio.Queue[str] = asyncio.Queue()

        async def renegotiate(offer_sdp: str) -> str:
            await ws.send_str(json.dumps({"type": "offer", "sdp": offer_sdp}))
            return await answers.get()

        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if data["type"] == "join":
                room = manager.get_or_create(data["room"])
                answer = await room.join(data["participant"], data["sdp"], renegotiate)
                await ws.send_str(json.dumps({"type": "answer", "sdp": answer}))
            elif data["type"] == "answer":
                answers.put_nowait(data["sdp"])
        return ws

    async def control(request: web.Request) -> web.Response:
        data = await request.json()
        op = data["op"]
        result: Any = None
        if op == "start_recording":
            for room in manager.rooms.values():
                await room.start_recording()
        elif op == "stop_recording":
            result = []
            for room in list(manager.rooms.values()):
                for rec in await room.stop_recording():
                    result.append(
                        {"room": rec.room_id, "participant": rec.participant_id,
                         "path": rec.media.path, "tracks": rec.tracks}
                    )  # fmt: skip
        elif op == "describe":
            result = [room.describe() for room in manager.rooms.values()]
        elif op == "loss":
            received = lost = 0
            for room in manager.rooms.values():
                for stats in (await room.stats()).values():
                    for inbound in stats.inbound.values():
                        received += inbound.packets_received
                        lost += max(inbound.packets_lost, 0)
            result = {"received": received, "lost": lost}
        elif op == "load":
            result = manager.load().__dict__
        elif op == "profile_start" and profiler is not None:
            profiler.enable()
        elif op == "close":
            if profiler is not None and profile_path:
                profiler.disable()
                profiler.dump_stats(profile_path)
            await manager.close()
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_get("/ws", websocket)
    app.router.add_post("/control", control)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"READY {bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await manager.close()
        await runner.cleanup()


# -- bots and measurement (inside the namespace) ------------------------------------------


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class WsBot:
    """A media.bots.Bot connected to the bench server over its WebSocket."""

    def __init__(self, bot: Any, room: str, url: str) -> None:
        self.bot = bot
        self.room = room
        self.url = url
        self._task: asyncio.Task[None] | None = None

    async def connect(self, session: Any) -> None:
        ws = await session.ws_connect(self.url)
        self.ws = ws
        await ws.send_str(
            json.dumps({"type": "join", "room": self.room, "participant": self.bot.name,
                        "sdp": await self.bot.offer()})
        )  # fmt: skip
        message = await ws.receive_json()
        await self.bot.accept_answer(message["sdp"])
        self._task = asyncio.ensure_future(self._serve(ws))

    async def _serve(self, ws: Any) -> None:
        async for message in ws:
            data = json.loads(message.data)
            if data["type"] == "offer":
                answer = await self.bot.renegotiate(data["sdp"])
                await ws.send_str(json.dumps({"type": "answer", "sdp": answer}))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.ws.close()
        await self.bot.close()


def _snapshot(bots: list[WsBot]) -> dict[str, Any]:
    return {
        "sent": {b.bot.name: {k: b.bot.sent(k) for k in KINDS} for b in bots},
        "received": {
            b.bot.name: {f"{src}.{kind}": i.packets for (src, kind), i in b.bot.inbound.items()}
            for b in bots
        },
    }


async def _bots_loss(bots: list[WsBot]) -> dict[str, int]:
    received = lost = 0
    for b in bots:
        for stat in (await b.bot.pc.getStats()).values():
            if stat.type == "inbound-rtp":
                received += stat.packetsReceived
                lost += max(stat.packetsLost, 0)
    return {"received": received, "lost": lost}


def _count_packets(path: str) -> dict[str, int]:
    import av

    counts = dict.fromkeys(KINDS, 0)
    with av.open(path) as container:
        for packet in container.demux():
            if packet.size:
                counts[packet.stream.type] = counts.get(packet.stream.type, 0) + 1
    return counts


@contextlib.asynccontextmanager
async def _running(*argv: str, **kwargs: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process, terminated and waited for when the block ends, even on error."""
    proc = await asyncio.create_subprocess_exec(*argv, **kwargs)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


@dataclass(frozen=True)
class SfuServer:
    """A running bench SFU process and the folder it records into."""

    pid: int
    url: str
    recording_dir: Path


@contextlib.asynccontextmanager
async def sfu_server(parent: Path | None = None) -> AsyncIterator[SfuServer]:
    """Start the SFU process recording into a new temporary folder (under ``parent``,
    default the system's); at the end, even on error, stop the process and remove the
    folder. A run records ~150 MB of WebM: nothing of it may stay behind."""
    with tempfile.TemporaryDirectory(
        prefix="bench-media-", dir=parent, ignore_cleanup_errors=True
    ) as scratch:
        recording_dir = Path(scratch)
        async with _running(
            sys.executable, "-m", "bench.media", "server", "--port", "0",
            "--recording-dir", str(recording_dir),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        ) as server:  # fmt: skip
            assert server.stdout is not None
            line = await asyncio.wait_for(server.stdout.readline(), 30)
            ready, _, port = line.decode().partition(" ")
            if ready != "READY":
                raise RuntimeError(f"server did not start: {line!r}")
            yield SfuServer(server.pid, f"http://127.0.0.1:{int(port)}", recording_dir)


async def measure(
    rooms: int, seconds: float, warmup: float, width: int, height: int, scratch: str | None = None
) -> dict[str, Any]:
    """Start the server, fill it with rooms of bots, measure one window (recording into
    a folder under ``scratch``, default the system's temporary folder)."""
    async with sfu_server(Path(scratch) if scratch else None) as server:
        return await _measure(server, rooms, seconds, warmup, width, height)


async def _measure(
    server: SfuServer, rooms: int, seconds: float, warmup: float, width: int, height: int
) -> dict[str, Any]:
    import aiohttp

    from media.bots import Bot, encode_opus_clip, encode_vp8_clip

    video = encode_vp8_clip(width, height, 30, bitrate=800_000)
    audio = encode_opus_clip()
    url = server.url
    bots: list[WsBot] = []
    async with aiohttp.ClientSession() as session:

        async def control(op: str) -> Any:
            async with session.post(f"{url}/control", json={"op": op}) as response:
                return (await response.json())["result"]

        for r in range(rooms):
            for name in ("a", "b", "c"):
                bot = WsBot(Bot(f"r{r}{name}", video=video, audio=audio), f"room{r}", f"{url}/ws")
                await bot.connect(session)
                bots.append(bot)
        # all joined: wait until every bot receives both others
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(len(b.bot.inbound) == 4 and all(i.packets for i in b.bot.inbound.values())
                   for b in bots):  # fmt: skip
                break
            await asyncio.sleep(0.2)
        await control("start_recording")
        rec_start = _snapshot(bots)
        await asyncio.sleep(warmup)
        start = _snapshot(bots)
        await control("profile_start")
        cpu0, bots_cpu0, t0 = _proc_cpu_seconds(server.pid), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, bots_cpu1, t1 = _proc_cpu_seconds(server.pid), time.process_time(), time.monotonic()
        end = _snapshot(bots)
        for b in bots:
            for track in b.bot.tracks.values():
                track.paused = True
        await asyncio.sleep(0.5)
        rec_end = _snapshot(bots)
        server_loss = await control("loss")
        bots_loss = await _bots_loss(bots)
        recordings = await control("stop_recording")
        load = await control("load")
        await control("close")
        for b in bots:
            await b.close()

    elapsed = t1 - t0
    delivery: dict[str, float] = {}
    # over the recording window: from everyone flowing to after the bots paused and the
    # last packets drained, so only the start boundary has packets in flight
    for kind in KINDS:
        expected = received = 0
        for b in bots:
            name = b.bot.name
            room_peers = [o.bot.name for o in bots if o.room == b.room and o is not b]
            for peer in room_peers:
                expected += rec_end["sent"][peer][kind] - rec_start["sent"][peer][kind]
                key = f"{peer}.{kind}"
                received += rec_end["received"][name].get(key, 0) - rec_start["received"][name].get(
                    key, 0
                )
        delivery[kind] = received / expected if expected else 0.0
    in_files = dict.fromkeys(KINDS, 0)
    for rec in recordings:
        counts = await asyncio.to_thread(_count_packets, rec["path"])
        for kind in KINDS:
            in_files[kind] += counts.get(kind, 0)
    sent_recording = {
        kind: sum(rec_end["sent"][n][kind] - rec_start["sent"][n][kind] for n in rec_end["sent"])
        for kind in KINDS
    }
    server_cpu = (cpu1 - cpu0) / elapsed * 100
    frames_sent = {
        kind: sum(end["sent"][n][kind] - start["sent"][n][kind] for n in end["sent"])
        for kind in KINDS
    }
    return {
        "rooms": rooms,
        "seconds": seconds,
        "video": f"{width}x{height}@30 VP8 {video.bytes_per_second * 8 / 1000:.0f} kbps",
        "server_cpu_percent": round(server_cpu, 1),
        "server_cpu_percent_per_room": round(server_cpu / rooms, 2),
        "bots_cpu_percent": round((bots_cpu1 - bots_cpu0) / elapsed * 100, 1),
        "delivery": {k: round(v, 4) for k, v in delivery.items()},
        "delivery_min": round(min(delivery.values()), 4),
        "frames_sent_per_second": {k: round(v / elapsed, 1) for k, v in frames_sent.items()},
        "recording_completeness": {
            kind: round(in_files[kind] / sent_recording[kind], 4) if sent_recording[kind] else 0.0
            for kind in KINDS
        },
        "recording_files": len(recordings),
        "rtp_loss": {"to_server": server_loss, "to_bots": bots_loss},
        "server_load": load,
    }


# -- Janus VideoRoom, the same load (comparison) --------------------------------------------

JANUS_PORT = 8088
JANUS_KEEP = ("libjanus_videoroom.so", "libjanus_http.so")
JANUS_NETNS_SETUP = (
    "ip link set lo up && ip addr add 127.0.0.2/8 dev lo"
    " && ip link add veth0 type veth peer name veth1"
    " && ip addr add 127.0.0.3/32 dev veth0 && ip link set veth0 up && ip link set veth1 up"
    ' && exec "$@"'
)


def _janus_lib_dir() -> Path:
    for candidate in Path("/usr/lib").glob("*/janus"):
        if (candidate / "plugins" / "libjanus_videoroom.so").exists():
            return candidate
    raise RuntimeError("Janus is not installed (Debian package janus)")


def write_janus_config(directory: Path) -> Path:
    """janus.jcfg and friends: VideoRoom + HTTP on 127.0.0.1 only, ICE on veth0, no STUN."""
    lib = _janus_lib_dir()
    directory.mkdir(parents=True, exist_ok=True)
    disable_plugins = ",".join(
        p.name for p in (lib / "plugins").glob("*.so") if p.name not in JANUS_KEEP
    )
    disable_transports = ",".join(
        p.name for p in (lib / "transports").glob("*.so") if p.name not in JANUS_KEEP
    )
    (directory / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{directory}"
    plugins_folder = "{lib / "plugins"}"
    transports_folder = "{lib / "transports"}"
    events_folder = "{lib / "events"}"
    loggers_folder = "{lib / "loggers"}"
    debug_level = 3
    admin_secret = "unused"
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "veth0"
    ignore_mdns = true
    full_trickle = false
}}
plugins: {{
    disable = "{disable_plugins}"
}}
transports: {{
    disable = "{disable_transports}"
}}
events: {{
    broadcast = false
}}
"""
    )
    (directory / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    base_path = "/janus"
    http = true
    port = {JANUS_PORT}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
"""
    )
    (directory / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    return directory


class JanusClient:
    """The few Janus HTTP API calls the comparison needs (sessions, handles, messages)."""

    def __init__(self, session: Any, base: str) -> None:
        self.http = session
        self.base = base
        self.session_id = 0
        self._events: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._counter = 0
        self._poller: asyncio.Task[None] | None = None

    def _transaction(self) -> str:
        self._counter += 1
        return f"t{self._counter}"

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(f"{self.base}{path}", json=body) as response:
            data: dict[str, Any] = await response.json(content_type=None)
        if data.get("janus") == "error":
            raise RuntimeError(f"janus: {data}")
        return data

    async def create(self) -> None:
        data = await self._post("", {"janus": "create", "transaction": self._transaction()})
        self.session_id = data["data"]["id"]
        self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        while True:
            url = f"{self.base}/{self.session_id}?maxev=20"
            async with self.http.get(url) as response:
                data = await response.json(content_type=None)
            for event in data if isinstance(data, list) else [data]:
                future = self._events.pop(event.get("transaction", ""), None)
                if future is not None and not future.done():
                    future.set_result(event)

    async def attach(self) -> int:
        data = await self._post(
            f"/{self.session_id}",
            {"janus": "attach", "plugin": "janus.plugin.videoroom",
             "transaction": self._transaction()},
        )  # fmt: skip
        return int(data["data"]["id"])

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (create, listparticipants)."""
        data = await self._post(
            f"/{self.session_id}/{handle}",
            {"janus": "message", "body": body, "transaction": self._transaction()},
        )
        return dict(data["plugindata"]["data"])

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An asynchronous plugin request; returns its event (with any JSEP)."""
        transaction = self._transaction()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._events[transaction] = future
        payload: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            payload["jsep"] = jsep
        await self._post(f"/{self.session_id}/{handle}", payload)
        return await asyncio.wait_for(future, 30)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        await self._post(
            f"/{self.session_id}", {"janus": "destroy", "transaction": self._transaction()}
        )


async def measure_janus(
    rooms: int, seconds: float, warmup: float, width: int, height: int, scratch: str | None = None
) -> dict[str, Any]:
    """The same rooms and bots through Janus VideoRoom (recording on), Janus's CPU.

    Janus's configuration and recordings go to a temporary folder removed at the end,
    even on error, and Janus is stopped with it."""
    with tempfile.TemporaryDirectory(
        prefix="bench-janus-", dir=scratch, ignore_cleanup_errors=True
    ) as workdir:
        return await _measure_janus(Path(workdir), rooms, seconds, warmup, width, height)


async def _measure_janus(
    workdir: Path, rooms: int, seconds: float, warmup: float, width: int, height: int
) -> dict[str, Any]:
    import aiohttp

    from media.bots import Bot, encode_opus_clip, encode_vp8_clip

    config = write_janus_config(workdir / "etc")
    async with _running(
        "janus", "--configs-folder", str(config), "--config", str(config / "janus.jcfg"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    ) as janus:  # fmt: skip
        base = f"http://127.0.0.1:{JANUS_PORT}/janus"
        video = encode_vp8_clip(width, height, 30, bitrate=800_000)
        audio = encode_opus_clip()
        publishers: dict[int, list[Bot]] = {}
        subscribers: dict[int, list[Bot]] = {}
        async with aiohttp.ClientSession() as session:
            client = JanusClient(session, base)
            for _ in range(100):
                try:
                    await client.create()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("janus did not start")
            admin = await client.attach()
            for r in range(rooms):
                room_id = 1000 + r
                await client.request(
                    admin,
                    {"request": "create", "room": room_id, "publishers": 3, "videocodec": "vp8",
                     "audiocodec": "opus", "record": True, "rec_dir": str(workdir / f"rec{r}")},
                )  # fmt: skip
                publishers[room_id] = []
                for name in ("a", "b", "c"):
                    bot = Bot(f"r{r}{name}", video=video, audio=audio)
                    handle = await client.attach()
                    event = await client.message(
                        handle,
                        {"request": "joinandconfigure", "room": room_id, "ptype": "publisher",
                         "display": bot.name, "audio": True, "video": True},
                        {"type": "offer", "sdp": await bot.offer()},
                    )  # fmt: skip
                    await bot.accept_answer(event["jsep"]["sdp"])
                    publishers[room_id].append(bot)
            for room_id in publishers:
                # a publisher is a feed only once its PeerConnection is up
                for _ in range(200):
                    listing = await client.request(
                        admin, {"request": "listparticipants", "room": room_id}
                    )
                    if sum(1 for p in listing["participants"] if p.get("publisher")) == 3:
                        break
                    await asyncio.sleep(0.1)
                feeds = {p["display"]: p["id"] for p in listing["participants"]}
                subscribers[room_id] = []
                for bot in publishers[room_id]:
                    sub = Bot(f"{bot.name}-sub", video=None, audio=None)
                    handle = await client.attach()
                    streams = [{"feed": fid} for name, fid in feeds.items() if name != bot.name]
                    event = await client.message(
                        handle,
                        {"request": "join", "room": room_id, "ptype": "subscriber",
                         "streams": streams},
                    )  # fmt: skip
                    if "jsep" not in event:
                        raise RuntimeError(f"janus subscriber join: {event}")
                    answer = await sub.renegotiate(event["jsep"]["sdp"])
                    await client.message(
                        handle, {"request": "start"}, {"type": "answer", "sdp": answer}
                    )
                    subscribers[room_id].append(sub)
            all_pubs = [b for bots in publishers.values() for b in bots]
            all_subs = [b for bots in subscribers.values() for b in bots]

            def snap() -> dict[str, dict[str, int]]:
                return {
                    "sent": {k: sum(b.sent(k) for b in all_pubs) for k in KINDS},
                    "received": {
                        k: sum(i.packets for s in all_subs for (_, kind), i in s.inbound.items()
                               if kind == k)
                        for k in KINDS
                    },
                }  # fmt: skip

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(len(s.inbound) == 4 and all(i.packets for i in s.inbound.values())
                       for s in all_subs):  # fmt: skip
                    break
                await asyncio.sleep(0.2)
            window_start = snap()
            await asyncio.sleep(warmup)
            cpu0, t0 = _proc_cpu_seconds(janus.pid), time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, t1 = _proc_cpu_seconds(janus.pid), time.monotonic()
            for bot in all_pubs:
                for track in bot.tracks.values():
                    track.paused = True
            await asyncio.sleep(0.5)
            window_end = snap()
            connected = sum(1 for s in all_subs if len(s.inbound) == 4)
            for bot in all_pubs + all_subs:
                await bot.close()
            await client.close()
    recordings = await asyncio.to_thread(lambda: sorted(workdir.glob("rec*/*.mjr")))
    cpu = (cpu1 - cpu0) / (t1 - t0) * 100
    delivery = {
        k: (window_end["received"][k] - window_start["received"][k])
        / (2 * (window_end["sent"][k] - window_start["sent"][k]))
        for k in KINDS
    }
    return {
        "rooms": rooms,
        "seconds": seconds,
        "janus_cpu_percent": round(cpu, 1),
        "janus_cpu_percent_per_room": round(cpu / rooms, 2),
        "delivery": {k: round(v, 4) for k, v in delivery.items()},
        "subscribers_connected": connected,
        "recording_files": len(recordings),
    }


def _inside(
    setup: str, command: str, params: dict[str, Any], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench.media COMMAND`` in a new netns; what it printed and its exit.

    The child records into a folder of ours, removed here whatever happened to it
    (killed on timeout, it cannot clean up after itself)."""
    with tempfile.TemporaryDirectory(prefix="bench-media-run-", ignore_cleanup_errors=True) as d:
        argv = ["unshare", "-n", "sh", "-c", setup, "bench", sys.executable, "-m",
                "bench.media", command, json.dumps({**params, "scratch": d})]  # fmt: skip
        return subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )


def run_janus(rooms: int, seconds: int = 30, *, warmup: float = 3.0) -> dict[str, Any]:
    """Janus VideoRoom under the same load, in its own netns with a veth pair."""
    params = {"rooms": rooms, "seconds": seconds, "warmup": warmup, "width": 640, "height": 480}
    proc = _inside(JANUS_NETNS_SETUP, "janus-inside", params, seconds + 180)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"janus bench failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def compare(rooms: int = 4, seconds: int = 30) -> dict[str, Any]:
    """Our SFU and Janus under the same load: CPU per room and their ratio."""
    ours = run(rooms, seconds)
    theirs = run_janus(rooms, seconds)
    ratio = (
        ours["server_cpu_percent_per_room"] / theirs["janus_cpu_percent_per_room"]
        if theirs["janus_cpu_percent_per_room"]
        else None
    )
    return {"benchmark": "media-vs-janus", "rooms": rooms, "ours": ours, "janus": theirs,
            "cpu_ratio_ours_to_janus": None if ratio is None else round(ratio, 2)}  # fmt: skip


# -- entry points -------------------------------------------------------------------------


def run(
    rooms: int,
    seconds: int = 30,
    *,
    warmup: float = 3.0,
    width: int = 640,
    height: int = 480,
) -> dict[str, Any]:
    """Run one load level in a fresh network namespace; the figures as a dict."""
    params = {"rooms": rooms, "seconds": seconds, "warmup": warmup, "width": width,
              "height": height}  # fmt: skip
    proc = _inside(NETNS_SETUP, "inside", params, seconds + 180)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def sweep(
    max_rooms: int = 8, seconds: int = 30, *, threshold: float = 0.99, **kwargs: Any
) -> dict[str, Any]:
    """Run N = 1, 2, 4, ... up to ``max_rooms`` (stops after the first N below threshold)."""
    levels: list[dict[str, Any]] = []
    n_max = 0
    n = 1
    while n <= max_rooms:
        result = run(n, seconds, **kwargs)
        levels.append(result)
        if result["delivery_min"] >= threshold:
            n_max = n
        else:
            break
        n = n * 2 if n < 4 else n + 2
    return {"benchmark": "media", "threshold": threshold, "n_max": n_max, "levels": levels}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.media")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="one load level")
    p_run.add_argument("--rooms", type=int, default=4)
    p_run.add_argument("--seconds", type=int, default=30)
    p_sweep = sub.add_parser("sweep", help="increasing load levels, N max")
    p_sweep.add_argument("--max-rooms", type=int, default=8)
    p_sweep.add_argument("--seconds", type=int, default=30)
    p_server = sub.add_parser("server", help="(internal) the SFU process")
    p_server.add_argument("--port", type=int, required=True)
    p_server.add_argument("--recording-dir", type=Path, required=True)
    p_compare = sub.add_parser("compare", help="the same load through Janus VideoRoom")
    p_compare.add_argument("--rooms", type=int, default=4)
    p_compare.add_argument("--seconds", type=int, default=30)
    p_inside = sub.add_parser("inside", help="(internal) bots and measurement in the netns")
    p_inside.add_argument("params")
    p_janus = sub.add_parser("janus-inside", help="(internal) Janus measurement in the netns")
    p_janus.add_argument("params")
    args = parser.parse_args(argv)
    if args.command == "run":
        print(json.dumps({"benchmark": "media", **run(args.rooms, args.seconds)}))
    elif args.command == "sweep":
        print(json.dumps(sweep(args.max_rooms, args.seconds)))
    elif args.command == "server":
        asyncio.run(serve(args.port, args.recording_dir))
    elif args.command == "compare":
        print(json.dumps(compare(args.rooms, args.seconds)))
    elif args.command == "inside":
        print(json.dumps(asyncio.run(measure(**json.loads(args.params)))))
    elif args.command == "janus-inside":
        print(json.dumps(asyncio.run(measure_janus(**json.loads(args.params)))))


if __name__ == "__main__":
    main()
