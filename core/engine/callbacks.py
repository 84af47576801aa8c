"""Keras callbacks that record a run the same way under `model.fit` and under the fast path.

A callback reads the state at the end of an epoch through `self.probe` (an `EpochProbe`): under
`model.fit` the probe reads the live model; under the fast path, which trains many epochs inside one
compiled function, it serves the per-epoch snapshots that function returned. So one callback class
records the same numbers on both paths.

On the fast path the callbacks get on_train_begin, then on_epoch_begin/on_epoch_end for every epoch
(replayed after each compiled chunk), then on_train_end; there are no per-batch calls, and
`self.model` holds the weights of the end of the chunk: read per-epoch state through `self.probe`.
"""

from __future__ import annotations

import keras
import numpy as np

from core.engine.stopping import StopFlag


class EpochProbe:
    """What a callback may read at the end of an epoch: weights and the fit on the replay grid."""

    def weights(self) -> list[np.ndarray]:
        raise NotImplementedError

    def replay_prediction(self) -> np.ndarray:
        """The model's output on the replay grid, in original units, shape (points,)."""
        raise NotImplementedError


class LiveProbe(EpochProbe):
    """Reads a live Keras model (the `model.fit` path)."""

    def __init__(self, model: keras.Model, replay_x_scaled: np.ndarray, y_inverse):
        self.model = model
        self._x = np.asarray(replay_x_scaled, dtype=np.float32)
        self._y_inverse = y_inverse

    def weights(self) -> list[np.ndarray]:
        return [np.array(w) for w in self.model.get_weights()]

    def replay_prediction(self) -> np.ndarray:
        return self._y_inverse(np.asarray(self.model(self._x, training=False)))


class SnapshotProbe(EpochProbe):
    """Serves snapshots taken inside the compiled training loop (the fast path)."""

    def __init__(self):
        self._weights: list[np.ndarray] = []
        self._prediction = np.empty(0)

    def set(self, weights: list[np.ndarray], prediction: np.ndarray) -> None:
        self._weights, self._prediction = weights, prediction

    def weights(self) -> list[np.ndarray]:
        return self._weights

    def replay_prediction(self) -> np.ndarray:
        return self._prediction


class LabCallback(keras.callbacks.Callback):
    """Base of the lab's callbacks: the trainer sets `probe` before training begins."""

    probe: EpochProbe | None = None


class HistoryRecorder(LabCallback):
    """Records the loss and every metric at the end of each epoch.

    Args:
        None. After training, `history` maps each log name to a list, one value per epoch.

    Example:
        >>> recorder = HistoryRecorder()
        >>> result = train(spec, callbacks=[recorder])  # recorder.history["loss"] grows live
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []

    def on_train_begin(self, logs=None):
        self.history, self.epochs = {}, []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs.append(epoch + 1)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))


class LatestState(LabCallback):
    """Keeps the latest epoch, its logs and its weights, for live displays while training runs."""

    def __init__(self):
        super().__init__()
        self.epoch, self.logs, self.weights = 0, {}, None

    def on_train_begin(self, logs=None):
        self.epoch, self.logs, self.weights = 0, {}, [np.array(w, copy=True) for w in self.probe.weights()]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch, self.logs = epoch + 1, dict(logs)
        self.weights = [np.array(w, copy=True) for w in self.probe.weights()]


class _EveryN(LabCallback):
    """Shared timing of the recorders: the start (epoch 0), every `every`-th epoch, and the last."""

    def __init__(self, every: int = 1):
        super().__init__()
        if every < 1:
            raise ValueError(f"every: {every!r} is not allowed; allowed: a whole number of 1 or more")
        self.every = every
        self.epochs: list[int] = []
        self.values: list = []
        self._last_epoch = 0

    def take(self):
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        self.epochs, self.values, self._last_epoch = [0], [self.take()], 0

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch + 1
        if (epoch + 1) % self.every == 0:
            self.epochs.append(epoch + 1)
            self.values.append(self.take())

    def on_train_end(self, logs=None):
        if self._last_epoch and self.epochs[-1] != self._last_epoch:
            self.epochs.append(self._last_epoch)
            self.values.append(self.take())


class WeightRecorder(_EveryN):
    """Records every layer's weights at the start, every `every` epochs and at the end.

    Args:
        every: record every N-th epoch (1: every epoch).
    After training, `epochs` lists the recorded epochs (0 is the start) and `values[i]` the list of
    weight arrays (in `model.get_weights()` order) at `epochs[i]`.
    """

    def take(self):
        return [np.array(w, copy=True) for w in self.probe.weights()]


class PredictionRecorder(_EveryN):
    """Records the fit on the replay grid (original units) at the start, every N epochs, the end.

    Args:
        every: record every N-th epoch (1: every epoch).
    """

    def take(self):
        return np.array(self.probe.replay_prediction(), copy=True)


class StopOnFlag(keras.callbacks.Callback):
    """Ends `model.fit` cleanly at the end of the epoch in which `flag` was set."""

    def __init__(self, flag: StopFlag):
        super().__init__()
        self.flag = flag

    def on_epoch_end(self, epoch, logs=None):
        if self.flag.is_set():
            self.model.stop_training = True
