"""What one request will hold in memory, estimated before any worker allocates, and what would fit.

A shared server (Community Cloud: 2.7 GB for the server and its worker) cannot let one link take it down,
so every request is checked against the worker's hard limit (`worker_limit_mb` of core/runner/budget.py)
before it starts. The estimate adds up what the compiled loop and the results hold, part by part, each
in bytes and named by the setting that drives it:

- the weights and the optimizer: parameters x (weights, gradients, an update, the optimizer's slots) x seeds;
- a training step: batch x units of every layer (pre-activations, activations, their gradients) x seeds;
- the evaluations of every epoch: the training points, and the grid the metric and the replay read, through
  the widest layer (forward only: a layer's activations are freed once the next is computed) x seeds;
- the test points (a single run's test loss) and the readouts (every training and test point through the
  widest layer, in float64), which a single run computes once;
- a single run's recorded epochs: the chunk the compiled loop holds, and the epochs kept (one per
  `record_every`), held twice while the result is sent to the server;
- the shuffled orders of a chunk.

The worker's own footprint (TensorFlow, XLA and a compiled loop: about 0.7 GB) comes first, and the parts
are counted with a margin for XLA's temporaries (SAFETY). Checked against real workers (peak resident
memory from /proc) in docs/server.md. Plain Python: no TensorFlow, no Streamlit.

Example:
    >>> from core.cases.scenarios import get
    >>> estimate(get("sine-relu").spec()).peak_mb < 1000
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from core.data.datasets import FINE_GRID, PLANE_GRID
from core.outcomes.recording import ORDER_BUDGET, RECORD_BUDGET, record_capacity, recorded_values, resolve_record_every
from core.outcomes.results import metric_name
from core.settings.network import count_params
from core.settings.specs import RunSpec, SpecError

MB = 1 << 20
BASE_MB = 740.0  # a worker after TensorFlow's import and its first compiled loop (sine-relu: 743 MB at its peak)
SAFETY = 1.3  # XLA's temporaries and copies the parts do not name
F32, F64 = 4, 8
# Bytes per weight and seed: Keras's variables, gradients, an update, the optimizer's slots, the starting and final
# weights as numpy and their copies in the messages between processes; measured on an 8 x 1024 net (76 B for one seed).
PER_PARAMETER = 64
KEPT_COPIES = 5  # a recorded epoch is held by the recorder, the result and its message: measured 4 on 4 x 256


@dataclass(frozen=True)
class Part:
    """One thing a request holds: what it is, the setting that drives it, and its bytes."""

    what: str
    setting: str
    bytes: float


@dataclass(frozen=True)
class MemoryEstimate:
    """The parts of a request and its estimated peak in the worker."""

    parts: tuple[Part, ...]

    @property
    def peak_mb(self) -> float:
        return BASE_MB + SAFETY * sum(p.bytes for p in self.parts) / MB

    @property
    def largest(self) -> Part:
        return max(self.parts, key=lambda p: p.bytes)


def estimate(spec: RunSpec, members: int = 0) -> MemoryEstimate:
    """The memory a single run (members 0) or a restarts request of `members` seeds will hold."""
    seeds = max(1, int(members))
    single = members == 0
    model, data, train = spec.model, spec.data, spec.train
    params = count_params(model)
    widths = [*model.units, model.output_units]
    total_units, widest = sum(widths) + data.input_width, max([*widths, data.input_width])
    n, test = data.n_samples, data.test_samples
    batch = train.resolved_batch_size(n)
    metric = metric_name(data.resolved_task, data.function)
    replay = recorded_values(spec) - params
    grid = (FINE_GRID if data.n_inputs == 1 else PLANE_GRID ** 2) if metric == "max_abs_error" else replay
    seed_word = "seeds" if seeds > 1 else "model.units"
    parts = [
        Part("the weights and the optimizer's state", seed_word, params * seeds * PER_PARAMETER),
        Part("the activations of a training step", "train.batch_size", batch * total_units * F32 * seeds * 2),
        Part("the evaluation of the grid each epoch", seed_word, grid * widest * F32 * seeds * 2),
        Part("the shuffled orders of a chunk", "seeds" if seeds > 1 else "data.n_samples", min(ORDER_BUDGET, seeds * n * 64) * F32 * 2),
    ]
    if metric != "max_abs_error":  # accuracy and R² read every training point each epoch
        parts.append(Part("the evaluation of the training points each epoch", "data.n_samples", n * widest * F32 * seeds * 2))
    if single:
        kept = math.ceil(train.epochs / resolve_record_every(spec)) + 1
        parts += [
            Part("the test points", "data.test_samples", test * widest * F32 * 2),
            Part("the readouts of every point", "data.test_samples" if test > n else "data.n_samples", (n + test) * widest * F64),
            Part("the recorded epochs of a chunk", "model.units", record_capacity(spec) * recorded_values(spec) * F32 * 2),
            Part("the recorded epochs kept (one per record_every)", "record_every", kept * recorded_values(spec) * F32 * KEPT_COPIES),
        ]
    return MemoryEstimate(tuple(parts))


def over(spec: RunSpec, members: int, limit_mb: float, where: str) -> tuple[Part, str, str, str] | None:
    """None when the request fits; otherwise its costliest part, what it needs, what is allowed, and the message saying so,
    the limit (`where` it is set) and the largest value that fits."""
    kept, every = recorded(spec), resolve_record_every(spec)
    if not members and kept > RECORD_BUDGET:  # what the server keeps with the result, whatever the worker's limit
        fits = max(1, math.ceil(recorded_values(spec) * spec.train.epochs / RECORD_BUDGET))  # what the lab would choose
        part = Part("the recorded epochs kept (one per record_every)", "record_every", kept * F32)
        return part, f"{kept:,} recorded numbers", f"at most {RECORD_BUDGET:,}", (
            f"Over the memory budget: this run would record {kept:,} numbers (every {every:,} epochs, "
            f"{recorded_values(spec):,} weights and fitted points each), which the server keeps with its result; at most "
            f"{RECORD_BUDGET:,}. To fit it: record every {fits:,} epochs or more (record_every, now {every:,}), or leave "
            f"record_every empty to let the lab choose.")
    found = estimate(spec, members)
    if not math.isfinite(limit_mb) or found.peak_mb <= limit_mb:
        return None
    largest = found.largest
    what = "restarts request" if members else "run"
    return largest, f"about {found.peak_mb:,.0f} MB", f"at most {limit_mb:,.0f} MB", (
        f"Over the memory budget: this {what} would need about {found.peak_mb:,.0f} MB in the training process (the "
        f"largest part, {largest.what}: {largest.bytes / MB:,.0f} MB); the limit is {limit_mb:,.0f} MB ({where}). To fit it: "
        f"{_what_fits(spec, members, limit_mb, largest.setting)}.")


def recorded(spec: RunSpec, every: int | None = None) -> int:
    """Numbers a single run's result keeps of its recorded epochs (weights and replayed fit), every `every` epochs."""
    return recorded_values(spec) * (spec.train.epochs // (every or resolve_record_every(spec)))


def _what_fits(spec: RunSpec, members: int, limit_mb: float, setting: str) -> str:
    """The largest value of `setting` (or the smallest, for record_every) that brings the estimate under the limit."""
    def fits(candidate: tuple[RunSpec, int] | None) -> bool:
        return candidate is not None and estimate(*candidate).peak_mb <= limit_mb

    knobs: dict[str, tuple[int, Callable[[int], tuple[RunSpec, int] | None], str]] = {
        "seeds": (members, lambda v: (spec, v), "seeds (the restarts' seeds"),
        "model.units": (max(spec.model.units or (1,)), lambda v: _with(spec, members, {"model.units": ",".join(
            str(max(1, min(u, v))) for u in spec.model.units)}), "units per hidden layer (model.units"),
        "train.batch_size": (spec.train.resolved_batch_size(spec.data.n_samples),
                             lambda v: _with(spec, members, {"train.batch_size": v}), "as batch size (train.batch_size"),
        "data.n_samples": (spec.data.n_samples, lambda v: _with(spec, members, {"data.n_samples": v}), "samples (data.n_samples"),
        "data.test_samples": (spec.data.test_samples, lambda v: _with(spec, members, {"data.test_samples": v}),
                              "test points (data.test_samples"),
    }
    if setting == "record_every":
        every = next((e for e in _doubling(resolve_record_every(spec)) if fits(_with(spec, members, {"record_every": e}))), None)
        epochs = _largest(spec.train.epochs, lambda v: fits(_with(spec, members, {"train.epochs": v})))
        ways = [f"record every {every:,} epochs or more (record_every, now {resolve_record_every(spec):,})" if every else "",
                f"at most {epochs:,} epochs (train.epochs, now {spec.train.epochs:,})" if epochs else ""]
        return "; or ".join(w for w in ways if w) or "a smaller network"
    now, change, words = knobs.get(setting, knobs["model.units"])
    best = _largest(now, lambda v: fits(change(v)))
    if best:
        return f"at most {best:,} {words}, now {now:,})"
    if setting != "model.units":
        now, change, words = knobs["model.units"]
        best = _largest(now, lambda v: fits(change(v)))
        if best:
            return f"at most {best:,} {words}, now {now:,})"
    return "a smaller network, fewer samples or fewer seeds"


def _with(spec: RunSpec, members: int, values: dict) -> tuple[RunSpec, int] | None:
    try:
        return spec.with_values(values), members
    except SpecError:
        return None


def _largest(now: int, fits: Callable[[int], bool]) -> int:
    """The largest value from 1 to `now` for which `fits` holds (0 if none), by bisection: the estimate grows with it."""
    if now < 1 or not fits(1):
        return 0
    low, high = 1, now
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def _doubling(start: int):
    value = max(1, start)
    for _ in range(40):
        value *= 2
        yield value

