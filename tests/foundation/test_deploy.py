"""The deployment files: docker-compose accepts the scale-out stack.

Needs ``docker-compose`` or the ``docker compose`` plugin: skipped without it, failed
under ``HOTLINE_REQUIRE=compose`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    """``docker-compose`` or ``docker compose``, whichever is installed."""
    command: list[str] | None = None
    docker = shutil.which("docker")
    if shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        command = [docker, "compose"] if probe.returncode == 0 else None
    if command is None:
        need("compose", "neither docker-compose nor the docker compose plugin is installed")
    return command


class TestCompose:
    def test_config_is_accepted(self, tmp_path: Path) -> None:
        """Compose accepts the stack: two apps, nginx, Redis with AOF, PostgreSQL, coturn."""
        env = {
            "HOTLINE_SECRET_KEY": "x" * 40,
            "POSTGRES_PASSWORD": "p",
            "TURN_SECRET": "t",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        for service in ("app1:", "app2:", "nginx:", "redis:", "postgres:", "coturn:"):
            assert service in result.stdout
        assert "--appendonly" in result.stdout

    def test_refuses_missing_secrets(self) -> None:
        """Without the secrets in the environment the stack does not configure."""
        result = subprocess.run(
            [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert "HOTLINE_SECRET_KEY" in result.stderr

    def test_apps_trust_only_nginx(self) -> None:
        """The apps trust X-Forwarded-For from nginx's fixed address and from nothing else,
        and nginx does not expose one process's /metrics as if it were the platform's."""
        env = {
            "HOTLINE_SECRET_KEY": "x" * 40,
            "POSTGRES_PASSWORD": "p",
            "TURN_SECRET": "t",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        nginx = re.search(r"ipv4_address: ([0-9.]+)", result.stdout)
        assert nginx is not None
        trusted = set(re.findall(r"HOTLINE_TRUSTED_PROXIES: (\S+)", result.stdout))
        assert trusted == {nginx.group(1)}
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        assert "X-Forwarded-For $proxy_add_x_forwarded_for" in conf
        assert re.search(r"location = /metrics \{\s*return 404;", conf)
