"""The numbers several of the doctor's rules read, computed once from a finished run, and the way they are written.

`Facts(result, criterion)` holds the run's spec, its data in original and scaled units, the loss
history, the recorded weights flattened per epoch, and small measures over them (how far the weights
moved, each first-layer unit's switch point); `num`, `pct` and `xs_text` write numbers the same way in
every finding.
"""

from __future__ import annotations

import math

import numpy as np

from core.data.datasets import Scaler, features
from core.outcomes.results import RunResult
from core.settings.criteria import Criterion
from core.settings.network import ROWS, forward, layer_output, layer_shapes, loss_value, split_layers

EDGE_SHARE = 0.02  # a boundary within 2% of the span from an end of the data range is "at the edge"
# Output activations and the values they can produce (scaled units).
# Output activations and the values they can produce (scaled units).
OUTPUT_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, math.inf), "softplus": (0.0, math.inf),
                "square": (0.0, math.inf), "elu": (-1.0, math.inf), "selu": (-1.7581, math.inf)}
SATURATING = {"sigmoid": 0.25, "tanh": 1.0}  # the activation's largest slope
SATURATED_SLOPE = 0.05  # saturated: slope below 5% of the activation's largest
WORKING_RANGE = 3.0  # |scaled x| beyond this is far outside tanh's and sigmoid's working range
GRADIENT_PARAMS = 500  # the gradient is checked by central differences for nets of at most this many weights...
GRADIENT_ROWS = 500  # ... on at most this many training points
FLAT = 1e-6  # no gradient: every partial derivative below this (times the loss, when above 1)


def num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def pct(share: float) -> str:
    if share == 0:
        return "0%"
    return f"{share:.0%}" if share >= 0.01 else f"{share * 100:.2g}%"


def xs_text(values, most: int = 6) -> str:
    """x = 0 ×18, x = 2.4, ...: equal values (to 3 digits) once, with their count, at most `most` of them."""
    counts: dict[str, int] = {}
    for v in values:
        counts[num(v)] = counts.get(num(v), 0) + 1
    items = [f"x = {k}" + (f" ×{n}" if n > 1 else "") for k, n in counts.items()]
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


class Facts:
    """The numbers several findings read, computed once from the run."""

    def __init__(self, result: RunResult, criterion: Criterion):
        self.result = result
        spec = result.spec
        self.spec = spec
        self.met = bool(criterion.met(result.final, result.readout))
        self.criterion = criterion
        self.x_scaler = Scaler(**result.scalers["x"])
        self.y_scaler = Scaler(**result.scalers["y"])
        self.inputs = spec.data.n_inputs
        self.x = np.asarray(result.x, float).reshape(len(result.x), -1) if self.inputs > 1 else np.asarray(result.x, float).ravel()
        self.y = np.asarray(result.y, float).ravel()
        self.xs = features(spec.data.input_features, self.x_scaler.transform(self.x))  # what the first layer is fed
        self.ys = self.y_scaler.transform(self.y)
        self.lo, self.hi = float(self.x.min()), float(self.x.max())
        self.span = self.hi - self.lo
        losses = np.asarray(result.history.get("loss", []), float)
        self.losses = losses[np.isfinite(losses)]
        self.epochs = len(self.losses)
        self.shapes = layer_shapes(spec.model)
        self.batch = spec.train.resolved_batch_size(len(self.x))
        # Recorded weights, flattened: one row per recorded epoch (row 0 is the start).
        count = len(result.weight_epochs)
        rows = np.concatenate([np.asarray(w, float).reshape(count, -1) for w in result.weight_history], axis=1)
        finite = np.all(np.isfinite(rows), axis=1)
        self.weight_rows = rows[finite]
        self.weight_epochs = np.asarray(result.weight_epochs)[finite]
        self.initial = [np.asarray(w[0]) for w in result.weight_history]
        self.final_weights = [np.asarray(w) for w in result.final_weights]

    def one_hot_targets(self) -> np.ndarray:
        """The targets as columns: one per class (1 or 0) for a classification, the scaled target for a regression."""
        if self.result.task == "classification":
            labels = np.asarray(self.y, float).round().astype(int)
            return (labels[:, None] == np.unique(labels)[None, :]).astype(float)
        return np.asarray(self.ys, float).reshape(len(self.ys), -1)

    # Loss over the run -------------------------------------------------------------------
    def tail(self, share: float = 0.2, minimum: int = 5) -> np.ndarray:
        n = self.epochs
        return self.losses[max(0, n - max(minimum, int(n * share))):]

    @property
    def lowest(self) -> tuple[float, int]:
        i = int(np.argmin(self.losses))
        return float(self.losses[i]), i + 1

    # Weights -----------------------------------------------------------------------------
    def moved(self) -> float | None:
        """How far the weights moved from their start, as a share of their starting size."""
        if len(self.weight_rows) < 2:
            return None
        start = np.linalg.norm(self.weight_rows[0])
        return float(np.linalg.norm(self.weight_rows[-1] - self.weight_rows[0]) / start) if start > 0 else None

    def step_per_epoch(self, share: float = 0.2) -> float | None:
        """The median change of the weights per epoch over the last `share` of the run, relative to their size."""
        rows, epochs = self.weight_rows, self.weight_epochs
        if len(rows) < 6:
            return None
        start = max(1, len(rows) - max(5, int(len(rows) * share)))
        steps = np.linalg.norm(np.diff(rows[start - 1:], axis=0), axis=1) / np.maximum(np.diff(epochs[start - 1:]), 1)
        size = np.linalg.norm(rows[-1])
        return float(np.median(steps) / size) if size > 0 else None

    def boundaries(self, weights) -> np.ndarray:
        """Where each first-layer unit switches (ReLU kink, sigmoid/tanh midpoint), in original x (NaN: never)."""
        kernel, bias = split_layers(self.spec.model, weights)[0]
        w = np.asarray(kernel, float).ravel()
        b = np.zeros_like(w) if bias is None else np.asarray(bias, float).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(w != 0, self.x_scaler.shift - self.x_scaler.scale * b / w, np.nan)

    def at_edge(self, values: np.ndarray) -> np.ndarray:
        margin = EDGE_SHARE * self.span
        return ~np.isfinite(values) | (values <= self.lo + margin) | (values >= self.hi - margin)

    def no_gradient(self) -> str | None:
        """Why no gradient reaches the weights, if none can: then small steps are not the problem, and larger ones cannot help."""
        model = self.spec.model
        if model.output_activation == "softmax" and model.output_units == 1:
            return "a softmax over one unit is 1 whatever its input"
        if self.shapes[0].activation == "relu" and bool(np.all(self.dead_first_layer(self.initial))):
            return "every first-layer ReLU unit is 0 on every sample from the start"
        if model.output_activation == "relu":
            pre = layer_output(model, self.final_weights, self.xs, -1)[0]
            if bool(np.all(pre <= 0)):
                return "the ReLU output is 0 on every sample"
        if self.flat_gradient():
            return "the loss's gradient is 0 at the start and at the end of the run (every weight's derivative below 1e-6)"
        return None

    def gradient(self, weights) -> np.ndarray | None:
        """The training loss's gradient at `weights`, every weight's partial derivative by central differences (the float32 forward pass) on
        at most GRADIENT_ROWS points; None for a net of more than GRADIENT_PARAMS weights (too slow to check this way)."""
        if sum(np.size(w) for w in weights) > GRADIENT_PARAMS:
            return None
        step = max(1, len(self.xs) // GRADIENT_ROWS)
        xs, ys = np.asarray(self.xs, float)[::step], np.asarray(self.ys, float)[::step]
        model, loss = self.spec.model, self.spec.train.loss
        flat = [np.asarray(w, np.float64).copy() for w in weights]
        out = []
        with np.errstate(all="ignore"):
            for w in flat:
                for index in np.ndindex(w.shape):
                    keep = w[index]
                    h = 1e-3 * max(1.0, abs(keep))  # the forward pass is float32: a smaller step would measure its rounding
                    w[index] = keep + h
                    up = loss_value(loss, forward(model, flat, xs), ys)
                    w[index] = keep - h
                    down = loss_value(loss, forward(model, flat, xs), ys)
                    w[index] = keep
                    out.append((up - down) / (2 * h))
        return np.asarray(out)

    def flat_gradient(self) -> bool:
        """Whether the loss's gradient is 0 at the start and at the end of the run (checked for small nets only)."""
        scale = max(1.0, float(self.losses[-1])) if self.epochs else 1.0
        for weights in (self.initial, self.final_weights):
            g = self.gradient(weights)
            if g is None or not np.all(np.isfinite(g)) or float(np.max(np.abs(g), initial=0.0)) >= FLAT * scale:
                return False
        return True

    def dead_first_layer(self, weights) -> np.ndarray:
        """Whether each first-layer unit is at or below 0 on every training point, read ROWS points at a time (the
        server never holds a wide layer's values for every row of a big file)."""
        dead = np.ones(self.shapes[0].units, bool)
        for start in range(0, len(self.xs), ROWS):
            dead &= np.all(layer_output(self.spec.model, weights, self.xs[start:start + ROWS], 0)[1] <= 0, axis=0)
        return dead


def fail_role(facts: Facts, role: str = "cause") -> str:
    return role if not facts.met else "note"


def crossings(x: np.ndarray, values: np.ndarray) -> list[float]:
    from core.outcomes.readout import probability_crossings

    return probability_crossings(np.asarray(x, float), np.asarray(values, float))
