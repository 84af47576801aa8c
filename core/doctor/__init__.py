"""The doctor: why a run fails, read from its own numbers, and what fixes it, measured over seeds.

`findings(result, criterion)` reads a finished run (its loss history, recorded weights, readout and
data) and returns `Finding`s: each with an id from a fixed vocabulary, a role (cause, symptom or
note), a text written for this run and the numbers it rests on. On a run that meets its criterion
nothing is a cause: every finding there is a note.

`candidates(result, found)` turns the findings into concrete changes of the spec (a learning rate
ten times lower, standardised x, biases on, ...). `find_fixes(...)` trains the setup as it is (the
control) and every candidate on the same seeds with the restarts engine, then combinations of the
best single changes (pairs, then triples) until one succeeds on `target` of the seeds or the time
budget is spent, and ranks them by success rate, then by how small the change is.

Nothing here is keyed to a scenario or a preset, and nothing imports TensorFlow: the training is a
`measure(spec, seeds, progress, stop) -> RestartsResult` callable (a worker process on the page and
on the command line).

Example:
    >>> found = findings(result, scenario.criterion)
    >>> [(f.id, f.role) for f in found]
    [('step_too_large', 'cause'), ...]
    >>> report = find_fixes(result.spec, found, result, scenario.criterion, measure, seeds=16)
    >>> report.best.changes, report.best.successes
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.cases.scenarios import Criterion
from core.data.datasets import Scaler, features
from core.outcomes.restarts import seeds_for, summarize_sweep, wilson_interval
from core.outcomes.results import Finding, RestartsResult, RunResult
from core.settings.network import layer_outputs, layer_shapes, split_layers
from core.settings.specs import FEATURES, MAX_EPOCHS, MAX_UNITS, RunSpec, SpecError

DEFAULT_SEEDS = 16  # seeds per candidate (paired: every candidate trains on the same ones)
HEAVY_SEEDS = 8  # ... for a setup whose one run costs more than HEAVY_WORK samples seen x parameters
HEAVY_WORK = 1e9
TARGET_RATE = 0.9  # the search stops once a candidate succeeds on this share of the seeds
TOP_SINGLES = 4  # the best single changes that are combined into pairs and triples
EDGE_SHARE = 0.02  # a boundary within 2% of the span from an end of the data range is "at the edge"
# Output activations and the values they can produce (scaled units).
OUTPUT_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, math.inf), "softplus": (0.0, math.inf),
                "square": (0.0, math.inf), "elu": (-1.0, math.inf), "selu": (-1.7581, math.inf)}
SATURATING = {"sigmoid": 0.25, "tanh": 1.0}  # the activation's largest slope
SATURATED_SLOPE = 0.05  # saturated: slope below 5% of the activation's largest
WORKING_RANGE = 3.0  # |scaled x| beyond this is far outside tanh's and sigmoid's working range
ROLE_ORDER = {"cause": 0, "symptom": 1, "note": 2}


def default_seeds(spec: RunSpec) -> int:
    """16 seeds per candidate, or 8 for a heavy setup (noisy-sine's 3000 full-batch epochs), so a search takes minutes."""
    from core.runner.budget import cost

    return HEAVY_SEEDS if cost(spec).sample_params > HEAVY_WORK else DEFAULT_SEEDS


# ---------------------------------------------------------------------------------------------
# Findings


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


def _pct(share: float) -> str:
    if share == 0:
        return "0%"
    return f"{share:.0%}" if share >= 0.01 else f"{share * 100:.2g}%"


def _xs(values, most: int = 6) -> str:
    """x = 0 ×18, x = 2.4, ...: equal values (to 3 digits) once, with their count, at most `most` of them."""
    counts: dict[str, int] = {}
    for v in values:
        counts[_num(v)] = counts.get(_num(v), 0) + 1
    items = [f"x = {k}" + (f" ×{n}" if n > 1 else "") for k, n in counts.items()]
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


class _Facts:
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

    def dead_first_layer(self, weights) -> np.ndarray:
        post = layer_outputs(self.spec.model, weights, self.xs)[0][1]
        return np.all(post <= 0, axis=0)


def findings(result: RunResult, criterion: Criterion, restarts: dict | None = None) -> list[Finding]:
    """What the doctor reads from `result`, causes first; `restarts` is a summarize_sweep report of the same settings."""
    facts = _Facts(result, criterion)
    found: list[Finding] = []
    for rule in _RULES:
        with np.errstate(all="ignore"):
            item = rule(facts)
        if item is not None:
            found.append(item)
    if restarts is not None:
        item = _seed_dependent(facts, restarts)
        if item is not None:
            found.append(item)
    if not facts.met and not any(f.role == "cause" for f in found):
        found.append(Finding("unexplained", "note", (
            "None of the doctor's checks explains this failure from the run's numbers (no divergence, no step too large or "
            "too small, no dead or saturated units, no scaling or output-range problem). The candidates below try more "
            "capacity, other learning rates and more epochs."), {"checks": len(_RULES)}))
    if facts.met:  # nothing explains a failure that did not happen
        found = [Finding(f.id, "note", f.text, f.evidence) if f.role != "note" else f for f in found]
    elif any(f.id == "capacity" and f.role == "cause" and f.evidence.get("proved") for f in found):
        # The best network of this architecture, computed exactly, fails: nothing but the architecture can explain it.
        found = [Finding(f.id, "note", f.text, f.evidence) if f.role == "cause" and f.id != "capacity" else f for f in found]
    return sorted(found, key=lambda f: ROLE_ORDER[f.role])


diagnose = findings  # the name the design uses for it


def _fail_role(facts: _Facts, role: str = "cause") -> str:
    return role if not facts.met else "note"


def _diverged(f: _Facts) -> Finding | None:
    d = f.result.divergence
    if d is None:
        return None
    text = (f"Training diverged {d.summary} " + " ".join(d.causes))
    return Finding("diverged", "cause", text, {"epoch": d.epoch, "step": d.step, "last_loss": d.last_loss, "growth": d.growth,
                                               "learning_rate": f.spec.train.learning_rate, "batch_size": f.batch})


def _step_too_large(f: _Facts) -> Finding | None:
    if f.result.divergence is not None or f.epochs < 10:
        return None
    tail = f.tail()
    rises = float(np.mean(np.diff(tail) > 0))
    lowest, lowest_epoch = f.lowest
    final = float(f.losses[-1])
    step = f.step_per_epoch()
    bouncing = tail.min() > 0 and (final >= 2 * lowest or tail.max() / tail.min() >= 1.5)
    if not (rises >= 0.3 and bouncing and step is not None and step >= 0.005):
        return None
    t = f.spec.train
    window = len(tail)
    evidence = {"learning_rate": t.learning_rate, "optimizer": t.optimizer, "batch_size": f.batch, "window_epochs": window,
                "weight_step_per_epoch": step, "loss_rises_share": rises, "final_loss": final, "lowest_loss": lowest,
                "lowest_epoch": lowest_epoch}
    text = (f"The steps are too large: with {t.optimizer} at learning rate {t.learning_rate:g} and batch size {f.batch:,}, "
            f"the weights still jump by a median {_pct(step)} of their size per epoch over the last {window:,} epochs, "
            f"and the loss rose in {_pct(rises)} of them instead of settling.")
    coefficients = _coefficient_jumps(f, window)
    if coefficients:
        evidence.update(coefficients["evidence"])
        text += " " + coefficients["text"]
    text += (f" The lowest loss, {_num(lowest, 4)} at epoch {lowest_epoch:,}, was not kept: the run ended at {_num(final, 4)}"
             + (f", {final / lowest:.3g} times higher." if lowest > 0 else "."))
    return Finding("step_too_large", _fail_role(f), text, evidence)


def _coefficient_jumps(f: _Facts, window: int) -> dict | None:
    """For an x^2 model: how far A, B, C jump from epoch to epoch at the end, and how close the run came to the target."""
    from core.outcomes.readout import coefficient_trajectory

    trajectory = coefficient_trajectory(f.result)
    if trajectory is None or len(trajectory["epoch"]) < 6:
        return None
    start = max(0, len(trajectory["epoch"]) - window)
    evidence, parts = {}, []
    for name in ("A", "B", "C"):
        values = trajectory[name][start:]
        jump = float(np.median(np.abs(np.diff(values))))
        evidence[f"{name}_range"] = [float(values.min()), float(values.max())]
        evidence[f"{name}_jump_per_epoch"] = jump
        parts.append(f"{name} between {_num(values.min())} and {_num(values.max())} (a median jump of {_num(jump, 2)} per epoch)")
    text = "The learned coefficients bounce over those epochs: " + "; ".join(parts) + "."
    parabola = f.result.readout.parabola
    if parabola is not None and parabola.target is not None:
        target = np.asarray(parabola.target, float)
        errors = np.max(np.abs(np.stack([trajectory[n] for n in "ABC"], axis=1) - target), axis=1)
        closest = int(np.argmin(errors))
        evidence.update(closest_epoch=int(trajectory["epoch"][closest]), closest_error=float(errors[closest]))
        text += (f" The run came closest to the target at epoch {int(trajectory['epoch'][closest]):,} (every coefficient within "
                 f"{_num(errors[closest], 2)}) and moved away again.")
    return {"text": text, "evidence": evidence}


def _step_too_small(f: _Facts) -> Finding | None:
    moved = f.moved()
    if f.result.divergence is not None or moved is None or moved >= 0.1 or f.epochs < 2:
        return None
    t = f.spec.train
    steps = f.result.steps
    drop = float(f.losses[-1] / f.losses[0]) if f.losses[0] > 0 else None
    evidence = {"moved_share": moved, "optimizer_steps": steps, "learning_rate": t.learning_rate, "optimizer": t.optimizer,
                "first_loss": float(f.losses[0]), "final_loss": float(f.losses[-1])}
    text = (f"The steps are too small: in {steps:,} optimizer steps ({t.optimizer} at learning rate {t.learning_rate:g}) the "
            f"weights moved by only {_pct(moved)} of their starting size, so the network is still close to its random start.")
    if t.loss == "sse":
        text += f" (The summed loss already multiplies the gradient by the batch size, {f.batch:,}; the steps are small even so.)"
    if drop is not None and drop > 0.5:
        text += f" The loss barely fell: it ended at {_pct(drop)} of its first value."
    return Finding("step_too_small", _fail_role(f), text, evidence)


def _undertrained(f: _Facts) -> Finding | None:
    if f.result.divergence is not None or f.epochs < 20 or f.met:
        return None
    n = f.epochs
    start = int(n * 0.9)
    before, final = float(f.losses[start - 1]), float(f.losses[-1])
    tail = f.losses[start - 1:]
    if not (before > 0 and final < 0.98 * before and np.mean(np.diff(tail) > 0) < 0.3):
        return None
    evidence = {"loss_at_90_percent": before, "final_loss": final, "epochs": n, "fell_share": 1 - final / before}
    text = (f"Still improving at the end: the loss fell by {_pct(1 - final / before)} over the last {n - start + 1:,} of "
            f"{n:,} epochs (from {_num(before, 4)} to {_num(final, 4)}) and had not levelled off.")
    return Finding("undertrained", "symptom", text, evidence)


def _plateau(f: _Facts) -> Finding | None:
    if f.result.divergence is not None or f.epochs < 20 or f.met:
        return None
    half = f.losses[f.epochs // 2:]
    final = float(f.losses[-1])
    if not (final > 0 and (half.max() - half.min()) <= 0.01 * final):
        return None
    settled = int(np.flatnonzero(np.abs(f.losses - final) > 0.01 * final).max(initial=-1)) + 2
    evidence = {"final_loss": final, "flat_since_epoch": settled, "epochs": f.epochs}
    text = (f"The loss has been flat at {_num(final, 4)} since about epoch {settled:,} of {f.epochs:,} (within 1%): "
            f"training is stuck, not slow, so more epochs alone will not help.")
    return Finding("plateau", "symptom", text, evidence)


def _dead_units(f: _Facts) -> Finding | None:
    units = f.result.readout.units
    if units is None:
        return None
    layers = [layer for layer in units.layers if layer.dead_units]
    if not layers:
        return None
    worst = max(len(layer.dead_units) / layer.units for layer in layers)
    parts = [f"{len(layer.dead_units)} of {layer.units} ReLU units in {layer.name}" for layer in layers]
    evidence = {layer.name: {"dead": len(layer.dead_units), "units": layer.units} for layer in layers}
    text = (f"Dead units: {', '.join(parts)} output 0 on every training sample, so they add nothing to the fit and get no "
            f"gradient to recover.")
    first = f.shapes[0]
    if first.activation == "relu" and units.layers[0].dead_units:
        at_start = int(np.sum(f.dead_first_layer(f.initial)))
        evidence["dead_at_start_first_layer"] = at_start
        if at_start:
            text += f" In {first.name}, {at_start} were dead from the first step: their initial weights switch them off on all the data."
    flat = float(np.ptp(f.result.grid_prediction)) if f.result.grid_prediction.size else 0.0
    if units.layers and len(units.layers[-1].dead_units or ()) == units.layers[-1].units:
        text += f" Every unit of {units.layers[-1].name} is dead, so the fit is a constant ({_num(float(f.result.grid_prediction[0]))})."
        evidence["fit_range"] = flat
    role = _fail_role(f) if worst >= 0.25 else "note"
    return Finding("dead_units", role, text, evidence)


def _saturated_units(f: _Facts) -> Finding | None:
    units = f.result.readout.units
    parts, evidence = [], {}
    for layer in units.layers if units else ():
        shares = layer.saturated_share
        if not shares:
            continue
        stuck = [i for i, v in enumerate(shares) if v >= 0.5]
        if stuck:
            parts.append(f"{len(stuck)} of {layer.units} {layer.activation} units in {layer.name}")
            evidence[layer.name] = {"saturated": len(stuck), "units": layer.units, "median_share": float(np.median([shares[i] for i in stuck]))}
    output = f.shapes[-1]
    if output.activation in SATURATING:
        pre, post = layer_outputs(f.spec.model, f.final_weights, f.xs)[-1]
        slope = post * (1 - post) if output.activation == "sigmoid" else 1 - post**2
        share = float(np.mean(slope < SATURATED_SLOPE * SATURATING[output.activation]))
        if share >= 0.5 and f.result.task == "regression":
            parts.append(f"the {output.activation} output unit on {_pct(share)} of the samples")
            evidence["output"] = {"saturated_share": share}
    if not parts:
        return None
    text = (f"Saturated units: {'; '.join(parts)} sit on the flat part of their S-curve (slope below {_pct(SATURATED_SLOPE)} "
            f"of its largest) on at least half of the samples, where their gradient is nearly zero and they barely learn.")
    kernel = np.asarray(split_layers(f.spec.model, f.initial)[0][0], float).ravel()
    reach = float(np.max(np.abs(kernel)) * np.max(np.abs(f.xs)))
    evidence["initial_first_layer_reach"] = reach
    if reach > WORKING_RANGE:
        text += (f" At the start, |w x| in the first layer already reached {_num(reach)} (|scaled x| up to "
                 f"{_num(float(np.max(np.abs(f.xs))))}, |w| up to {_num(float(np.max(np.abs(kernel))))}): far beyond the ±{WORKING_RANGE:g} "
                 f"where a {f.shapes[0].activation} unit bends.")
    if f.met:
        text += " They make the sharp steps this fit needs, so here that is not a problem."
    return Finding("saturated_units", _fail_role(f), text, evidence)


def _unscaled_input(f: _Facts) -> Finding | None:
    xs = np.asarray(f.xs, float)
    reach, mean, std = float(np.max(np.abs(xs))), float(np.mean(xs)), float(np.std(xs))
    far = reach > WORKING_RANGE
    off_centre = std > 0 and abs(mean) > std
    if not (far or off_centre):
        return None
    scaling = f.spec.data.x_scaling
    where = (f"x is used as it is, from {_num(f.lo)} to {_num(f.hi)}" if scaling == "none"
             else f"x is scaled ({scaling}) to [{_num(float(xs.min()))}, {_num(float(xs.max()))}]")
    if f.inputs > 1:
        fed = ", ".join(f.spec.data.input_features)
        where = (f"the first layer is fed ({fed}) from {_num(float(xs.min()))} to {_num(float(xs.max()))}"
                 + (" (the inputs as they are)" if scaling == "none" else f" (inputs scaled: {scaling})"))
    evidence = {"x_scaling": scaling, "scaled_min": float(xs.min()), "scaled_max": float(xs.max()), "scaled_mean": mean, "scaled_std": std}
    if far:
        first = f.spec.model.activation[0] if f.spec.model.activation else f.spec.model.output_activation
        if first in SATURATING:
            why = f"{first} units bend only for |w x + b| within about ±{WORKING_RANGE:g}"
        else:
            why = (f"the initial weights are sized for inputs of about ±1, so the first layer starts about {_num(reach)} times "
                   "too steep")
        text = (f"The input is not scaled to the units' working range: {where}, while {why}, and every first-layer gradient "
                f"is multiplied by x, so the large x dominate the steps.")
        return Finding("unscaled_input", _fail_role(f), text, evidence)
    text = (f"The input is not centred: {where}, mean {_num(mean)} against a spread of {_num(std)}, so a unit's switch point "
            f"with a zero bias (scaled x = 0) lies at the {'left' if mean > 0 else 'right'} edge of the data.")
    return Finding("unscaled_input", "note", text, evidence)


def _unscaled_target(f: _Facts) -> Finding | None:
    if f.result.task != "regression":
        return None
    reach = float(np.max(np.abs(f.ys)))
    if reach <= 10:
        return None
    evidence = {"y_scaling": f.spec.data.y_scaling, "scaled_reach": reach}
    text = (f"The target is not scaled: the network must output values up to |y| = {_num(reach)}, so the output weights "
            f"must grow large and the first errors and gradients are huge.")
    return Finding("unscaled_target", _fail_role(f), text, evidence)


def _output_range(f: _Facts) -> Finding | None:
    act, units = f.spec.model.output_activation, f.spec.model.output_units
    if units > 1:  # one unit per class: the outputs must be probabilities that sum to 1
        if act == "softmax":
            return None
        text = (f"The output layer has {units} units with activation {act}, but a categorical cross-entropy reads them as "
                f"probabilities of the classes that sum to 1: only a softmax output makes them so.")
        return Finding("output_range", _fail_role(f), text, {"output_activation": act, "output_units": units, "loss": f.spec.train.loss})
    if act == "softmax":  # a softmax over one unit
        text = ("The output is a softmax over a single unit, which is e^z / e^z = 1 for every input: the prediction "
                "cannot change, so no gradient reaches any weight and the loss stays where it started. A softmax needs "
                "one unit per class; for one output use sigmoid (two classes) or linear (a regression).")
        return Finding("output_range", _fail_role(f), text, {"output_activation": act, "output_units": 1, "loss": f.spec.train.loss})
    if f.result.task == "classification":
        if act in ("sigmoid",):
            return None
        text = (f"The output activation is {act}, but binary cross-entropy needs a probability between 0 and 1: "
                f"Keras clips the output, so most of the loss's gradient is cut off.")
        return Finding("output_range", _fail_role(f), text, {"output_activation": act, "loss": f.spec.train.loss})
    if act not in OUTPUT_RANGE:
        return None
    low, high = OUTPUT_RANGE[act]
    ys = np.asarray(f.ys, float)
    outside = float(np.mean((ys < low) | (ys > high)))
    if outside < 0.01:
        return None
    evidence = {"output_activation": act, "can_produce": [low, high], "target_min": float(ys.min()), "target_max": float(ys.max()),
                "outside_share": outside}
    text = (f"The output cannot reach the target: a {act} output produces values in [{_num(low)}, {_num(high)}], but "
            f"{_pct(outside)} of the (scaled) targets lie outside, from {_num(float(ys.min()))} to {_num(float(ys.max()))}.")
    return Finding("output_range", _fail_role(f), text, evidence)


def _no_bias(f: _Facts) -> Finding | None:
    if f.spec.model.use_bias:
        return None
    if f.inputs > 1:
        centre = ", ".join(_num(float(v)) for v in np.atleast_1d(f.x_scaler.shift))
        text = (f"The network has no biases: every first-layer unit's boundary (where its weighted sum is 0) passes through "
                f"the same point, ({centre}) (the scaled inputs' origin), so no unit can move its line across the data, "
                f"only turn it.")
        return Finding("no_bias", _fail_role(f), text, {"centre": [float(v) for v in np.atleast_1d(f.x_scaler.shift)]})
    switch = float(f.x_scaler.shift)
    first = f.shapes[0].activation if len(f.shapes) > 1 else f.shapes[-1].activation
    left = float(np.mean(f.x < switch))
    evidence = {"switch_x": switch, "data_min": f.lo, "data_max": f.hi, "share_left_of_switch": left}
    text = (f"The network has no biases: every first-layer unit computes {first}(w x) and switches at the same point, "
            f"x = {_num(switch)} (scaled x = 0), with {_pct(left)} of the data to its left. No unit can move its bend, so the "
            f"fit is built from curves that all turn there and can bend elsewhere only where steeper and flatter ones add up.")
    return Finding("no_bias", _fail_role(f), text, evidence)


def _bends_outside_data(f: _Facts) -> Finding | None:
    if f.inputs > 1:
        return _lines_outside_data(f)
    if len(f.shapes) < 2 or not f.spec.model.use_bias:
        return None  # no hidden layer: nothing bends; no biases: no_bias says it
    act = f.shapes[0].activation
    kind = "kink" if act == "relu" else "midpoint" if act in SATURATING else None
    if kind is None:
        return None
    final = f.boundaries(f.final_weights)
    dead = f.dead_first_layer(f.final_weights) if act == "relu" else np.zeros(len(final), bool)
    edge = f.at_edge(final)
    count, total = int(edge.sum()), len(final)
    if count == 0:
        return None
    start = f.boundaries(f.initial)
    evidence = {"boundaries": [None if not np.isfinite(v) else float(v) for v in final], "units": total,
                "at_edge_or_outside": count, "dead_among_them": int((edge & dead).sum()), "data_range": [f.lo, f.hi],
                "initial_boundaries": [None if not np.isfinite(v) else float(v) for v in start]}
    outside = [float(v) for v in final[edge] if np.isfinite(v)]
    text = (f"Bends outside the data: {count} of the {total} {act} units in {f.shapes[0].name} have their {kind} at the edge "
            f"of the data range [{_num(f.lo)}, {_num(f.hi)}] or beyond it" + (f" ({_xs(outside)})" if outside else "")
            + ", where it shapes nothing inside.")
    if int((edge & dead).sum()):
        text += (f" {int((edge & dead).sum())} of them are the dead units: their switched-on side lies entirely outside the data.")
    working = ~edge & ~dead
    if act == "relu" and len(f.shapes) == 2:
        inside = [float(v) for v in final[working]]
        k = len(inside)
        text += (f" The fit bends only at the other {k}" + (f" ({_xs(inside)})" if inside else "")
                 + f", so it is at most {k + 1} straight piece{'s' if k else ''}.")
    finite = start[np.isfinite(start)]
    if finite.size and np.ptp(finite) < 1e-9 * max(1.0, f.span) and f.at_edge(finite[:1])[0]:
        scaling = f.spec.data.x_scaling
        how = (f"x is used as it is, from {_num(f.lo)} to {_num(f.hi)}" if scaling == "none"
               else f"x is scaled ({scaling}) to [{_num(float(f.xs.min()))}, {_num(float(f.xs.max()))}]")
        moved_in = int((~edge).sum())
        text += (f" Every {kind} started at x = {_num(float(finite[0]))}: the biases start at zero, so a {kind} begins where the "
                 f"scaled input is 0, and {how}, which puts that point at the edge of the data; training moved "
                 + (f"only {moved_in} of them inside." if moved_in else "none of them inside."))
        evidence["started_at_edge"] = float(finite[0])
    role = _fail_role(f) if count * 2 >= total else "note"
    return Finding("bends_outside_data", role, text, evidence)


def _too_few_bends(f: _Facts) -> Finding | None:
    """One ReLU layer: the fit is straight between kinks; a straight stretch over which the target turns cannot follow it."""
    if f.met or len(f.shapes) != 2 or f.shapes[0].activation != "relu" or f.result.task != "regression" or f.inputs > 1:
        return None
    from core.outcomes.readout import count_extrema

    final = f.boundaries(f.final_weights)
    working = ~f.dead_first_layer(f.final_weights) & ~f.at_edge(final)
    kinks = np.sort(final[working])
    edges = np.concatenate([[f.lo], kinks, [f.hi]])
    grid, target = np.asarray(f.result.grid_x, float), np.asarray(f.result.grid_target, float)
    worst = None
    for left, right in zip(edges[:-1], edges[1:]):
        inside = (grid >= left) & (grid <= right)
        turns = count_extrema(target[inside], tolerance=0.005 * float(np.ptp(target))) if inside.sum() > 2 else 0
        if turns and (worst is None or right - left > worst[1] - worst[0]):
            worst = (float(left), float(right), turns)
    if worst is None:
        return None
    left, right, turns = worst
    text = (f"Too few bends where the target turns: the fit is a straight line from x = {_num(left)} to x = {_num(right)} "
            f"(no working kink there), while the target turns {turns} time{'s' if turns != 1 else ''} on that stretch. "
            f"{int(working.sum())} of {len(final)} units have a kink inside the data.")
    return Finding("too_few_bends", _fail_role(f), text, {"straight_from": left, "straight_to": right, "target_turns": turns,
                                                          "kinks_inside": [float(v) for v in kinks]})


def _capacity(f: _Facts) -> Finding | None:
    if f.inputs > 1:
        return _linear_capacity(f)
    r = f.result.readout
    family = r.parabola.family if r.parabola is not None else None
    if family is not None and abs(family.target_gap) > 1e-9 and family.best_max_abs_error > 0:
        text = (f"The architecture cannot represent the target: every network of this shape is a member of the family "
                f"{family.form} (B^2 - 4AC = 0 for all of them), and the target's B^2 - 4AC is {_num(family.target_gap)}; "
                f"its best member still misses by up to {_num(family.best_max_abs_error)} on the data range.")
        return Finding("capacity", _fail_role(f), text, {"family": family.form, "target_gap": family.target_gap,
                                                         "best_max_abs_error": family.best_max_abs_error})
    hidden = f.shapes[:-1]
    target = np.asarray(f.result.grid_target, float)
    if f.result.task == "classification":
        turns = len(_crossings(f.result.grid_x, target))
        need = "two or more class boundaries" if turns >= 2 else None
    else:
        from core.outcomes.readout import count_extrema

        turns = count_extrema(target)
        need = f"{turns} turning point{'s' if turns != 1 else ''}" if turns else None
    if need is None:
        return None
    if not hidden and f.shapes[-1].activation != "square":
        text = (f"The architecture cannot represent the target: with no hidden layer the network is {f.shapes[-1].activation}(w x + b), "
                f"which only rises or only falls, and the target has {need}.")
        return Finding("capacity", _fail_role(f), text, {"hidden_layers": 0, "target_turns": turns})
    if len(hidden) == 1 and hidden[0].activation == "relu" and f.result.task == "regression" and hidden[0].units < turns:
        text = (f"The architecture cannot represent the target: {hidden[0].units} ReLU unit(s) make at most {hidden[0].units} "
                f"bends, and the target has {turns} turning points.")
        return Finding("capacity", _fail_role(f), text, {"units": hidden[0].units, "target_turns": turns})
    return None


def _is_linear(f: _Facts) -> bool:
    """Whether the network computes out(w · features + b): no hidden layer, or only linear ones."""
    return all(shape.activation == "linear" for shape in f.shapes[:-1]) and f.shapes[-1].activation != "square"


LINE_DIRECTIONS = 720  # directions searched for the best straight boundary over two features (every 0.5 degrees)
LINE_POINTS = 20_000  # points the search reads at most


def best_line_accuracy(xs: np.ndarray, y: np.ndarray, bias: bool = True) -> float | None:
    """The highest training accuracy of any one straight boundary over one or two features: for each direction w (both
    signs of one feature; LINE_DIRECTIONS of two) every threshold (only 0 without a bias). None for more features."""
    xs = np.asarray(xs, float)
    labels = np.asarray(y, float) > 0.5
    if xs.shape[1] > 2:
        return None
    if xs.shape[1] == 1:
        directions = np.array([[1.0], [-1.0]])
    else:
        angles = np.arange(LINE_DIRECTIONS) * 2 * np.pi / LINE_DIRECTIONS
        directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    scores = xs @ directions.T  # (points, directions)
    if not bias:  # the boundary passes through 0: class 1 where the score is positive
        return float(np.max(np.mean((scores > 0) == labels[:, None], axis=0)))
    order = np.argsort(scores, axis=0)
    ones = labels[order]  # each direction's labels from its lowest score up
    n, positives = len(labels), int(labels.sum())
    # Threshold after the k lowest scores: those are called 0, the rest 1. Correct = zeros among the k lowest
    # + ones among the others (k = 0..n; ties split only where scores differ, which a boundary can do anyway).
    zeros_low = np.concatenate([np.zeros((1, ones.shape[1])), np.cumsum(~ones, axis=0)])
    ones_low = np.concatenate([np.zeros((1, ones.shape[1])), np.cumsum(ones, axis=0)])
    correct = zeros_low + (positives - ones_low)
    return float(correct.max() / n)


def least_squares_plane(xs: np.ndarray, y: np.ndarray, bias: bool = True) -> np.ndarray:
    """The weights (w..., b) of the plane over the columns of `xs` closest to y in squared error."""
    a = np.column_stack([xs, np.ones(len(xs))]) if bias else np.asarray(xs, float)
    return np.linalg.lstsq(np.asarray(a, float), y, rcond=None)[0]


def _linear_capacity(f: _Facts) -> Finding | None:
    """Two inputs, a network linear in its features: the best straight boundary (or plane) over them, fitted exactly here,
    against the criterion. When even that best one fails, no training of this architecture can succeed."""
    if not _is_linear(f) or f.spec.model.output_units > 1:
        return None
    classify = f.result.task == "classification"
    bias = f.spec.model.use_bias
    names = ", ".join(f.spec.data.input_features)
    xs = np.asarray(f.xs, float)
    if classify:
        need = f.criterion.threshold if f.criterion.kind == "accuracy_at_least" else None
        # The ordering a boundary makes does not depend on the output activation: a threshold on w · features + b.
        rows = np.random.default_rng(0).permutation(len(xs))[:LINE_POINTS] if len(xs) > LINE_POINTS else slice(None)
        best = best_line_accuracy(xs[rows], f.y[rows], bias)
        exact = len(xs) <= LINE_POINTS
        if need is None or best is None or best >= need - 0.01:
            return None
        line = "one straight line" if xs.shape[1] == 2 else "one threshold"
        searched = f"searched here over {LINE_DIRECTIONS} directions and every offset" if xs.shape[1] == 2 else "searched here over every threshold"
        text = (f"The architecture cannot separate these classes: with no hidden layer the network is "
                f"{f.shapes[-1].activation}(w · ({names}) + b), so its boundary is {line} in ({names}). The best such "
                f"boundary, {searched}, classifies {_pct(best)} of the training points correctly"
                + ("" if exact else f" (on {LINE_POINTS:,} of them)") + f", and the criterion needs {_pct(need)}: no training "
                f"of this network can reach it.")
        evidence = {"hidden_layers": len(f.shapes) - 1, "features": list(f.spec.data.input_features), "best_line_accuracy": best,
                    "needed": need, "proved": exact}
        return Finding("capacity", _fail_role(f), text, evidence)
    w = least_squares_plane(xs, np.asarray(f.ys, float), bias)
    if f.criterion.kind != "max_abs_error_below":
        return None
    grid = np.asarray(f.result.grid_x, float)
    target = np.asarray(f.result.grid_target, float)
    if not np.all(np.isfinite(target)):
        return None
    gs = features(f.spec.data.input_features, f.x_scaler.transform(grid))
    fit = f.y_scaler.inverse((np.column_stack([gs, np.ones(len(gs))]) if bias else gs) @ w)
    worst = float(np.max(np.abs(fit - target)))
    if worst <= f.criterion.threshold:
        return None
    text = (f"The architecture cannot represent the target: with no hidden layer the network is a plane in ({names}), and "
            f"the best plane, fitted here by least squares, still misses the clean target by up to {_num(worst)} on the "
            f"square, where the criterion allows {_num(f.criterion.threshold)}.")
    return Finding("capacity", _fail_role(f), text, {"hidden_layers": len(f.shapes) - 1, "features": list(f.spec.data.input_features),
                                                     "best_linear_max_abs_error": worst, "allowed": f.criterion.threshold,
                                                     "proved": True})


def _lines_outside_data(f: _Facts) -> Finding | None:
    """Two inputs: first-layer units whose boundary (weighted sum 0) misses the training points bend nothing there."""
    units = f.result.readout.units
    if units is None or units.positive_share is None or not f.spec.model.use_bias:
        return None
    crosses = units.crosses_data
    act, total = f.shapes[0].activation, len(crosses)
    missing = [i for i, c in enumerate(crosses) if not c]
    across = [i + 1 for i, c in enumerate(crosses) if c]
    evidence = {"units": total, "crossing": across, "positive_share": list(units.positive_share)}
    if not missing:
        text = (f"Every one of the {total} units in {f.shapes[0].name} draws its boundary through the training points (the "
                f"lines where each unit's weighted sum is 0, on the Hidden units maps).")
        return Finding("unit_boundaries", "note", text, evidence)
    sides = []
    for i in missing:
        on = "switched off" if act == "relu" and units.positive_share[i] < 0.5 else "on one side"
        sides.append(f"unit {i + 1} ({on})")
    what = {"relu": "a tilted plane or nothing", "linear": "a tilted plane"}.get(act, "a nearly flat or tilted surface")
    text = (f"Boundaries outside the data: {len(missing)} of the {total} {act} units in {f.shapes[0].name} have every "
            f"training point on the same side of their boundary ({', '.join(sides)}), so over the data each adds only "
            f"{what}, no bend" + (f"; units {', '.join(map(str, across))} cross the data." if across else "; none crosses the data."))
    role = _fail_role(f) if len(missing) * 2 >= total else "note"
    return Finding("unit_boundaries", role, text, evidence)


def _crossings(x: np.ndarray, values: np.ndarray) -> list[float]:
    from core.outcomes.readout import probability_crossings

    return probability_crossings(np.asarray(x, float), np.asarray(values, float))


def _majority_class(f: _Facts) -> Finding | None:
    c = f.result.readout.classifier
    if c is None or not f.result.final or c.majority_share is None:
        return None
    acc = f.result.final.get("accuracy", 0.0)
    if round(acc * len(f.y)) != round(c.majority_share * len(f.y)):
        return None
    text = (f"Majority class: the accuracy, {acc:.4f}, is exactly the share of the commonest class, so the network predicts one "
            f"class everywhere, as a constant would.")
    return Finding("majority_class", "symptom", text, {"accuracy": acc, "majority_share": c.majority_share})


def _crossings_note(f: _Facts) -> Finding | None:
    c = f.result.readout.classifier
    if c is None or f.inputs > 1:
        return None
    fit = list(c.crossings)
    if f.spec.model.output_units > 1 or f.spec.data.n_classes > 2:  # classes, not a probability
        from core.outcomes.readout import class_changes

        target = class_changes(np.asarray(f.result.grid_x, float), np.rint(np.asarray(f.result.grid_target, float)))
        what = "The predicted class changes"
    else:
        target = _crossings(f.result.grid_x, f.result.grid_target)
        what = "The predicted probability crosses 0.5"
    text = (f"{what} at {len(fit)} place{'s' if len(fit) != 1 else ''}"
            + (f" ({_xs(fit)})" if fit else "") + f"; the target changes class at {len(target)}"
            + (f" ({_xs(target)})" if target else "") + ".")
    role = "symptom" if len(fit) != len(target) else "note"
    return Finding("crossings", role, text, {"fit_crossings": fit, "target_crossings": target})


def _extrema(f: _Facts) -> Finding | None:
    e = f.result.readout.extrema
    if e is None or e.fit <= e.target:
        return None
    text = f"The fit has {e.fit} local extrema where the clean target has {e.target}: it is wigglier than the function."
    return Finding("extra_bumps", "symptom", text, {"fit_extrema": e.fit, "target_extrema": e.target})


def _parabola_note(f: _Facts) -> Finding | None:
    p = f.result.readout.parabola
    if p is None or p.target is None:
        return None
    a, b, c = p.coefficients
    text = f"Learned {a:.6g} x^2 {b:+.6g} x {c:+.6g}; the largest coefficient error is {p.worst_error:.3g}."
    return Finding("coefficients", "note", text, {"coefficients": list(p.coefficients), "target": list(p.target),
                                                  "worst_error": p.worst_error})


def _stopped_early(f: _Facts) -> Finding | None:
    r = f.result
    if not r.stopped:
        return None
    why = "by the wall-clock budget" if r.stop_reason == "budget" else "on request"
    return Finding("stopped", "note", f"Stopped {why} after {r.epochs_run:,} of {r.spec.train.epochs:,} epochs: everything "
                   f"here describes the network at that point.", {"epochs_run": r.epochs_run, "epochs": r.spec.train.epochs})


def _seed_dependent(f: _Facts, report: dict) -> Finding | None:
    successes, n = report["successes"], report["seeds"]
    if n < 2 or successes in (0, n):
        return None
    low, high = report["interval"]
    text = (f"It depends on the seed: with these settings {successes} of {n} seeds succeed ({_pct(successes / n)}, 95% "
            f"interval {_pct(low)} to {_pct(high)}), so one run says little; the restarts' rate is the number to go by.")
    return Finding("seed_dependent", "symptom", text, {"successes": successes, "seeds": n, "interval": [low, high]})


_RULES: tuple[Callable[[_Facts], Finding | None], ...] = (
    _diverged, _step_too_large, _step_too_small, _no_bias, _unscaled_input, _unscaled_target, _output_range, _capacity,
    _dead_units, _bends_outside_data, _too_few_bends, _saturated_units, _undertrained, _plateau, _majority_class, _crossings_note,
    _extrema, _parabola_note, _stopped_early,
)


# ---------------------------------------------------------------------------------------------
# Candidate changes


@dataclass(frozen=True)
class Change:
    """One concrete change of the spec that a finding proposes: `apply(spec)` returns the dotted fields to set.

    `group` keeps two changes of the same thing (two learning rates) out of one combination; changes
    are applied in GROUP_ORDER, so "Adam" then "learning rate x10" means Adam at ten times its rate.
    """

    key: str
    name: str  # in words, for the tables
    group: str
    apply: Callable[[RunSpec], dict[str, Any]] = field(compare=False, repr=False)
    because: tuple[str, ...] = ()  # the findings that propose it


GROUP_ORDER = ("optimizer", "learning_rate", "batch", "loss", "x_scaling", "features", "y_scaling", "bias", "initializer",
               "activation", "output", "width", "depth", "epochs")


def _lr(factor: float) -> Callable[[RunSpec], dict]:
    """The learning rate times `factor`, kept within what the spec allows (1e-8 to 10)."""
    return lambda spec: {"train.learning_rate": min(10.0, max(1e-8, float(f"{spec.train.learning_rate * factor:.3g}")))}


def _adam(rate: float | None) -> Callable[[RunSpec], dict]:
    def apply(spec: RunSpec) -> dict:
        lr = spec.train.learning_rate
        chosen = rate if rate is not None else (lr if 1e-4 <= lr <= 0.1 else 0.001)
        return {"train.optimizer": "adam", "train.learning_rate": chosen, "train.momentum": 0.0}
    return apply


def _initializer(spec: RunSpec) -> dict:
    relu = any(a == "relu" for a in spec.model.activation)
    return {"model.kernel_initializer": "he_normal" if relu else "glorot_uniform", "model.kernel_init_scale": None}


def _units(factor: int) -> Callable[[RunSpec], dict]:
    return lambda spec: {"model.units": ",".join(str(min(MAX_UNITS, u * factor)) for u in spec.model.units)}


def _deeper(spec: RunSpec) -> dict:
    units = spec.model.units or (8,)
    acts = spec.model.activation or ("tanh",)
    return {"model.units": ",".join(str(u) for u in (*units, units[-1])), "model.activation": ",".join((*acts, acts[-1]))}


def _hidden_layer(spec: RunSpec) -> dict:
    """A model with no hidden layer gets one: the output's own nonlinearity moved inside, or 8 tanh units."""
    out = spec.model.output_activation
    if out in ("square",):
        return {"model.units": "1", "model.activation": out, "model.output_activation": "linear"}
    return {"model.units": "8", "model.activation": "tanh"}


def candidates(result: RunResult, found: list[Finding]) -> list[Change]:
    """The changes the findings propose for this run's spec, causes' first, each once."""
    spec = result.spec
    t, m, d = spec.train, spec.model, spec.data
    batch = t.resolved_batch_size(d.n_samples)
    relu = "relu" in m.activation
    out: dict[str, Change] = {}

    def add(key, name, group, apply, why):
        if key in out:
            out[key] = Change(key, out[key].name, group, out[key].apply, (*out[key].because, why))
        else:
            out[key] = Change(key, name, group, apply, (why,))

    found = [f for f in found if f.role != "note"]  # a note is not the problem: it proposes nothing
    ids = {f.id: f for f in found}
    for finding in found:
        why = finding.id
        if why in ("diverged", "step_too_large"):
            add("lr/10", "learning rate ÷10", "learning_rate", _lr(0.1), why)
            add("lr/100", "learning rate ÷100", "learning_rate", _lr(0.01), why)
            if t.learning_rate >= 0.01:
                add("lr/1000", "learning rate ÷1000", "learning_rate", _lr(0.001), why)
            if batch < 32 <= d.n_samples:
                add("batch32", "batch size 32", "batch", lambda s: {"train.batch_size": 32}, why)
            if t.loss == "sse":
                add("mse", "mean instead of summed loss (mse)", "loss", lambda s: {"train.loss": "mse"}, why)
        if why == "step_too_small":
            add("lr*10", "learning rate ×10", "learning_rate", _lr(10), why)
            add("lr*100", "learning rate ×100", "learning_rate", _lr(100), why)
            if t.optimizer != "adam":
                add("adam0.01", "Adam at 0.01", "optimizer", _adam(0.01), why)
        if why in ("plateau", "majority_class"):
            if t.optimizer != "adam":
                add("adam", "Adam", "optimizer", _adam(None), why)
            add("lr*10", "learning rate ×10", "learning_rate", _lr(10), why)
        if why == "undertrained" and "step_too_small" not in ids and t.epochs * 4 <= MAX_EPOCHS:
            add("epochs*4", "4× the epochs", "epochs", lambda s: {"train.epochs": s.train.epochs * 4}, why)
        if why in ("unscaled_input", "saturated_units", "bends_outside_data", "diverged") and d.x_scaling != "standard" and (
                why != "diverged" or d.x_scaling == "none"):
            add("xstd", "standardise x", "x_scaling", lambda s: {"data.x_scaling": "standard"}, why)
        if why in ("unscaled_target",) or (why == "diverged" and result.task == "regression" and d.y_scaling == "none"
                                           and "unscaled_target" in ids):
            add("ystd", "standardise y", "y_scaling", lambda s: {"data.y_scaling": "standard"}, why)
        if why == "no_bias":
            add("bias", "biases on", "bias", lambda s: {"model.use_bias": True}, why)
        if why in ("saturated_units", "dead_units") and m.units:
            default = "he_normal" if relu else "glorot_uniform"
            if set(m.kernel_initializer) != {default} or m.kernel_init_scale is not None:
                add("init", f"{default} initial weights", "initializer", _initializer, why)
        if why == "dead_units" and relu:
            add("elu", "elu instead of relu", "activation", lambda s: {"model.activation": ",".join(
                "elu" if a == "relu" else a for a in s.model.activation)}, why)
            add("wider", "twice as wide", "width", _units(2), why)
        if why == "bends_outside_data" and relu:
            add("tanh", "tanh instead of relu", "activation", lambda s: {"model.activation": ",".join(
                "tanh" if a == "relu" else a for a in s.model.activation)}, why)
        if why == "too_few_bends":
            add("wider", "twice as wide", "width", _units(2), why)
            add("tanh", "tanh instead of relu", "activation", lambda s: {"model.activation": ",".join(
                "tanh" if a == "relu" else a for a in s.model.activation)}, why)
        if why == "unexplained":
            if m.units:
                add("wider", "twice as wide", "width", _units(2), why)
                add("deeper", "one more hidden layer", "depth", _deeper, why)
            else:
                add("hidden", "a hidden layer", "depth", _hidden_layer, why)
            add("lr/10", "learning rate ÷10", "learning_rate", _lr(0.1), why)
            add("lr*10", "learning rate ×10", "learning_rate", _lr(10), why)
            if t.epochs * 4 <= MAX_EPOCHS:
                add("epochs*4", "4× the epochs", "epochs", lambda s: {"train.epochs": s.train.epochs * 4}, why)
        if why == "output_range":
            classes = d.n_classes
            if m.output_units > 1:
                add("out", "softmax output", "output", lambda s: {"model.output_activation": "softmax"}, why)
            elif classes > 2:  # a one-unit output for several classes: one unit per class
                add("out", f"{classes} softmax outputs", "output", lambda s, k=classes: {
                    "model.output_units": k, "model.output_activation": "softmax", "train.loss": "sparse_categorical_crossentropy"}, why)
            else:
                wanted = "sigmoid" if result.task == "classification" else "linear"
                changes = {"model.output_activation": wanted}
                if wanted == "sigmoid" and t.loss not in ("binary_crossentropy", "mse", "mae"):
                    changes["train.loss"] = "binary_crossentropy"
                add("out", f"{wanted} output", "output", lambda s, c=changes: dict(c), why)
        if why == "capacity":
            if d.n_inputs == 2 and set(d.input_features) != set(FEATURES):
                add("features", "all the Playground's features", "features", lambda s: {"data.features": ",".join(FEATURES)}, why)
            if not m.units:
                add("hidden", "a hidden layer", "depth", _hidden_layer, why)
            else:
                add("wider4", "4× as wide", "width", _units(4), why)
                add("deeper", "one more hidden layer", "depth", _deeper, why)
            add("lr*10", "learning rate ×10", "learning_rate", _lr(10), why)  # a larger net may need larger steps to use it
        if why == "unit_boundaries":
            if d.x_scaling != "standard":
                add("xstd", "standardise x", "x_scaling", lambda s: {"data.x_scaling": "standard"}, why)
            add("wider", "twice as wide", "width", _units(2), why)
        if why == "seed_dependent" and m.units:
            add("wider", "twice as wide", "width", _units(2), why)
    return list(out.values())


def combine(spec: RunSpec, changes: list[Change]) -> RunSpec:
    """`spec` with `changes` applied one after another in GROUP_ORDER (raises SpecError if the result is not valid)."""
    for change in sorted(changes, key=lambda c: GROUP_ORDER.index(c.group)):
        spec = spec.with_values(change.apply(spec))
    return spec


# ---------------------------------------------------------------------------------------------
# Measuring over seeds


@dataclass(frozen=True)
class Measured:
    """One setup measured over the doctor's seeds: the control, a candidate, or the posted fix."""

    label: str
    changes: dict[str, Any]  # dotted field -> new value, against the control
    successes: int
    seeds: int
    median_metric: float | None
    metric: str
    wall_s: float
    stopped: bool = False
    diverged: int = 0
    because: tuple[str, ...] = ()

    @property
    def success_rate(self) -> float:
        return self.successes / self.seeds if self.seeds else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.seeds)

    @property
    def size(self) -> int:
        return len(self.changes)

    def to_json(self) -> dict[str, Any]:
        low, high = self.interval
        return {"label": self.label, "changes": _plain(self.changes), "successes": self.successes, "seeds": self.seeds,
                "success_rate": self.success_rate, "interval": [low, high], "median_metric": self.median_metric,
                "metric": self.metric, "diverged": self.diverged, "wall_s": round(self.wall_s, 2), "stopped": self.stopped,
                "because": list(self.because)}


@dataclass(frozen=True)
class DoctorReport:
    """What the doctor found and measured; `fixes` are ranked best first, `best` is the first or None."""

    findings: tuple[Finding, ...]
    criterion: Criterion
    seeds: tuple[int, ...]
    control: Measured | None
    fixes: tuple[Measured, ...]
    posted_fix: Measured | None
    tried: tuple[Measured, ...]  # every candidate in the order it was measured
    skipped: tuple[str, ...]  # candidates not measured, with why
    target: float
    wall_s: float
    stopped: bool = False
    spec: RunSpec | None = None  # the control's settings

    @property
    def best(self) -> Measured | None:
        return self.fixes[0] if self.fixes else None

    @property
    def found_fix(self) -> bool:
        return self.best is not None and self.best.success_rate >= self.target

    def summary(self) -> str:
        """The answer in one or two sentences."""
        if self.control is None:
            return "Nothing was measured."
        control = self.control
        n = len(self.seeds)
        head = f"As it is, {control.successes} of {n} seeds succeed."
        best = self.best
        if control.success_rate >= self.target and best is None:
            return f"{head} These settings already work on {_pct(control.success_rate)} of the seeds: there is nothing to fix."
        if not self.tried and not self.skipped and not self.stopped:
            return f"{head} The findings propose no change to try: none of them is a cause or a symptom of a failure."
        if best is None:
            tried = len(self.tried)
            text = (f"{head} None of the {tried} changes tried did better" + (f" (the best reached {best.successes} of {n})" if best else "")
                    + "." + (" Stopped before the search was done." if self.stopped else ""))
            return text
        low, high = best.interval
        rate = f"{best.successes} of {n} seeds ({_pct(best.success_rate)}, 95% interval {_pct(low)} to {_pct(high)})"
        if best.success_rate >= self.target:
            return f"{head} What fixes it: {best.label} ({label_changes(best.changes)}) succeeds on {rate}."
        return (f"{head} The best found, {best.label} ({label_changes(best.changes)}), succeeds on {rate}: short of the "
                f"{_pct(self.target)} goal" + (", stopped before the search was done." if self.stopped else "."))

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "criterion": {"kind": self.criterion.kind, "threshold": self.criterion.threshold, "text": self.criterion.describe()},
            "seeds": list(self.seeds),
            "target": self.target,
            "control": None if self.control is None else self.control.to_json(),
            "fixes": [m.to_json() for m in self.fixes],
            "best": None if self.best is None else self.best.to_json(),
            "posted_fix": None if self.posted_fix is None else self.posted_fix.to_json(),
            "tried": len(self.tried),
            "skipped": list(self.skipped),
            "summary": self.summary(),
            "wall_s": round(self.wall_s, 2),
            "stopped": self.stopped,
        }


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()}


def member_score(outcome: RestartsResult, criterion: Criterion) -> list[float]:
    """Each seed's number under the criterion (coefficient error, max |error| or accuracy); NaN when it diverged."""
    scores = []
    for member in outcome.members:
        if not member.final or member.diverged_at:
            scores.append(math.nan)
        elif criterion.kind == "coefficients_within" and member.readout.parabola is not None and member.readout.parabola.target is not None:
            scores.append(float(member.readout.parabola.worst_error))
        else:
            scores.append(float(member.final.get(criterion.metric, math.nan)))
    return scores


def _metric_name(criterion: Criterion) -> str:
    return {"coefficients_within": "worst coefficient error", "accuracy_at_least": "accuracy", "r2_at_least": "R²"}.get(criterion.kind,
                                                                                                                        "max abs error")


def _badness(m: Measured, criterion: Criterion) -> tuple:
    """Sort key of the search (best first): more successes, then the better median."""
    median = m.median_metric
    if median is None or not math.isfinite(median):
        score = math.inf
    else:
        score = -median if criterion.higher_is_better else median
    return (-m.successes, score)


def describe_changes(control: RunSpec, spec: RunSpec) -> dict[str, Any]:
    """The fields `spec` changes against `control`, with their new values (dotted names)."""
    return {k: b for k, (a, b) in control.differences(spec).items()}


def label_changes(changes: dict[str, Any]) -> str:
    def show(v):
        if isinstance(v, (list, tuple)):
            return ",".join(str(i) for i in v) or "none"
        if isinstance(v, bool):
            return str(v).lower()
        return "default" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k.split('.', 1)[-1]}={show(v)}" for k, v in changes.items()) or "no change"


Measure = Callable[[RunSpec, list[int], Callable[[float], None] | None, Any], RestartsResult]


def find_fixes(
    spec: RunSpec,
    found: list[Finding],
    result: RunResult,
    criterion: Criterion,
    measure: Measure,
    seeds: int = DEFAULT_SEEDS,
    posted: RunSpec | None = None,
    target: float = TARGET_RATE,
    seconds: float | None = None,
    progress: Callable[[dict], None] | None = None,
    stop=None,
    check: Callable[[RunSpec, int], None] | None = None,
    posted_label: str = "the posted fix",
) -> DoctorReport:
    """Measure the control, the posted fix and the findings' candidates (then pairs, then triples) on the same seeds.

    `measure(spec, seeds, progress, stop)` trains the seeds of one spec at once and returns the
    RestartsResult; its `progress(share)` reports the share of epochs done. `check(spec, seeds)`
    raises for a candidate over the budget (it is skipped and said so). `stop` (a StopFlag) ends the
    search after the candidate in progress; what was measured is kept.
    """
    if seconds is None:  # the budget's default (core/runner/budget.py is its one home)
        from core.runner.budget import LIMITS

        seconds = LIMITS["max_doctor_seconds"].default
    began = time.perf_counter()
    seed_list = seeds_for(spec, seeds)
    changes = candidates(result, found)
    tried: list[Measured] = []
    skipped: list[str] = []
    state = {"stage": "control", "label": "as it is", "share": 0.0, "left_s": None, "measured": None}
    rate_per_work: list[float] = []  # seconds per unit of work measured so far, for the estimates

    def work(s: RunSpec) -> float:
        from core.runner.budget import cost

        c = cost(s, seeds)
        return float(c.sample_params + c.step_params * 0.02)

    def estimate(s: RunSpec) -> float | None:
        return (np.median(rate_per_work) * work(s)) if rate_per_work else None

    def report(**changes_):
        state.update(changes_)
        if progress is not None:
            progress(dict(state))

    def run(s: RunSpec, label: str, because=()) -> Measured | None:
        if check is not None:
            try:
                check(s, seeds)
            except SpecError as err:
                skipped.append(f"{label}: {err}")
                return None
        t0 = time.perf_counter()

        def on_share(share: float) -> None:
            report(share=float(share))

        outcome = measure(s, seed_list, on_share, stop)
        wall = time.perf_counter() - t0
        if outcome.epochs_run:
            rate_per_work.append(wall / work(s) * s.train.epochs / max(outcome.epochs_run, 1))
        sweep = summarize_sweep(outcome, criterion)
        scores = [v for v in member_score(outcome, criterion) if math.isfinite(v)]
        median = float(np.median(scores)) if scores else None
        return Measured(label=label, changes=describe_changes(spec, s), successes=sweep["successes"],
                        seeds=len(seed_list), median_metric=median, metric=_metric_name(criterion), wall_s=wall,
                        stopped=outcome.stopped, diverged=sweep["diverged"], because=tuple(because))

    def remaining(planned: list[RunSpec]) -> float | None:
        values = [estimate(s) for s in planned]
        return float(sum(values)) if values and all(v is not None for v in values) else None

    def out_of_time(s: RunSpec) -> bool:
        guess = estimate(s) or 0.0
        return time.perf_counter() - began + guess > seconds

    control = run(spec, "as it is")
    if _stopped(stop):
        control = None
    if control is not None:
        report(measured=control)
    posted_fix = None
    if posted is not None and not _stopped(stop):
        report(stage="posted fix", label=posted_label, share=0.0, measured=None)
        posted_fix = run(posted, posted_label)
        if _stopped(stop):
            posted_fix = None
        if posted_fix is not None:
            report(measured=posted_fix)
    seen = {json_key(spec)}
    singles: list[tuple[Measured, tuple[Change, ...]]] = []
    found_fix = False

    def level(stage: str, combos: list[tuple[Change, ...]], stop_on_success: bool) -> list[tuple[Measured, tuple[Change, ...]]]:
        nonlocal found_fix
        plans = []
        for combo in combos:
            try:
                s = combine(spec, list(combo))
            except SpecError as err:
                skipped.append(f"{' + '.join(c.name for c in combo)}: {err}")
                continue
            key = json_key(s)
            if key in seen:
                continue
            seen.add(key)
            plans.append((combo, s))
        measured = []
        for index, (combo, s) in enumerate(plans):
            if _stopped(stop):
                break
            if out_of_time(s):
                skipped.append(f"{' + '.join(c.name for c in combo)}: not tried, the doctor's {seconds:g} s were spent")
                continue
            name = " + ".join(c.name for c in combo)
            report(stage=stage, label=name, share=0.0, left_s=remaining([p[1] for p in plans[index:]]), measured=None)
            m = run(s, name, because=sorted({b for c in combo for b in c.because}))
            if m is None:
                continue
            if _stopped(stop):  # cut short by Stop: a half-trained rate is not a measurement
                skipped.append(f"{name}: stopped before it finished")
                break
            tried.append(m)
            report(measured=m)
            measured.append((m, combo))
            if m.success_rate >= target:
                found_fix = True
                if stop_on_success:
                    break
        return measured

    if control is not None:
        singles = level("single changes", [(c,) for c in changes], stop_on_success=False)
        ranked = sorted(singles, key=lambda item: _badness(item[0], criterion))
        top = [combo[0] for _, combo in ranked[:TOP_SINGLES]]
        previous = ranked
        for size, stage in ((2, "pairs"), (3, "triples")):
            if found_fix or _stopped(stop) or len(top) < size:
                break
            if size == 2:
                combos = [(a, b) for i, a in enumerate(top) for b in top[i + 1:] if a.group != b.group]
            else:
                best_pairs = [combo for _, combo in sorted(previous, key=lambda item: _badness(item[0], criterion))[:2]]
                combos = [(*pair, c) for pair in best_pairs for c in top
                          if c not in pair and all(c.group != p.group for p in pair)]
            rank = {c.key: i for i, c in enumerate(top)}
            combos.sort(key=lambda combo: sum(rank[c.key] for c in combo))
            previous = level(stage, combos, stop_on_success=True)
    fixes = sorted((m for m in tried if control is not None and m.successes > control.successes),
        key=lambda m: (-m.successes, m.size, _badness(m, criterion)[1]))
    report(stage="done", share=1.0, left_s=0.0, measured=None)
    return DoctorReport(findings=tuple(found), criterion=criterion, seeds=tuple(seed_list), control=control, fixes=tuple(fixes),
                        posted_fix=posted_fix, tried=tuple(tried), skipped=tuple(skipped), target=target,
                        wall_s=time.perf_counter() - began, stopped=_stopped(stop), spec=spec)


def json_key(spec: RunSpec) -> str:
    import json

    d = spec.to_dict()
    d.pop("scenario", None)
    d.pop("preset", None)
    return json.dumps(d, sort_keys=True)


def _stopped(stop) -> bool:
    return stop is not None and stop.requested


def measure_with(pool, seconds: float | None = None) -> Measure:
    """A `measure` that trains in a WorkerPool's worker (core/runner/workers.py), passing Stop on; `seconds` per candidate."""

    def measure(spec: RunSpec, seeds: list[int], progress=None, stop=None) -> RestartsResult:
        epochs = spec.train.epochs
        job = pool.submit(spec, members=len(seeds), seeds=seeds, seconds=seconds,
                          progress=None if progress is None else lambda epoch, logs: progress(min(epoch / epochs, 1.0)))
        stopped = False
        while True:
            try:
                return job.wait(timeout=0.1)
            except TimeoutError:
                if stop is not None and stop.requested and not stopped:
                    job.stop()
                    stopped = True
            except KeyboardInterrupt:
                job.stop()
                raise

    return measure

