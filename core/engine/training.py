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

import logging
import math
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from core.data.datasets import FINE_GRID, PLANE_GRID, PLANE_STRIDE, REPLAY_STRIDE, Dataset, make_dataset
from core.engine.callbacks import (
    HistoryRecorder,
    LabCallback,
    LiveProbe,
    PredictionRecorder,
    SnapshotProbe,
    StopOnFlag,
    WeightRecorder,
)
from core.engine.ensemble import FlatEnsemble, member_loss
from core.engine.models import build_model, initial_weights
from core.outcomes import readout
from core.outcomes.restarts import check as check_restarts
from core.outcomes.restarts import seeds_for
from core.outcomes.results import MemberResult, Readout, RestartsResult, RunResult, metric_name
from core.runner.stopping import StopFlag
from core.settings.network import count_params, forward, loss_value, predicted_class, weight_names
from core.settings.recipes import make_loss, make_optimizer, shuffle_generator, shuffle_orders
from core.settings.specs import RunSpec, SpecError

Progress = Callable[[int, dict], None]


def r_squared(prediction: np.ndarray, y: np.ndarray) -> float:
    """1 - SSE / SST of a prediction of y: 1 is a perfect fit, 0 no better than the mean."""
    sst = float(np.sum((y - np.mean(y)) ** 2))
    return 1.0 - float(np.sum((prediction - y) ** 2)) / max(sst, 1e-30)


class _NoRetracingNotes(logging.Filter):
    """Each compiled loop is traced once by design; TensorFlow's retracing advice is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetracingNotes())
# A one-unit softmax is a real mistake the lab diagnoses (doctor: output_range); Keras's warning at every call is noise.
warnings.filterwarnings("ignore", message="You are using a softmax over axis")
CHUNK_CAPACITY = 64  # epochs one call of the compiled loop can hold
ORDER_BUDGET = 1 << 22  # shuffled indices (int32) per call at most: fewer epochs per call for many members x samples
CHUNK_SECONDS = 0.15  # aim of one chunk's length: progress several times a second
RECORD_BUDGET = 2_000_000  # recorded weights and replay points per run before record_every is raised
PROGRESS_INTERVAL = 0.1  # seconds between progress calls on the model.fit path


class _Outcome(NamedTuple):
    """What a training path hands to the assembly of a RunResult."""

    epochs_run: int
    diverged_at: int | None
    diverged_step: int | None
    final_weights: list[np.ndarray]
    compile_s: float
    stopped: bool


# ---------------------------------------------------------------------------------------------
# Pieces shared by both paths


def resolve_record_every(spec: RunSpec) -> int:
    if spec.record_every:
        return spec.record_every
    replay_points = len(range(0, FINE_GRID, REPLAY_STRIDE)) if spec.data.n_inputs == 1 else len(range(0, PLANE_GRID, PLANE_STRIDE)) ** 2
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
        self.steps_per_epoch = spec.train.steps_per_epoch(self.n)
        self.grid = self.data.grid()
        self.grid_scaled = self.data.encode(self.grid)
        self.grid_target = self.data.target(self.grid)
        self.replay_index = self.data.replay_index()
        self.replay_x = self.grid[self.replay_index]
        self.replay_scaled = self.grid_scaled[self.replay_index]
        self.metric = metric_name(spec.data.resolved_task, spec.data.function)
        self.classes = spec.model.output_units  # > 1: one output per class, the prediction is the likeliest class

    def y_inverse(self, out: np.ndarray) -> np.ndarray:
        """Network outputs as the data's y: the target's own units, or (one output per class) the likeliest class."""
        out = np.asarray(out)
        if self.classes > 1:
            return predicted_class(out.reshape(-1, self.classes))
        return self.data.y_scaler.inverse(out.ravel())

    def metric_value(self, grid_out_scaled: np.ndarray, train_out: np.ndarray | None) -> float:
        """The engine's own metric from model outputs (used on the model.fit path)."""
        if self.metric == "accuracy" and self.classes > 1:
            return float(np.mean(self.y_inverse(train_out) == self.y.ravel()))
        if self.metric == "accuracy":
            return float(np.mean((np.asarray(train_out).ravel() > 0.5) == (self.y.ravel() > 0.5)))
        if self.metric == "r2":
            return r_squared(np.asarray(train_out, np.float64).ravel(), self.y.ravel())
        pred = self.y_inverse(np.asarray(grid_out_scaled, dtype=np.float32))
        return float(np.max(np.abs(pred - self.grid_target)))


# ---------------------------------------------------------------------------------------------
# The compiled loop, for M >= 1 members


class _SingleNet:
    """One Keras model (M = 1) whose step is exactly Keras's own train_step."""

    members = 1

    def __init__(self, spec: RunSpec):
        self.model = build_model(spec.model, seed=0)
        self.model.compile(optimizer=make_optimizer(spec.train), loss=make_loss(spec.train))
        self.optimizer = self.model.optimizer
        self.optimizer.build(self.model.trainable_variables)
        # Building the compiled loss eagerly keeps any lazily created state out of the loop.
        probe = np.zeros((1, spec.model.inputs), np.float32)
        self.model.compute_loss(x=probe, y=probe[:, :1], y_pred=self.model(probe), training=True)
        self.weights = self.model.weights

    def assign(self, starts: list[list[np.ndarray]]) -> None:
        for variable, value in zip(self.weights, starts[0]):
            variable.assign(value)

    def member_weights(self) -> list[list[np.ndarray]]:
        return [[v.numpy() for v in self.weights]]

    def step(self, xb, yb, wb):
        """One optimizer step on a (1, batch, 1) batch; returns the loss, shape (1,)."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(xb[0], training=True)
            loss = self.model.compute_loss(x=xb[0], y=yb[0], y_pred=y_pred, sample_weight=wb, training=True)
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return tf.reshape(loss, [1])

    def predict(self, x):
        """(1, points, 1) -> (1, points, 1)."""
        return self.model(x[0], training=False)[None]


class _StackedNet:
    """M members whose weights are ONE (members, params) variable; the step minimises the sum of the
    members' own mean losses, and the optimizer (a normal Keras one) updates that one variable."""

    def __init__(self, spec: RunSpec, members: int, batch: int):
        self.members = members
        self.net = FlatEnsemble(spec.model, members)
        self.theta = tf.Variable(tf.zeros([members, self.net.size]), name="theta")
        self.weights = [self.theta]
        self.optimizer = make_optimizer(spec.train)
        self.optimizer.build(self.weights)
        self._per_sample = member_loss(spec.train.loss)
        self._divisor = float(batch) if spec.train.loss != "sse" else 1.0  # sse sums over the batch

    def assign(self, starts: list[list[np.ndarray]]) -> None:
        self.theta.assign(self.net.pack(starts))

    def member_weights(self) -> list[list[np.ndarray]]:
        return self.net.unpack(self.theta.numpy())

    def step(self, xb, yb, wb):
        with tf.GradientTape() as tape:
            losses = self._per_sample(yb, self.net(self.theta, xb))  # (members, batch)
            if wb is not None:
                losses = losses * wb[None, :]
            member = tf.reduce_sum(losses, axis=1) / self._divisor
            total = tf.reduce_sum(member)
        self.optimizer.apply(tape.gradient(total, self.weights), self.weights)
        return member

    def predict(self, x):
        return self.net(self.theta, x)


class _Chunk(NamedTuple):
    """What one call of the compiled loop returns, as numpy."""

    ran: int  # epochs run (the last may be the diverging one)
    bad_step: int  # single run: the first non-finite step of the last epoch, or -1
    losses: np.ndarray  # (capacity, members)
    metrics: np.ndarray  # (capacity, members)
    predictions: np.ndarray | None  # (capacity, members, replay points), original units
    snapshots: list[np.ndarray] | None  # per weight: (capacity, 1, *shape)


class CompiledLoop:
    """A network of M >= 1 members, its optimizer and the XLA-compiled chunk of epochs, for one architecture.

    Args:
        spec: the run (its architecture, optimizer and loss; data sizes come with n and batch).
        members: 1 for a single run (a Keras Sequential), more for restarts (a FlatEnsemble).
        record: also return every epoch's weights and replayed fit (a single run's charts; members 1 only).
    """

    def __init__(self, spec: RunSpec, members: int, n: int, batch: int, record: bool):
        if record and members != 1:
            raise ValueError("record: only a single run (members 1) records every epoch's weights")
        self.n, self.batch, self.members, self.record = n, batch, members, record
        self.steps = spec.train.steps_per_epoch(n)
        self.task = spec.data.resolved_task
        self.metric = metric_name(self.task, spec.data.function)
        self.mean_loss = spec.train.loss != "sse"
        self.decay = spec.train.decay
        self.classes = spec.model.output_units
        self.net = _SingleNet(spec) if members == 1 else _StackedNet(spec, members, batch)
        self.optimizer = self.net.optimizer
        self.capacity = max(1, min(CHUNK_CAPACITY, ORDER_BUDGET // max(1, members * n)))
        self._optimizer_start = [np.array(v.numpy()) for v in self.optimizer.variables]
        # autograph=False: the loops are explicit tf.while_loops, and converting the source costs ~1 s.
        self._chunk = tf.function(self._chunk_fn, jit_compile=True, reduce_retracing=False, autograph=False)
        self.compiled = False

    def reset(self, starts: list[list[np.ndarray]], learning_rate: float) -> None:
        """Every member's starting weights (one list per member) and a fresh optimizer state."""
        self.net.assign(starts)
        for variable, value in zip(self.optimizer.variables, self._optimizer_start):
            variable.assign(value)
        if not self.decay:  # a decaying rate is a schedule, fixed in the loop (its key holds the learning rate)
            self.optimizer.learning_rate.assign(learning_rate)

    def final_weights(self) -> list[list[np.ndarray]]:
        """Each member's current weights, in get_weights() order."""
        return self.net.member_weights()

    def run(self, ctx: _Context, orders: np.ndarray, n_epochs: int) -> _Chunk:
        # Only a regression's max |fit - target| needs the whole grid each epoch; otherwise the replay points do.
        if self.metric == "max_abs_error":
            grid, index = ctx.grid_scaled, ctx.replay_index
        else:
            grid, index = ctx.replay_scaled, np.arange(len(ctx.replay_index))
        out = self._chunk(ctx.x, ctx.y, orders, np.int32(n_epochs), grid, index.astype(np.int32),
                          np.nan_to_num(ctx.grid_target).astype(np.float32) if self.metric == "max_abs_error" else np.zeros(1, np.float32),
                          np.float32(ctx.data.y_scaler.shift), np.float32(ctx.data.y_scaler.scale))
        self.compiled = True
        ran, bad, losses, metrics, predictions, snapshots = tf.nest.map_structure(lambda t: t.numpy(), out)
        return _Chunk(int(ran), int(bad), losses, metrics, predictions if self.record else None,
                      snapshots if self.record else None)

    def _chunk_fn(self, x, y, perms, n_epochs, grid_x, replay_index, grid_target, y_shift, y_scale):
        net, members = self.net, self.members
        width = x.shape[1]  # the first layer's inputs
        n, batch, steps = self.n, self.batch, self.steps
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
        grid = tf.broadcast_to(grid_x[None], [members, *grid_x.shape])
        inputs = tf.broadcast_to(x[None], [members, n, width])

        def epoch(e, last_loss, _bad, losses, metrics, *records):
            order = perms[e]  # (members, n)
            if padding:
                order = tf.concat([order, order[:, :padding]], axis=1)
            xs, ys = tf.gather(x, order), tf.gather(y, order)  # (members, n + padding, 1)

            def step(i, total):
                xb = tf.slice(xs, [0, i * batch, 0], [members, batch, width])
                yb = tf.slice(ys, [0, i * batch, 0], [members, batch, 1])
                wb = tf.slice(weights, [i * batch], [batch]) if padding else None
                # Keras's loss tracker: a mean over batches weighted by their real sizes.
                size = tf.where(i == steps - 1, float(rest), float(batch))
                return i + 1, total + net.step(xb, yb, wb) * size

            # The epoch ends early once no member's loss is finite: for a single run, the count of
            # steps run then says where it blew up.
            ran, total = tf.while_loop(lambda i, t: tf.logical_and(i < steps, tf.reduce_any(tf.math.is_finite(t))), step,
                                       (tf.constant(0), tf.zeros([members])))
            bad = tf.where(tf.reduce_any(tf.math.is_finite(total)), -1, ran - 1)
            loss = total / n
            if self.classes > 1:  # the likeliest class at each grid point
                fit = tf.cast(tf.argmax(net.predict(grid), axis=-1), tf.float32)
            else:
                fit = net.predict(grid)[:, :, 0] * y_scale + y_shift  # (members, grid points), original units
            if self.classes > 1:
                guess = tf.cast(tf.argmax(net.predict(inputs), axis=-1), tf.float32)  # (members, n)
                metric = tf.reduce_mean(tf.cast(guess == y[None, :, 0], tf.float32), axis=1)
            elif self.task == "classification":
                hits = tf.cast(net.predict(inputs) > 0.5, tf.float32) == tf.cast(y[None] > 0.5, tf.float32)
                metric = tf.reduce_mean(tf.cast(hits, tf.float32), axis=[1, 2])
            elif self.metric == "r2":  # R² is the same in scaled units: the scaling is affine
                residual = tf.reduce_sum(tf.square(net.predict(inputs) - y[None]), axis=[1, 2])
                metric = 1.0 - residual / tf.maximum(tf.reduce_sum(tf.square(y - tf.reduce_mean(y))), 1e-30)
            else:
                metric = tf.reduce_max(tf.abs(fit - grid_target[None, :]), axis=1)
            if self.record:  # the replayed fit, then every weight
                replay, *snapshots = records
                records = [replay.write(e, tf.gather(fit, replay_index, axis=1)),
                           *(ta.write(e, v.value[None]) for ta, v in zip(snapshots, net.weights))]
            return (e + 1, loss, bad, losses.write(e, loss), metrics.write(e, metric), *records)

        def keep_going(e, last_loss, *_):
            return tf.logical_and(e < n_epochs, tf.reduce_any(tf.math.is_finite(last_loss)))

        arrays = [tf.TensorArray(tf.float32, size=capacity, element_shape=[members]) for _ in range(2)]
        records = []
        if self.record:
            points = replay_index.shape[0]
            records = [tf.TensorArray(tf.float32, size=capacity, element_shape=[members, points]),
                       *(tf.TensorArray(tf.float32, size=capacity, element_shape=[1, *v.shape]) for v in net.weights)]
        done, _, bad, losses, metrics, *records = tf.while_loop(
            keep_going, epoch, (tf.constant(0), tf.zeros([members]), tf.constant(-1), *arrays, *records)
        )
        records = [r.stack() for r in records]
        predictions = records[0] if records else tf.zeros([0])
        return done, bad, losses.stack(), metrics.stack(), predictions, records[1:]


class _LoopPool:
    """Compiled loops by architecture and member count, reused across runs; each serves one run at a time."""

    def __init__(self, max_loops: int = 24):
        self._free: OrderedDict[tuple, list[CompiledLoop]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_loops = max_loops

    @staticmethod
    def key(spec: RunSpec, members: int, n: int, batch: int, record: bool) -> tuple:
        m, t = spec.model, spec.train
        return (m.inputs, m.units, m.activation, m.output_activation, m.output_units, m.use_bias, t.optimizer, t.momentum, t.nesterov,
                (t.decay, t.learning_rate) if t.decay else None, t.clipnorm, t.global_clipnorm,
                t.loss, n, batch, spec.data.resolved_task, spec.data.function == "file", members, record)

    def acquire(self, spec: RunSpec, members: int, n: int, batch: int, record: bool) -> CompiledLoop:
        key = self.key(spec, members, n, batch, record)
        with self._lock:
            free = self._free.get(key)
            if free:
                self._free.move_to_end(key)
                return free.pop()
        return CompiledLoop(spec, members, n, batch, record)

    def release(self, spec: RunSpec, loop: CompiledLoop) -> None:
        key = self.key(spec, loop.members, loop.n, loop.batch, loop.record)
        with self._lock:
            self._free.setdefault(key, []).append(loop)
            self._free.move_to_end(key)
            while sum(len(v) for v in self._free.values()) > self.max_loops:
                oldest = next(iter(self._free))
                self._free[oldest].pop(0)
                if not self._free[oldest]:
                    del self._free[oldest]


_POOL = _LoopPool()


class _Shuffles:
    """Every member's per-epoch sample orders, drawn from its own Generator, prepared one block ahead.

    The next block is drawn in a background thread while the compiled loop runs the current one (the
    loop releases the GIL), so restarts of many seeds do not wait for their permutations.
    """

    def __init__(self, seeds: list[int], n: int, shuffle: bool, epochs: int, capacity: int):
        self.n, self.members, self.capacity, self.shuffle = n, len(seeds), capacity, shuffle
        self._rngs = [shuffle_generator(seed) for seed in seeds]
        self._left = epochs  # epochs not drawn yet
        self._ready: deque[np.ndarray] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1) if shuffle else None
        self._pending = None
        self._fixed = None if shuffle else np.broadcast_to(np.arange(n, dtype=np.int32), (capacity, self.members, n))

    def _draw(self, count: int) -> list[np.ndarray]:
        return [np.stack([rng.permutation(self.n) for rng in self._rngs]).astype(np.int32) for _ in range(count)]

    def _ahead(self) -> None:
        count = min(self.capacity, self._left)
        self._left -= count
        self._pending = self._pool.submit(self._draw, count) if count else None

    def take(self, count: int) -> np.ndarray:
        """A (capacity, members, n) block whose first `count` epochs are the next orders."""
        if not self.shuffle:
            return self._fixed
        if self._pending is None and not self._ready:
            self._ahead()
        block = np.zeros((self.capacity, self.members, self.n), np.int32)
        for i in range(count):
            if not self._ready:
                self._ready.extend(self._pending.result())
                self._ahead()
            block[i] = self._ready.popleft()
        if not self._ready and self._pending is None:
            self._ahead()
        return block

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _drive(loop: CompiledLoop, ctx: _Context, seeds: list[int], epochs: int,
           on_chunk: Callable[[int, _Chunk], bool], logs: Callable[[], dict],
           progress: Progress | None, stop: StopFlag | None) -> tuple[int, float]:
    """Run `epochs` epochs in chunks: size them, feed the shuffles, time them, report, honour Stop.

    `on_chunk(done, chunk)` reads each chunk (epochs `done` + 1 on) and returns True to end the run.
    Returns the epochs run and the time of the first chunk (compilation included).
    """
    shuffles = _Shuffles(seeds, ctx.n, ctx.spec.train.shuffle, epochs, loop.capacity)
    done, per_epoch, compile_s = 0, None, 0.0
    try:
        while done < epochs:
            if stop is not None and stop.is_set():
                break
            want = 1 if per_epoch is None else max(1, int(CHUNK_SECONDS / max(per_epoch, 1e-9)))
            count = min(want, loop.capacity, epochs - done)
            orders = shuffles.take(count)
            was_compiled = loop.compiled
            began = time.perf_counter()
            chunk = loop.run(ctx, orders, count)
            spent = time.perf_counter() - began
            if was_compiled:
                per_epoch = spent / max(chunk.ran, 1)
            else:
                compile_s = spent  # includes compilation: says nothing about the speed of an epoch
            end = on_chunk(done, chunk)
            done += chunk.ran
            if progress is not None:
                progress(done, logs())
            if end or chunk.ran < count:
                break
    finally:
        shuffles.close()
    return done, compile_s


def _train_fast(ctx: _Context, callbacks: list, progress: Progress | None, stop: StopFlag | None) -> _Outcome:
    spec = ctx.spec
    loop = _POOL.acquire(spec, 1, ctx.n, ctx.batch, record=True)
    try:
        start_weights = initial_weights(spec.model, spec.seed)
        loop.reset([start_weights], spec.train.learning_rate)
        probe = SnapshotProbe()
        probe.set(start_weights, ctx.y_inverse(forward(spec.model, start_weights, ctx.replay_scaled)))
        callback_list = _callback_list(callbacks, probe, loop.net.model, spec.train.epochs, ctx.steps_per_epoch)
        callback_list.on_train_begin()
        state = {"logs": {}, "weights": start_weights, "diverged_at": None, "diverged_step": None}

        def replay(done: int, chunk: _Chunk) -> bool:
            for i in range(chunk.ran):
                weights = [snapshot[i][0] for snapshot in chunk.snapshots]
                probe.set(weights, chunk.predictions[i][0])  # already in original units
                logs = {"loss": float(chunk.losses[i][0]), ctx.metric: float(chunk.metrics[i][0])}
                callback_list.on_epoch_begin(done + i)
                callback_list.on_epoch_end(done + i, logs)
                state["logs"] = logs
                if not math.isfinite(logs["loss"]):
                    epoch = done + i + 1
                    # The compiled loop stops after the diverging epoch, so its bad step is this epoch's.
                    in_epoch = chunk.bad_step + 1 if chunk.bad_step >= 0 else ctx.steps_per_epoch
                    state.update(diverged_at=epoch, diverged_step=(epoch - 1) * ctx.steps_per_epoch + in_epoch)
                    return True
                state["weights"] = weights
            return False

        done, compile_s = _drive(loop, ctx, [spec.seed], spec.train.epochs, replay, lambda: dict(state["logs"]), progress, stop)
        callback_list.on_train_end()
        diverged_at = state["diverged_at"]
        return _Outcome(done, diverged_at, state["diverged_step"], state["weights"], compile_s,
                        done < spec.train.epochs and diverged_at is None)
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
        due = now - self._last_report >= PROGRESS_INTERVAL or epoch + 1 == ctx.spec.train.epochs or self.model.stop_training
        if self.progress is not None and due:
            self._last_report = now
            self.progress(epoch + 1, {k: float(v) for k, v in logs.items()})


def fit_dataset(ctx: _Context, orders: list[np.ndarray]) -> tf.data.Dataset:
    """The training data in the given per-epoch orders, batched within each epoch, for model.fit."""
    xs = np.stack([ctx.x[order] for order in orders])
    ys = np.stack([ctx.y[order] for order in orders])
    return tf.data.Dataset.from_tensor_slices((xs, ys)).flat_map(
        lambda a, b: tf.data.Dataset.from_tensor_slices((a, b)).batch(ctx.batch)
    )


def _train_fit(ctx: _Context, callbacks: list, progress: Progress | None, stop: StopFlag | None) -> _Outcome:
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
    return _Outcome(monitor.epochs_run, monitor.diverged_at, monitor.diverged_step, monitor.last_weights, 0.0,
                    monitor.epochs_run < spec.train.epochs and monitor.diverged_at is None)


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
    ctx = _Context(spec)
    every = resolve_record_every(spec)
    history, weights, predictions = HistoryRecorder(), WeightRecorder(every), PredictionRecorder(every)
    began = time.perf_counter()
    runner = _train_fast if path == "fast" else _train_fit
    outcome = runner(ctx, [history, weights, predictions, *(callbacks or [])], progress, stop)
    wall = time.perf_counter() - began
    reason = stop.reason if outcome.stopped and stop is not None else None
    with np.errstate(all="ignore"):  # a diverging run's last finite weights may overflow float32
        return _assemble(ctx, path, outcome, history, weights, predictions, wall, reason)


def _assemble(ctx: _Context, path: str, outcome: _Outcome, history: HistoryRecorder, weights: WeightRecorder,
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
    ctx = _Context(spec)
    loop = _POOL.acquire(spec, members, ctx.n, ctx.batch, record=False)
    try:
        loop.reset([initial_weights(spec.model, s) for s in seeds], spec.train.learning_rate)
        rows: list[tuple[np.ndarray, np.ndarray]] = []

        def keep(done: int, chunk: _Chunk) -> bool:
            rows.append((chunk.losses[:chunk.ran], chunk.metrics[:chunk.ran]))
            return False

        def logs() -> dict:
            last = rows[-1][0][-1] if rows and len(rows[-1][0]) else np.full(members, np.nan)
            finite = np.isfinite(last)
            return {"median_loss": float(np.median(last[finite])) if finite.any() else float("nan")}

        began = time.perf_counter()
        done, compile_s = _drive(loop, ctx, seeds, spec.train.epochs, keep, logs, progress, stop)
        wall = time.perf_counter() - began
        final_weights = loop.final_weights()
    finally:
        _POOL.release(spec, loop)
    losses = np.concatenate([r[0] for r in rows]) if rows else np.empty((0, members))
    metrics = np.concatenate([r[1] for r in rows]) if rows else np.empty((0, members))
    all_diverged = bool(len(losses)) and not np.isfinite(losses[-1]).any()
    stopped = done < spec.train.epochs and not all_diverged
    with np.errstate(all="ignore"):
        outcomes = tuple(_member(ctx, seeds[m], final_weights[m], losses[:, m], metrics[:, m]) for m in range(members))
    return RestartsResult(spec=spec, seeds=tuple(seeds), epochs_run=done, wall_s=wall, losses=losses, metrics=metrics,
                          members=outcomes, stopped=stopped, compile_s=compile_s,
                          stop_reason=stop.reason if stopped and stop is not None else None)


def _member(ctx: _Context, seed: int, weights: list[np.ndarray], losses: np.ndarray, metrics: np.ndarray) -> MemberResult:
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
