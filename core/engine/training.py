"""Training: `train(spec)` for one seed and `train_restarts(spec, M)` for M seeds, on one compiled loop.

The fast path (the default) runs many epochs of minibatch steps inside ONE XLA-compiled TensorFlow
function: an outer while loop over epochs and an inner one over minibatches. The same function
trains M >= 1 members: a single run is one Keras model whose step is exactly Keras's own
`train_step` (the model, `model.compute_loss`, `model.optimizer.apply`); restarts are M members
whose weights are the rows of one (members, params) variable (core/engine/ensemble.py) and whose step sums
the members' own mean losses. Per-epoch shuffles come from each member's own numpy Generator and are
passed in, so every path sees the same order. The function runs in chunks of epochs: between chunks
the callbacks replay what happened, progress is reported and a stop request honoured. Compiled loops
are kept per architecture and member count and reused: a new seed or learning rate is an assignment
to variables, not a new compilation.

The reference path is plain `model.fit` with the same callbacks, fed the same shuffles through
tf.data; a test checks that both give the same weights and losses.

Example:
    >>> result = train(scenarios.get("parabola").spec("answer"))
    >>> result.readout.parabola.coefficients
    >>> restarts = train_restarts(scenarios.get("segments").spec("answer"), 64)
"""

from __future__ import annotations

import time

import numpy as np

from core.engine.callbacks import (
    HistoryRecorder,
    PredictionRecorder,
    WeightRecorder,
)
from core.engine.context import Outcome, Progress, RunContext, r_squared  # noqa: F401  (r_squared: the engine's R²)
from core.engine.loop import POOL, Chunk, drive, train_fast
from core.engine.models import initial_weights
from core.engine.reference import train_fit
from core.engine.stopping import StopFlag
from core.outcomes import readout
from core.outcomes.recording import resolve_record_every
from core.outcomes.restarts import check as check_restarts
from core.outcomes.restarts import seeds_for
from core.outcomes.results import MemberResult, Readout, RestartsResult, RunResult
from core.settings.network import forward, loss_value, weight_names
from core.settings.specs import RunSpec, SpecError

# ---------------------------------------------------------------------------------------------
# The entry points


def train(
    spec: RunSpec,
    callbacks: list | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
    path: str = "fast",
) -> RunResult:
    """Train `spec` and return a RunResult.

    Args:
        spec: the run.
        callbacks: extra keras.callbacks.Callback objects; the lab's own (LabCallback) read the
            state through a probe and so behave the same on both paths.
        progress: called as progress(epoch, logs) several times a second and after the last epoch.
        stop: a StopFlag; once set (or once its wall-clock limit has passed), training ends after the
            current chunk (fast path) or epoch, keeps what it learned and says why in `stop_reason`.
        path: "fast" (compiled loop) or "fit" (plain model.fit, the reference).
    A loss that becomes NaN or infinite ends the run; `diverged_at` says in which epoch.
    """
    if path not in ("fast", "fit"):
        raise SpecError("path", path, "fast, fit")
    ctx = RunContext(spec)
    every = resolve_record_every(spec)
    history, weights, predictions = HistoryRecorder(), WeightRecorder(every), PredictionRecorder(every)
    began = time.perf_counter()
    runner = train_fast if path == "fast" else train_fit
    outcome = runner(ctx, [history, weights, predictions, *(callbacks or [])], progress, stop)
    wall = time.perf_counter() - began
    reason = stop.reason if outcome.stopped and stop is not None else None
    with np.errstate(all="ignore"):  # a diverging run's last finite weights may overflow float32
        return _assemble(ctx, path, outcome, history, weights, predictions, wall, reason)


def _assemble(ctx: RunContext, path: str, outcome: Outcome, history: HistoryRecorder, weights: WeightRecorder,
              predictions: PredictionRecorder, wall: float, stop_reason: str | None) -> RunResult:
    spec, data = ctx.spec, ctx.data
    diverged_at = outcome.diverged_at
    keep = (diverged_at - 1) if diverged_at else outcome.epochs_run
    hist = {"epoch": np.arange(1, keep + 1)}
    for name in ("loss", ctx.metric):
        hist[name] = np.asarray(history.history.get(name, [])[:keep], dtype=np.float64)
    for name, values in history.history.items():
        hist.setdefault(name, np.asarray(values[:keep], dtype=np.float64))
    finite_w = [i for i, e in enumerate(weights.epochs) if e <= keep]
    finite_p = [i for i, e in enumerate(predictions.epochs) if e <= keep]
    final_weights = tuple(np.asarray(w) for w in outcome.final_weights)
    grid_prediction = ctx.y_inverse(forward(spec.model, final_weights, ctx.grid_scaled))
    test_prediction = None
    if data.x_test is not None:
        x_test_scaled = data.encode(data.x_test)
        test_prediction = ctx.y_inverse(forward(spec.model, final_weights, x_test_scaled))
    final = {"loss": float(hist["loss"][-1]), ctx.metric: float(hist[ctx.metric][-1])} if keep else {}
    if data.x_test is not None and keep:  # the test loss at the end of every recorded epoch (NaN between them)
        x_held, y_held = data.encode(data.x_test), data.y_scaler.transform(data.y_test)
        test_loss = np.full(keep, np.nan)
        for i in finite_w:
            epoch = int(weights.epochs[i])
            if 1 <= epoch <= keep:
                test_loss[epoch - 1] = loss_value(spec.train.loss, forward(spec.model, weights.values[i], x_held), y_held)
        hist["test_loss"] = test_loss
    return RunResult(
        spec=spec,
        path=path,
        epochs_run=outcome.epochs_run,
        steps=outcome.epochs_run * ctx.steps_per_epoch,
        wall_s=wall,
        history=hist,
        weight_names=tuple(weight_names(spec.model)),
        weight_epochs=np.asarray([weights.epochs[i] for i in finite_w], dtype=np.int64),
        weight_history=tuple(np.stack([weights.values[i][j] for i in finite_w]) for j in range(len(final_weights))),
        final_weights=final_weights,
        replay_x=ctx.replay_x,
        replay_epochs=np.asarray([predictions.epochs[i] for i in finite_p], dtype=np.int64),
        replay_predictions=np.stack([predictions.values[i] for i in finite_p]).astype(np.float32),  # half the memory of a cached run
        grid_x=ctx.grid,
        grid_target=ctx.grid_target,
        grid_prediction=grid_prediction,
        x=data.x.ravel() if data.inputs == 1 else data.x,
        y=data.y.ravel(),
        prediction=ctx.y_inverse(forward(spec.model, final_weights, ctx.x)),
        x_test=None if data.x_test is None else (data.x_test.ravel() if data.inputs == 1 else data.x_test),
        y_test=None if data.y_test is None else data.y_test.ravel(),
        test_prediction=test_prediction,
        scalers={"x": data.x_scaler.to_dict(), "y": data.y_scaler.to_dict()},
        readout=readout.summarize(spec, data, final_weights, grid_prediction),
        diverged_at=diverged_at,
        diverged_step=outcome.diverged_step if diverged_at else None,
        divergence=readout.divergence(spec, hist["loss"], data.y, diverged_at, outcome.diverged_step),
        stopped=outcome.stopped,
        stop_reason=stop_reason,
        compile_s=outcome.compile_s,
        final=final,
    )


def train_restarts(
    spec: RunSpec,
    members: int,
    seeds: list[int] | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
) -> RestartsResult:
    """Train `members` copies of `spec` at once, seeds `seeds` (default: spec.seed, spec.seed + 1, ...).

    Each member starts from its own seed's weights and sees its own seed's shuffles, as `train` would
    give it; `progress(epoch, {"median_loss": ...})` is called after every chunk.
    """
    check_restarts(spec, members)
    seeds = list(seeds) if seeds is not None else seeds_for(spec, members)
    if len(seeds) != members:
        raise SpecError("seeds", seeds, f"a list of {members} seeds")
    ctx = RunContext(spec)
    loop = POOL.acquire(spec, members, ctx.n, ctx.batch, record=False)
    try:
        loop.reset([initial_weights(spec.model, s) for s in seeds], spec.train.learning_rate)
        rows: list[tuple[np.ndarray, np.ndarray]] = []

        def keep(done: int, chunk: Chunk) -> bool:
            rows.append((chunk.losses[:chunk.ran], chunk.metrics[:chunk.ran]))
            return False

        def logs() -> dict:
            last = rows[-1][0][-1] if rows and len(rows[-1][0]) else np.full(members, np.nan)
            finite = np.isfinite(last)
            return {"median_loss": float(np.median(last[finite])) if finite.any() else float("nan")}

        began = time.perf_counter()
        done, compile_s = drive(loop, ctx, seeds, spec.train.epochs, keep, logs, progress, stop)
        wall = time.perf_counter() - began
        final_weights = loop.final_weights()
    finally:
        POOL.release(spec, loop)
    losses = np.concatenate([r[0] for r in rows]) if rows else np.empty((0, members))
    metrics = np.concatenate([r[1] for r in rows]) if rows else np.empty((0, members))
    all_diverged = bool(len(losses)) and not np.isfinite(losses[-1]).any()
    stopped = done < spec.train.epochs and not all_diverged
    with np.errstate(all="ignore"):
        outcomes = tuple(_member(ctx, seeds[m], final_weights[m], losses[:, m], metrics[:, m]) for m in range(members))
    return RestartsResult(spec=spec, seeds=tuple(seeds), epochs_run=done, wall_s=wall, losses=losses, metrics=metrics,
                          members=outcomes, stopped=stopped, compile_s=compile_s,
                          stop_reason=stop.reason if stopped and stop is not None else None)


def _member(ctx: RunContext, seed: int, weights: list[np.ndarray], losses: np.ndarray, metrics: np.ndarray) -> MemberResult:
    """One member's final numbers and the readout parts a success criterion and a seed table need."""
    bad = np.flatnonzero(~np.isfinite(losses))
    diverged_at = int(bad[0]) + 1 if bad.size else None
    keep = (diverged_at - 1) if diverged_at else len(losses)
    final = {"loss": float(losses[keep - 1]), ctx.metric: float(metrics[keep - 1])} if keep else {}
    weights = tuple(np.asarray(w) for w in weights)
    if diverged_at:
        return MemberResult(seed, final, diverged_at, Readout(), weights)
    fit = ctx.y_inverse(forward(ctx.spec.model, weights, ctx.grid_scaled))
    return MemberResult(seed, final, None, readout.summarize(ctx.spec, ctx.data, weights, fit, detail=False), weights)
