"""Running a browser scenario (a ``tests.calls`` module) inside a fresh network
namespace, as the media tests do, and reading its one JSON result line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import need
from tests.media.netns import ROOT, SETUP, netns_unavailable


def run_scenario(
    module: str, args: list[str], *, what: str, timeout: float = 240, console: int = 20
) -> dict[str, Any]:
    """``python -m <module> <args…>`` in a netns (skipped, or failed under
    HOTLINE_REQUIRE=netns, without one); a failed step fails the test with the step,
    the error and the last ``console`` lines of the pages' consoles."""
    reason = netns_unavailable()
    if reason is not None:
        need("netns", reason)
    command = ["unshare", "-n", "sh", "-c", SETUP, "netns", sys.executable, "-m", module, *args]
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"the {what} scenario exited {proc.returncode}:\n{proc.stderr[-6000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        pytest.fail(
            f"at step {result['step']!r}: {result['error']}\n{result.get('traceback', '')}\n"
            + "\n".join(result["console"][-console:])
        )
    return result
