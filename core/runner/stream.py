"""The worker's progress callback: a single run's epochs, logs and latest weights, sent to the asker as Progress messages.

This imports Keras (through the lab's callbacks): only a worker process loads it, after its engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.engine.callbacks import LabCallback
from core.runner.messages import PROGRESS_INTERVAL, Progress


class ProgressStream(LabCallback):
    """Sends a single run's progress: the latest epoch and weights, and every epoch's logs since the last message.

    Args:
        send: where the messages go (the worker's outbox).
        job_id: the job the messages belong to.
        epochs: the run's epochs; the last one is always sent at once.

    Example:
        >>> train(spec, callbacks=[ProgressStream(outbox.put, job_id=7, epochs=spec.train.epochs)])
    """

    def __init__(self, send: Callable[[Progress], None], job_id: int, epochs: int):
        super().__init__()
        self.send, self.job_id, self.epochs = send, job_id, epochs
        self.pending: list[tuple[int, dict[str, float]]] = []
        self.last_sent, self.epoch, self.logs = 0.0, 0, {}

    def flush(self) -> None:
        weights = [w.copy() for w in self.probe.weights()] if self.probe is not None else None
        self.send(Progress(self.job_id, self.epoch, self.logs, tuple(self.pending), weights))
        self.pending, self.last_sent = [], time.monotonic()

    def on_train_begin(self, logs=None):
        self.flush()  # the initial weights, before the first epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.epoch, self.logs = epoch + 1, logs
        self.pending.append((epoch + 1, logs))
        if time.monotonic() - self.last_sent >= PROGRESS_INTERVAL or epoch + 1 >= self.epochs:
            self.flush()

    def on_train_end(self, logs=None):
        if self.pending:
            self.flush()
