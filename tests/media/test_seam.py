"""The encoded-frame seam over aiortc's internals: fails loudly if an upgrade moves it."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender, rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from media.bots import encode_opus_clip, encode_vp8_clip
from media.encoded import (
    SEAM,
    AudioPassThrough,
    MarkerJitterBuffer,
    PacketTrack,
    broken_seam_points,
    check_seam,
    is_vp8_keyframe,
    vp8_dimensions,
)
from tests.media.netns import run_scenario


class TestSeamInternals:
    def test_aiortc_is_the_pinned_version(self) -> None:
        """The seam was written against aiortc 1.16.0; any other version needs a review."""
        assert version("aiortc") == "1.16.0"

    @pytest.mark.parametrize("point", SEAM, ids=lambda p: p.name)
    def test_each_seam_point_holds(self, point) -> None:  # type: ignore[no-untyped-def]
        """Every private aiortc detail media/ relies on is still where it was."""
        assert point.check(), point.name

    def test_check_seam_passes(self) -> None:
        """check_seam(), which rooms call at creation, finds nothing broken."""
        assert broken_seam_points() == []
        check_seam()

    def test_signatures_we_call(self) -> None:
        """The private methods and functions we call or replace keep their signatures."""
        sig = inspect.signature
        assert list(sig(rtcrtpreceiver.decoder_worker).parameters) == [
            "loop",
            "input_q",
            "output_q",
            "decode_error",
        ]
        assert list(sig(RTCRtpReceiver._send_rtcp_pli).parameters) == ["self", "media_ssrc"]
        assert list(sig(RTCRtpReceiver._handle_rtp_packet).parameters) == [
            "self",
            "packet",
            "arrival_time_ms",
        ]
        assert list(sig(RTCRtpSender._send_keyframe).parameters) == ["self"]
        assert list(sig(RTCRtpReceiver.getSynchronizationSources).parameters) == ["self"]


class TestVp8Headers:
    def test_keyframe_bit(self) -> None:
        """A VP8 frame is a keyframe when the low bit of its first byte is 0."""
        clip = encode_vp8_clip(160, 120, 10)
        flags = [is_vp8_keyframe(data) for data, _ in clip.frames]
        assert flags[0] is True
        assert not any(flags[1:])
        assert vp8_dimensions(clip.frames[0][0]) == (160, 120)
        assert vp8_dimensions(clip.frames[1][0]) is None
        assert not is_vp8_keyframe(b"")


def _rtp(seq: int, ts: int, data: bytes, marker: int = 0, start: bool = True) -> RtpPacket:
    packet = RtpPacket(sequence_number=seq, timestamp=ts, marker=marker)
    packet.payload = bytes([0x10 if start else 0x00]) + data  # VP8 descriptor: S bit, PID 0
    packet._data = data  # type: ignore[attr-defined]
    return packet


class TestJitterBuffers:
    def test_video_frame_leaves_on_marker(self) -> None:
        """A complete VP8 frame leaves at its marker packet, not one frame later."""
        buffer = MarkerJitterBuffer()
        assert buffer.add(_rtp(10, 900, b"a"))[1] is None
        _, frame = buffer.add(_rtp(11, 900, b"b", marker=1))
        assert isinstance(frame, JitterFrame)
        assert (frame.data, frame.timestamp) == (b"ab", 900)
        _, frame = buffer.add(_rtp(12, 1800, b"c", marker=1))
        assert frame is not None
        assert frame.data == b"c"

    def test_video_frame_with_a_hole_waits(self) -> None:
        """A frame with a missing packet is not released at the marker."""
        buffer = MarkerJitterBuffer()
        buffer.add(_rtp(10, 900, b"a"))
        assert buffer.add(_rtp(12, 900, b"c", marker=1))[1] is None

    def test_old_hole_is_skipped_with_a_pli(self) -> None:
        """A hole older than 100 ms stops blocking: the next complete frame leaves, PLI asked."""
        buffer = MarkerJitterBuffer()
        buffer.add(_rtp(10, 0, b"a"))  # seq 11 (the rest of frame 0) is lost for good
        assert buffer.add(_rtp(12, 3000, b"b", marker=1)) == (False, None)  # 33 ms: wait
        assert buffer.add(_rtp(13, 6000, b"c", marker=1)) == (False, None)
        pli, frame = buffer.add(_rtp(14, 9000, b"d", marker=1))  # 100 ms: give up the hole
        assert pli is True
        assert frame is not None
        assert frame.data == b"d"
        assert buffer.discontinuities == 1
        _, frame = buffer.add(_rtp(15, 12000, b"e", marker=1))
        assert frame is not None
        assert frame.data == b"e"

    def test_frame_without_its_start_is_not_released(self) -> None:
        """A frame whose first packet is missing is never released on its marker."""
        buffer = MarkerJitterBuffer()
        buffer.add(_rtp(10, 0, b"a"))
        assert buffer.add(_rtp(21, 90000, b"z", marker=1, start=False)) == (False, None)

    def test_audio_passes_through_and_drops_late(self) -> None:
        """Each Opus packet is released at once; duplicates and late packets are dropped."""
        buffer = AudioPassThrough()
        assert buffer.add(_rtp(5, 960, b"x"))[1] is not None
        assert buffer.add(_rtp(5, 960, b"x"))[1] is None
        assert buffer.add(_rtp(4, 0, b"w"))[1] is None
        assert buffer.add(_rtp(6, 1920, b"y"))[1] is not None

    def test_buffers_are_aiortc_buffers(self) -> None:
        """Both replacements keep aiortc's JitterBuffer interface."""
        assert isinstance(MarkerJitterBuffer(), JitterBuffer)
        assert isinstance(AudioPassThrough(), JitterBuffer)


class TestPacketTrack:
    async def test_holds_video_until_keyframe(self) -> None:
        """A new destination gets no video deltas before the first keyframe."""
        clip = encode_vp8_clip(160, 120, 10)
        track = PacketTrack("video")
        import av

        for data, key in (clip.frames[1], clip.frames[0], clip.frames[2]):
            packet = av.Packet(data)
            packet.is_keyframe = key
            track.push(packet)
        assert track.dropped == 1
        first = await track.recv()
        assert first.is_keyframe

    def test_keeps_asking_while_it_waits_for_a_keyframe(self) -> None:
        """Every delta dropped while waiting asks for a keyframe again (an unanswered
        PLI must not leave the receiver without video); once it comes, no more asks."""
        import av

        asked: list[bool] = []
        track = PacketTrack("video", want_keyframe=lambda: asked.append(True))
        for _ in range(3):
            track.push(av.Packet(b"\x01" * 10))
        assert len(asked) == 3
        key = av.Packet(b"\x00" * 10)
        key.is_keyframe = True
        track.push(key)
        track.push(av.Packet(b"\x01" * 10))
        assert len(asked) == 3
        assert track.pushed == 2  # the keyframe and the delta after it, queued to send

    async def test_overflow_drops_and_asks_for_keyframe(self) -> None:
        """A destination that falls behind drops its queue and asks for a keyframe."""
        import av

        asked: list[bool] = []
        track = PacketTrack("video", max_queue=3, want_keyframe=lambda: asked.append(True))
        key = av.Packet(b"\x00" * 10)
        key.is_keyframe = True
        track.push(key)
        for _ in range(5):
            delta = av.Packet(b"\x01" * 10)
            track.push(delta)
        assert asked
        assert track.needs_keyframe

    def test_opus_clip_frames(self) -> None:
        """The bots' Opus clip is one second of 20 ms frames."""
        assert len(encode_opus_clip().frames) == 50


@pytest.mark.netns
class TestSeamLoopback:
    def test_packets_round_trip_without_decoder(self) -> None:
        """VP8 + Opus go A -> B -> A as encoded packets, decodable, and no decoder ever runs."""
        result = run_scenario("seam_loopback", seconds=2.0)
        assert result["get_decoder_calls"] == 0
        assert result["decoder_threads_alive"] == 0
        sent = result["sent"]
        for leg in ("b", "a"):
            for kind in ("video", "audio"):
                got = result["received"][f"{leg}.{kind}"]
                assert got["first_is_keyframe"]
                assert got["pts_increasing"]
                # everything sent except what is still in flight (a few frames)
                assert sent[kind] - 6 <= got["packets"] <= sent[kind], (leg, kind, got, sent)
        assert result["decoded"]["a.video"] == result["received"]["a.video"]["packets"]
        assert result["decoded"]["a.audio"] >= result["received"]["a.audio"]["packets"] - 1
        assert result["pli_sent"] is True
        assert result["keyframe_requests"] >= 1
        assert result["received"]["b.video"]["keyframes"] >= 2  # the initial one and the PLI's
