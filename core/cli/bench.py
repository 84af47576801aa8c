"""The benchmark behind `python -m core bench`: the fast path against plain `model.fit`.

For every scenario's posted setup ("question" preset) at its full posted length, in one process:
- plain model.fit (numpy arrays, Keras's own shuffle) timed on a slice of at least `fit_seconds`
  after its first steps (which compile), then extrapolated to the full run;
- the fast path's full run cold (the first run of that architecture in the process, compilation
  included) and warm (the same architecture again with a new seed: the median of three runs);
- steps per second of both, the time per optimizer step, the ratio, peak memory and result size;
- restarts: M seeds at once in one process (member-steps per second, the full run extrapolated), and
  cold, each in its own process, as a user runs them: `python -m core sweep ID --seeds M` against
  `python -m core run ID` (TensorFlow's import and compilation included);
- for arithmetic-bound setups (many samples times wide layers), the GFLOP/s the training loop
  achieves against the float32 matrix-product rate measured on the same machine in the same run.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import keras
import numpy as np

from core.cases import scenarios
from core.data.datasets import make_dataset
from core.engine.models import build_model
from core.engine.training import train, train_restarts
from core.settings.network import layer_shapes
from core.settings.recipes import make_loss, make_optimizer

WARMUP_STEPS = 5  # model.fit's first steps include tracing and compilation
# Setups whose cost is arithmetic (samples x widths), not per-step overhead: their GFLOP/s is reported.
ARITHMETIC_BOUND = (("noisy-sine", "question"), ("sine-relu", "answer"))
COLD_CASES = ("parabola", "sine-relu")  # restarts of these must cost at most 4x one seed, cold


def flops_per_step(spec) -> float:
    """Multiply-adds of one optimizer step counted as 2 flops: forward 2, backward 4 per weight and sample."""
    batch = spec.train.resolved_batch_size(spec.data.n_samples)
    weights = sum(shape.fan_in * shape.units for shape in layer_shapes(spec.model))
    return 6.0 * batch * weights


def matmul_gflops(size: int = 512, seconds: float = 1.0) -> float:
    """The float32 matrix-product rate of this machine (TensorFlow, all its threads), in GFLOP/s."""
    import tensorflow as tf

    a = tf.random.stateless_normal((size, size), seed=(1, 2))
    b = tf.random.stateless_normal((size, size), seed=(3, 4))
    product = tf.function(lambda a, b: tf.linalg.matmul(a, b), jit_compile=True)
    product(a, b).numpy()
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        product(a, b).numpy()
        count += 1
    return 2.0 * size**3 * count / (time.perf_counter() - began) / 1e9


def cold_seconds(args: list[str]) -> float:
    """Wall-clock seconds of `python -m core ARGS` in a fresh process (import and compilation included)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core", *args], cwd=root, env=env, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - began


class _SliceTimer(keras.callbacks.Callback):
    """Times model.fit's steps after the warm-up ones and stops once `seconds` have passed."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.steps = 0
        self.started = self.began = self.ended = None

    def on_train_begin(self, logs=None):
        self.began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        now = time.perf_counter()
        if self.steps == WARMUP_STEPS:
            self.started = now
        elif self.started is not None and now - self.started >= self.seconds:
            self.ended = now
            self.model.stop_training = True


def time_model_fit(spec, seconds: float) -> dict:
    """Plain model.fit on the spec's data: steps/s over a slice, extrapolated to the full run."""
    data = make_dataset(spec.data)
    model = build_model(spec.model, spec.seed)
    model.compile(optimizer=make_optimizer(spec.train), loss=make_loss(spec.train))
    batch = spec.train.resolved_batch_size(data.n)
    steps_per_epoch = spec.train.steps_per_epoch(data.n)
    total = steps_per_epoch * spec.train.epochs
    timer = _SliceTimer(seconds)
    epochs = max(1, math.ceil((WARMUP_STEPS + 1) / steps_per_epoch)) * 10_000  # stopped by the timer
    model.fit(data.x_train, data.y_train, batch_size=batch, epochs=epochs, shuffle=spec.train.shuffle, verbose=0, callbacks=[timer])
    ended = timer.ended or time.perf_counter()
    measured = timer.steps - WARMUP_STEPS
    rate = measured / (ended - timer.started)
    startup = timer.started - timer.began  # tracing, compilation and the warm-up steps
    return {"steps_per_s": rate, "measured_steps": measured, "measured_s": ended - timer.started,
            "startup_s": startup, "full_s": startup + (total - WARMUP_STEPS) / rate}


def time_ensemble(spec, members: int, seconds: float) -> dict:
    """Restarts: `members` seeds at once, timed on a slice of epochs and extrapolated to the full run."""
    probe = train_restarts(spec.with_value("train.epochs", 2), members)  # compilation and one timed epoch
    per_epoch = max((probe.wall_s - probe.compile_s) / 1, 1e-9)
    epochs = int(min(spec.train.epochs, max(2, math.ceil(seconds / per_epoch))))
    timed = train_restarts(spec.with_value("train.epochs", epochs), members)
    steps_per_epoch = spec.train.steps_per_epoch(spec.data.n_samples)
    member_steps = members * steps_per_epoch * (epochs - 1)
    rate = member_steps / max(timed.wall_s - timed.compile_s, 1e-9)
    full = timed.compile_s + members * steps_per_epoch * spec.train.epochs / rate
    return {"members": members, "member_steps_per_s": rate, "compile_s": timed.compile_s, "timed_epochs": epochs,
            "full_s": full if epochs < spec.train.epochs else timed.wall_s}


def bench_one(scenario_id: str, fit_seconds: float, members: int = 64, preset: str = "question") -> dict:
    spec = scenarios.get(scenario_id).spec(preset)
    cold = train(spec)
    # Warm: the same architecture with new seeds; the median of three, as one run moves by 10 to 40% here.
    warms = sorted((train(spec.with_value("seed", (spec.seed + i) % 2**31)) for i in (1, 2, 3)), key=lambda r: r.wall_s)
    warm = warms[1]
    fit = time_model_fit(spec, fit_seconds)
    ensemble = time_ensemble(spec, members, fit_seconds) if members else None
    # Steps per second of the compiled loop itself: the warm run less its fixed costs.
    fast_rate = warm.steps / warm.wall_s
    return {
        "scenario": scenario_id,
        "preset": preset,
        "epochs": spec.train.epochs,
        "steps": cold.steps,
        "batch_size": spec.train.resolved_batch_size(spec.data.n_samples),
        "fit_steps_per_s": fit["steps_per_s"],
        "fit_measured_s": fit["measured_s"],
        "fit_startup_s": fit["startup_s"],
        "fit_full_s_extrapolated": fit["full_s"],
        "fast_cold_s": cold.wall_s,
        "fast_compile_s": cold.compile_s,
        "fast_warm_s": warm.wall_s,
        "fast_steps_per_s": fast_rate,
        "fast_us_per_step": 1e6 / fast_rate,
        "speedup_cold": fit["full_s"] / cold.wall_s,
        "speedup_warm": fit["full_s"] / warm.wall_s,
        "result_mb": len(pickle.dumps(cold)) / 2**20,
        "final": cold.final,
        "ensemble": ensemble,
        "ensemble_vs_single_cold": ensemble["full_s"] / cold.wall_s if ensemble else None,
        "ensemble_speedup_per_seed": (ensemble["member_steps_per_s"] / fast_rate) if ensemble else None,
        "flops_per_step": flops_per_step(spec),
        "fast_gflops": flops_per_step(spec) * fast_rate / 1e9,
        "ensemble_gflops": flops_per_step(spec) * ensemble["member_steps_per_s"] / 1e9 if ensemble else None,
    }


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run(ids: list[str], fit_seconds: float = 3.0, report: Callable[[str], None] | None = None, members: int = 64,
        cold: bool = True) -> dict:
    say = report or (lambda line: None)
    rows = []
    say("| case | steps | model.fit steps/s | model.fit full (extrapolated) | fast cold | fast warm | "
        "fast steps/s | us/step | speedup cold | result |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = [(sid, "question") for sid in ids] + [case for case in ARITHMETIC_BOUND if case[0] in ids and case[1] != "question"]
    for sid, preset in cases:
        row = bench_one(sid, fit_seconds, members, preset)
        rows.append(row)
        say(f"| {_name(row)} | {row['steps']:,} | {row['fit_steps_per_s']:,.0f} | {_duration(row['fit_full_s_extrapolated'])} | "
            f"{row['fast_cold_s']:.2f} s | {row['fast_warm_s']:.2f} s | {row['fast_steps_per_s']:,.0f} | "
            f"{row['fast_us_per_step']:.3g} | {row['speedup_cold']:,.0f}x | {row['result_mb']:.1f} MB |")
    if members:
        say("")
        say(f"| case | {members} seeds at once: member-steps/s | single run steps/s | {members} seeds, full run (extrapolated) | "
            f"one seed cold | ratio, one process |")
        say("|---|---:|---:|---:|---:|---:|")
        for row in rows:
            e = row["ensemble"]
            say(f"| {_name(row)} | {e['member_steps_per_s']:,.0f} | {row['fast_steps_per_s']:,.0f} | {_duration(e['full_s'])} | "
                f"{row['fast_cold_s']:.2f} s | {row['ensemble_vs_single_cold']:.1f}x |")
    peak_matmul = matmul_gflops()
    bound = [row for row in rows if (row["scenario"], row["preset"]) in ARITHMETIC_BOUND]
    if bound:
        say("")
        say(f"| arithmetic-bound case | flops per step | one seed GFLOP/s | {members} seeds GFLOP/s | "
            f"float32 matmul GFLOP/s (512x512, this machine) | share of it, one seed / {members} seeds |")
        say("|---|---:|---:|---:|---:|---:|")
        for row in bound:
            together = row["ensemble_gflops"] or 0.0
            say(f"| {_name(row)} | {row['flops_per_step']:,.0f} | {row['fast_gflops']:.2f} | {together:.2f} | {peak_matmul:.1f} | "
                f"{row['fast_gflops'] / peak_matmul:.0%} / {together / peak_matmul:.0%} |")
    colds = []
    if cold and members:
        say("")
        say(f"| case, cold in its own process | `python -m core run` | `python -m core sweep --seeds {members}` | ratio |")
        say("|---|---:|---:|---:|")
        for sid in [c for c in COLD_CASES if c in ids]:
            single = cold_seconds(["run", sid])
            many = cold_seconds(["sweep", sid, "--seeds", str(members)])
            colds.append({"scenario": sid, "run_s": single, "sweep_s": many, "ratio": many / single})
            say(f"| {sid} | {single:.2f} s | {many:.2f} s | {many / single:.1f}x |")
    peak = peak_rss_mb()
    say(f"peak memory of this process: {peak:.0f} MB; numpy {np.__version__}, keras {keras.__version__}")
    return {"rows": rows, "cold": colds, "matmul_gflops": peak_matmul, "peak_rss_mb": peak, "keras": keras.__version__}


def _name(row: dict) -> str:
    return row["scenario"] if row["preset"] == "question" else f"{row['scenario']} ({row['preset']})"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"
