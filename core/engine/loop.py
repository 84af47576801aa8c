"""The compiled loop: many epochs of minibatch steps for M >= 1 members inside one XLA-compiled TensorFlow function.

An outer while loop over epochs around an inner one over minibatches; a single run is one Keras model
whose step is Keras's own `train_step`, restarts are M members of core/engine/ensemble.py. `drive`
runs it in chunks of epochs (progress, callbacks and Stop between chunks) and feeds each member's own
shuffles, drawn a block ahead in a background thread. Compiled loops are pooled per architecture.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from core.engine.callbacks import (
    SnapshotProbe,
)
from core.engine.context import CHUNK_SECONDS, Outcome, Progress, RunContext, callback_list
from core.engine.ensemble import FlatEnsemble, member_loss
from core.engine.models import build_model, initial_weights
from core.engine.stopping import StopFlag
from core.outcomes.recording import CHUNK_CAPACITY, ORDER_BUDGET, record_capacity
from core.outcomes.results import metric_name
from core.settings.network import forward
from core.settings.recipes import make_loss, make_optimizer, shuffle_generator
from core.settings.specs import RunSpec

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
        self._l2 = spec.model.l2

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
            if self._l2:  # Keras adds each layer's kernel_regularizer to the step's loss, once per batch
                member = member + self._l2 * self.net.kernel_squares(self.theta)
            total = tf.reduce_sum(member)
        self.optimizer.apply(tape.gradient(total, self.weights), self.weights)
        return member

    def predict(self, x):
        return self.net(self.theta, x)


class Chunk(NamedTuple):
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
        if record:  # the recorded weights fill capacity entries per call, however many epochs it runs
            self.capacity = min(self.capacity, record_capacity(spec))
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

    def run(self, ctx: RunContext, orders: np.ndarray, n_epochs: int) -> Chunk:
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
        return Chunk(int(ran), int(bad), losses, metrics, predictions if self.record else None,
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


class LoopPool:
    """Compiled loops by architecture and member count, reused across runs; each serves one run at a time."""

    def __init__(self, max_loops: int = 24):
        self._free: OrderedDict[tuple, list[CompiledLoop]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_loops = max_loops

    @staticmethod
    def key(spec: RunSpec, members: int, n: int, batch: int, record: bool) -> tuple:
        m, t = spec.model, spec.train
        return (m.inputs, m.units, m.activation, m.output_activation, m.output_units, m.use_bias, m.l2, t.optimizer, t.momentum, t.nesterov,
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


POOL = LoopPool()


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


def drive(loop: CompiledLoop, ctx: RunContext, seeds: list[int], epochs: int,
           on_chunk: Callable[[int, Chunk], bool], logs: Callable[[], dict],
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


def train_fast(ctx: RunContext, callbacks: list, progress: Progress | None, stop: StopFlag | None) -> Outcome:
    spec = ctx.spec
    loop = POOL.acquire(spec, 1, ctx.n, ctx.batch, record=True)
    try:
        start_weights = initial_weights(spec.model, spec.seed)
        loop.reset([start_weights], spec.train.learning_rate)
        probe = SnapshotProbe()
        probe.set(start_weights, ctx.y_inverse(forward(spec.model, start_weights, ctx.replay_scaled)))
        listeners = callback_list(callbacks, probe, loop.net.model, spec.train.epochs, ctx.steps_per_epoch)
        listeners.on_train_begin()
        state = {"logs": {}, "weights": start_weights, "diverged_at": None, "diverged_step": None}

        def replay(done: int, chunk: Chunk) -> bool:
            for i in range(chunk.ran):
                weights = [snapshot[i][0] for snapshot in chunk.snapshots]
                probe.set(weights, chunk.predictions[i][0])  # already in original units
                logs = {"loss": float(chunk.losses[i][0]), ctx.metric: float(chunk.metrics[i][0])}
                listeners.on_epoch_begin(done + i)
                listeners.on_epoch_end(done + i, logs)
                state["logs"] = logs
                if not math.isfinite(logs["loss"]):
                    epoch = done + i + 1
                    # The compiled loop stops after the diverging epoch, so its bad step is this epoch's.
                    in_epoch = chunk.bad_step + 1 if chunk.bad_step >= 0 else ctx.steps_per_epoch
                    state.update(diverged_at=epoch, diverged_step=(epoch - 1) * ctx.steps_per_epoch + in_epoch)
                    return True
                state["weights"] = weights
            return False

        done, compile_s = drive(loop, ctx, [spec.seed], spec.train.epochs, replay, lambda: dict(state["logs"]), progress, stop)
        listeners.on_train_end()
        diverged_at = state["diverged_at"]
        probe.set([], np.empty(0))  # a caller's callback keeps its probe: not a view into the last chunk
        # Copies: the kept weights are views into a chunk's snapshots, which would keep every epoch of it alive.
        final = [np.array(w, copy=True) for w in state["weights"]]
        return Outcome(done, diverged_at, state["diverged_step"], final, compile_s,
                        done < spec.train.epochs and diverged_at is None)
    finally:
        POOL.release(spec, loop)
