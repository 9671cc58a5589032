"""``hotline bench media`` leaves nothing behind: the SFU process and its recordings go."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from bench import media


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _left_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def _record(server: media.SfuServer) -> None:
    """What a room's recording leaves: a folder with a WebM file in it."""
    room = server.recording_dir / "room0"
    room.mkdir()
    (room / "a.webm").write_bytes(b"\0" * 4096)


async def _record_then_fail(parent: Path, seen: list[media.SfuServer]) -> None:
    async with media.sfu_server(parent) as server:
        seen.append(server)
        _record(server)
        raise RuntimeError("bots could not connect")


class TestRecordingsFolder:
    async def test_removed_with_the_server_at_the_end(self, tmp_path: Path) -> None:
        """The real bench SFU answers while the block runs; afterwards its process has
        exited and its recordings folder is gone."""
        async with media.sfu_server(tmp_path) as server:
            assert server.recording_dir.parent == tmp_path
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{server.url}/control", json={"op": "load"}) as response,
            ):
                assert (await response.json())["ok"] is True
            _record(server)
        assert not _alive(server.pid)
        assert _left_in(tmp_path) == []

    async def test_removed_when_the_measurement_fails(self, tmp_path: Path) -> None:
        """A measurement that raises still stops the server and removes what it recorded."""
        seen: list[media.SfuServer] = []
        with pytest.raises(RuntimeError, match="bots could not connect"):
            await _record_then_fail(tmp_path, seen)
        (server,) = seen
        assert not _alive(server.pid)
        assert _left_in(tmp_path) == []
