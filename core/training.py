"""Training: one entry point, `train(spec)`, with a fast path and a reference `model.fit` path.

The fast path (the default) runs many epochs of minibatch steps inside ONE XLA-compiled TensorFlow
function: an outer while loop over epochs and an inner one over minibatches, each step calling the
model, `model.compute_loss` and `model.optimizer.apply`, exactly what Keras's own `train_step` does.
Per-epoch shuffles come from the run's own numpy Generator and are passed in, so both paths see the
same order. The function runs in chunks of epochs: between chunks the callbacks replay what happened,
progress is reported and a stop request honoured. Compiled loops are kept per architecture and
reused: a new seed or learning rate is an assignment to variables, not a new compilation.

The reference path is plain `model.fit` with the same callbacks, fed the same shuffles through
tf.data; a test checks that both give the same weights and losses.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import keras
import tensorflow as tf
from core import readout
from core.callbacks import (
    HistoryRecorder,
    LabCallback,
    LiveProbe,
    PredictionRecorder,
    SnapshotProbe,
    StopFlag,
    StopOnFlag,
    WeightRecorder,
)
from core.data import FINE_GRID, REPLAY_STRIDE, Dataset, make_dataset
from core.models import build_model, count_params, forward, initial_weights, weight_names
from core.specs import ModelSpec, RunSpec, TrainSpec

Progress = Callable[[int, dict], None]


class _NoRetracingNotes(logging.Filter):
    """Each compiled loop is traced once by design; TensorFlow's retracing advice is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetracingNotes())
CHUNK_CAPACITY = 64  # epochs one call of the compiled loop can hold
CHUNK_SECONDS = 0.15  # aim of one chunk's length: progress several times a second
RECORD_BUDGET = 2_000_000  # recorded weights and replay points per run before record_every is raised
PROGRESS_INTERVAL = 0.1  # seconds between progress calls on the model.fit path


@dataclass
class RunResult:
    """Everything a run produced, as plain data: picklable, cacheable, exportable as JSON."""

    spec: RunSpec
    path: str
    epochs_run: int
    steps: int
    wall_s: float
    history: dict[str, np.ndarray]  # "epoch" (1-based), "loss", and each metric
    weight_names: list[str]
    weight_epochs: np.ndarray  # epochs at which weights were recorded; 0 is the start
    weight_history: list[np.ndarray]  # per weight array: (recorded epochs, *shape)
    final_weights: list[np.ndarray]
    replay_x: np.ndarray  # replay grid, original units
    replay_epochs: np.ndarray
    replay_predictions: np.ndarray  # (recorded epochs, replay points), original units
    grid_x: np.ndarray  # fine grid, original units
    grid_target: np.ndarray  # clean target on the fine grid
    grid_prediction: np.ndarray  # final fit on the fine grid
    x: np.ndarray  # training data, original units, shape (n,)
    y: np.ndarray
    prediction: np.ndarray  # final fit at the training x, original units
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    test_prediction: np.ndarray | None
    scalers: dict[str, dict]
    diverged_at: int | None  # first epoch (1-based) whose loss was NaN or infinite
    diverged_step: int | None  # first optimizer step (1-based, counted from the start) whose loss was not finite
    stopped: bool  # a stop request or the wall-clock budget ended the run early
    compile_s: float = 0.0  # time of the first chunk (compilation included) on the fast path
    final: dict[str, float] = field(default_factory=dict)
    readout: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None  # when stopped: "request" (a Stop click) or "budget" (the wall-clock budget)

    @property
    def task(self) -> str:
        return self.spec.data.task

    @property
    def metric(self) -> str:
        """The name of the engine's metric in `history` and `final`."""
        return metric_name(self.task)

    def to_json_dict(self, full: bool = False) -> dict[str, Any]:
        """The run as JSON-ready data; `full` adds recorded weights and replayed predictions."""
        out = {
            "scenario": self.spec.scenario,
            "preset": self.spec.preset,
            "seed": self.spec.seed,
            "config": self.spec.to_dict(),
            "path": self.path,
            "epochs": self.epochs_run,
            "steps": self.steps,
            "wall_s": round(self.wall_s, 4),
            "history": {k: _floats(v) for k, v in self.history.items() if k != "epoch"},
            "final": self.final,
            "readout": _jsonable(self.readout),
            "diverged_at": self.diverged_at,
            "diverged_step": self.diverged_step,
            "stopped": self.stopped,
            "stop_reason": self.stop_reason,
            "weights": {name: _jsonable(w) for name, w in zip(self.weight_names, self.final_weights)},
            "scalers": self.scalers,
        }
        if full:
            out["weight_epochs"] = self.weight_epochs.tolist()
            out["weight_history"] = {n: _jsonable(w) for n, w in zip(self.weight_names, self.weight_history)}
            out["replay"] = {"x": _floats(self.replay_x), "epochs": self.replay_epochs.tolist(), "predictions": _jsonable(self.replay_predictions)}
            if self.x_test is not None:
                out["test"] = {"x": _floats(self.x_test), "y": _floats(self.y_test), "prediction": _floats(self.test_prediction)}
        return out


def _floats(values) -> list:
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(values, dtype=float).ravel()]


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# ---------------------------------------------------------------------------------------------
# Pieces shared by both paths


def make_optimizer(spec: TrainSpec) -> keras.optimizers.Optimizer:
    lr = spec.learning_rate
    clip = {"clipnorm": spec.clipnorm, "global_clipnorm": spec.global_clipnorm}
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=spec.momentum, **clip)
    if spec.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=spec.momentum, **clip)
    if spec.optimizer == "adagrad":
        return keras.optimizers.Adagrad(lr, **clip)
    return keras.optimizers.Adam(lr, **clip)


def make_loss(spec: TrainSpec) -> keras.losses.Loss:
    if spec.loss == "sse":
        # The noisy-sine post sums squared errors over all samples instead of averaging them.
        return keras.losses.MeanSquaredError(reduction="sum", name="sum_squared_error")
    return {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
    }[spec.loss]()


def metric_name(task: str) -> str:
    return "accuracy" if task == "classification" else "max_abs_error"


def shuffle_orders(spec: RunSpec, n: int):
    """Yield each epoch's sample order, drawn from the run's own Generator (one per run)."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0x5EED]))
    while True:
        yield rng.permutation(n).astype(np.int32) if spec.train.shuffle else np.arange(n, dtype=np.int32)


def resolve_record_every(spec: RunSpec) -> int:
    if spec.record_every:
        return spec.record_every
    replay_points = len(range(0, FINE_GRID, REPLAY_STRIDE))
    values = (count_params(spec.model) + replay_points) * spec.train.epochs
    return max(1, math.ceil(values / RECORD_BUDGET))


class _Context:
    """The data of one run in the forms both paths need."""

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.data: Dataset = make_dataset(spec.data)
        self.x = self.data.x_train
        self.y = self.data.y_train
        self.n = self.data.n
        self.batch = spec.train.resolved_batch_size(self.n)
        self.steps_per_epoch = math.ceil(self.n / self.batch)
        self.grid = self.data.grid()
        self.grid_scaled = self.data.x_scaler.transform(self.grid).astype(np.float32).reshape(-1, 1)
        self.grid_target = self.data.target(self.grid)
        self.replay_x = self.grid[::REPLAY_STRIDE]
        self.replay_scaled = self.grid_scaled[::REPLAY_STRIDE]
        self.metric = metric_name(spec.data.task)
        self.y_inverse = self.data.y_scaler.inverse

    def metric_value(self, grid_out_scaled: np.ndarray, train_out: np.ndarray | None) -> float:
        """The engine's own metric from model outputs (used on the model.fit path)."""
        if self.metric == "accuracy":
            return float(np.mean((np.asarray(train_out).ravel() > 0.5) == (self.y.ravel() > 0.5)))
        pred = self.y_inverse(np.asarray(grid_out_scaled, dtype=np.float32).ravel())
        return float(np.max(np.abs(pred - self.grid_target)))


# ---------------------------------------------------------------------------------------------
# The fast path


class _CompiledLoop:
    """A Keras model, its optimizer and the XLA-compiled chunk function, for one architecture."""

    def __init__(self, model_spec: ModelSpec, train_spec: TrainSpec, n: int, batch: int, task: str):
        self.n, self.batch, self.task = n, batch, task
        self.mean_loss = train_spec.loss != "sse"  # sse sums over the batch, the others average
        self.model = build_model(model_spec, seed=0)
        self.model.compile(optimizer=make_optimizer(train_spec), loss=make_loss(train_spec))
        self.optimizer = self.model.optimizer
        self.optimizer.build(self.model.trainable_variables)
        # Building the compiled loss eagerly keeps any lazily created state out of the loop.
        probe = np.zeros((1, 1), np.float32)
        self.model.compute_loss(x=probe, y=probe, y_pred=self.model(probe), training=True)
        self._optimizer_start = [np.array(v.numpy()) for v in self.optimizer.variables]
        # autograph=False: the loops are explicit tf.while_loops, and converting the source costs ~1 s.
        self._chunk = tf.function(self._chunk_fn, jit_compile=True, reduce_retracing=False, autograph=False)
        self.compiled = False

    def reset(self, weights: list[np.ndarray], learning_rate: float) -> None:
        for variable, value in zip(self.model.weights, weights):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, self._optimizer_start):
            variable.assign(value)
        self.optimizer.learning_rate.assign(learning_rate)

    def run_chunk(self, x, y, perms, n_epochs, grid_x, grid_target, y_shift, y_scale):
        out = self._chunk(x, y, perms, np.int32(n_epochs), grid_x, grid_target, np.float32(y_shift), np.float32(y_scale))
        self.compiled = True
        return tf.nest.map_structure(lambda t: t.numpy(), out)

    def _chunk_fn(self, x, y, perms, n_epochs, grid_x, grid_target, y_shift, y_scale):
        model, optimizer = self.model, self.optimizer
        variables = model.trainable_variables
        n, batch = self.n, self.batch
        steps = -(-n // batch)
        rest = n - (steps - 1) * batch  # samples in the last step
        padding = steps * batch - n
        capacity = perms.shape[0]
        # A short last batch would need a second compiled copy of the whole step (slower to
        # compile), so it is padded to full size with repeated samples that carry weight 0; the
        # real ones carry batch/rest, so a mean loss is still the mean over the real samples.
        weights = np.ones(steps * batch, np.float32)
        if padding:
            weights[n - rest : n] = batch / rest if self.mean_loss else 1.0
            weights[n:] = 0.0

        def train_step(xb, yb, wb):
            with tf.GradientTape() as tape:
                y_pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, sample_weight=wb, training=True)
            optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        def epoch(e, last_loss, _bad, losses, metrics, predictions, *snapshots):
            order = perms[e]
            if padding:
                order = tf.concat([order, order[:padding]], axis=0)
            xs = tf.gather(x, order)
            ys = tf.gather(y, order)

            def step(i, total):
                xb = tf.slice(xs, [i * batch, 0], [batch, 1])
                yb = tf.slice(ys, [i * batch, 0], [batch, 1])
                wb = tf.slice(weights, [i * batch], [batch]) if padding else None
                # Keras's loss tracker: a mean over batches weighted by their real sizes.
                size = tf.where(i == steps - 1, float(rest), float(batch))
                return i + 1, total + train_step(xb, yb, wb) * size

            # The epoch ends early at a non-finite loss: the count of steps run then says where it blew up.
            ran, total = tf.while_loop(lambda i, t: tf.logical_and(i < steps, tf.math.is_finite(t)), step,
                                       (tf.constant(0), tf.constant(0.0)))
            bad = tf.where(tf.math.is_finite(total), -1, ran - 1)  # the first non-finite step of the epoch, or -1
            loss = total / n
            grid_out = model(grid_x, training=False)[:, 0] * y_scale + y_shift
            if self.task == "classification":
                hits = tf.cast(model(x, training=False) > 0.5, tf.float32) == tf.cast(y > 0.5, tf.float32)
                metric = tf.reduce_mean(tf.cast(hits, tf.float32))
            else:
                metric = tf.reduce_max(tf.abs(grid_out - grid_target))
            snapshots = [ta.write(e, v.value) for ta, v in zip(snapshots, model.weights)]
            return (e + 1, loss, bad, losses.write(e, loss), metrics.write(e, metric),
                    predictions.write(e, grid_out[::REPLAY_STRIDE]), *snapshots)

        def keep_going(e, last_loss, *_):
            return tf.logical_and(e < n_epochs, tf.math.is_finite(last_loss))

        arrays = [tf.TensorArray(tf.float32, size=capacity) for _ in range(3)]
        snapshots = [tf.TensorArray(tf.float32, size=capacity, element_shape=v.shape) for v in model.weights]
        done, _, bad, losses, metrics, predictions, *snapshots = tf.while_loop(
            keep_going, epoch, (tf.constant(0), tf.constant(0.0), tf.constant(-1), *arrays, *snapshots)
        )
        return done, bad, losses.stack(), metrics.stack(), predictions.stack(), [s.stack() for s in snapshots]


class _LoopPool:
    """Compiled loops by architecture, reused across runs; each loop serves one run at a time."""

    def __init__(self, max_loops: int = 24):
        self._free: OrderedDict[tuple, list[_CompiledLoop]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_loops = max_loops

    @staticmethod
    def key(spec: RunSpec, n: int, batch: int) -> tuple:
        m, t = spec.model, spec.train
        return (m.units, m.activation, m.output_activation, m.use_bias, t.optimizer, t.momentum, t.clipnorm, t.global_clipnorm,
                t.loss, n, batch, spec.data.task)

    def acquire(self, spec: RunSpec, n: int, batch: int) -> _CompiledLoop:
        key = self.key(spec, n, batch)
        with self._lock:
            free = self._free.get(key)
            if free:
                self._free.move_to_end(key)
                return free.pop()
        return _CompiledLoop(spec.model, spec.train, n, batch, spec.data.task)

    def release(self, spec: RunSpec, loop: _CompiledLoop) -> None:
        key = self.key(spec, loop.n, loop.batch)
        with self._lock:
            self._free.setdefault(key, []).append(loop)
            self._free.move_to_end(key)
            while sum(len(v) for v in self._free.values()) > self.max_loops:
                oldest = next(iter(self._free))
                self._free[oldest].pop(0)
                if not self._free[oldest]:
                    del self._free[oldest]


_POOL = _LoopPool()


def _train_fast(ctx: _Context, callbacks: list, progress: Progress | None, stop: StopFlag | None) -> dict:
    spec = ctx.spec
    epochs = spec.train.epochs
    loop = _POOL.acquire(spec, ctx.n, ctx.batch)
    try:
        start_weights = initial_weights(spec.model, spec.seed)
        loop.reset(start_weights, spec.train.learning_rate)
        probe = SnapshotProbe()
        probe.set(start_weights, ctx.y_inverse(forward(spec.model, start_weights, ctx.replay_scaled)))
        callback_list = _callback_list(callbacks, probe, loop.model, epochs, ctx.steps_per_epoch)
        callback_list.on_train_begin()
        orders = shuffle_orders(spec, ctx.n)
        names = weight_names(spec.model)
        done, diverged_at, diverged_step, compile_s, last_logs = 0, None, None, 0.0, {}
        last_weights = start_weights
        per_epoch = None
        while done < epochs and diverged_at is None:
            if stop is not None and stop.is_set():
                break
            want = 1 if per_epoch is None else max(1, min(CHUNK_CAPACITY, int(CHUNK_SECONDS / max(per_epoch, 1e-9))))
            count = min(want, epochs - done)
            perms = np.zeros((CHUNK_CAPACITY, ctx.n), np.int32)
            for i in range(count):
                perms[i] = next(orders)
            was_compiled = loop.compiled
            began = time.perf_counter()
            ran, bad_step, losses, metrics, predictions, snapshots = loop.run_chunk(
                ctx.x, ctx.y, perms, count, ctx.grid_scaled, ctx.grid_target.astype(np.float32),
                ctx.data.y_scaler.shift, ctx.data.y_scaler.scale,
            )
            spent = time.perf_counter() - began
            if was_compiled:
                per_epoch = spent / max(int(ran), 1)
            else:
                compile_s = spent  # includes compilation: says nothing about the speed of an epoch
            for i in range(int(ran)):
                weights = [snapshots[j][i] for j in range(len(names))]
                probe.set(weights, predictions[i])  # already in original units
                logs = {"loss": float(losses[i]), ctx.metric: float(metrics[i])}
                callback_list.on_epoch_begin(done + i)
                callback_list.on_epoch_end(done + i, logs)
                last_logs = logs
                if not math.isfinite(logs["loss"]):
                    diverged_at = done + i + 1
                    # The compiled loop stops after the diverging epoch, so its bad step is this epoch's.
                    diverged_step = (diverged_at - 1) * ctx.steps_per_epoch + (int(bad_step) + 1 if int(bad_step) >= 0 else ctx.steps_per_epoch)
                    break
                last_weights = weights
            done += int(ran)
            if progress is not None:
                progress(done, dict(last_logs))
        callback_list.on_train_end()
        return {"epochs_run": done, "diverged_at": diverged_at, "diverged_step": diverged_step, "final_weights": last_weights,
                "compile_s": compile_s, "stopped": done < epochs and diverged_at is None}
    finally:
        _POOL.release(spec, loop)


def _callback_list(callbacks: list, probe, model, epochs: int, steps: int) -> keras.callbacks.CallbackList:
    for callback in callbacks:
        if isinstance(callback, LabCallback):
            callback.probe = probe
    return keras.callbacks.CallbackList(callbacks, model=model, epochs=epochs, steps=steps, verbose=0)


# ---------------------------------------------------------------------------------------------
# The reference path: plain model.fit


class _FitMonitor(keras.callbacks.Callback):
    """On the model.fit path: adds the engine's metric to the logs, stops on NaN/inf loss."""

    def __init__(self, ctx: _Context, progress: Progress | None):
        super().__init__()
        self.ctx, self.progress = ctx, progress
        self.diverged_at = None
        self.diverged_step = None
        self._epoch = 0
        self.last_weights: list[np.ndarray] = []
        self.epochs_run = 0
        self._last_report = 0.0

    def on_train_begin(self, logs=None):
        self.last_weights = [np.array(w) for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        # Keras's running mean of the epoch turns non-finite at the first non-finite step.
        if self.diverged_step is None and logs and "loss" in logs and not math.isfinite(float(logs["loss"])):
            self.diverged_step = self._epoch * self.ctx.steps_per_epoch + batch + 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        ctx = self.ctx
        grid_out = self.model(ctx.grid_scaled, training=False)
        train_out = self.model(ctx.x, training=False) if ctx.metric == "accuracy" else None
        logs[ctx.metric] = ctx.metric_value(grid_out, train_out)
        self.epochs_run = epoch + 1
        if not math.isfinite(float(logs["loss"])):
            self.diverged_at = epoch + 1
            self.model.stop_training = True
        else:
            self.last_weights = [np.array(w) for w in self.model.get_weights()]
        now = time.perf_counter()
        if self.progress is not None and (now - self._last_report >= PROGRESS_INTERVAL or epoch + 1 == ctx.spec.train.epochs or self.model.stop_training):
            self._last_report = now
            self.progress(epoch + 1, {k: float(v) for k, v in logs.items()})


def fit_dataset(ctx: _Context, orders: list[np.ndarray]) -> tf.data.Dataset:
    """The training data in the given per-epoch orders, batched within each epoch, for model.fit."""
    xs = np.stack([ctx.x[order] for order in orders])
    ys = np.stack([ctx.y[order] for order in orders])
    return tf.data.Dataset.from_tensor_slices((xs, ys)).flat_map(
        lambda a, b: tf.data.Dataset.from_tensor_slices((a, b)).batch(ctx.batch)
    )


def _train_fit(ctx: _Context, callbacks: list, progress: Progress | None, stop: StopFlag | None) -> dict:
    spec = ctx.spec
    model = build_model(spec.model, spec.seed)
    model.compile(optimizer=make_optimizer(spec.train), loss=make_loss(spec.train))
    orders = shuffle_orders(spec, ctx.n)
    dataset = fit_dataset(ctx, [next(orders) for _ in range(spec.train.epochs)])
    probe = LiveProbe(model, ctx.replay_scaled, ctx.y_inverse)
    for callback in callbacks:
        if isinstance(callback, LabCallback):
            callback.probe = probe
    monitor = _FitMonitor(ctx, progress)
    extra = [StopOnFlag(stop)] if stop is not None else []
    model.fit(dataset, epochs=spec.train.epochs, steps_per_epoch=ctx.steps_per_epoch, shuffle=False,
              verbose=0, callbacks=[monitor, *callbacks, *extra])
    return {"epochs_run": monitor.epochs_run, "diverged_at": monitor.diverged_at, "diverged_step": monitor.diverged_step,
            "final_weights": monitor.last_weights, "compile_s": 0.0,
            "stopped": monitor.epochs_run < spec.train.epochs and monitor.diverged_at is None}


# ---------------------------------------------------------------------------------------------
# The entry point


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
        raise ValueError(f"path: {path!r} is not allowed; allowed: fast, fit")
    ctx = _Context(spec)
    every = resolve_record_every(spec)
    history, weights, predictions = HistoryRecorder(), WeightRecorder(every), PredictionRecorder(every)
    own = [history, weights, predictions]
    began = time.perf_counter()
    runner = _train_fast if path == "fast" else _train_fit
    outcome = runner(ctx, [*own, *(callbacks or [])], progress, stop)
    wall = time.perf_counter() - began
    with np.errstate(all="ignore"):  # a diverging run's last finite weights may overflow float32
        result = _assemble(ctx, path, outcome, history, weights, predictions, wall)
    if result.stopped and stop is not None:
        result.stop_reason = stop.reason
    return result


def _assemble(ctx, path, outcome, history, weights, predictions, wall) -> RunResult:
    spec, data = ctx.spec, ctx.data
    diverged_at = outcome["diverged_at"]
    keep = (diverged_at - 1) if diverged_at else outcome["epochs_run"]
    hist = {"epoch": np.arange(1, keep + 1)}
    for name, values in history.history.items():
        hist[name] = np.asarray(values[:keep], dtype=np.float64)
    if "loss" not in hist:
        hist["loss"] = np.empty(0)
        hist[ctx.metric] = np.empty(0)
    finite_w = [i for i, e in enumerate(weights.epochs) if e <= keep]
    finite_p = [i for i, e in enumerate(predictions.epochs) if e <= keep]
    final_weights = [np.asarray(w) for w in outcome["final_weights"]]
    n_weights = len(final_weights)
    grid_prediction = ctx.y_inverse(forward(spec.model, final_weights, ctx.grid_scaled))
    prediction = ctx.y_inverse(forward(spec.model, final_weights, ctx.x))
    test_prediction = None
    if data.x_test is not None:
        x_test_scaled = data.x_scaler.transform(data.x_test).astype(np.float32)
        test_prediction = ctx.y_inverse(forward(spec.model, final_weights, x_test_scaled))
    final: dict[str, float] = {}
    if keep:
        final["loss"] = float(hist["loss"][-1])
        final[ctx.metric] = float(hist[ctx.metric][-1])
    result = RunResult(
        spec=spec,
        path=path,
        epochs_run=outcome["epochs_run"],
        steps=outcome["epochs_run"] * ctx.steps_per_epoch,
        wall_s=wall,
        history=hist,
        weight_names=weight_names(spec.model),
        weight_epochs=np.asarray([weights.epochs[i] for i in finite_w], dtype=np.int64),
        weight_history=[np.stack([weights.values[i][j] for i in finite_w]) for j in range(n_weights)],
        final_weights=final_weights,
        replay_x=ctx.replay_x,
        replay_epochs=np.asarray([predictions.epochs[i] for i in finite_p], dtype=np.int64),
        replay_predictions=np.stack([predictions.values[i] for i in finite_p]).astype(np.float32),  # half the memory of a cached run
        grid_x=ctx.grid,
        grid_target=ctx.grid_target,
        grid_prediction=grid_prediction,
        x=data.x.ravel(),
        y=data.y.ravel(),
        prediction=prediction,
        x_test=None if data.x_test is None else data.x_test.ravel(),
        y_test=None if data.y_test is None else data.y_test.ravel(),
        test_prediction=test_prediction,
        scalers={"x": data.x_scaler.to_dict(), "y": data.y_scaler.to_dict()},
        diverged_at=diverged_at,
        diverged_step=outcome.get("diverged_step") if diverged_at else None,
        stopped=outcome["stopped"],
        compile_s=outcome["compile_s"],
        final=final,
    )
    result.readout = readout.summarize(result, data)
    return result
