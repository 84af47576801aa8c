"""The reference path: plain `model.fit` fed the same shuffles through tf.data, with the same callbacks.

A test checks that it and the compiled loop (core/engine/loop.py) give the same losses and weights.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from core.engine.callbacks import (
    LabCallback,
    LiveProbe,
    StopOnFlag,
)
from core.engine.context import PROGRESS_INTERVAL, Outcome, Progress, RunContext
from core.engine.models import build_model
from core.engine.stopping import StopFlag
from core.settings.recipes import make_loss, make_optimizer, shuffle_orders

# ---------------------------------------------------------------------------------------------
# The reference path: plain model.fit


class _FitMonitor(keras.callbacks.Callback):
    """On the model.fit path: adds the engine's metric to the logs, stops on NaN/inf loss."""

    def __init__(self, ctx: RunContext, progress: Progress | None):
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


def fit_dataset(ctx: RunContext, orders: list[np.ndarray]) -> tf.data.Dataset:
    """The training data in the given per-epoch orders, batched within each epoch, for model.fit."""
    xs = np.stack([ctx.x[order] for order in orders])
    ys = np.stack([ctx.y[order] for order in orders])
    return tf.data.Dataset.from_tensor_slices((xs, ys)).flat_map(
        lambda a, b: tf.data.Dataset.from_tensor_slices((a, b)).batch(ctx.batch)
    )


def train_fit(ctx: RunContext, callbacks: list, progress: Progress | None, stop: StopFlag | None) -> Outcome:
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
    return Outcome(monitor.epochs_run, monitor.diverged_at, monitor.diverged_step, monitor.last_weights, 0.0,
                    monitor.epochs_run < spec.train.epochs and monitor.diverged_at is None)
