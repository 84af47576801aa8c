"""Several browser sessions train at the same time, each gets its own right result: tests/load.py as a test.

Runs `python tests/load.py --sessions N --json <tmp>/load.json` (N = 4, or TINYNET_LOAD_SESSIONS) and
checks its exit code and report: every session ok, on distinct pages with distinct seeds. The report
(per-session times, slowest session, the server's peak RSS) is printed, so `pytest -rA` or the log
shows it. The script's own artifacts: artifacts/load/ (screenshots), artifacts/load-server.log.

Needs Debian's Chromium (`apt-get install chromium`, or TINYNET_CHROMIUM=/path/to/chromium) and the
playwright package (`pip install -r requirements-dev.txt`). Without them the test skips, except under
CI (CI set and not "false"/"0"), where it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system  # the real server and a browser: the system tier (see pytest.ini)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "load.py"
CASE_PAGES = ("sine-relu", "noisy-sine", "parabola", "segments", "custom")  # the cycle tests/load.py uses
SUBPROCESS_TIMEOUT_S = 600
SESSION_TIMEOUT_S = 240


def _sessions() -> int:
    raw = os.environ.get("TINYNET_LOAD_SESSIONS", "").strip()
    if not raw:
        return 4
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        pytest.fail(f"TINYNET_LOAD_SESSIONS={raw!r} is not a whole number of sessions (1 or more).", pytrace=False)
    return value


def run_script(command: list[str], env: dict, timeout_s: float = SUBPROCESS_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run a test script (tests/load.py, tests/abuse.py); on timeout send SIGTERM first so it stops its own server and
    browser, then fail with its output."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate(timeout=30)
        pytest.fail(f"{command[1]} did not finish within {timeout_s} s; its output:\n{out[-6_000:]}",
                    pytrace=False)
    return subprocess.CompletedProcess(command, process.returncode, out, "")


def test_sessions_train_at_the_same_time_and_get_their_own_right_results(chromium, tmp_path):
    sessions = _sessions()
    report_path = tmp_path / "load.json"
    command = [sys.executable, str(SCRIPT), "--sessions", str(sessions), "--timeout", str(SESSION_TIMEOUT_S),
               "--json", str(report_path), "--chromium", chromium]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}
    finished = run_script(command, env)
    output = finished.stdout or ""
    # The script's own table and summary, for -rA and the CI log.
    print(output[output.find("\n#  page"):] if "\n#  page" in output else output[-6_000:])

    assert report_path.is_file(), f"tests/load.py wrote no JSON report (exit code {finished.returncode}); output:\n{output[-6_000:]}"
    report = json.loads(report_path.read_text())
    per_session = report["per_session"]
    failed = [f"session {s['index']} ({s['page']}, seed {s['seed']}): {s['reason']}" for s in per_session if not s["ok"]]
    assert finished.returncode == 0, (
        f"tests/load.py exited with code {finished.returncode}; failed sessions:\n" + "\n".join(failed or ["(none)"])
        + f"\nerror: {report.get('error')}\noutput (end):\n{output[-4_000:]}"
    )
    assert len(per_session) == sessions and report["ok_sessions"] == sessions, f"not every session ok: {failed}"
    pages = [s["page"] for s in per_session]
    assert len(set(pages)) == min(sessions, len(CASE_PAGES)), f"the sessions did not cover distinct pages: {pages}"
    seeds = [s["seed"] for s in per_session]
    assert len(set(seeds)) == sessions, f"the sessions did not ask for distinct seeds: {seeds}"
    from core.cases import scenarios

    for s in per_session:  # each page names the "question" preset by its button's label (As asked, Your function)
        asked = scenarios.get(s["page"]).preset("question").label
        assert s["page_seed"] == s["seed"] and s["page_preset"] == asked and s["page_loss"] == s["expected_loss"], s

    memory, slowest = report["server_memory"], report["slowest"]
    assert memory["server_tensorflow_mapped"] is False, "the Streamlit server process mapped a TensorFlow library: it must train in workers only"
    print(
        f"load test: {sessions} sessions ok; slowest {slowest['page']} (seed {slowest['seed']}) "
        f"{slowest['click_to_result_s']:.2f} s from click to result; server tree RSS baseline {memory['baseline_rss_mib']} MiB, "
        f"peak {memory['peak_rss_mib']} MiB (budget {memory['budget_mib']:.0f} MiB, "
        f"{'within' if memory['within_budget'] else 'OVER'}); total {report['total_s']:.0f} s"
    )
