"""The `hotline` command line on a real SQLite database, as a newcomer runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.browser import free_port

HOTLINE = [sys.executable, "-m", "hotline.cli"]


def run(args: list[str], data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"HOTLINE_DEV": "1", "HOTLINE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        HOTLINE + args, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


class TestCommands:
    def test_help_lists_commands(self, tmp_path: Path) -> None:
        """`hotline --help` lists what exists."""
        out = run(["--help"], tmp_path).stdout
        for command in ("serve", "migrate", "seed-demo", "create-user"):
            assert command in out

    def test_seed_once_then_reuse(self, tmp_path: Path) -> None:
        """Migrate and seed print passwords once; a second seed adds nothing."""
        assert run(["migrate"], tmp_path).returncode == 0
        first = run(["seed-demo"], tmp_path)
        assert first.returncode == 0
        assert "supervisor.liu" in first.stdout
        assert "admin" in first.stdout
        second = run(["seed-demo"], tmp_path)
        assert "already present" in second.stdout

    def test_create_user(self, tmp_path: Path) -> None:
        """create-user adds a member of staff; bad input is a clear error."""
        run(["migrate"], tmp_path)
        ok = run(
            [
                "create-user",
                "lawyer.x",
                "--role",
                "lawyer",
                "--skill",
                "traffic:4",
                "--password-stdin",
            ],
            tmp_path,
            stdin="a-long-password\n",
        )
        assert ok.returncode == 0, ok.stderr
        bad = run(
            [
                "create-user",
                "lawyer.y",
                "--role",
                "lawyer",
                "--skill",
                "traffic:9",
                "--password-stdin",
            ],
            tmp_path,
            stdin="a-long-password\n",
        )
        assert bad.returncode == 2
        assert "proficiency 1–5" in bad.stderr
        dup = run(
            ["create-user", "lawyer.x", "--role", "lawyer", "--password-stdin"],
            tmp_path,
            stdin="a-long-password\n",
        )
        assert dup.returncode == 1
        assert "taken" in dup.stderr
        short = run(
            ["create-user", "z", "--role", "admin", "--password-stdin"], tmp_path, "short\n"
        )
        assert short.returncode == 2

    @pytest.mark.parametrize("env_fix", [{"HOTLINE_DEV": "0"}])
    def test_bad_settings_are_a_clear_error(self, tmp_path: Path, env_fix: dict[str, str]) -> None:
        """Outside dev mode, no secret means a clear message and exit code 2."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")} | env_fix
        result = subprocess.run(
            [*HOTLINE, "migrate"], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert "HOTLINE_SECRET_KEY" in result.stderr


class TestServe:
    def test_unmigrated_database_is_a_clear_error(self, tmp_path: Path) -> None:
        """Serving an empty database says to migrate first, without a traceback."""
        result = run(["serve", "--port", str(free_port())], tmp_path)
        assert result.returncode == 1
        assert "run `hotline migrate` first" in result.stderr
        assert "Traceback" not in result.stderr
        assert "serving" not in result.stdout

    def test_serves_what_make_run_promises(self, tmp_path: Path) -> None:
        """`serve --migrate --seed-demo` (what `make run` does) prints the three pages and
        answers /readyz."""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env |= {"HOTLINE_DEV": "1", "HOTLINE_DATA_DIR": str(tmp_path)}
        proc = subprocess.Popen(
            [*HOTLINE, "serve", "--migrate", "--seed-demo", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines: list[str] = []
            while not lines or "health:" not in lines[-1]:
                line = proc.stdout.readline()
                assert line, "serve stopped before printing its addresses"
                lines.append(line)
            text = "".join(lines)
            assert "supervisor.liu" in text
            for page in ("/agent", "/supervisor", "/readyz"):
                assert f"http://127.0.0.1:{port}{page}" in text
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
                assert json.loads(r.read()) == {"status": "ready", "checks": {"database": True}}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
