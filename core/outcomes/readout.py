"""Algebra and diagnostics read from a trained network's weights, all in original units.

- x^2 networks: the learned parabola A x^2 + B x + C; for the one-neuron family (a x + b)^2 the
  condition its members meet and how close the best member comes to the target.
- ReLU networks: each first-layer unit's kink x = -b/w, whether it lies in the data range, dead
  units, and each last-hidden-layer unit's contribution to the output.
- sigmoid/tanh networks: the share of samples on which each unit is saturated; for the classifier,
  each first-layer unit's threshold and where the predicted probability crosses 0.5.
- any regression: local extrema of the fit against the target's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.data.datasets import Dataset, Scaler
from core.outcomes.results import (
    ClassifierReadout,
    Contributions,
    Divergence,
    Extrema,
    LayerReadout,
    ParabolaReadout,
    Readout,
    RunResult,
    SquareFamily,
    UnitsReadout,
)
from core.settings.network import iter_layer_outputs, layer_output, layer_shapes, split_layers
from core.settings.specs import ModelSpec, RunSpec

# A sigmoid/tanh unit counts as saturated where its derivative is below this share of its maximum
# (sigmoid: s(1-s) < 0.05 * 0.25; tanh: 1 - t^2 < 0.05).
SATURATION_SHARE = 0.05
_SATURATING = {"sigmoid": 0.25, "tanh": 1.0}


# ---------------------------------------------------------------------------------------------
# Parabolas


def parabola_coefficients(a1: float, b1: float, a2: float, b2: float) -> tuple[float, float, float]:
    """a2 * (a1 x + b1)^2 + b2 = A x^2 + B x + C (the two-neuron model of the parabola post)."""
    return (a2 * a1**2, 2 * a2 * a1 * b1, a2 * b1**2 + b2)


def one_neuron_coefficients(a: float, b: float) -> tuple[float, float, float]:
    """(a x + b)^2 = A x^2 + B x + C with A = a^2, B = 2ab, C = b^2."""
    return (a**2, 2 * a * b, b**2)


def to_original_units(coefficients, x_scaler: Scaler, y_scaler: Scaler) -> tuple[float, float, float]:
    """Coefficients of a parabola in scaled units rewritten for original x and y."""
    a, b, c = coefficients
    k, s = x_scaler.scale, x_scaler.shift  # x_scaled = (x - s) / k
    big_a = a / k**2
    big_b = b / k - 2 * a * s / k**2
    big_c = a * s**2 / k**2 - b * s / k + c
    ky, sy = y_scaler.scale, y_scaler.shift  # y = y_scaled * ky + sy
    return (big_a * ky, big_b * ky, big_c * ky + sy)


def square_family_gap(coefficients, y_shift: float = 0.0) -> float:
    """B^2 - 4A(C - s): zero for every parabola of the family k (a x + b)^2 + s."""
    a, b, c = coefficients
    return b * b - 4 * a * (c - y_shift)


def best_in_square_family(x: np.ndarray, target: np.ndarray, y_scaler: Scaler) -> dict[str, Any]:
    """The member of ky * (p x + q)^2 + sy closest to `target` on x (least squares).

    Every member is c * (x - r)^2 (c >= 0) or a constant; for each root r the best c is linear least
    squares, so a dense scan of r followed by a local refinement finds the best member.
    """
    ky, sy = y_scaler.scale, y_scaler.shift
    goal = (np.asarray(target, float) - sy) / ky
    x = np.asarray(x, float)
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo

    def fit(r: float) -> tuple[float, float]:
        basis = (x - r) ** 2
        c = max(0.0, float(basis @ goal / (basis @ basis)))
        return float(np.mean((c * basis - goal) ** 2)), c

    roots = np.linspace(lo - 20 * span, hi + 20 * span, 4001)
    errors = [fit(r)[0] for r in roots]
    best = int(np.argmin(errors))
    left, right = roots[max(best - 1, 0)], roots[min(best + 1, len(roots) - 1)]
    for _ in range(60):  # golden-section refinement around the best scanned root
        m1, m2 = left + 0.382 * (right - left), left + 0.618 * (right - left)
        if fit(m1)[0] < fit(m2)[0]:
            right = m2
        else:
            left = m1
    r = (left + right) / 2
    mse, c = fit(r)
    # The constant members (p = 0): q^2 = max(mean(goal), 0).
    const = max(float(np.mean(goal)), 0.0)
    const_mse = float(np.mean((const - goal) ** 2))
    if const_mse < mse:
        coefficients = (0.0, 0.0, const)
    else:
        coefficients = (c, -2 * c * r, c * r * r)
    member = np.polyval(coefficients, x) * ky + sy
    coefficients = tuple(float(v) * ky for v in coefficients[:2]) + (float(coefficients[2]) * ky + sy,)
    err = member - np.asarray(target, float)
    return {
        "coefficients": list(coefficients),
        "rms_error": float(np.sqrt(np.mean(err**2))),
        "max_abs_error": float(np.max(np.abs(err))),
    }


def parabola_from_weights(spec: ModelSpec, weights, x_scaler: Scaler, y_scaler: Scaler) -> tuple[float, float, float] | None:
    """A x^2 + B x + C in original units for the two-neuron or one-neuron x^2 model, else None."""
    shapes = layer_shapes(spec)
    layers = split_layers(spec, weights)
    bias = lambda b: 0.0 if b is None else float(np.asarray(b).ravel()[0])
    if len(shapes) == 2 and shapes[0].units == 1 and shapes[0].activation == "square" and shapes[1].activation == "linear":
        (k1, b1), (k2, b2) = layers
        scaled = parabola_coefficients(float(np.asarray(k1).ravel()[0]), bias(b1), float(np.asarray(k2).ravel()[0]), bias(b2))
    elif len(shapes) == 1 and shapes[0].activation == "square":
        (k1, b1), = layers
        scaled = one_neuron_coefficients(float(np.asarray(k1).ravel()[0]), bias(b1))
    else:
        return None
    return to_original_units(scaled, x_scaler, y_scaler)


def coefficient_trajectory(result: RunResult) -> dict[str, np.ndarray] | None:
    """A, B, C at every recorded epoch (None unless the model is an x^2 parabola model)."""
    spec = result.spec.model
    scalers = (Scaler(**result.scalers["x"]), Scaler(**result.scalers["y"]))
    rows = []
    for i in range(len(result.weight_epochs)):
        weights = [w[i] for w in result.weight_history]
        coefficients = parabola_from_weights(spec, weights, *scalers)
        if coefficients is None:
            return None
        rows.append(coefficients)
    values = np.asarray(rows, dtype=float).reshape(-1, 3)
    return {"epoch": np.asarray(result.weight_epochs), "A": values[:, 0], "B": values[:, 1], "C": values[:, 2]}


def _parabola_readout(spec: ModelSpec, weights, data: Dataset, grid: np.ndarray, target: np.ndarray,
                      detail: bool) -> ParabolaReadout | None:
    coefficients = parabola_from_weights(spec, weights, data.x_scaler, data.y_scaler)
    if coefficients is None:
        return None
    model = "two-neuron" if len(layer_shapes(spec)) == 2 else "one-neuron"
    goal = tuple(data.spec.coefficients) if data.spec.function == "parabola" else None
    family = None
    if model == "one-neuron" and detail:
        shift = data.y_scaler.shift
        best = best_in_square_family(grid, target, data.y_scaler)
        family = SquareFamily(
            form="(a x + b)^2" if data.y_scaler.kind == "none" else f"{data.y_scaler.scale:g} (a x + b)^2 + {shift:g}",
            condition="B^2 = 4 A C, A >= 0, C >= 0" if shift == 0 else f"B^2 = 4 A (C - {shift:g})",
            learned_gap=square_family_gap(coefficients, shift),
            target_gap=square_family_gap(goal or coefficients, shift),
            best_coefficients=tuple(best["coefficients"]),
            best_rms_error=best["rms_error"],
            best_max_abs_error=best["max_abs_error"],
        )
    return ParabolaReadout(model=model, coefficients=tuple(float(c) for c in coefficients), target=goal, family=family)


# ---------------------------------------------------------------------------------------------
# Units


def _states(shape, post: np.ndarray) -> tuple:
    """(dead ReLU units, saturated share per sigmoid/tanh unit) of one hidden layer's outputs on the training data."""
    dead = saturated = None
    if shape.activation == "relu":
        dead = tuple(int(i) for i in np.flatnonzero(np.all(post <= 0, axis=0)))
    if shape.activation in _SATURATING:
        slope = post * (1 - post) if shape.activation == "sigmoid" else 1 - post**2
        saturated = tuple(float(v) for v in np.mean(slope < SATURATION_SHARE * _SATURATING[shape.activation], axis=0))
    return dead, saturated


def _units_readout(spec: ModelSpec, weights, data: Dataset, replay_x: np.ndarray) -> UnitsReadout | None:
    shapes = layer_shapes(spec)
    hidden = shapes[:-1]
    if not hidden:
        return None
    # Each hidden layer is read as the pass reaches it (the output layer is not computed): one layer's values at a time.
    layers, positive = [], None
    for shape, (pre, post) in zip(hidden, iter_layer_outputs(spec, weights, data.x_train, upto=len(hidden) - 1)):
        layers.append(LayerReadout(shape.name, shape.activation, shape.units, *_states(shape, post)))
        if positive is None and data.inputs > 1:
            positive = np.mean(pre > 0, axis=0)
    if data.inputs > 1:  # two inputs: no kink or threshold on a line; which side of its boundary each unit puts the data
        return UnitsReadout(layers=tuple(layers), positive_share=tuple(float(v) for v in positive))
    lo, hi = data.x_range
    # First-layer boundaries in original x: w * (x - s) / k + b = 0  ->  x = s - k b / w.
    first_kernel, first_bias = split_layers(spec, weights)[0]
    k, s = data.x_scaler.scale, data.x_scaler.shift
    w = first_kernel.ravel().astype(np.float64)
    b = np.zeros_like(w) if first_bias is None else first_bias.ravel().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        boundary = np.where(w != 0, s - k * b / w, np.nan)
    boundaries = tuple(None if not np.isfinite(v) else float(v) for v in boundary)
    inside = tuple(v is not None and lo < v < hi for v in boundaries)
    first = hidden[0].activation
    # Each last-hidden-layer unit's share of the output (before the output activation), in
    # original y units: w_out_i * h_i(x) * ky; the offset holds the output bias and y's shift.
    contributions = None  # one output per class: each unit feeds every class's score, not one curve
    if spec.output_units == 1:
        replay_scaled = data.x_scaler.transform(replay_x).astype(np.float32)
        last_hidden = layer_output(spec, weights, replay_scaled, len(hidden) - 1)[1]
        out_kernel, out_bias = split_layers(spec, weights)[-1]
        ky = data.y_scaler.scale
        additive = spec.output_activation == "linear"
        shares = last_hidden * out_kernel.ravel()[None, :] * (ky if additive else 1.0)
        offset = 0.0 if out_bias is None else float(out_bias.ravel()[0])
        contributions = Contributions(x=np.asarray(replay_x, float), units=np.asarray(shares.T, float),
                                      offset=offset * ky + data.y_scaler.shift if additive else offset, additive=additive)
    return UnitsReadout(
        layers=tuple(layers),
        kinks=boundaries if first == "relu" else None,
        kink_in_range=inside if first == "relu" else None,
        thresholds=boundaries if first in _SATURATING else None,
        threshold_in_range=inside if first in _SATURATING else None,
        contributions=contributions,
    )


# ---------------------------------------------------------------------------------------------
# Curves


def count_extrema(values: np.ndarray, tolerance: float | None = None) -> int:
    """Local minima and maxima of a sampled curve, ignoring wiggles smaller than `tolerance`.

    The default tolerance is 0.5% of the curve's range, so float noise on a flat piece (a dead
    ReLU, a saturated tanh) is not counted.
    """
    values = np.asarray(values, float)
    if values.size < 3 or not np.all(np.isfinite(values)):
        return 0
    span = float(values.max() - values.min())
    if span == 0:
        return 0
    tol = 0.005 * span if tolerance is None else tolerance
    count, direction, anchor = 0, 0, values[0]
    extreme = values[0]
    for v in values[1:]:
        if direction >= 0 and v > extreme or direction <= 0 and v < extreme:
            extreme = v
        if direction == 0:
            if abs(v - anchor) > tol:
                direction = 1 if v > anchor else -1
                extreme = v
        elif direction == 1 and extreme - v > tol:
            count += 1
            direction, extreme = -1, v
        elif direction == -1 and v - extreme > tol:
            count += 1
            direction, extreme = 1, v
    return count


def class_changes(x: np.ndarray, classes: np.ndarray) -> list[float]:
    """Where a sampled predicted class changes, halfway between the samples on either side."""
    c = np.asarray(classes, float)
    idx = np.flatnonzero(c[:-1] != c[1:])
    return [float((x[i] + x[i + 1]) / 2) for i in idx]


def probability_crossings(x: np.ndarray, p: np.ndarray, level: float = 0.5) -> list[float]:
    """Where a sampled curve crosses `level`, linearly interpolated between samples."""
    d = np.asarray(p, float) - level
    idx = np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)
    return [float(x[i] - d[i] * (x[i + 1] - x[i]) / (d[i + 1] - d[i])) for i in idx]


# ---------------------------------------------------------------------------------------------
# The whole readout and its plain-language diagnostics


def summarize(spec: RunSpec, data: Dataset, weights, grid_prediction: np.ndarray, detail: bool = True) -> Readout:
    """The readout of weights trained on `data`; `detail` False keeps what a restarts member needs.

    `grid_prediction` is the fit on `data.grid()` in original units. Without detail the units and
    the one-neuron family (a scan of its members) are left out: criteria and seed tables need only
    the extrema, the coefficients and the 0.5 crossings.
    """
    # The last finite weights of a diverging run can still overflow float32 on the grid.
    with np.errstate(all="ignore"):
        grid, target = data.grid(), data.target(data.grid())
        units = _units_readout(spec.model, weights, data, data.replay_grid()) if detail else None
        labels = np.asarray(data.y, float).ravel()
        if data.inputs > 1:  # a plane: no curve to count turns or crossings on
            if data.resolved_task == "regression":
                return Readout(units=units)
            majority = float(np.max(np.bincount(labels.astype(int))) / len(labels)) if len(labels) else 0.0
            return Readout(units=units, classifier=ClassifierReadout((), majority))
        if data.resolved_task == "regression":
            return Readout(units=units, extrema=Extrema(count_extrema(grid_prediction), count_extrema(target)),
                           parabola=_parabola_readout(spec.model, weights, data, grid, target, detail))
        labels = np.asarray(data.y, float).ravel().astype(int)
        majority = float(np.max(np.bincount(labels)) / len(labels)) if len(labels) else 0.0
        if spec.model.output_units > 1:  # the predicted class: where it changes
            crossings = class_changes(grid, grid_prediction)
        else:
            crossings = probability_crossings(grid, grid_prediction)
        return Readout(units=units, classifier=ClassifierReadout(tuple(crossings), majority))


# Learning rates above these are "high" for an optimizer in this lab's small nets (Keras defaults are
# 0.01 for sgd and 0.001 for the adaptive ones, which move each weight by about the learning rate).
HIGH_LEARNING_RATE = {"sgd": 0.05, "adam": 0.01, "rmsprop": 0.01, "adagrad": 0.1}


def divergence(spec: RunSpec, losses: np.ndarray, y: np.ndarray, diverged_at: int | None,
               diverged_step: int | None) -> Divergence | None:
    """Where a diverged run blew up and the likely causes, each read from its settings and data.

    `losses` are the finite epochs' losses before the diverging epoch `diverged_at` (1-based), `y`
    the training targets in original units, `diverged_step` the first non-finite optimizer step
    (from the start) when known. Returns None for a run that did not diverge.
    """
    if not diverged_at:
        return None
    train, model, data = spec.train, spec.model, spec.data
    n = data.n_samples
    batch = train.resolved_batch_size(n)
    losses = np.asarray(losses, dtype=float)
    last = float(losses[-1]) if losses.size else None
    growth = float(losses[-1] / losses.min()) if losses.size and losses.min() > 0 else None
    causes, fixes = [], []
    lr = train.learning_rate
    high = HIGH_LEARNING_RATE[train.optimizer]
    if lr >= high:
        size = ("batch size 1: every single sample moves the weights by a full step, so one sample with a large error "
                "throws them far" if batch == 1 else f"batch size {batch}")
        causes.append(f"The learning rate {lr:g} is high for {train.optimizer} (above {high:g}) with {size}.")
        fixes.append(f"a learning rate of {lr / 10:g} or less (train.learning_rate)")
        if batch == 1:
            fixes.append("a larger batch, e.g. 32 (train.batch_size)")
    if train.loss == "sse":
        causes.append(f"The loss is a sum over each batch (sse), so its gradient is {batch} times that of the mean (mse): "
                      f"an effective learning rate of {lr * batch:g}.")
        fixes.append("loss mse (train.loss)")
    if "square" in model.activation or model.output_activation == "square":
        causes.append("The x² activation squares its input: an overshooting step makes the outputs, and with them the next "
                      "gradient, grow quadratically, a feedback that runs away.")
    span = max(abs(data.x_min), abs(data.x_max))
    if data.x_scaling == "none" and span > 5:
        causes.append(f"The input is not scaled and reaches |x| = {span:g}: every first-layer gradient is multiplied by x.")
        fixes.append("x scaling standard (data.x_scaling)")
    y = np.asarray(y, float)
    y_span = float(np.max(np.abs(y))) if y.size else 0.0
    if data.resolved_task == "regression" and data.y_scaling == "none" and y_span > 10:
        causes.append(f"The target is not scaled and reaches |y| = {y_span:.3g}, so early errors and gradients are large.")
        fixes.append("y scaling standard (data.y_scaling)")
    if model.kernel_init_scale is not None and model.kernel_init_scale > 1:
        causes.append(f"The initial weights are large (scale {model.kernel_init_scale:g}).")
        fixes.append("a smaller initializer scale (model.kernel_init_scale)")
    if not causes:
        causes.append(f"The steps overshoot: with learning rate {lr:g} ({train.optimizer}, batch size {batch}) an update "
                      f"lands where the loss is larger, and each later update overshoots further.")
        fixes.append(f"a learning rate of {lr / 10:g} (train.learning_rate)")
    if train.clipnorm is None and train.global_clipnorm is None:
        fixes.append("gradient clipping, e.g. 1 (train.clipnorm)")
    steps_per_epoch = train.steps_per_epoch(n)
    step = diverged_step or diverged_at * steps_per_epoch
    epoch = int(diverged_at)
    summary = (f"in epoch {epoch:,}, at optimizer step {step:,} (step {step - (epoch - 1) * steps_per_epoch:,} of "
               f"{steps_per_epoch:,} in that epoch): the loss became NaN or infinite. ")
    if last is None:
        summary += "No epoch finished with a finite loss, so the charts show the starting weights."
    else:
        grew = f", {growth:.3g} times its lowest" if growth and growth > 10 else ""
        summary += f"The last finite loss was {last:.4g} (epoch {epoch - 1:,}{grew}); the charts show the run up to there."
    return Divergence(epoch=epoch, step=int(step), step_in_epoch=int(step - (epoch - 1) * steps_per_epoch),
                      steps_per_epoch=steps_per_epoch, last_loss=last, growth=growth, summary=summary,
                      causes=tuple(causes), fixes=tuple(dict.fromkeys(fixes)))
