"""Memory stays bounded while browser sessions train many distinct architectures: tests/soak.py, short, as a test.

Runs `python tests/soak.py --sessions 2 --architectures 6` (TINYNET_SOAK_SESSIONS and
TINYNET_SOAK_ARCHITECTURES change it) against a real server with the default worker settings, and
checks its report: every training succeeded, the Streamlit server process never mapped TensorFlow,
its workers were recycled (a fresh one replaced a full one) without two ever holding TensorFlow at
once for long, and the whole process tree stayed within Community Cloud's 2.7 GB. The full numbers
are printed for the log; the long soak and its figures are in docs/server.md.

Twelve distinct architectures are enough to see it: a worker holds about 770 MB after its first
training and each new architecture adds 10 to 20 MB of compiled code, so the default limit (850 MB)
retires a worker after five or six of them, and the twelve cross it at least once (more would only
repeat the sawtooth).

Needs Chromium and playwright, like tests/test_load.py (skips without them, fails under CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system  # the real server and a browser: the system tier (see pytest.ini)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "soak.py"
CLOUD_MEMORY_MIB = 2.7e9 / 2**20  # Streamlit Community Cloud's limit for an app, about 2.7 GB


def test_many_architectures_are_trained_with_recycled_workers_and_bounded_memory(chromium, tmp_path):
    sessions = int(os.environ.get("TINYNET_SOAK_SESSIONS", "2"))
    architectures = int(os.environ.get("TINYNET_SOAK_ARCHITECTURES", "6"))
    report_path = tmp_path / "soak.json"
    command = [sys.executable, str(SCRIPT), "--sessions", str(sessions), "--architectures", str(architectures),
               "--json", str(report_path), "--chromium", chromium]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    print(finished.stdout[-3_000:])
    assert report_path.is_file(), f"no report (exit code {finished.returncode}):\n{finished.stderr[-4_000:]}"
    report = json.loads(report_path.read_text())
    assert not report["failures"], report["failures"]
    assert report["results"] == sessions * architectures
    assert report["server_tensorflow_mapped"] is False
    assert report["workers_started"] >= 2, "no worker was recycled: the default memory limit never took effect"
    assert report["most_workers_alive"] <= 3  # a retiring worker, its replacement, and at most one more under load
    assert report["tree_peak_mib"] < CLOUD_MEMORY_MIB, f"the process tree peaked at {report['tree_peak_mib']} MiB"
    assert finished.returncode == 0, finished.stderr[-4_000:]
    units = {row["units"] for row in report["rows"]}
    assert len(units) == sessions * architectures  # every training was a new architecture
