"""The benchmark behind `python -m core bench`: the fast path against plain `model.fit`.

For every scenario's posted setup ("question" preset) at its full posted length, in one process:
- plain model.fit (numpy arrays, Keras's own shuffle) timed on a slice of at least `fit_seconds`
  after its first steps (which compile), then extrapolated to the full run;
- the fast path's full run cold (the first run of that architecture in the process, compilation
  included) and warm (the same architecture again with a new seed);
- steps per second of both, the time per optimizer step, the ratio, peak memory and result size.
"""

from __future__ import annotations

import math
import pickle
import resource
import sys
import time
from typing import Callable

import numpy as np

import keras
from core import scenarios
from core.data import make_dataset
from core.models import build_model
from core.training import make_loss, make_optimizer, train, train_restarts

WARMUP_STEPS = 5  # model.fit's first steps include tracing and compilation


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
    steps_per_epoch = math.ceil(data.n / batch)
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
    steps_per_epoch = math.ceil(spec.data.n_samples / spec.train.resolved_batch_size(spec.data.n_samples))
    member_steps = members * steps_per_epoch * (epochs - 1)
    rate = member_steps / max(timed.wall_s - timed.compile_s, 1e-9)
    full = timed.compile_s + members * steps_per_epoch * spec.train.epochs / rate
    return {"members": members, "member_steps_per_s": rate, "compile_s": timed.compile_s, "timed_epochs": epochs,
            "full_s": full if epochs < spec.train.epochs else timed.wall_s}


def bench_one(scenario_id: str, fit_seconds: float, members: int = 64) -> dict:
    spec = scenarios.get(scenario_id).spec("question")
    cold = train(spec)
    warm = train(spec.with_value("seed", (spec.seed + 1) % 2**31))
    fit = time_model_fit(spec, fit_seconds)
    ensemble = time_ensemble(spec, members, fit_seconds) if members else None
    # Steps per second of the compiled loop itself: the warm run less its fixed costs.
    fast_rate = warm.steps / warm.wall_s
    return {
        "scenario": scenario_id,
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
    }


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run(ids: list[str], fit_seconds: float = 3.0, report: Callable[[str], None] | None = None, members: int = 64) -> dict:
    rows = []
    if report:
        report("| case | steps | model.fit steps/s | model.fit full (extrapolated) | fast cold | fast warm | "
               "fast steps/s | us/step | speedup cold | result |")
        report("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sid in ids:
        row = bench_one(sid, fit_seconds, members)
        rows.append(row)
        if report:
            report(f"| {sid} | {row['steps']:,} | {row['fit_steps_per_s']:,.0f} | {_duration(row['fit_full_s_extrapolated'])} | "
                   f"{row['fast_cold_s']:.2f} s | {row['fast_warm_s']:.2f} s | {row['fast_steps_per_s']:,.0f} | "
                   f"{row['fast_us_per_step']:.3g} | {row['speedup_cold']:,.0f}x | {row['result_mb']:.1f} MB |")
    if report and members:
        report("")
        report(f"| case | {members} seeds at once: member-steps/s | single run steps/s | {members} seeds, full run (extrapolated) | "
               f"one seed cold | ratio |")
        report("|---|---:|---:|---:|---:|---:|")
        for row in rows:
            e = row["ensemble"]
            report(f"| {row['scenario']} | {e['member_steps_per_s']:,.0f} | {row['fast_steps_per_s']:,.0f} | {_duration(e['full_s'])} | "
                   f"{row['fast_cold_s']:.2f} s | {row['ensemble_vs_single_cold']:.1f}x |")
    peak = peak_rss_mb()
    if report:
        report(f"peak memory of this process: {peak:.0f} MB; numpy {np.__version__}, keras {keras.__version__}")
    return {"rows": rows, "peak_rss_mb": peak, "keras": keras.__version__}


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"
