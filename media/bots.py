"""aiortc bots: real WebRTC peers that send pre-encoded media and count what they receive.

Used by tests/media and bench/media.py as callers and parties. A bot encodes a one-second
clip once (VP8 with one keyframe at its start, Opus 20 ms frames) and loops it in real
time as encoded packets, so sending costs the bot almost nothing and the figures are the
server's. A keyframe request (PLI/FIR) makes the video loop restart at its keyframe.
Received media goes through the same encoded seam as the server's (no aiortc decoder);
with ``decode=True`` the bot decodes with its own PyAV decoders to prove decodability.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription, sdp
from aiortc.mediastreams import MediaStreamTrack

from media.encoded import (
    AUDIO_TIME_BASE,
    VIDEO_TIME_BASE,
    EncodedReceiver,
    is_vp8_keyframe,
    on_keyframe_request,
)
from media.ice import rtc_configuration

logger = logging.getLogger(__name__)

OPUS_FRAME_SAMPLES = 960  # 20 ms at 48 kHz


@dataclass(frozen=True)
class Clip:
    """Encoded frames to loop: (data, is_keyframe), one every ``interval`` seconds."""

    kind: str
    frames: tuple[tuple[bytes, bool], ...]
    interval: float
    ticks: int  # pts step per frame in the kind's time base

    @property
    def bytes_per_second(self) -> float:
        return sum(len(d) for d, _ in self.frames) / (len(self.frames) * self.interval)


def encode_vp8_clip(
    width: int = 320, height: int = 240, fps: int = 30, seconds: float = 1.0, bitrate: int = 500_000
) -> Clip:
    """A synthetic moving picture, VP8-encoded once; the first frame is the only keyframe."""
    count = max(1, round(fps * seconds))
    codec = av.CodecContext.create("libvpx", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, fps)
    codec.framerate = Fraction(fps, 1)
    codec.bit_rate = bitrate
    codec.gop_size = count
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "kf-max-dist": str(count),
    }
    packets: list[tuple[bytes, bool]] = []
    for index in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane_no, plane in enumerate(frame.planes):
            row = bytes((x * 2 + index * 4 + plane_no * 64) % 256 for x in range(plane.line_size))
            plane.update(row * (plane.buffer_size // plane.line_size))
        frame.pts = index
        frame.time_base = codec.time_base
        packets.extend((bytes(p), is_vp8_keyframe(bytes(p))) for p in codec.encode(frame))
    packets.extend((bytes(p), is_vp8_keyframe(bytes(p))) for p in codec.encode(None))
    if not packets or not packets[0][1]:
        raise RuntimeError("the VP8 encoder did not start with a keyframe")
    return Clip("video", tuple(packets), 1 / fps, 90000 // fps)


def encode_opus_clip(seconds: float = 1.0, hz: float = 440.0) -> Clip:
    """A sine tone, Opus-encoded once in 20 ms frames."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32000
    count = max(1, round(seconds / 0.02))
    packets: list[tuple[bytes, bool]] = []
    for index in range(count + 4):
        samples: list[int] = []
        for n in range(OPUS_FRAME_SAMPLES):
            t = (index * OPUS_FRAME_SAMPLES + n) / 48000
            value = int(8000 * math.sin(2 * math.pi * hz * t))
            samples.extend((value, value))
        frame = av.AudioFrame(format="s16", layout="stereo", samples=OPUS_FRAME_SAMPLES)
        frame.planes[0].update(struct.pack(f"<{len(samples)}h", *samples))
        frame.sample_rate = 48000
        frame.pts = index * OPUS_FRAME_SAMPLES
        frame.time_base = AUDIO_TIME_BASE
        packets.extend((bytes(p), True) for p in codec.encode(frame))
    return Clip("audio", tuple(packets[:count]), 0.02, OPUS_FRAME_SAMPLES)


class LoopingTrack(MediaStreamTrack):
    """Sends a ``Clip`` in real time as ``av.Packet``s, looping it; counts what it sent."""

    def __init__(self, clip: Clip, track_id: str | None = None) -> None:
        super().__init__()
        self.kind = clip.kind
        if track_id is not None:
            self._id = track_id
        self._clip = clip
        self._time_base = VIDEO_TIME_BASE if clip.kind == "video" else AUDIO_TIME_BASE
        self._position = 0
        self._start: float | None = None
        self.sent = 0
        self.keyframes_sent = 0
        self.keyframe_requests = 0
        self.paused = False

    def request_keyframe(self) -> None:
        """Restart the loop at its keyframe with the next frame."""
        self.keyframe_requests += 1
        self._position = 0

    async def recv(self) -> av.Packet[Any]:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        while True:
            deadline = self._start + self.sent * self._clip.interval
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.paused:
                break
            self._start += self._clip.interval
        data, keyframe = self._clip.frames[self._position]
        self._position = (self._position + 1) % len(self._clip.frames)
        packet = av.Packet(data)
        packet.pts = packet.dts = self.sent * self._clip.ticks
        packet.time_base = self._time_base
        packet.is_keyframe = keyframe
        self.sent += 1
        if keyframe and self.kind == "video":
            self.keyframes_sent += 1
        return packet


@dataclass
class Inbound:
    """What a bot received from one source track."""

    source: str
    kind: str
    packets: int = 0
    bytes: int = 0
    keyframes: int = 0
    decoded: int = 0
    decode_errors: int = 0
    first_keyframe_seen: bool = False
    discontinuities: int = 0
    decoder: Any = field(default=None, repr=False)


Signal = Callable[[str], Awaitable[str]]


class Bot:
    """One participant: a peer connection to the SFU, sending a clip, counting receipts."""

    def __init__(
        self,
        name: str,
        *,
        video: Clip | None,
        audio: Clip | None,
        decode: bool = False,
        ice_servers: list | None = None,  # type: ignore[type-arg]
    ) -> None:
        self.name = name
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers or []))
        self.decode = decode
        self.tracks: dict[str, LoopingTrack] = {}
        self.inbound: dict[tuple[str, str], Inbound] = {}
        self.receivers: list[EncodedReceiver] = []
        self.taps: dict[tuple[str, str], EncodedReceiver] = {}  # (source, kind): the latest
        self._streams: dict[str, str] = {}  # mid -> msid stream id (the source participant)
        self.renegotiations = 0
        self.errors: Counter[str] = Counter()
        for clip in (audio, video):
            if clip is None:
                continue
            track = LoopingTrack(clip, track_id=f"{name}.{clip.kind}")
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            self.tracks[clip.kind] = track
            on_keyframe_request(transceiver.sender, track.request_keyframe)
        self.pc.on("track", self._on_track)

    def _receiver_for(self, track: MediaStreamTrack) -> tuple[RTCRtpReceiver, str | None]:
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                return transceiver.receiver, transceiver.mid
        raise LookupError(track.id)

    def _note_streams(self, remote_sdp: str) -> None:
        """Remember each section's msid stream id: the SFU names the source by it."""
        for media in sdp.SessionDescription.parse(remote_sdp).media:
            if media.rtp.muxId and media.msid and " " in media.msid:
                self._streams[media.rtp.muxId] = media.msid.split()[0]

    def _on_track(self, track: MediaStreamTrack) -> None:
        receiver, mid = self._receiver_for(track)
        source = self._streams.get(mid or "", track.id)
        tap = EncodedReceiver.attach(receiver)
        self.receivers.append(tap)
        key = (source, track.kind)
        self.taps[key] = tap
        inbound = self.inbound.setdefault(key, Inbound(source, track.kind))

        def on_packet(packet: av.Packet[Any]) -> None:
            inbound.packets += 1
            inbound.bytes += packet.size
            if track.kind == "video" and packet.is_keyframe:
                inbound.keyframes += 1
                inbound.first_keyframe_seen = True
            if self.decode:
                self._decode(inbound, packet)

        tap.add_listener(on_packet)

        def on_discontinuity() -> None:
            inbound.discontinuities += 1
            inbound.first_keyframe_seen = False  # decode again from the next keyframe

        tap.on_discontinuity(on_discontinuity)

    def _decode(self, inbound: Inbound, packet: av.Packet[Any]) -> None:
        if inbound.kind == "video" and not inbound.first_keyframe_seen:
            return
        if inbound.decoder is None:
            if inbound.kind == "video":
                inbound.decoder = av.CodecContext.create("libvpx", "r")
            else:
                decoder: Any = av.CodecContext.create("libopus", "r")
                decoder.format = "s16"
                decoder.layout = "stereo"
                decoder.sample_rate = 48000
                inbound.decoder = decoder
        try:
            inbound.decoded += len(inbound.decoder.decode(packet))
        except av.FFmpegError:
            inbound.decode_errors += 1

    async def offer(self) -> str:
        """The bot's initial offer (its own audio and video, send only)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, answer_sdp: str) -> None:
        self._note_streams(answer_sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def join(self, join: Signal) -> None:
        """Offer, hand the offer to ``join`` (the room), apply its answer."""
        await self.accept_answer(await join(await self.offer()))

    async def renegotiate(self, offer_sdp: str) -> str:
        """Answer a server-initiated re-offer (tracks added or removed)."""
        self.renegotiations += 1
        self._note_streams(offer_sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def received(self, source: str, kind: str) -> int:
        inbound = self.inbound.get((source, kind))
        return inbound.packets if inbound else 0

    def sent(self, kind: str) -> int:
        track = self.tracks.get(kind)
        return track.sent if track else 0

    async def close(self) -> None:
        await self.pc.close()
