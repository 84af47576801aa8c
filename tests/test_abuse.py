"""The abuse test: a link over the memory budget and hostile uploads, while another session trains, on one server.

Runs `python tests/abuse.py --json <tmp>/abuse.json` (what each session does and sees: its docstring) and checks
its report: the worst link is warned about on load and refused at Train ("Over the memory budget") with nothing
trained; a 20 MB file of 10,000,000 empty lines and a header of 1,000,000 columns are each refused in one
message naming the lines or the columns, within seconds, the example data kept, and a good file is read after
them; the session training at the same time gets its right result; no session shows an exception and all are
connected at the end; the server process alone stays under 400 MB and every worker under its hard limit
(TINYNET_WORKER_LIMIT_MB, 2000 MB by default). The numbers are printed, so `pytest -rA` shows them. The script's
own artifacts: artifacts/abuse/ (screenshots), artifacts/abuse-server.log.

Needs Debian's Chromium (`apt-get install chromium`, or TINYNET_CHROMIUM=/path/to/chromium) and the playwright
package (`pip install -r requirements-dev.txt`). Without them the test skips, except under CI, where it fails.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from test_load import run_script

pytestmark = pytest.mark.system  # the real server, its worker and a browser: the system tier (see pytest.ini)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "abuse.py"
SUBPROCESS_TIMEOUT_S = 300
SERVER_LIMIT_MB = 400
REFUSAL_WITHIN_S = 5.0  # an upload's refusal, from choosing the file (a 20 MB one is uploaded first) to the message


def test_a_link_over_the_memory_budget_and_hostile_uploads_are_refused_while_another_session_trains(chromium, tmp_path):
    report_path = tmp_path / "abuse.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"}
    finished = run_script([sys.executable, str(SCRIPT), "--json", str(report_path), "--chromium", chromium], env, SUBPROCESS_TIMEOUT_S)
    code, output = finished.returncode, finished.stdout or ""
    assert report_path.is_file(), f"tests/abuse.py wrote no report (exit code {code}); output:\n{output[-6_000:]}"
    report = json.loads(report_path.read_text())
    summary = output[output.find("server process alone:"):] if "server process alone:" in output else output[-4_000:]
    print(summary)  # for -rA and the CI log
    assert code == 0 and not report["failures"], (f"tests/abuse.py exited with code {code}:\n" + "\n".join(report["failures"])
                                                  + f"\noutput (end):\n{output[-4_000:]}")

    memory = report["memory"]
    assert memory["server_peak_mb"] < SERVER_LIMIT_MB and memory["server_vmhwm_mb"] < SERVER_LIMIT_MB, memory
    assert 0 < memory["worker_peak_hwm_mb"] < memory["worker_limit_mb"], memory
    assert not memory["server_tensorflow_mapped"], "the Streamlit server process mapped TensorFlow: it must train in workers only"

    a = report["a"]
    for refusal in (a["on_load"], a["on_train"]):  # warned as the link loads, refused when Train is pressed
        assert "Over the memory budget" in refusal["text"] and len(refusal["text"]) <= 500, refusal
        assert "Traceback" not in refusal["text"], refusal
    assert a["on_train"]["text"].startswith("Nothing was trained."), a["on_train"]
    assert not a["trained_lines"], f"the worst link trained (or failed) instead of being refused: {a['trained_lines']}"

    flood, wide = report["b"]["refusals"]
    assert "lines" in flood["text"] and "at most 200,000 rows" in flood["text"], flood
    assert "columns" in wide["text"], wide
    for refusal in (flood, wide):
        assert refusal["seconds"] <= REFUSAL_WITHIN_S and refusal["example_kept"] and len(refusal["text"]) <= 500, refusal
    assert "good.csv" in report["b"]["good_file"], report["b"]

    c = report["c"]
    assert c["ok"] and c["page_loss"] == c["expected_loss"], c
    for name in ("a", "b", "c_end"):
        assert report[name]["connected"] and not report[name]["problems"], report[name]
