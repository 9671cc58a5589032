"""Recording taps: each participant's audio and video muxed as received into WebM.

Nothing is decoded or encoded: the encoded packets the SFU forwards are also written, in
arrival order, to one WebM file per participant (PyAV's Matroska muxer), with a JSON
manifest per recording that lines every track up on the recording's own clock.

Time alignment: time zero of every file is the moment recording started. The first
packet of each track is placed at its arrival time since then; later packets keep their
RTP spacing (pts + offset). So tracks within a file and across files share one clock.

Video starts at a keyframe (the room asks each source for one when recording starts);
audio that arrives before the first video keyframe is held (already placed in time) and
written once the file is opened, because the WebM header needs the picture size, which
only a keyframe carries.

Where the results go is the caller's business: a ``RecordingSink`` (defined in
``recordings.model``; the application uses ``recordings.store.DatabaseRecordingSink``)
receives one ``RecordedParticipant`` per file when the recording stops. media/ never
touches the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av

from media.encoded import vp8_dimensions
from recordings.model import RecordedFile, RecordedParticipant, RecordingSink

logger = logging.getLogger(__name__)

MAX_HELD_AUDIO = 500  # 10 s of 20 ms frames waiting for the first video keyframe


class NullSink:
    """Keeps finished recordings in a list (tests, benchmarks, development)."""

    def __init__(self) -> None:
        self.finished: list[RecordedParticipant] = []

    async def recording_finished(self, recording: RecordedParticipant) -> None:
        self.finished.append(recording)


@dataclass
class _TrackState:
    kind: str
    offset: int | None = None  # ticks added to the source pts
    first_arrival_ms: float | None = None
    first_pts_ms: float | None = None
    last_pts: int | None = None
    packets: int = 0
    keyframes: int = 0
    bytes: int = 0
    dropped_before_keyframe: int = 0
    width: int | None = None
    height: int | None = None


@dataclass
class ParticipantRecorder:
    """One WebM file for one participant, fed encoded packets on the event loop."""

    participant_id: str
    path: Path
    clock_zero: float  # time.monotonic() when the recording started
    kinds: frozenset[str]  # what the participant sends: the file's streams
    container: Any = None
    streams: dict[str, Any] = field(default_factory=dict)
    tracks: dict[str, _TrackState] = field(default_factory=dict)
    held_audio: deque[av.Packet[Any]] = field(default_factory=deque)
    joined_ms: float = 0.0
    closed: bool = False

    def write(self, kind: str, packet: av.Packet[Any]) -> None:
        if self.closed:
            return
        track = self.tracks.get(kind)
        if track is None:
            track = self.tracks[kind] = _TrackState(kind)
        if kind == "video" and self.container is None:
            dims = vp8_dimensions(bytes(packet)) if packet.is_keyframe else None
            if dims is None:
                track.dropped_before_keyframe += 1
                return
            track.width, track.height = dims
        tb = packet.time_base
        source_pts = packet.pts or 0
        if track.offset is None:
            arrival = time.monotonic() - self.clock_zero
            track.offset = round(arrival / tb) - source_pts
            track.first_arrival_ms = arrival * 1000
            track.first_pts_ms = float((source_pts + track.offset) * tb * 1000)
        pts = source_pts + track.offset
        if track.last_pts is not None and pts <= track.last_pts:
            pts = track.last_pts + 1
        track.last_pts = pts
        out = av.Packet(bytes(packet))
        out.pts = out.dts = pts
        out.time_base = tb
        out.is_keyframe = packet.is_keyframe
        track.packets += 1
        track.bytes += packet.size
        if kind == "video" and packet.is_keyframe:
            track.keyframes += 1
        if self.container is None and kind == "audio" and "video" in self.kinds:
            self.held_audio.append(out)
            if len(self.held_audio) > MAX_HELD_AUDIO:
                self.held_audio.popleft()
                track.packets -= 1
            return
        if self.container is None:
            self._open()
        self._mux(kind, out)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), "w", format="webm")
        video = self.tracks.get("video")
        if video is not None and video.width:
            stream = self.container.add_stream("libvpx", rate=30)
            stream.width, stream.height = video.width, video.height
            stream.pix_fmt = "yuv420p"
            self.streams["video"] = stream
        if "audio" in self.kinds or self.held_audio:
            stream = self.container.add_stream("libopus", rate=48000)
            stream.layout = "stereo"
            self.streams["audio"] = stream
        while self.held_audio:
            self._mux("audio", self.held_audio.popleft())

    def _mux(self, kind: str, packet: av.Packet[Any]) -> None:
        stream = self.streams.get(kind)
        if stream is None:  # a track that appeared after the header was written
            return
        packet.stream = stream
        self.container.mux(packet)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.container is None and self.held_audio:
            self._open()
        if self.container is not None:
            self.container.close()

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "participant": self.participant_id,
            "file": self.path.name,
            "joined_offset_ms": round(self.joined_ms, 3),
            "tracks": [
                {
                    "kind": t.kind,
                    "codec": "VP8" if t.kind == "video" else "opus",
                    "in_file": t.kind in self.streams,
                    "first_pts_ms": None if t.first_pts_ms is None else round(t.first_pts_ms, 3),
                    "first_arrival_offset_ms": None
                    if t.first_arrival_ms is None
                    else round(t.first_arrival_ms, 3),
                    "packets": t.packets,
                    "keyframes": t.keyframes,
                    "dropped_before_keyframe": t.dropped_before_keyframe,
                    "width": t.width,
                    "height": t.height,
                }
                for t in self.tracks.values()
            ],
        }


def _sha256(path: Path) -> RecordedFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return RecordedFile(str(path), path.stat().st_size, digest.hexdigest())


class RoomRecording:
    """One recording of a room: a WebM per participant, one manifest, then the sink."""

    def __init__(
        self, room_id: str, directory: Path, sink: RecordingSink, *, session_id: str | None = None
    ) -> None:
        self.room_id = room_id
        self.session_id = session_id
        self.started_at = dt.datetime.now(dt.UTC)
        self.recording_id = self.started_at.strftime("%Y%m%dT%H%M%S.%fZ")
        self.directory = directory / room_id / self.recording_id
        self.clock_zero = time.monotonic()
        self.sink = sink
        self.recorders: dict[str, ParticipantRecorder] = {}
        self.ended_at: dt.datetime | None = None

    def add(self, participant_id: str, *, kinds: set[str]) -> ParticipantRecorder:
        recorder = self.current(participant_id)
        if recorder is None:
            name = participant_id
            if name in self.recorders:  # left and came back: a second file
                name = f"{participant_id}-{len(self.recorders)}"
            recorder = ParticipantRecorder(
                participant_id,
                self.directory / f"{_safe(name)}.webm",
                self.clock_zero,
                frozenset(kinds),
                joined_ms=(time.monotonic() - self.clock_zero) * 1000,
            )
            self.recorders[name] = recorder
        return recorder

    def current(self, participant_id: str) -> ParticipantRecorder | None:
        for recorder in self.recorders.values():
            if recorder.participant_id == participant_id and not recorder.closed:
                return recorder
        return None

    def close_participant(self, participant_id: str) -> None:
        recorder = self.current(participant_id)
        if recorder is not None:
            recorder.close()

    async def stop(self) -> list[RecordedParticipant]:
        """Close every file, write the manifest, hash, and report to the sink."""
        for recorder in self.recorders.values():
            recorder.close()
        self.ended_at = dt.datetime.now(dt.UTC)
        manifest = {
            "room": self.room_id,
            "session": self.session_id,
            "recording": self.recording_id,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "clock": "ms since started_at; each track's first packet at its arrival time",
            "participants": [r.manifest_entry() for r in self.recorders.values()],
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest_path = self.directory / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        manifest_file = await asyncio.to_thread(_sha256, manifest_path)
        results = []
        for recorder in self.recorders.values():
            if not recorder.path.exists():
                continue
            media_file = await asyncio.to_thread(_sha256, recorder.path)
            results.append(
                RecordedParticipant(
                    room_id=self.room_id,
                    recording_id=self.recording_id,
                    participant_id=recorder.participant_id,
                    media=media_file,
                    manifest=manifest_file,
                    started_at=self.started_at,
                    ended_at=self.ended_at,
                    tracks={kind: t.packets for kind, t in recorder.tracks.items()},
                    session_id=self.session_id,
                )
            )
        # Every file is reported even if the sink fails for one; the first failure is
        # raised afterwards (the files and the manifest are on disk either way).
        failures: list[Exception] = []
        for result in results:
            try:
                await self.sink.recording_finished(result)
            except Exception as exc:  # the sink's errors are its own; keep reporting
                logger.exception(
                    "recording_sink_failed",
                    extra={"recording": self.recording_id, "participant": result.participant_id},
                )
                failures.append(exc)
        if failures:
            raise failures[0]
        return results


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def as_json(recording: RecordedParticipant) -> dict[str, Any]:
    data = asdict(recording)
    data["started_at"] = recording.started_at.isoformat()
    data["ended_at"] = recording.ended_at.isoformat()
    return data


__all__ = [
    "NullSink",
    "ParticipantRecorder",
    "RecordedFile",
    "RecordedParticipant",
    "RecordingSink",
    "RoomRecording",
    "as_json",
]
