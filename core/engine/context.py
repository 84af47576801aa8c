"""What both training paths share: a run's data in the forms they need, the outcome they hand back, and their limits."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np

from core.data.datasets import Dataset, make_dataset
from core.engine.callbacks import (
    LabCallback,
)
from core.outcomes.results import metric_name
from core.settings.network import predicted_class
from core.settings.specs import RunSpec

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
CHUNK_SECONDS = 0.15  # aim of one chunk's length: progress several times a second
PROGRESS_INTERVAL = 0.1  # seconds between progress calls on the model.fit path


class Outcome(NamedTuple):
    """What a training path hands to the assembly of a RunResult."""

    epochs_run: int
    diverged_at: int | None
    diverged_step: int | None
    final_weights: list[np.ndarray]
    compile_s: float
    stopped: bool


# ---------------------------------------------------------------------------------------------
# Pieces shared by both paths


class RunContext:
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




def callback_list(callbacks: list, probe, model, epochs: int, steps: int) -> keras.callbacks.CallbackList:
    for callback in callbacks:
        if isinstance(callback, LabCallback):
            callback.probe = probe
    return keras.callbacks.CallbackList(callbacks, model=model, epochs=epochs, steps=steps, verbose=0)
