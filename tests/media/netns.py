"""Run a media scenario inside a fresh network namespace and return its JSON result.

aioice never gathers 127.0.0.1, and tests must never send traffic to the machine's real
addresses, so each scenario runs in a child process under ``unshare -n`` (we are root):
a namespace with only ``lo``, brought up with an extra address 127.0.0.2/8 for ICE.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'


def netns_available() -> bool:
    return (
        os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("ip") is not None
    )


def run_scenario(name: str, timeout: float = 90, **params: Any) -> dict[str, Any]:
    """Run ``tests.media.scenarios.<name>(**params)`` in a new netns; its result dict."""
    if not netns_available():
        pytest.fail("netns tests need root, unshare and ip")
    command = [
        "unshare", "-n", "sh", "-c", SETUP, "netns",
        sys.executable, "-m", "tests.media.scenarios", name, json.dumps(params),
    ]  # fmt: skip
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scenario {name} exited {proc.returncode}:\n{proc.stderr[-6000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(f"scenario {name} printed no result:\n{proc.stderr[-6000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["_stderr"] = proc.stderr
    return result
