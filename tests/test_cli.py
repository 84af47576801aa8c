"""The command line: `python -m core ...` through `main(argv)` in this process, and as a real process in the system tier.

`cli(...)` (tests/inprocess.py) returns what the subprocess would: its exit code, stdout and stderr;
its trainings run in this process. The tests marked `system` start `python -m core` itself: its
worker process, a killed worker, and nothing on stderr but the one line.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from inprocess import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def process_cli(*args, timeout=300):
    """`python -m core ARGS` as users run it (without TF_CPP_MIN_LOG_LEVEL of ours): a fresh interpreter, its own worker process."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_list_names_every_scenario_and_preset():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    for name in ("sine-relu", "noisy-sine", "parabola", "segments", "--preset one-neuron", "--preset deep", "--preset sigmoid"):
        assert name in out.stdout


def test_run_json_has_the_promised_fields():
    out = cli("run", "parabola", "--preset", "answer", "--seed", "3", "--set", "train.epochs=4", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("scenario", "preset", "seed", "config", "epochs", "steps", "wall_s", "history", "final", "readout", "diverged_at"):
        assert key in data
    assert (data["scenario"], data["preset"], data["seed"], data["epochs"]) == ("parabola", "answer", 3, 4)
    assert data["steps"] == 4 * 999
    assert data["config"]["train"]["learning_rate"] == 0.001 and data["config"]["train"]["epochs"] == 4
    assert len(data["history"]["loss"]) == len(data["history"]["max_abs_error"]) == 4
    assert data["readout"]["target"] == [1.0, 2.0, 2.0] and len(data["readout"]["coefficients"]) == 3
    assert data["final"]["loss"] == data["history"]["loss"][-1]
    assert data["diverged_at"] is None and data["wall_s"] > 0


def test_run_segments_json_thresholds_and_accuracy():
    out = cli("run", "segments", "--preset", "answer", "--json", "--set", "model.units=2", "--set", "train.epochs=20")
    data = json.loads(out.stdout)
    assert data["final"]["accuracy"] == 1.0
    assert len(data["readout"]["thresholds"]) == 2


def test_human_summary_and_saved_model(tmp_path):
    path = tmp_path / "relu.keras"
    out = cli("run", "sine-relu", "--set", "train.epochs=5", "--save-model", str(path))
    assert out.returncode == 0, out.stderr
    assert "sine-relu / question (seed 7): 5 epochs, 1,565 optimizer steps" in out.stdout
    assert "ReLU kinks at x =" in out.stdout
    assert f"model saved to {path}" in out.stdout
    import keras

    model = keras.models.load_model(path)
    assert model.count_params() == 13
    assert np.all(np.isfinite(np.asarray(model(np.zeros((2, 1), np.float32)))))


@pytest.mark.system
def test_python_m_core_trains_in_its_worker_saves_the_model_and_refuses_with_one_line(tmp_path):
    path = tmp_path / "relu.keras"
    out = process_cli("run", "sine-relu", "--set", "train.epochs=5", "--save-model", str(path))
    # TensorFlow's start-up notes stay off the terminal; the lab's own line says why it is quiet while TensorFlow loads.
    from core.cli.common import LOADING_NOTE

    assert out.returncode == 0 and out.stderr.replace(LOADING_NOTE + "\n", "") == "", out.stderr[-3000:]
    assert "sine-relu / question (seed 7): 5 epochs, 1,565 optimizer steps" in out.stdout and f"model saved to {path}" in out.stdout
    import keras

    assert keras.models.load_model(path).count_params() == 13  # made by the command's worker process
    out = process_cli("run", "nope")
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: scenario: 'nope' is not allowed; allowed: sine-relu,") and out.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["run", "nope"], "error: scenario: 'nope' is not allowed; allowed: sine-relu, noisy-sine, parabola, segments"),
    (["run", "parabola", "--preset", "x"], "error: preset: 'x' is not allowed; allowed: presets of parabola: question, answer, one-neuron"),
    (["run", "parabola", "--set", "train.lr=3"], "error: train.lr: '3' is not allowed; allowed: fields of train:"),
    (["run", "parabola", "--set", "train.learning_rate=-1"], "error: train.learning_rate: '-1' is not allowed; allowed: a number from 1e-08 to 10"),
    (["run", "parabola", "--set", "epochs"], "error: --set: 'epochs' is not allowed; allowed: SECTION.FIELD=VALUE"),
    (["run", "parabola", "--seed", "x"], "error: --seed: 'x' is not allowed; allowed: a whole number from 0 to 2147483647"),
    (["run", "parabola", "--save-model", "m.h5"], "error: --save-model: 'm.h5' is not allowed; allowed: a path ending in .keras"),
    (["run", "parabola", "--path", "slow"], "error: --path: 'slow' is not allowed; allowed: fast, fit"),
    (["bench", "--scenarios", "cubic"], "error: scenario: 'cubic' is not allowed"),
    (["bench", "--fit-seconds", "x"], "error: --fit-seconds: 'x' is not allowed"),
    (["frobnicate"], "error: python -m core: argument command: invalid choice: 'frobnicate'"),
    (["doctor", "parabola", "--seeds", "0"], "error: --seeds: '0' is not allowed; allowed: a whole number from 1 to 256"),
    (["doctor", "parabola", "--threshold", "abc"], "error: --threshold: 'abc' is not allowed; allowed: a number from 0 to 1e6"),
    (["doctor", "parabola", "--seconds", "-5"], "error: --seconds: '-5' is not allowed; allowed: a number of seconds from 1 to 86400"),
    (["doctor", "parabola", "--set", "train.lr=3"], "error: train.lr: '3' is not allowed; allowed: fields of train:"),
    (["doctor", "nope"], "error: scenario: 'nope' is not allowed"),
    (["doctor", "parabola", "--set", "train.clipnorm=1"], "error: train.clipnorm: 1.0 is not allowed; allowed: empty for restarts"),
])
def test_mistakes_exit_2_with_one_line_and_no_traceback(args, message):
    out = cli(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith(message)
    assert out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_bench_json_on_one_small_case():
    out = cli("bench", "--json", "--scenarios", "segments", "--fit-seconds", "0.5")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (row,) = data["rows"]
    assert row["scenario"] == "segments" and row["steps"] == 2000
    for key in ("fit_steps_per_s", "fit_full_s_extrapolated", "fast_cold_s", "fast_warm_s", "fast_steps_per_s", "speedup_cold"):
        assert row[key] > 0
    assert row["final"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert data["peak_rss_mb"] > 0


@pytest.mark.system
def test_a_training_process_killed_mid_run_ends_the_command_with_one_line_and_exit_code_2():
    import signal

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "core", "run", "segments", "--preset", "answer", "--set", "train.epochs=100000"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        worker = _child_once_it_trains(process.pid)
        with open(f"/proc/{process.pid}/maps") as maps:
            assert "tensorflow" not in maps.read().lower()  # the command itself has no TensorFlow
        os.kill(worker, signal.SIGKILL)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    from core.cli.common import LOADING_NOTE

    assert process.returncode == 2 and out == ""
    # One line of error (after the lab's own note while TensorFlow loaded, when it took over a second).
    assert err.replace(LOADING_NOTE + "\n", "") == ("error: the training process stopped: it ended on signal SIGKILL: killed, for example "
                                                    "for lack of memory; nothing was saved; run the command again\n")


def _child_once_it_trains(pid: int, timeout: float = 120.0) -> int:
    """The worker process of `pid`, once it has loaded TensorFlow and trained for a moment."""
    import time

    from load import descendants, maps_tensorflow  # tests/load.py: the /proc helpers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in descendants(pid):
            if maps_tensorflow(child):
                time.sleep(3.0)  # TensorFlow is mapped; give it time to start training
                return child
        time.sleep(0.1)
    raise AssertionError(f"no worker process of {pid} loaded TensorFlow within {timeout} s")


def test_doctor_json_findings_and_fixes_measured_over_the_same_seeds():
    out = cli("doctor", "segments", "--seeds", "8", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"findings", "control", "fixes", "best", "posted_fix", "criterion", "wall_s"} <= set(data)
    ids = {f["id"]: f for f in data["findings"]}
    assert ids["unscaled_input"]["role"] == "cause" and ids["majority_class"]["role"] == "symptom"
    assert all(set(f) == {"id", "role", "text", "evidence"} for f in data["findings"])
    for measured in [data["control"], data["posted_fix"], *data["fixes"]]:
        assert {"changes", "successes", "seeds", "success_rate", "interval", "median_metric"} <= set(measured)
        assert measured["seeds"] == 8 and measured["interval"][0] <= measured["success_rate"] <= measured["interval"][1]
    assert data["best"] == data["fixes"][0] and data["best"]["successes"] > data["control"]["successes"]
    assert data["seeds"] == list(range(0, 8)) and data["criterion"]["kind"] == "accuracy_at_least"


def test_doctor_human_output_says_why_and_what_fixes_it():
    out = cli("doctor", "parabola", "--seeds", "4", "--seconds", "8")
    assert out.returncode == 0, out.stderr
    assert "Why:" in out.stdout and "[cause] The steps are too large" in out.stdout
    assert "What fixes it:" in out.stdout and "posted fix" in out.stdout
    assert "control: as it is" in out.stderr  # progress, candidate by candidate

