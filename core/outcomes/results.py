"""Typed results: what a run, a restarts request and each of its seeds produced, as plain data.

Every class here is a frozen dataclass of numpy arrays and Python values: picklable (across
processes and into Streamlit's cache), with one JSON form (`to_json`), and importable without
TensorFlow. The readout is computed once, before a result is built (core/outcomes/readout.py), and nothing
changes a result afterwards.

Example:
    >>> r = train(spec)                              # core.engine.training, which does import TensorFlow
    >>> r.readout.parabola.coefficients              # (A, B, C) in original units, or r.readout.parabola is None
    >>> json.dumps(r.to_json())
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.settings.specs import RunSpec


def metric_name(task: str, function: str = "") -> str:
    """The engine's metric in `history` and `final`: accuracy for classification; for a regression the max |fit - target|
    on the data range, or, for a data file (which has no clean target), R² on its training points."""
    if task == "classification":
        return "accuracy"
    return "r2" if function == "file" else "max_abs_error"


# ---------------------------------------------------------------------------------------------
# Readouts

CROSSING_SHARE = 0.02  # a unit's boundary crosses the data when at least this share of the points lies on each side


@dataclass(frozen=True)
class LayerReadout:
    """One hidden layer: which units are dead (ReLU) or saturated (sigmoid, tanh) on the training data."""

    name: str
    activation: str
    units: int
    dead_units: tuple[int, ...] | None = None  # ReLU: units that output 0 on every training sample (0-based)
    saturated_share: tuple[float, ...] | None = None  # sigmoid/tanh: share of samples where each unit is saturated


@dataclass(frozen=True, eq=False)
class Contributions:
    """Each last-hidden-layer unit's share of the output on the replay grid (original y units when additive)."""

    x: np.ndarray  # (points,)
    units: np.ndarray  # (units, points)
    offset: float  # the output bias (and y's shift) that the shares sit on
    additive: bool  # true for a linear output: the shares plus the offset are the fit


@dataclass(frozen=True, eq=False)
class UnitsReadout:
    """The hidden units: per-layer states, first-layer boundaries (ReLU kinks or sigmoid/tanh thresholds)."""

    layers: tuple[LayerReadout, ...]
    kinks: tuple[float | None, ...] | None = None  # ReLU first layer: x = -b/w in original units (None: w = 0)
    kink_in_range: tuple[bool, ...] | None = None
    thresholds: tuple[float | None, ...] | None = None  # sigmoid/tanh first layer: where each unit is half on
    threshold_in_range: tuple[bool, ...] | None = None
    contributions: Contributions | None = None
    # Two inputs: each first-layer unit's share of training points on the side where its pre-activation is
    # positive; its boundary (pre-activation 0, a line for inputs x1, x2) crosses the data when both sides hold some.
    positive_share: tuple[float, ...] | None = None

    @property
    def crosses_data(self) -> tuple[bool, ...] | None:
        """Two inputs: whether each first-layer unit's boundary runs through the training points (at least 2% on each side)."""
        if self.positive_share is None:
            return None
        return tuple(CROSSING_SHARE <= share <= 1 - CROSSING_SHARE for share in self.positive_share)

    @property
    def units_in_range(self) -> int | None:
        return None if self.kink_in_range is None else int(sum(self.kink_in_range))

    @property
    def dead_units(self) -> tuple[int, ...]:
        """Dead ReLU units of the first hidden layer."""
        return (self.layers[0].dead_units or ()) if self.layers else ()


@dataclass(frozen=True)
class SquareFamily:
    """The one-neuron x^2 model's family k (a x + b)^2 + s: its condition and its best member."""

    form: str
    condition: str
    learned_gap: float  # B^2 - 4A(C - s) of the learned coefficients (0 for every member)
    target_gap: float  # the same for the target: not 0 means the target is not in the family
    best_coefficients: tuple[float, float, float]
    best_rms_error: float
    best_max_abs_error: float


@dataclass(frozen=True)
class ParabolaReadout:
    """The learned A x^2 + B x + C of an x^2 model, in original units, and the target's when known."""

    model: str  # "two-neuron" or "one-neuron"
    coefficients: tuple[float, float, float]
    target: tuple[float, float, float] | None = None
    family: SquareFamily | None = None  # one-neuron model only

    @property
    def coefficient_errors(self) -> tuple[float, float, float] | None:
        if self.target is None:
            return None
        return tuple(c - t for c, t in zip(self.coefficients, self.target))

    @property
    def worst_error(self) -> float | None:
        errors = self.coefficient_errors
        return None if errors is None else max(abs(e) for e in errors)


@dataclass(frozen=True)
class ClassifierReadout:
    """Where the predicted probability crosses 0.5, and the share of the majority class."""

    crossings: tuple[float, ...]
    majority_share: float | None = None


@dataclass(frozen=True)
class Extrema:
    """Local extrema of the fit and of the clean target on the fine grid."""

    fit: int
    target: int


@dataclass(frozen=True, eq=False)
class Readout:
    """Everything read from a trained network's weights and data; a part is None where it does not apply."""

    units: UnitsReadout | None = None
    extrema: Extrema | None = None
    parabola: ParabolaReadout | None = None
    classifier: ClassifierReadout | None = None

    def to_json(self) -> dict[str, Any]:
        """The readout as one flat JSON object (the `readout` of `python -m core run --json`)."""
        out: dict[str, Any] = {}
        if self.units is not None:
            u = self.units
            out["layers"] = [_jsonable(_plain(layer)) for layer in u.layers]
            if u.kinks is not None:
                out.update(kinks=list(u.kinks), kink_in_range=list(u.kink_in_range), units_in_range=u.units_in_range,
                           dead_units=list(u.dead_units))
            if u.thresholds is not None:
                out.update(thresholds=list(u.thresholds), threshold_in_range=list(u.threshold_in_range))
            if u.positive_share is not None:
                out.update(positive_share=list(u.positive_share), crosses_data=list(u.crosses_data))
        if self.extrema is not None:
            out["extrema"] = {"fit": self.extrema.fit, "target": self.extrema.target}
        if self.parabola is not None:
            p = self.parabola
            out.update(model=p.model, coefficients=list(p.coefficients))
            if p.target is not None:
                out.update(target=list(p.target), coefficient_errors=list(p.coefficient_errors))
            if p.family is not None:
                f = p.family
                out["family"] = {"form": f.form, "condition": f.condition, "learned_gap": f.learned_gap, "target_gap": f.target_gap,
                                 "best_member": {"coefficients": list(f.best_coefficients), "rms_error": f.best_rms_error,
                                                 "max_abs_error": f.best_max_abs_error}}
        if self.classifier is not None:
            out["crossings"] = list(self.classifier.crossings)
            if self.classifier.majority_share is not None:
                out["majority_share"] = self.classifier.majority_share
        out = _jsonable(out)
        if self.units is not None and self.units.contributions is not None:
            c = self.units.contributions
            # (units, replay points): the largest array of a wide net's readout, so at float32 precision
            out["contributions"] = {"x": _floats(c.x), "units": float32_values(c.units), "offset": _jsonable(c.offset),
                                    "additive": bool(c.additive)}
        return out


@dataclass(frozen=True)
class Divergence:
    """Where a diverged run blew up and the likely causes, each read from its settings and data."""

    epoch: int  # the first epoch whose loss was not finite (1-based)
    step: int  # the first optimizer step whose loss was not finite, counted from the start (1-based)
    step_in_epoch: int
    steps_per_epoch: int
    last_loss: float | None  # the last finite loss, or None
    growth: float | None  # that loss over the smallest loss before it
    summary: str  # where, and the last finite loss, in words
    causes: tuple[str, ...]  # most likely first
    fixes: tuple[str, ...]  # settings to try

    def text(self) -> str:
        """The finding as one paragraph (the page lays out the same parts as lists)."""
        return (f"Training diverged {self.summary} Likely cause: " + " ".join(self.causes)
                + " Try " + "; or ".join(self.fixes) + ".")


@dataclass(frozen=True)
class Finding:
    """One thing the doctor read from a run: what it is, whether it explains the failure, and its numbers.

    `role` is "cause" (it explains why the run fails), "symptom" (what the failure looks like) or
    "note" (true, but not the problem). `evidence` holds the numbers the text rests on, as plain
    JSON values, so the page, the command line and the tests read the same thing.
    """

    id: str
    role: str
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)

    ROLES = ("cause", "symptom", "note")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "text": self.text, "evidence": _jsonable(self.evidence)}


# ---------------------------------------------------------------------------------------------
# A single run


@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything a run produced, as plain data: picklable, cacheable, exportable as JSON."""

    spec: RunSpec
    path: str  # "fast" (the compiled loop) or "fit" (plain model.fit)
    epochs_run: int
    steps: int
    wall_s: float
    history: dict[str, np.ndarray]  # "epoch" (1-based), "loss", and the engine's metric
    weight_names: tuple[str, ...]
    weight_epochs: np.ndarray  # epochs at which weights were recorded; 0 is the start
    weight_history: tuple[np.ndarray, ...]  # per weight array: (recorded epochs, *shape)
    final_weights: tuple[np.ndarray, ...]
    replay_x: np.ndarray  # replay grid, original units
    replay_epochs: np.ndarray
    replay_predictions: np.ndarray  # (recorded epochs, replay points), original units, float32
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
    readout: Readout
    diverged_at: int | None = None  # first epoch (1-based) whose loss was NaN or infinite
    diverged_step: int | None = None  # first optimizer step (1-based, from the start) whose loss was not finite
    divergence: Divergence | None = None
    stopped: bool = False  # a stop request or the wall-clock budget ended the run early
    stop_reason: str | None = None  # when stopped: "request" (a Stop click) or "budget" (the wall-clock budget)
    compile_s: float = 0.0  # the first chunk (compilation included) on the fast path
    final: dict[str, float] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.spec.data.resolved_task

    @property
    def metric(self) -> str:
        return metric_name(self.task, self.spec.data.function)

    def to_json(self, full: bool = False) -> dict[str, Any]:
        """The run as JSON-ready data; `full` adds recorded weights and replayed predictions.

        The spec, the loss and metric history and the final weights are always complete and exact. With
        `full`, the weight history and the replayed fits keep at most JSON_MAX_EPOCHS recorded epochs
        (fewer for a wide net, see json_epoch_limit), evenly strided and always the first and the last,
        written at float32 precision; `weight_epochs_note` says which.
        """
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
            "readout": self.readout.to_json(),
            "diverged_at": self.diverged_at,
            "diverged_step": self.diverged_step,
            "divergence": None if self.divergence is None else _jsonable(_plain(self.divergence)),
            "stopped": self.stopped,
            "stop_reason": self.stop_reason,
            "weights": {name: _jsonable(w) for name, w in zip(self.weight_names, self.final_weights)},
            "scalers": self.scalers,
        }
        if full:
            # Every recorded epoch of a long run is tens of MB of JSON (noisy-sine as asked: 29 MB, 3 s to
            # write); a few hundred evenly spaced epochs draw the same curves, and float32 is what was recorded.
            values = sum(math.prod(w.shape[1:]) for w in self.weight_history) + len(self.replay_x)
            keep = thinned_epochs(len(self.weight_epochs), json_epoch_limit(values))
            out["weight_epochs"] = self.weight_epochs[keep].tolist()
            out["weight_epochs_note"] = (thinning_note(self.weight_epochs, keep) + "; the loss and metric history "
                                         "(every epoch) and the final weights ('weights') are complete, at full precision")
            out["weight_epochs_recorded"] = len(self.weight_epochs)
            out["weight_history"] = {n: float32_values(w[keep]) for n, w in zip(self.weight_names, self.weight_history)}
            shown = thinned_epochs(len(self.replay_epochs), json_epoch_limit(values))
            out["replay"] = {"x": _floats(self.replay_x), "epochs": self.replay_epochs[shown].tolist(),
                             "predictions": float32_values(self.replay_predictions[shown]),
                             "note": thinning_note(self.replay_epochs, shown)}
            if self.x_test is not None:
                out["test"] = {"x": _floats(self.x_test), "y": _floats(self.y_test), "prediction": _floats(self.test_prediction)}
        return out


# ---------------------------------------------------------------------------------------------
# Restarts


@dataclass(frozen=True, eq=False)
class MemberResult:
    """One seed of a restarts request: its final numbers, readout and weights."""

    seed: int
    final: dict[str, float]  # loss and metric of the last finite epoch; empty if none
    diverged_at: int | None
    readout: Readout  # extrema, parabola coefficients, 0.5 crossings: what criteria and tables need
    weights: tuple[np.ndarray, ...]  # final weights (the last epoch's, NaN if diverged)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "final": _jsonable(self.final), "diverged_at": self.diverged_at,
                "readout": self.readout.to_json()}


@dataclass(frozen=True, eq=False)
class RestartsResult:
    """M seeds of one setup trained at once: per-seed curves and outcomes."""

    spec: RunSpec  # the first seed's spec; member m has seed `seeds[m]`
    seeds: tuple[int, ...]
    epochs_run: int
    wall_s: float
    losses: np.ndarray  # (epochs, members), NaN after a member diverged
    metrics: np.ndarray  # (epochs, members)
    members: tuple[MemberResult, ...]
    stopped: bool = False
    stop_reason: str | None = None  # when stopped: "request" or "budget"
    compile_s: float = 0.0  # the first chunk: compilation and one epoch

    @property
    def metric(self) -> str:
        return metric_name(self.spec.data.resolved_task, self.spec.data.function)

    @property
    def diverged_at(self) -> list[int | None]:
        return [m.diverged_at for m in self.members]

    @property
    def final_weights(self) -> list[tuple[np.ndarray, ...]]:
        return [m.weights for m in self.members]

    def member(self, seed: int) -> MemberResult | None:
        return next((m for m in self.members if m.seed == seed), None)


# ---------------------------------------------------------------------------------------------
# JSON helpers

# The full JSON keeps at most this many recorded epochs of weights and replayed fits, and about
# JSON_VALUE_BUDGET numbers across them (about 1.3 MB): enough to draw every chart of the run again.
JSON_MAX_EPOCHS = 200
JSON_VALUE_BUDGET = 100_000


def json_epoch_limit(values_per_epoch: int) -> int:
    """How many recorded epochs the full JSON keeps when each holds `values_per_epoch` numbers (at least 2)."""
    return max(2, min(JSON_MAX_EPOCHS, JSON_VALUE_BUDGET // max(1, values_per_epoch)))


def thinned_epochs(count: int, limit: int = JSON_MAX_EPOCHS) -> np.ndarray:
    """Indices of at most `limit` of `count` recorded epochs: every Nth from the first, and the last."""
    if count <= limit:
        return np.arange(count)
    if limit < 3:
        return np.array([0, count - 1])
    stride = math.ceil((count - 1) / (limit - 2))  # room for the last one after the strided ones
    keep = np.arange(0, count, stride)
    return keep if keep[-1] == count - 1 else np.append(keep, count - 1)


def thinning_note(epochs: np.ndarray, keep: np.ndarray) -> str:
    """Which recorded epochs an export kept, in words."""
    count, kept = len(epochs), len(keep)
    if kept == count:
        return f"all {count} recorded epochs, floats at float32 precision"
    first, last = int(epochs[0]), int(epochs[-1])
    which = (f"every {_ordinal(int(keep[1] - keep[0]))} recorded epoch from epoch {first} and the last (epoch {last})"
             if kept > 2 else f"the first (epoch {first}) and the last (epoch {last})")
    return f"{kept} of {count} recorded epochs: {which}, floats at float32 precision"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def float32_values(values) -> list:
    """Nested lists of the values at float32 precision (the shortest text that gives the same float32), None
    where not finite. Recorded weights and fits are float32, so they read back bit for bit."""
    with np.errstate(all="ignore"):  # beyond float32's range is inf, written as None like NaN
        as32 = np.asarray(values, dtype=np.float64).astype(np.float32)
    shortest = as32.astype(str).astype(np.float64)
    finite = np.isfinite(shortest)
    if finite.all():
        return shortest.tolist()
    return np.where(finite, shortest, None).tolist()


def _plain(obj) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _floats(values) -> list:
    """Numbers as JSON: a flat list, or one [x1, x2] pair per row for points over two inputs."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 2 and array.shape[1] > 1:
        return [_floats(row) for row in array]
    return [None if not math.isfinite(v) else float(v) for v in array.ravel()]


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
