"""What a single run records of its epochs, and how much of it a compiled loop holds at once (plain Python).

A run's charts replay its training: every `record_every`-th epoch's weights and its fit on the replay
points are kept. Unless the run says otherwise, `record_every` is raised until what is kept stays within
RECORD_BUDGET numbers. Inside one call of the compiled loop every epoch is recorded (the loop cannot skip),
so a big network gets fewer epochs per call (RECORD_CHUNK_BYTES). The engine trains by these numbers and
the memory budget (core/runner/memory.py) counts them; neither needs TensorFlow to know them.

Example:
    >>> from core.cases.scenarios import get
    >>> resolve_record_every(get("sine-relu").spec())
    1
"""

from __future__ import annotations

import math

from core.data.datasets import FINE_GRID, PLANE_GRID, PLANE_STRIDE, REPLAY_STRIDE
from core.settings.network import count_params
from core.settings.specs import RunSpec

CHUNK_CAPACITY = 64  # epochs one call of the compiled loop can hold
RECORD_CHUNK_BYTES = 32 << 20  # a recording loop's per-epoch weights and replayed fit per call at most: fewer epochs for a big net
ORDER_BUDGET = 1 << 22  # shuffled indices (int32) per call at most: fewer epochs per call for many members x samples
RECORD_BUDGET = 2_000_000  # recorded weights and replay points per run before record_every is raised


def recorded_values(spec: RunSpec) -> int:
    """Numbers a recording loop keeps per epoch: every weight and the replayed fit."""
    replay_points = len(range(0, FINE_GRID, REPLAY_STRIDE)) if spec.data.n_inputs == 1 else len(range(0, PLANE_GRID, PLANE_STRIDE)) ** 2
    return count_params(spec.model) + replay_points


def resolve_record_every(spec: RunSpec) -> int:
    """The run's own record_every, or the smallest that keeps the recorded epochs within RECORD_BUDGET numbers."""
    if spec.record_every:
        return spec.record_every
    return max(1, math.ceil(recorded_values(spec) * spec.train.epochs / RECORD_BUDGET))


def record_capacity(spec: RunSpec) -> int:
    """Epochs one call of a recording loop may hold: every epoch's weights are kept inside the call, whatever
    record_every says, so a big net gets fewer epochs per call (float32: 4 bytes a value)."""
    return max(1, min(CHUNK_CAPACITY, RECORD_CHUNK_BYTES // (4 * recorded_values(spec))))
