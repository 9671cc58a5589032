"""Run a media scenario inside a fresh network namespace and return its JSON result.

aioice never gathers 127.0.0.1, and tests must never send traffic to the machine's real
addresses, so each scenario runs in a child process under ``unshare -n`` (we are root):
a namespace with only ``lo``, brought up with an extra address 127.0.0.2/8 for ICE.

The tests that do so carry ``pytest.mark.netns``; tests/conftest.py asks
``netns_unavailable()`` once and skips them (or fails them under
``HOTLINE_REQUIRE=netns``) on a machine where namespaces cannot be made.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
SETUP = 'ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec "$@"'


@functools.cache
def netns_unavailable() -> str | None:
    """Why no network namespace can be made here (``None``: one can), asked once."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return f"network namespaces need {' and '.join(missing)} (util-linux, iproute2)"
    probe = subprocess.run(
        ["unshare", "-n", "ip", "link", "set", "lo", "up"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare -n failed: {probe.stderr.strip()[:200]}"
    return None


def run_scenario(name: str, timeout: float = 90, **params: Any) -> dict[str, Any]:
    """Run ``tests.media.scenarios.<name>(**params)`` in a new netns; its result dict."""
    reason = netns_unavailable()
    if reason is not None:
        need("netns", reason)
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
