"""Media scenarios run inside a network namespace (see netns.py); each prints one JSON line.

Run as ``python -m tests.media.scenarios NAME '{"param": ...}'`` in a namespace where lo
is up with 127.0.0.2. Every scenario counts calls to aiortc's decoder factory, so the
tests can assert that nothing in the process (server or bots) ran aiortc's decoder: bots
decode with their own PyAV decoders only to prove decodability.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection, rtcrtpreceiver
from aiortc.mediastreams import MediaStreamTrack

from cases import migrate
from cases.db import Database
from cases.models import Recording
from media.bots import Bot, Clip, LoopingTrack, encode_opus_clip, encode_vp8_clip
from media.encoded import COUNTERS, EncodedReceiver, PacketTrack, on_keyframe_request
from media.ice import rtc_configuration
from media.manager import RoomManager
from media.recording import NullSink
from media.room import Room
from recordings.model import RecordedParticipant, RecordingSink
from recordings.store import DatabaseRecordingSink, verify_integrity

DECODER_CALLS = {"count": 0}
_original_get_decoder = rtcrtpreceiver.get_decoder


def _counting_get_decoder(codec: Any) -> Any:
    DECODER_CALLS["count"] += 1
    return _original_get_decoder(codec)


rtcrtpreceiver.get_decoder = _counting_get_decoder  # type: ignore[assignment]


def clips(width: int = 320, height: int = 240) -> tuple[Clip, Clip]:
    return encode_vp8_clip(width, height, 30), encode_opus_clip()


def summary(bot: Bot) -> dict[str, Any]:
    return {
        "sent": {kind: bot.sent(kind) for kind in ("audio", "video")},
        "keyframe_requests": bot.tracks["video"].keyframe_requests if "video" in bot.tracks else 0,
        "renegotiations": bot.renegotiations,
        "inbound": {
            f"{source}.{kind}": {
                "packets": i.packets,
                "keyframes": i.keyframes,
                "decoded": i.decoded,
                "decode_errors": i.decode_errors,
            }
            for (source, kind), i in bot.inbound.items()
        },
    }


def joiner(room: Room, bot: Bot) -> Callable[[str], Awaitable[str]]:
    async def join(offer: str) -> str:
        return await room.join(bot.name, offer, bot.renegotiate)

    return join


async def wait_connected(room: Room, names: list[str], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(n in room.participants and room.participants[n].negotiations >= 1 for n in names):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"not connected: {room.describe()}")


def counters() -> dict[str, int]:
    return {"get_decoder_calls": DECODER_CALLS["count"], "frames_tapped": COUNTERS.frames_tapped}


# -- scenarios ------------------------------------------------------------------------


async def seam_loopback(seconds: float = 2.0) -> dict[str, Any]:
    """A sends looped packets to B; B echoes them back through PacketTracks; both tap."""
    video, audio = clips()
    a = RTCPeerConnection(rtc_configuration([]))
    b = RTCPeerConnection(rtc_configuration([]))
    sources = {"video": LoopingTrack(video), "audio": LoopingTrack(audio)}
    for track in sources.values():
        sender = a.addTrack(track)
        if track.kind == "video":
            on_keyframe_request(sender, track.request_keyframe)
    b_taps: dict[str, EncodedReceiver] = {}
    a_taps: dict[str, EncodedReceiver] = {}
    echo: dict[str, PacketTrack] = {}
    received: dict[str, list[tuple[int, bool, int]]] = {"b.video": [], "b.audio": []}
    received.update({"a.video": [], "a.audio": []})
    decoded = {"a.video": 0, "a.audio": 0}
    decoders: dict[str, av.CodecContext] = {}

    def receiver_of(pc: RTCPeerConnection, track: MediaStreamTrack) -> Any:
        return next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)

    @b.on("track")
    def on_b_track(track: MediaStreamTrack) -> None:
        tap = EncodedReceiver.attach(receiver_of(b, track))
        b_taps[track.kind] = tap
        out = PacketTrack(track.kind)
        echo[track.kind] = out
        b.addTrack(out)
        key = f"b.{track.kind}"
        tap.add_listener(lambda p: received[key].append((p.pts, p.is_keyframe, p.size)))
        tap.add_listener(out.push)

    @a.on("track")
    def on_a_track(track: MediaStreamTrack) -> None:
        tap = EncodedReceiver.attach(receiver_of(a, track))
        a_taps[track.kind] = tap
        key = f"a.{track.kind}"
        if track.kind == "video":
            decoders[key] = av.CodecContext.create("libvpx", "r")
        else:
            decoders[key] = av.CodecContext.create("libopus", "r")

        def on_packet(packet: av.Packet) -> None:
            received[key].append((packet.pts, packet.is_keyframe, packet.size))
            decoded[key] += len(decoders[key].decode(packet))

        tap.add_listener(on_packet)

    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    await asyncio.sleep(seconds / 2)
    pli_sent = b_taps["video"].request_keyframe()
    await asyncio.sleep(seconds / 2)
    receiver_threads_alive = [
        t.receiver._RTCRtpReceiver__decoder_thread.is_alive()  # type: ignore[attr-defined]
        for pc in (a, b)
        for t in pc.getTransceivers()
        if t.receiver._RTCRtpReceiver__decoder_thread is not None  # type: ignore[attr-defined]
    ]
    result = {
        "sent": {k: t.sent for k, t in sources.items()},
        "keyframe_requests": sources["video"].keyframe_requests,
        "pli_sent": pli_sent,
        "received": {
            k: {
                "packets": len(v),
                "first_is_keyframe": bool(v) and v[0][1],
                "keyframes": sum(1 for _, key, _ in v if key),
                "pts_increasing": all(x[0] < y[0] for x, y in itertools.pairwise(v)),
                "bytes": sum(size for _, _, size in v),
            }
            for k, v in received.items()
        },
        "decoded": decoded,
        "echo_dropped": {k: t.dropped for k, t in echo.items()},
        "decoder_threads_alive": sum(receiver_threads_alive),
        **counters(),
    }
    await a.close()
    await b.close()
    return result


async def _room_with_bots(
    names: list[str], *, decode: bool = True, recording_dir: Path | None = None
) -> tuple[RoomManager, Room, list[Bot], NullSink]:
    video, audio = clips()
    sink = NullSink()
    manager = RoomManager(
        ice_servers=[],
        recording_dir=recording_dir or Path(tempfile.mkdtemp()),
        recording_sink=sink,
    )
    room = manager.create_room("room-1")
    bots = [Bot(name, video=video, audio=audio, decode=decode) for name in names]
    for bot in bots:
        await bot.join(joiner(room, bot))
    return manager, room, bots, sink


async def _teardown(manager: RoomManager, bots: list[Bot]) -> None:
    await manager.close()
    for bot in bots:
        await bot.close()


async def three_party(seconds: float = 2.0) -> dict[str, Any]:
    """Three bots in a room: everyone receives the other two, decodably."""
    manager, room, bots, _ = await _room_with_bots(["alice", "bob", "carol"])
    await wait_connected(room, [b.name for b in bots])
    await asyncio.sleep(0.2)  # the keyframe asked for at the last renegotiation
    marks = {b.name: {kind: b.sent(kind) for kind in ("audio", "video")} for b in bots}
    await asyncio.sleep(seconds)
    stats = {pid: s.as_dict() for pid, s in (await room.stats()).items()}
    # bob's receiver of alice's video sends a PLI: the SFU must pass it on to alice
    alice, bob = bots[0], bots[1]
    before_pli = alice.tracks["video"].keyframe_requests
    bob_tap = bob.taps[("alice", "video")]
    await asyncio.sleep(0.35)  # past the coalescing interval of earlier requests
    bob_tap.request_keyframe()
    await asyncio.sleep(0.5)
    pli_forwarded = alice.tracks["video"].keyframe_requests - before_pli
    stats2 = {pid: s.as_dict() for pid, s in (await room.stats()).items()}
    result = {
        "bots": {b.name: summary(b) for b in bots},
        "sent_at_start": marks,
        "pli_forwarded": pli_forwarded,
        "stats": stats,
        "stats2": stats2,
        "room": room.describe(),
        "load": manager.load().__dict__,
        **counters(),
    }
    await _teardown(manager, bots)
    return result


async def churn(seconds: float = 1.5) -> dict[str, Any]:
    """A fourth bot joins late and leaves; one bot reconnects with a new connection."""
    manager, room, bots, _ = await _room_with_bots(["alice", "bob", "carol"])
    await wait_connected(room, [b.name for b in bots])
    video, audio = clips()
    dave = Bot("dave", video=video, audio=audio, decode=True)
    await dave.join(joiner(room, dave))
    await wait_connected(room, ["dave"])
    await asyncio.sleep(seconds)
    dave_summary = summary(dave)
    before_leave = {b.name: b.received("dave", "video") for b in bots}
    await room.leave("dave")
    await dave.close()
    await asyncio.sleep(0.5)
    after_leave = {b.name: b.received("dave", "video") for b in bots}
    await asyncio.sleep(0.5)
    later = {b.name: b.received("dave", "video") for b in bots}
    # alice reconnects: a new peer connection under the same participant id
    old_alice = bots[0]
    alice2 = Bot("alice", video=video, audio=audio, decode=True)
    await alice2.join(joiner(room, alice2))
    await old_alice.close()
    bots[0] = alice2
    await wait_connected(room, ["alice"])
    marks = {b.name: b.received("alice", "video") for b in bots[1:]}
    await asyncio.sleep(seconds)
    result = {
        "dave": dave_summary,
        "before_leave": before_leave,
        "after_leave": after_leave,
        "later": later,
        "alice_marks": marks,
        "bots": {b.name: summary(b) for b in bots},
        "after_reconnect": {b.name: b.received("alice", "video") for b in bots[1:]},
        "room": room.describe(),
        **counters(),
    }
    await _teardown(manager, bots)
    return result


async def matrix(seconds: float = 1.5) -> dict[str, Any]:
    """Cut bob off from alice (audio and video), then restore."""
    manager, room, bots, _ = await _room_with_bots(["alice", "bob", "carol"])
    alice, bob, carol = bots
    await wait_connected(room, [b.name for b in bots])
    await asyncio.sleep(seconds)

    def snap() -> dict[str, int]:
        return {
            "bob<alice.video": bob.received("alice", "video"),
            "bob<alice.audio": bob.received("alice", "audio"),
            "carol<alice.video": carol.received("alice", "video"),
            "bob<carol.video": bob.received("carol", "video"),
            "alice<bob.video": alice.received("bob", "video"),
        }

    before = snap()
    room.set_route("alice", "bob", audio=False, video=False)
    await asyncio.sleep(0.3)  # packets already in flight
    cut_start = snap()
    await asyncio.sleep(seconds)
    cut_end = snap()
    routes_during = room.describe()["routes"]
    keyframes_before_restore = alice.tracks["video"].keyframe_requests
    room.set_route("alice", "bob", audio=True, video=True)
    await asyncio.sleep(seconds)
    restored = snap()
    # server-enforced mute of alice's audio towards everyone
    room.set_muted("alice", "audio", muted=True)
    await asyncio.sleep(0.3)
    mute_start = {b.name: b.received("alice", "audio") for b in (bob, carol)}
    await asyncio.sleep(seconds / 2)
    mute_end = {b.name: b.received("alice", "audio") for b in (bob, carol)}
    muted_described = room.describe()["participants"]["alice"]["muted"]
    room.set_muted("alice", "audio", muted=False)
    await asyncio.sleep(seconds / 2)
    unmuted = {b.name: b.received("alice", "audio") for b in (bob, carol)}
    result = {
        "mute": {
            "start": mute_start,
            "end": mute_end,
            "after": unmuted,
            "described": muted_described,
            "bob<carol.video": bob.received("carol", "video"),
        },
        "before": before,
        "cut_start": cut_start,
        "cut_end": cut_end,
        "restored": restored,
        "routes_during": routes_during,
        "keyframe_requests_on_restore": alice.tracks["video"].keyframe_requests
        - keyframes_before_restore,
        "bots": {b.name: summary(b) for b in bots},
        **counters(),
    }
    await _teardown(manager, bots)
    return result


async def recording_midstream(seconds: float = 2.0) -> dict[str, Any]:
    """Start recording in a room already flowing: files start at a keyframe, asked for."""
    directory = Path(tempfile.mkdtemp())
    manager, room, bots, sink = await _room_with_bots(
        ["alice", "bob", "carol"], decode=False, recording_dir=directory
    )
    await wait_connected(room, [b.name for b in bots])
    await asyncio.sleep(0.7)  # mid-GOP: the next natural keyframe is up to 1 s away
    requests_before = {b.name: b.tracks["video"].keyframe_requests for b in bots}
    sent_before = {b.name: {k: b.sent(k) for k in ("audio", "video")} for b in bots}
    await room.start_recording()
    await asyncio.sleep(seconds)
    sent_after = {b.name: {k: b.sent(k) for k in ("audio", "video")} for b in bots}
    results = await room.stop_recording()
    files, manifest, sha_ok = await asyncio.to_thread(_inspect_recordings, results)
    result = {
        "files": files,
        "manifest": manifest,
        "manifest_sha_ok": sha_ok,
        "sent_during": {
            n: {k: sent_after[n][k] - sent_before[n][k] for k in ("audio", "video")}
            for n in sent_after
        },
        "keyframe_requests": {
            b.name: b.tracks["video"].keyframe_requests - requests_before[b.name] for b in bots
        },
        "sink": [r.participant_id for r in sink.finished],
        **counters(),
    }
    await _teardown(manager, bots)
    return result


def _inspect_recordings(results: list[Any]) -> tuple[dict[str, Any], Any, bool]:
    """Decode each file with PyAV, hash it, read the manifest."""
    files = {}
    for rec in results:
        path = Path(rec.media.path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        frames = {"video": 0, "audio": 0}
        first_video_keyframe = None
        errors = 0
        with av.open(str(path)) as container:
            streams = {s.type: s for s in container.streams}
            for kind in ("video", "audio"):
                if kind not in streams:
                    continue
                container.seek(0)
                try:
                    for packet in container.demux(streams[kind]):
                        if kind == "video" and first_video_keyframe is None and packet.size:
                            first_video_keyframe = packet.is_keyframe
                        frames[kind] += len(packet.decode())
                except av.FFmpegError:
                    errors += 1
            geometry = (
                (streams["video"].codec_context.width, streams["video"].codec_context.height)
                if "video" in streams
                else None
            )
        files[rec.participant_id] = {
            "path": str(path),
            "size": rec.media.size,
            "real_size": path.stat().st_size,
            "sha256": rec.media.sha256,
            "real_sha256": digest,
            "frames": frames,
            "decode_errors": errors,
            "first_video_keyframe": first_video_keyframe,
            "geometry": geometry,
            "tracks": rec.tracks,
        }
    manifest = json.loads(Path(results[0].manifest.path).read_text()) if results else None
    if not results:
        return files, None, False
    manifest_path = Path(results[0].manifest.path)
    sha_ok = hashlib.sha256(manifest_path.read_bytes()).hexdigest() == results[0].manifest.sha256
    return files, manifest, sha_ok


class _TeeSink:
    """Hands each finished file to every sink in turn."""

    def __init__(self, *sinks: RecordingSink) -> None:
        self.sinks = sinks

    async def recording_finished(self, recording: RecordedParticipant) -> None:
        for sink in self.sinks:
            await sink.recording_finished(recording)


async def _database_rows(db: Database, recording_id: str) -> dict[str, Any]:
    """What the record holds for a recording, next to each file's real size and hash."""
    async with db.session() as session:
        row = await session.get(Recording, recording_id)
        assert row is not None, recording_id
        files = {
            f.participant: {
                "path": f.path,
                "size": f.size_bytes,
                "sha256": f.sha256,
                **await asyncio.to_thread(_real_size_and_sha256, Path(f.path)),
            }
            for f in row.files
        }
        return {"room_id": row.room_id, "manifest_path": row.manifest_path, "files": files}


def _real_size_and_sha256(path: Path) -> dict[str, Any]:
    return {
        "real_size": path.stat().st_size,
        "real_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


async def recording(seconds: float = 3.0) -> dict[str, Any]:
    """Record a three-party room; decode the files; compare with what the bots sent.

    The files go to a NullSink and, through ``recordings.store.DatabaseRecordingSink``, to a
    real (migrated) SQLite database, whose hashes are compared with the files.
    """
    directory = Path(tempfile.mkdtemp())
    video, audio = clips()
    sink = NullSink()
    database_url = f"sqlite:///{directory / 'record.sqlite3'}"
    await migrate.upgrade(database_url)
    db = Database(database_url)
    announced: list[tuple[str, list[str]]] = []

    async def announce(room_id: str, participants: Any) -> None:
        announced.append((room_id, list(participants)))

    manager = RoomManager(
        ice_servers=[],
        recording_dir=directory,
        recording_sink=_TeeSink(sink, DatabaseRecordingSink(db)),
        announce=announce,
    )
    room = manager.create_room("room-rec")
    recording_id = await room.start_recording()
    bots = [Bot(name, video=video, audio=audio) for name in ("alice", "bob", "carol")]
    for bot in bots:
        await bot.join(joiner(room, bot))
    await wait_connected(room, [b.name for b in bots])
    await asyncio.sleep(seconds)
    for bot in bots:
        for track in bot.tracks.values():
            track.paused = True
    await asyncio.sleep(0.5)
    results = await room.stop_recording()
    files, manifest, manifest_sha_ok = await asyncio.to_thread(_inspect_recordings, results)
    result = {
        "recording_id": recording_id,
        "announced": announced,
        "files": files,
        "sink": [r.participant_id for r in sink.finished],
        "database": await _database_rows(db, recording_id),
        "integrity_problems": [str(p) for p in await verify_integrity(db, recording_id)],
        "manifest_path": results[0].manifest.path if results else None,
        "manifest": manifest,
        "manifest_sha_ok": manifest_sha_ok,
        "bots": {b.name: summary(b) for b in bots},
        **counters(),
    }
    await _teardown(manager, bots)
    await db.close()
    return result


BROWSER_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def browser(chromium_path: str, seconds: float = 3.0) -> dict[str, Any]:
    """Headless Chromium joins a room with two bots; its getStats() after a few seconds."""
    from aiohttp import web
    from playwright.async_api import async_playwright

    from tests.media.browser_page import STATS_JS, make_app

    manager, room, bots, _ = await _room_with_bots(["bot1", "bot2"])
    await wait_connected(room, [b.name for b in bots])
    runner = web.AppRunner(make_app(room, "browser"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=BROWSER_ARGS
        )
        page = await chromium.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.wait_for_function("window.sfu && (window.sfu.ready || window.sfu.error)")
        try:
            await wait_connected(room, ["browser"], within=20)
        except TimeoutError:
            print(console, await page.evaluate("window.sfu.error"), file=sys.stderr)
            raise
        marks = {b.name: b.received("browser", "video") for b in bots}
        await asyncio.sleep(seconds)
        stats = await page.evaluate(STATS_JS)
        server_stats = {k: v.as_dict() for k, v in (await room.stats()).items()}
        await chromium.close()
    result = {
        "stats": stats,
        "server_stats": server_stats,
        "console": console[-20:],
        "room": room.describe(),
        "bots": {b.name: summary(b) for b in bots},
        "bots_from_browser_at_start": marks,
        **counters(),
    }
    await runner.cleanup()
    await _teardown(manager, bots)
    return result


async def _browser_decoded(page: Any, track_id: str) -> int:
    """Frames Chromium decoded on the section that carries ``track_id`` (0: none yet)."""
    from tests.media.browser_page import STATS_JS

    stats = await page.evaluate(STATS_JS)
    mids = {t["mid"] for t in stats["tracks"] if t["id"] == track_id}
    return sum(s["framesDecoded"] for s in stats["inbound"] if s["mid"] in mids)


async def browser_rejoin(chromium_path: str, within: float = 20.0) -> dict[str, Any]:
    """A bot leaves and rejoins (then reconnects) while Chromium is in the room.

    Each time, the browser is re-offered the bot's new sections beside its old, now
    inactive ones: it must accept the offer and decode the bot's video again.
    """
    from aiohttp import web
    from playwright.async_api import async_playwright

    from tests.media.browser_page import STATS_JS, make_app

    video, audio = clips()
    manager, room, bots, _ = await _room_with_bots(["bot1"])
    await wait_connected(room, ["bot1"])
    runner = web.AppRunner(make_app(room, "browser"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    steps: list[dict[str, Any]] = []
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=BROWSER_ARGS
        )
        page = await chromium.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.wait_for_function("window.sfu && (window.sfu.ready || window.sfu.error)")
        await wait_connected(room, ["browser"], within=within)

        async def watch(step: str) -> None:
            track_id = f"bot1.video.{room.participants['bot1'].join_no}"
            deadline = time.monotonic() + within
            frames = 0
            while time.monotonic() < deadline and frames < 30:
                if await page.evaluate("window.sfu.error") or "browser" not in room.participants:
                    break
                frames = await _browser_decoded(page, track_id)
                await asyncio.sleep(0.2)
            steps.append(
                {
                    "step": step,
                    "track": track_id,
                    "frames": frames,
                    "browser_in_room": "browser" in room.participants,
                    "error": await page.evaluate("window.sfu.error"),
                }
            )

        await watch("first")
        await room.leave("bot1")  # leaves, then comes back under the same id
        await bots[0].close()
        bots[0] = Bot("bot1", video=video, audio=audio, decode=True)
        await bots[0].join(joiner(room, bots[0]))
        await wait_connected(room, ["bot1"])
        await watch("rejoined")
        old = bots[0]  # a reconnect: a new connection while the old one is still in
        bots[0] = Bot("bot1", video=video, audio=audio, decode=True)
        await bots[0].join(joiner(room, bots[0]))
        await old.close()
        await wait_connected(room, ["bot1"])
        await watch("reconnected")
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if bots[0].received("browser", "video") >= 30:
                break
            await asyncio.sleep(0.2)
        stats = await page.evaluate(STATS_JS)
        await chromium.close()
    result = {
        "steps": steps,
        "stats": stats,
        "console": console[-20:],
        "browser_negotiations": room.participants["browser"].negotiations
        if "browser" in room.participants
        else None,
        "bot": summary(bots[0]),
        **counters(),
    }
    await runner.cleanup()
    await _teardown(manager, bots)
    return result


async def ws_room(seconds: float = 1.5) -> dict[str, Any]:
    """The application's room signaling over /ws with bots (tests/media/room_signaling.py)."""
    from tests.media.room_signaling import ws_room as run

    return await run(seconds)


async def voicemail_room(seconds: float = 2.0, limit_s: float = 1.5) -> dict[str, Any]:
    """A waiting caller's voice message over /ws (tests/media/voicemail_room.py)."""
    from tests.media.voicemail_room import voicemail_room as run

    return await run(seconds, limit_s)


async def call_room(seconds: float = 1.0) -> dict[str, Any]:
    """A hotline call's room over /ws with bots (tests/media/call_room.py)."""
    from tests.media.call_room import call_room as run

    return await run(seconds)


async def two_node_room(redis_socket: str, prefix: str, db: int = 0) -> dict[str, Any]:
    """One room between two apps on Redis (tests/media/placed_rooms.py)."""
    from tests.media.placed_rooms import two_node_room as run

    return await run(redis_socket, prefix, db)


async def two_node_call(
    redis_socket: str, postgres_socket: str, database: str, prefix: str, db: int = 0
) -> dict[str, Any]:
    """A call across two ``hotline serve`` processes (tests/media/scaled_calls.py)."""
    from tests.media.scaled_calls import two_node_call as run

    return await run(redis_socket, postgres_socket, database, prefix, db)


SCENARIOS = {
    "ws_room": ws_room,
    "call_room": call_room,
    "two_node_room": two_node_room,
    "two_node_call": two_node_call,
    "browser": browser,
    "browser_rejoin": browser_rejoin,
    "seam_loopback": seam_loopback,
    "three_party": three_party,
    "churn": churn,
    "matrix": matrix,
    "recording": recording,
    "recording_midstream": recording_midstream,
    "voicemail_room": voicemail_room,
}


def main() -> None:
    import logging
    import os

    if os.environ.get("MEDIA_DEBUG"):
        logging.basicConfig(level=logging.WARNING)
        for name in os.environ["MEDIA_DEBUG"].split(","):
            logging.getLogger(name).setLevel(logging.DEBUG)
    name = sys.argv[1]
    params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = asyncio.run(SCENARIOS[name](**params))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
