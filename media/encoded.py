"""The encoded-frame seam over aiortc 1.16: receive and send ``av.Packet``s, never decode.

Why: relaying by decoding and re-encoding costs ~6x the CPU of forwarding encoded
frames (issue 4), so the SFU must never run a codec. aiortc's *sender* already takes
encoded packets: when ``track.recv()`` returns an ``av.Packet`` it calls
``Encoder.pack()``, which only packetizes. Its *receiver* has no such path: it
reassembles frames in a jitter buffer and hands ``(codec, JitterFrame)`` to
``self.__decoder_queue.put(...)``, drained by a thread running ``decoder_worker``.

The receive seam (``EncodedReceiver.attach``) swaps that queue, before ``receive()``
starts the thread, for a ``_FrameTap``:

- ``put((codec, frame))`` runs on the event loop (from ``_handle_rtp_packet``); it turns
  the jitter buffer's frame into an ``av.Packet`` (pts = the receiver's mapped RTP
  timestamp, time base 1/clock rate; VP8 keyframe when the first payload byte's low bit
  is 0, RFC 6386 section 9.1) and calls the listeners synchronously.
- ``get()`` is what ``decoder_worker`` blocks on: it returns ``None`` at once, which is
  the worker's stop signal, so the thread ends before it ever creates a decoder.
- ``put(None)`` is how ``RTCRtpReceiver`` stops its decoder: it ends the stream.

It also replaces the receiver's jitter buffer (``__jitter_buffer``): video frames leave
at their marker-bit packet and old unrecoverable holes are skipped
(``MarkerJitterBuffer``); Opus packets leave at once (``AudioPassThrough``). Same
``add(packet) -> (pli_flag, frame)`` interface as aiortc's ``JitterBuffer``.

Keyframe requests cross the seam twice: PLI/FIR from a downstream peer reach
``RTCRtpSender._send_keyframe()``, which for packets would only set a flag nobody reads,
so ``on_keyframe_request`` replaces it per sender instance; and upstream we ask the
source with ``RTCRtpReceiver._send_rtcp_pli(media_ssrc)``.

Everything here that touches a private name is listed in ``SEAM`` and checked by
``check_seam()`` (called when a room is created, and by tests/media/test_seam.py), so an
aiortc upgrade that moves it fails loudly instead of silently decoding again.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpReceiver, RTCRtpSender, rtcrtpreceiver
from aiortc.codecs import vpx
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add, uint16_gt

from media.errors import SeamError

logger = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_TIME_BASE = Fraction(1, 48000)

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RECEIVER_KIND = "_RTCRtpReceiver__kind"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_RECEIVER_STARTED = "_RTCRtpReceiver__started"

PacketListener = Callable[["av.Packet[Any]"], None]


def is_vp8_keyframe(data: bytes) -> bool:
    """Whether a VP8 frame is a keyframe: the P bit, the low bit of byte 0, is 0."""
    return bool(data) and not data[0] & 1


def vp8_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 section 9.1), else None."""
    if not is_vp8_keyframe(data) or len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


@dataclass
class SeamCounters:
    """Process-wide count of frames taken from jitter buffers instead of decoders."""

    frames_tapped: int = 0


COUNTERS = SeamCounters()


class _FrameTap:
    """Stands in for ``RTCRtpReceiver.__decoder_queue`` (see the module docstring)."""

    def __init__(self, owner: EncodedReceiver) -> None:
        self._owner = owner

    def put(self, item: tuple[Any, JitterFrame] | None) -> None:
        if item is None:
            self._owner._end()
            return
        codec, frame = item
        self._owner._frame(codec, frame)

    def get(self) -> None:
        # decoder_worker takes None as "stop": the thread ends without decoding.
        return None


class EncodedReceiver:
    """Encoded frames from one ``RTCRtpReceiver``, as ``av.Packet``s, without decoding.

    Attach before the receiver starts (in the peer connection's ``track`` event, which
    aiortc emits from ``setRemoteDescription`` before it connects and calls
    ``receive()``). Listeners are called on the event loop for every frame; they must
    not block.
    """

    def __init__(self, receiver: RTCRtpReceiver, kind: str) -> None:
        self.receiver = receiver
        self.kind = kind
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0
        self.ended = False
        self.discontinuities = 0
        self._listeners: list[PacketListener] = []
        self._end_listeners: list[Callable[[], None]] = []
        self._discontinuity_listeners: list[Callable[[], None]] = []
        self._jitter: JitterBuffer | None = None

    @classmethod
    def attach(cls, receiver: RTCRtpReceiver) -> EncodedReceiver:
        """Divert ``receiver``'s frames from its decoder to the returned object."""
        check_seam()
        if getattr(receiver, _RECEIVER_STARTED):
            raise SeamError("receiver already started: its decoder thread is running")
        kind = getattr(receiver, _RECEIVER_KIND)
        tapped = cls(receiver, kind)
        setattr(receiver, _DECODER_QUEUE, _FrameTap(tapped))
        buffer: JitterBuffer = AudioPassThrough() if kind == "audio" else MarkerJitterBuffer()
        setattr(receiver, _JITTER_BUFFER, buffer)
        tapped._jitter = buffer
        return tapped

    def add_listener(self, listener: PacketListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: PacketListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def clear_listeners(self) -> None:
        self._listeners.clear()
        self._discontinuity_listeners.clear()

    def on_end(self, callback: Callable[[], None]) -> None:
        self._end_listeners.append(callback)

    def on_discontinuity(self, callback: Callable[[], None]) -> None:
        """Called before the first frame after frames were lost for good (video)."""
        self._discontinuity_listeners.append(callback)

    def source_ssrcs(self) -> list[int]:
        """SSRCs seen in the last 10 s (public aiortc API)."""
        return [s.source for s in self.receiver.getSynchronizationSources()]

    def request_keyframe(self) -> bool:
        """Send a PLI upstream for the media SSRC; False if none is known yet."""
        jitter = self._jitter
        if isinstance(jitter, MarkerJitterBuffer) and jitter.media_ssrc is not None:
            ssrcs = [jitter.media_ssrc]  # not the RTX SSRC, which getSynchronizationSources has
        else:
            ssrcs = self.source_ssrcs()
        for ssrc in ssrcs:
            task = asyncio.ensure_future(self.receiver._send_rtcp_pli(ssrc))
            _PENDING.add(task)
            task.add_done_callback(_PENDING.discard)
        return bool(ssrcs)

    def _frame(self, codec: Any, frame: JitterFrame) -> None:
        COUNTERS.frames_tapped += 1
        data = frame.data
        packet = av.Packet(data)
        packet.pts = packet.dts = frame.timestamp
        if codec.mimeType.lower().startswith("video/"):
            self.kind = "video"
            packet.time_base = VIDEO_TIME_BASE
            packet.is_keyframe = is_vp8_keyframe(data)
        else:
            self.kind = "audio"
            packet.time_base = Fraction(1, codec.clockRate)
            packet.is_keyframe = True
        jitter = self._jitter
        if isinstance(jitter, MarkerJitterBuffer) and (
            jitter.discontinuities != self.discontinuities
        ):
            self.discontinuities = jitter.discontinuities
            for callback in list(self._discontinuity_listeners):
                callback()
        self.frames += 1
        self.bytes += len(data)
        if packet.is_keyframe and self.kind == "video":
            self.keyframes += 1
        for listener in list(self._listeners):
            listener(packet)

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for callback in list(self._end_listeners):
            callback()


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, but a frame leaves as soon as it is complete.

    The stock buffer releases a frame only when the first packet of the *next* frame
    arrives (one frame of delay, and the last frame before a pause never leaves). Here a
    frame also leaves when its marker-bit packet arrives and every packet from the
    buffer's origin up to it is present with the same timestamp (RFC 7741 section 4.1:
    the marker is set on the last packet of a VP8 frame). If the marker is lost the stock
    rule still applies.

    Loss: the stock buffer lets a hole that NACK/RTX did not fill block every later frame
    until 512 packets have piled up (seconds of frozen video for every receiver). Here,
    once a complete frame is ``MAX_HOLE_TICKS`` newer than the oldest incomplete one, the
    incomplete frames are dropped, the complete one leaves, a PLI is asked for, and
    ``discontinuities`` counts it so the forwarder can hold receivers until a keyframe.
    """

    MAX_HOLE_TICKS = 9000  # 100 ms at 90 kHz

    def __init__(self) -> None:
        super().__init__(capacity=512, is_video=True)
        self.discontinuities = 0
        self.media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.media_ssrc = packet.ssrc  # RTX is unwrapped before the buffer
        pli_flag, frame = super().add(packet)
        if frame is None and packet.marker:
            frame = self._complete_frame(packet)
            if frame is None and self._skip_hole_before(packet):
                frame = self._complete_frame(packet)
                if frame is not None:
                    self.discontinuities += 1
                    pli_flag = True
        return pli_flag, frame

    def _skip_hole_before(self, last: RtpPacket) -> bool:
        """Drop what precedes ``last``'s frame if it is complete and the hole is old."""
        origin = self._origin
        if origin is None:
            return False
        # the complete frame: contiguous packets of last's timestamp, starting with the
        # VP8 payload descriptor's S bit set and partition index 0 (RFC 7741 section 4.2)
        first = last.sequence_number
        while True:
            previous = self._packets[uint16_add(first, -1) % self._capacity]
            if previous is None or previous.timestamp != last.timestamp:
                break
            first = uint16_add(first, -1)
            if first == origin:
                return False  # nothing before it: not a hole
        head = self._packets[first % self._capacity]
        if head is None or not head.payload or head.payload[0] & 0x17 != 0x10:
            return False
        oldest = None
        for offset in range(uint16_add(first, -origin)):
            packet = self._packets[(origin + offset) % self._capacity]
            if packet is not None:
                oldest = packet
                break
        if oldest is not None and (last.timestamp - oldest.timestamp) % (1 << 32) < (
            self.MAX_HOLE_TICKS
        ):
            return False
        self.remove(uint16_add(first, -origin))
        return True

    def _complete_frame(self, last: RtpPacket) -> JitterFrame | None:
        origin = self._origin
        if origin is None:
            return None
        count = uint16_add(last.sequence_number, -origin) + 1
        if count > self._capacity:
            return None
        parts = []
        for offset in range(count):
            packet = self._packets[(origin + offset) % self._capacity]
            if packet is None or packet.timestamp != last.timestamp:
                return None
            parts.append(packet._data)  # type: ignore[attr-defined]
        self.remove(count)
        return JitterFrame(data=b"".join(parts), timestamp=last.timestamp)


class AudioPassThrough(JitterBuffer):
    """Every Opus RTP packet is one complete frame (RFC 7587): release it at once.

    aiortc's audio buffer prefetches 4 frames (80 ms) before releasing one; a forwarder
    only needs to drop duplicates and packets older than the last one released.
    """

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._last: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._last is not None and not uint16_gt(packet.sequence_number, self._last):
            return False, None
        self._last = packet.sequence_number
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


# Tasks for fire-and-forget RTCP sends, held so they are not garbage-collected mid-send.
_PENDING: set[asyncio.Future[Any]] = set()


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the remote peer asks ``sender`` for a keyframe (PLI/FIR)."""
    check_seam()
    sender._send_keyframe = callback  # type: ignore[method-assign]


def set_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Set the MediaStream id announced in the SDP ``msid`` of ``sender``'s track.

    Browsers group received tracks by it, so the SFU uses the source participant's id.
    """
    sender._stream_id = stream_id


class PacketTrack(MediaStreamTrack):
    """A track whose ``recv()`` returns encoded ``av.Packet``s pushed into it.

    Given to ``RTCPeerConnection.addTrack``/``addTransceiver``: aiortc's sender then only
    packetizes. The queue is bounded; on overflow the oldest packets are dropped and,
    for video, packets are held back until the next keyframe (``needs_keyframe``).
    ``want_keyframe`` is called for every video packet dropped while waiting for one
    (after an overflow, a re-route, a new destination), so the owner asks the source
    again until it comes: a browser does not answer every PLI (seen: Chromium let the
    one sent as a hold ended go unanswered), and one unanswered request must not leave
    a receiver without video. The owner rate-limits what it sends upstream.
    """

    def __init__(
        self,
        kind: str,
        *,
        track_id: str | None = None,
        max_queue: int = 120,
        wait_for_keyframe: bool = True,
        want_keyframe: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        if track_id is not None:
            self._id = track_id
        self._queue: collections.deque[av.Packet[Any]] = collections.deque()
        self._max_queue = max_queue
        self._waiter: asyncio.Future[None] | None = None
        self._want_keyframe = want_keyframe
        self.needs_keyframe = kind == "video" and wait_for_keyframe
        self.pushed = 0
        self.sent = 0
        self.dropped = 0

    def push(self, packet: av.Packet[Any]) -> None:
        """Queue one packet for sending; never blocks."""
        if self.readyState != "live":
            return
        if self.needs_keyframe:
            if not packet.is_keyframe:
                self.dropped += 1
                if self._want_keyframe is not None:
                    self._want_keyframe()
                return
            self.needs_keyframe = False
        if len(self._queue) >= self._max_queue:
            self.dropped += len(self._queue)
            self._queue.clear()
            if self.kind == "video":
                self.needs_keyframe = not packet.is_keyframe
                if self.needs_keyframe:
                    self.dropped += 1
                    if self._want_keyframe is not None:
                        self._want_keyframe()
                    return
        self._queue.append(packet)
        self.pushed += 1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def hold_until_keyframe(self) -> None:
        """Drop video until the next keyframe (a re-route or a newly attached source)."""
        if self.kind == "video":
            self._queue.clear()
            self.needs_keyframe = True

    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None
        self.sent += 1
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


# ---------------------------------------------------------------------------------------
# Seam checks


@dataclass(frozen=True)
class SeamPoint:
    """One private aiortc detail media/ depends on, and how to tell it is still there."""

    name: str
    check: Callable[[], bool]


def _params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


_RECEIVER_ATTRS = ("__decoder_queue", "__decoder_thread", "__started", "__jitter_buffer", "__kind")


def _receiver_instance_attrs() -> set[str]:
    source = inspect.getsource(RTCRtpReceiver.__init__)
    return {
        attr for attr in _RECEIVER_ATTRS if re.search(rf"self\.{attr}\s*[:=]", source) is not None
    }


def _source_has(obj: Any, *fragments: str) -> bool:
    source = inspect.getsource(obj)
    return all(fragment in source for fragment in fragments)


SEAM: tuple[SeamPoint, ...] = (
    SeamPoint(
        "RTCRtpReceiver.__init__ sets " + ", ".join(_RECEIVER_ATTRS),
        lambda: len(_receiver_instance_attrs()) == len(_RECEIVER_ATTRS),
    ),
    SeamPoint(
        "RTCRtpReceiver._handle_rtp_packet puts (codec, encoded_frame) on __decoder_queue",
        lambda: _source_has(
            RTCRtpReceiver._handle_rtp_packet,
            "self.__jitter_buffer.add(packet)",
            "self.__decoder_queue.put((codec, encoded_frame))",
        ),
    ),
    SeamPoint(
        "RTCRtpReceiver stops its decoder with __decoder_queue.put(None)",
        lambda: _source_has(RTCRtpReceiver, "self.__decoder_queue.put(None)"),
    ),
    SeamPoint(
        "decoder_worker(loop, input_q, output_q, decode_error) stops on input_q.get() None",
        lambda: (
            _params(rtcrtpreceiver.decoder_worker)
            == ["loop", "input_q", "output_q", "decode_error"]
            and _source_has(
                rtcrtpreceiver.decoder_worker, "task = input_q.get()", "if task is None"
            )
        ),
    ),
    SeamPoint(
        "RTCRtpReceiver.receive starts the decoder thread on __decoder_queue",
        lambda: _source_has(RTCRtpReceiver.receive, "decoder_worker", "self.__decoder_queue"),
    ),
    SeamPoint(
        "JitterFrame(data, timestamp)",
        lambda: _params(JitterFrame.__init__) == ["self", "data", "timestamp"],
    ),
    SeamPoint(
        "JitterBuffer(capacity, prefetch, is_video) with add(packet) -> (pli, frame), "
        "_origin, _packets, _capacity, remove(count)",
        lambda: (
            _params(JitterBuffer.__init__) == ["self", "capacity", "prefetch", "is_video"]
            and _params(JitterBuffer.add) == ["self", "packet"]
            and _params(JitterBuffer.remove) == ["self", "count"]
            and _source_has(
                JitterBuffer.__init__, "self._origin", "self._packets", "self._capacity"
            )
            and _source_has(
                RTCRtpReceiver._handle_rtp_packet,
                "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)",
                "packet._data = depayload(codec, packet.payload)",
            )
        ),
    ),
    SeamPoint(
        "RTCRtpReceiver._send_rtcp_pli(media_ssrc)",
        lambda: _params(RTCRtpReceiver._send_rtcp_pli) == ["self", "media_ssrc"],
    ),
    SeamPoint(
        "RTCRtpSender._send_keyframe() is what PLI/FIR call",
        lambda: (
            _params(RTCRtpSender._send_keyframe) == ["self"]
            and _source_has(RTCRtpSender._handle_rtcp_packet, "self._send_keyframe()")
        ),
    ),
    SeamPoint(
        "RTCRtpSender packs av.Packet (encoder.pack) instead of encoding",
        lambda: (
            _source_has(RTCRtpSender._next_encoded_frame, "self.__encoder.pack(data)")
            and _params(vpx.Vp8Encoder.pack) == ["self", "packet"]
            and _params(OpusEncoder.pack) == ["self", "packet"]
        ),
    ),
    SeamPoint(
        "RTCRtpSender._stream_id feeds the SDP msid",
        lambda: _source_has(
            __import__("aiortc.rtcpeerconnection", fromlist=["x"]),
            "transceiver.sender._stream_id",
        ),
    ),
)

_checked = False


def broken_seam_points() -> list[str]:
    """Names of the seam points that no longer hold."""
    broken = []
    for point in SEAM:
        try:
            ok = point.check()
        except (AttributeError, TypeError, ValueError, OSError):
            ok = False
        if not ok:
            broken.append(point.name)
    return broken


def check_seam() -> None:
    """Raise ``SeamError`` if aiortc's internals moved (checked once per process)."""
    global _checked
    if _checked:
        return
    broken = broken_seam_points()
    if broken:
        raise SeamError(f"aiortc {_aiortc_version()} moved the seam: " + "; ".join(broken))
    _checked = True


def _aiortc_version() -> str:
    import aiortc

    return str(getattr(aiortc, "__version__", "?"))
