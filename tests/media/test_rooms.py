"""Rooms with aiortc bots as real peers, over loopback inside a network namespace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.media.netns import run_scenario

pytestmark = pytest.mark.netns


def _within(got: int, sent: int, fraction: float) -> bool:
    return abs(sent - got) <= max(1.0, sent * fraction)


class TestThreePartyRoom:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("three_party", seconds=2.0)

    def test_everyone_receives_the_other_two_decodably(self, result: dict[str, Any]) -> None:
        """Each bot receives both other bots' audio and video, all of it decodable."""
        bots = result["bots"]
        for name, bot in bots.items():
            others = {n for n in bots if n != name}
            assert {key.split(".")[0] for key in bot["inbound"]} == others
            for key, inbound in bot["inbound"].items():
                source, kind = key.split(".")
                # at least what the source sent once everyone was connected
                sent = bots[source]["sent"][kind] - result["sent_at_start"][source][kind]
                assert inbound["packets"] >= sent * 0.95, (name, key, inbound, sent)
                assert inbound["decode_errors"] == 0
                assert inbound["decoded"] >= inbound["packets"] - 1

    def test_server_never_decodes(self, result: dict[str, Any]) -> None:
        """aiortc's decoder factory was never called in the process (server or bots)."""
        assert result["get_decoder_calls"] == 0
        assert result["frames_tapped"] > 0

    def test_receiver_pli_reaches_the_source(self, result: dict[str, Any]) -> None:
        """A PLI from bob about alice's video makes alice send a keyframe."""
        assert result["pli_forwarded"] >= 1

    def test_stats_per_participant(self, result: dict[str, Any]) -> None:
        """Loss, jitter, RTT and bitrate are reported for every participant."""
        for stats in result["stats2"].values():
            assert stats["inbound"]["video"]["packets_received"] > 0
            assert stats["uplink_loss"] == 0.0
            assert stats["rtt_ms"] is not None
            assert stats["rtt_ms"] < 100
            assert stats["bitrate_in_kbps"] > 100
            assert stats["bitrate_out_kbps"] > stats["bitrate_in_kbps"]  # two streams out
            assert stats["inbound"]["audio"]["jitter_ms"] >= 0

    def test_load_figure(self, result: dict[str, Any]) -> None:
        """The node reports its rooms, participants and capacity."""
        load = result["load"]
        assert load["rooms"] == 1
        assert load["participants"] == 3
        assert load["forwarded_packets"] > 0


class TestJoinLeaveReconnect:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("churn", seconds=1.5)

    def test_late_joiner_receives_everyone(self, result: dict[str, Any]) -> None:
        """A fourth participant joining a running room receives all three, decodably."""
        dave = result["dave"]
        assert len(dave["inbound"]) == 6
        for inbound in dave["inbound"].values():
            assert inbound["packets"] > 20
            assert inbound["decode_errors"] == 0

    def test_leaver_stops_reaching_others(self, result: dict[str, Any]) -> None:
        """After leave, nobody receives the leaver's packets any more."""
        assert all(result["before_leave"][name] > 20 for name in ("alice", "bob", "carol"))
        assert result["after_leave"] == result["later"]

    def test_reconnect_is_a_new_connection(self, result: dict[str, Any]) -> None:
        """A participant rejoining with a new peer connection is received again."""
        for name in ("bob", "carol"):
            assert result["after_reconnect"][name] > result["alice_marks"][name] + 20
        assert result["get_decoder_calls"] == 0


class TestRouteMatrix:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("matrix", seconds=1.5)

    def test_cut_off_receives_nothing(self, result: dict[str, Any]) -> None:
        """While cut off from alice, bob receives none of her audio or video packets."""
        assert result["cut_end"]["bob<alice.video"] == result["cut_start"]["bob<alice.video"]
        assert result["cut_end"]["bob<alice.audio"] == result["cut_start"]["bob<alice.audio"]
        assert result["routes_during"] == {"alice": {"bob": {"audio": False, "video": False}}}

    def test_others_unaffected(self, result: dict[str, Any]) -> None:
        """Carol keeps receiving alice, bob keeps receiving carol, alice keeps receiving bob."""
        for key in ("carol<alice.video", "bob<carol.video", "alice<bob.video"):
            assert result["cut_end"][key] > result["cut_start"][key] + 30

    def test_restored_with_a_keyframe(self, result: dict[str, Any]) -> None:
        """Restored, bob gets alice again, starting from a keyframe, without decode errors."""
        assert result["restored"]["bob<alice.video"] > result["cut_end"]["bob<alice.video"] + 30
        assert result["restored"]["bob<alice.audio"] > result["cut_end"]["bob<alice.audio"] + 50
        assert result["keyframe_requests_on_restore"] >= 1
        inbound = result["bots"]["bob"]["inbound"]["alice.video"]
        assert inbound["decode_errors"] == 0

    def test_server_mute_silences_a_source_for_everyone(self, result: dict[str, Any]) -> None:
        """While alice's audio is muted by the server nobody receives it; then it returns."""
        mute = result["mute"]
        assert mute["described"] == ["audio"]
        assert mute["end"] == mute["start"]
        for name in ("bob", "carol"):
            assert mute["after"][name] > mute["end"][name] + 20


class TestRecording:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("recording", seconds=3.0)

    def test_everyone_told_before_recording(self, result: dict[str, Any]) -> None:
        """Recording is announced when it starts and to each participant joining during it."""
        announced = [pid for _, pids in result["announced"] for pid in pids]
        assert sorted(announced) == ["alice", "bob", "carol"]

    def test_files_decode_and_match_what_was_sent(self, result: dict[str, Any]) -> None:
        """Each WebM decodes with PyAV; frame counts are within 1 % of what the bot sent."""
        assert sorted(result["files"]) == ["alice", "bob", "carol"]
        for name, info in result["files"].items():
            sent = result["bots"][name]["sent"]
            assert info["decode_errors"] == 0
            assert info["geometry"] == [320, 240]
            for kind in ("video", "audio"):
                assert _within(info["frames"][kind], sent[kind], 0.01), (name, kind, info, sent)
                assert _within(info["tracks"][kind], sent[kind], 0.01)

    def test_sha256_reported_is_the_files(self, result: dict[str, Any]) -> None:
        """The SHA-256 and size handed to the sink are those of the file on disk."""
        for info in result["files"].values():
            assert info["sha256"] == info["real_sha256"]
            assert info["size"] == info["real_size"]
        assert result["manifest_sha_ok"]
        assert sorted(result["sink"]) == ["alice", "bob", "carol"]

    def test_sha256_in_the_database_is_the_files(self, result: dict[str, Any]) -> None:
        """Through DatabaseRecordingSink into SQLite: one row per file, hash and size real."""
        database = result["database"]
        assert database["room_id"] == "room-rec"
        assert database["manifest_path"] == result["manifest_path"]
        assert sorted(database["files"]) == ["alice", "bob", "carol"]
        for name, row in database["files"].items():
            assert row["sha256"] == row["real_sha256"] == result["files"][name]["real_sha256"]
            assert row["size"] == row["real_size"]
            assert row["path"] == result["files"][name]["path"]
        assert result["integrity_problems"] == []

    def test_manifest_lines_tracks_up(self, result: dict[str, Any]) -> None:
        """The manifest places every track on the recording's clock."""
        manifest = result["manifest"]
        assert manifest["room"] == "room-rec"
        for entry in manifest["participants"]:
            kinds = {t["kind"]: t for t in entry["tracks"]}
            assert set(kinds) == {"audio", "video"}
            for track in kinds.values():
                assert track["in_file"]
                assert 0 <= track["first_pts_ms"] < 2000
            assert abs(kinds["audio"]["first_pts_ms"] - kinds["video"]["first_pts_ms"]) < 500
        assert result["get_decoder_calls"] == 0


class TestRecordingStartedMidstream:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls) -> dict[str, Any]:
        return run_scenario("recording_midstream", seconds=2.0)

    def test_keyframe_asked_and_files_start_with_it(self, result: dict[str, Any]) -> None:
        """Recording start asks every source for a keyframe; each file starts with one."""
        assert all(count >= 1 for count in result["keyframe_requests"].values())
        for name, info in result["files"].items():
            assert info["first_video_keyframe"] is True, name
            assert info["decode_errors"] == 0

    def test_nearly_everything_sent_while_recording_is_in_the_file(
        self, result: dict[str, Any]
    ) -> None:
        """Only the keyframe round trip at the start is missing (a few frames at most)."""
        for name, info in result["files"].items():
            sent = result["sent_during"][name]
            assert sent["video"] - 4 <= info["frames"]["video"] <= sent["video"] + 1
            assert sent["audio"] - 3 <= info["frames"]["audio"] <= sent["audio"] + 1
        assert result["manifest_sha_ok"]
        assert result["get_decoder_calls"] == 0
