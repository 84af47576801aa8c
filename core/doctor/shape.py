"""The doctor's rules about what the network is fed and can produce: scaling, the output's range, and capacity.

Capacity is proved where it can be: for a network linear in its features the best straight boundary
(or plane) is computed exactly, and when even that one misses the criterion no training can succeed.
"""

from __future__ import annotations

import numpy as np

from core.data.datasets import features
from core.doctor.facts import OUTPUT_RANGE, SATURATING, WORKING_RANGE, Facts, crossings, fail_role, num, pct
from core.outcomes.results import Finding


def unscaled_input(f: Facts) -> Finding | None:
    xs = np.asarray(f.xs, float)
    reach, mean, std = float(np.max(np.abs(xs))), float(np.mean(xs)), float(np.std(xs))
    far = reach > WORKING_RANGE
    off_centre = std > 0 and abs(mean) > std and reach > 1  # x in [0, 1] is scaled as tutorials scale it: no note
    if not (far or off_centre):
        return None
    scaling = f.spec.data.x_scaling
    where = (f"x is used as it is, from {num(f.lo)} to {num(f.hi)}" if scaling == "none"
             else f"x is scaled ({scaling}) to [{num(float(xs.min()))}, {num(float(xs.max()))}]")
    if f.inputs > 1:
        fed = ", ".join(f.spec.data.input_features)
        where = (f"the first layer is fed ({fed}) from {num(float(xs.min()))} to {num(float(xs.max()))}"
                 + (" (the inputs as they are)" if scaling == "none" else f" (inputs scaled: {scaling})"))
    evidence = {"x_scaling": scaling, "scaled_min": float(xs.min()), "scaled_max": float(xs.max()), "scaled_mean": mean, "scaled_std": std}
    if far:
        first = f.spec.model.activation[0] if f.spec.model.activation else f.spec.model.output_activation
        if first in SATURATING:
            why = f"{first} units bend only for |w x + b| within about ±{WORKING_RANGE:g}"
        else:
            why = (f"the initial weights are sized for inputs of about ±1, so the first layer starts about {num(reach)} times "
                   "too steep")
        text = (f"The input is not scaled to the units' working range: {where}, while {why}, and every first-layer gradient "
                f"is multiplied by x, so the large x dominate the steps.")
        return Finding("unscaled_input", fail_role(f), text, evidence)
    text = (f"The input is not centred: {where}, mean {num(mean)} against a spread of {num(std)}, so a unit's switch point "
            f"with a zero bias (scaled x = 0) lies at the {'left' if mean > 0 else 'right'} edge of the data.")
    return Finding("unscaled_input", "note", text, evidence)


def unscaled_target(f: Facts) -> Finding | None:
    if f.result.task != "regression":
        return None
    reach = float(np.max(np.abs(f.ys)))
    if reach <= 10:
        return None
    evidence = {"y_scaling": f.spec.data.y_scaling, "scaled_reach": reach}
    text = (f"The target is not scaled: the network must output values up to |y| = {num(reach)}, so the output weights "
            f"must grow large and the first errors and gradients are huge.")
    return Finding("unscaled_target", fail_role(f), text, evidence)


def output_range(f: Facts) -> Finding | None:
    act, units = f.spec.model.output_activation, f.spec.model.output_units
    if units > 1:  # one unit per class: the outputs must be probabilities that sum to 1
        if act == "softmax":
            return None
        text = (f"The output layer has {units} units with activation {act}, but a categorical cross-entropy reads them as "
                f"probabilities of the classes that sum to 1: only a softmax output makes them so.")
        return Finding("output_range", fail_role(f), text, {"output_activation": act, "output_units": units, "loss": f.spec.train.loss})
    if act == "softmax":  # a softmax over one unit
        text = ("The output is a softmax over a single unit, which is e^z / e^z = 1 for every input: the prediction "
                "cannot change, so no gradient reaches any weight and the loss stays where it started. A softmax needs "
                "one unit per class; for one output use sigmoid (two classes) or linear (a regression).")
        return Finding("output_range", fail_role(f), text, {"output_activation": act, "output_units": 1, "loss": f.spec.train.loss})
    if f.result.task == "classification":
        if act in ("sigmoid",) or f.spec.train.loss != "binary_crossentropy":
            return None  # a regression loss on class labels is loss_mismatch's to say
        text = (f"The output activation is {act}, but binary cross-entropy needs a probability between 0 and 1: "
                f"Keras clips the output, so most of the loss's gradient is cut off.")
        return Finding("output_range", fail_role(f), text, {"output_activation": act, "loss": f.spec.train.loss})
    if act not in OUTPUT_RANGE:
        return None
    low, high = OUTPUT_RANGE[act]
    ys = np.asarray(f.ys, float)
    outside = float(np.mean((ys < low) | (ys > high)))
    if outside < 0.01:
        return None
    evidence = {"output_activation": act, "can_produce": [low, high], "target_min": float(ys.min()), "target_max": float(ys.max()),
                "outside_share": outside}
    text = (f"The output cannot reach the target: a {act} output produces values in [{num(low)}, {num(high)}], but "
            f"{pct(outside)} of the (scaled) targets lie outside, from {num(float(ys.min()))} to {num(float(ys.max()))}.")
    return Finding("output_range", fail_role(f), text, evidence)


VALUE_LOSSES = {"mse": "the mean squared error", "mae": "the mean absolute error", "sse": "the summed squared error"}
CLASS_LOSSES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


def loss_mismatch(f: Facts) -> Finding | None:
    """A loss that does not suit the task: a value's loss on class labels, or a cross-entropy on a regression's values."""
    loss, act = f.spec.train.loss, f.spec.model.output_activation
    evidence = {"loss": loss, "output_activation": act, "task": f.result.task}
    if f.result.task == "classification" and loss in VALUE_LOSSES and f.spec.model.output_units == 1:
        text = (f"The loss is {VALUE_LOSSES[loss]} on class labels 0 and 1"
                + (", through a sigmoid output: where the sigmoid flattens its slope multiplies the error's gradient, so a "
                   "unit sure of the wrong class learns almost nothing" if act == "sigmoid" else
                   f", through a {act} output: the labels are fitted as numbers, not as the probability of a class")
                + (", and the absolute error's gradient has the same size however close the output is" if loss == "mae" else "")
                + ". Binary cross-entropy on a sigmoid output reads the output as the probability of class 1 and keeps its "
                  "gradient as large as the error.")
        return Finding("loss_mismatch", fail_role(f), text, evidence)
    if f.result.task == "regression" and loss in CLASS_LOSSES:
        ys = np.asarray(f.ys, float)
        evidence.update(target_min=float(ys.min()), target_max=float(ys.max()))
        text = (f"The loss is {loss.replace('_', ' ')}, which reads the output as the probability of a class, but the target is "
                f"a value from {num(float(f.y.min()))} to {num(float(f.y.max()))}: a regression needs a loss on the values, "
                f"such as the mean squared error, with a linear output.")
        return Finding("loss_mismatch", fail_role(f), text, evidence)
    return None


def capacity(f: Facts) -> Finding | None:
    if f.inputs > 1:
        return linear_capacity(f)
    r = f.result.readout
    family = r.parabola.family if r.parabola is not None else None
    if family is not None and abs(family.target_gap) > 1e-9 and family.best_max_abs_error > 0:
        text = (f"The architecture cannot represent the target: every network of this shape is a member of the family "
                f"{family.form} (B^2 - 4AC = 0 for all of them), and the target's B^2 - 4AC is {num(family.target_gap)}; "
                f"its best member still misses by up to {num(family.best_max_abs_error)} on the data range.")
        return Finding("capacity", fail_role(f), text, {"family": family.form, "target_gap": family.target_gap,
                                                         "best_max_abs_error": family.best_max_abs_error})
    hidden = f.shapes[:-1]
    target = np.asarray(f.result.grid_target, float)
    if f.result.task == "classification":
        turns = len(crossings(f.result.grid_x, target))
        need = "two or more class boundaries" if turns >= 2 else None
    else:
        from core.outcomes.readout import count_extrema

        turns = count_extrema(target)
        need = f"{turns} turning point{'s' if turns != 1 else ''}" if turns else None
    if need is None:
        return None
    if not hidden and f.shapes[-1].activation != "square":
        act = f.shapes[-1].activation
        line = "a straight line, w x + b" if act == "linear" else _applied(act, "w x + b")
        text = (f"The architecture cannot represent the target: with no hidden layer the network is {line}, "
                f"which only rises or only falls, and the target has {need}.")
        return Finding("capacity", fail_role(f), text, {"hidden_layers": 0, "target_turns": turns})
    if len(hidden) == 1 and hidden[0].activation == "relu" and f.result.task == "regression" and hidden[0].units < turns:
        text = (f"The architecture cannot represent the target: {hidden[0].units} ReLU unit(s) make at most {hidden[0].units} "
                f"bends, and the target has {turns} turning points.")
        return Finding("capacity", fail_role(f), text, {"units": hidden[0].units, "target_turns": turns})
    if len(hidden) == 1 and hidden[0].activation not in ("relu", "linear") and f.result.task == "regression" \
            and turns > 2 * hidden[0].units and not f.met:
        k, act = hidden[0].units, hidden[0].activation
        each = "rises or falls once" if act in ("sigmoid", "tanh", "softsign") else "adds one bend or dip"
        text = (f"Too few units for the target's turns: each of the {k} {act} unit{'s' if k != 1 else ''} {each}, and the "
                f"target has {turns} turning points, more than twice as many; a fit with this few units can follow only some "
                "of them.")
        return Finding("capacity", fail_role(f), text, {"units": k, "activation": hidden[0].activation, "target_turns": turns})
    return None


def is_linear(f: Facts) -> bool:
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


def linear_capacity(f: Facts) -> Finding | None:
    """Two inputs, a network linear in its features: the best straight boundary (or plane) over them, fitted exactly here,
    against the criterion. When even that best one fails, no training of this architecture can succeed."""
    classify = f.result.task == "classification"
    # Two classes on two softmax outputs: the boundary is where two linear functions are equal, still one straight line.
    if not is_linear(f) or f.spec.model.output_units > (2 if classify else 1):
        return None
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
                f"{_applied(f.shapes[-1].activation, f'w · ({names}) + b')}, so its boundary is {line} in ({names}). The best such "
                f"boundary, {searched}, classifies {pct(best)} of the training points correctly"
                + ("" if exact else f" (on {LINE_POINTS:,} of them)") + f", and the criterion needs {pct(need)}: no training "
                f"of this network can reach it.")
        evidence = {"hidden_layers": len(f.shapes) - 1, "features": list(f.spec.data.input_features), "best_line_accuracy": best,
                    "needed": need, "proved": exact}
        return Finding("capacity", fail_role(f), text, evidence)
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
            f"the best plane, fitted here by least squares, still misses the clean target by up to {num(worst)} on the "
            f"square, where the criterion allows {num(f.criterion.threshold)}.")
    return Finding("capacity", fail_role(f), text, {"hidden_layers": len(f.shapes) - 1, "features": list(f.spec.data.input_features),
                                                     "best_linear_max_abs_error": worst, "allowed": f.criterion.threshold,
                                                     "proved": True})


def _applied(activation: str, argument: str) -> str:
    """An activation applied to a weighted sum, as the findings write it: no "linear(...)" around a plain sum."""
    return argument if activation == "linear" else f"{activation}({argument})"
