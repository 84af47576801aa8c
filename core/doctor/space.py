"""The usual knobs of a tiny net, and the values each can take from a given setup: the space a plain search draws from.

A knob is one decision a person tuning a small network makes: the learning rate, the optimizer, the width,
the depth, the activation, the initializer, the loss that suits the task, the scaling of x and y, the
epochs, the batch size and the L2 penalty. `knobs(spec)` lists, for each, the changes (dotted field -> value, everything
the change requires set with it: Adam clears momentum and Nesterov) that differ from `spec`. A baseline
search (core/doctor/baselines.py) draws its candidates from this space; nothing here is keyed to a case.

Example:
    >>> from core.cases.scenarios import get
    >>> space = knobs(get("sine-relu").spec())
    >>> sorted(space)[:3], len(space["learning_rate"]) > 2
    (['activation', 'batch_size', 'depth'], True)
"""

from __future__ import annotations

from typing import Any

from core.doctor.changes import initializer, learning_rate_times, task_loss
from core.settings.rules import MAX_EPOCHS, MAX_LAYERS, MAX_UNITS
from core.settings.specs import RunSpec, SpecError

LEARNING_RATE_STEPS = (0.01, 0.1, 0.3, 3.0, 10.0, 100.0)  # times the current rate: a log ladder both ways
L2_PENALTIES = (0.0, 1e-4, 1e-3, 1e-2)  # none, and the Playground's usual regularization rates
Change = dict[str, Any]


def knobs(spec: RunSpec) -> dict[str, list[Change]]:
    """Each knob's changes from `spec` (valid ones only), by knob name; a knob with no change is left out."""
    model, train, data = spec.model, spec.train, spec.data
    classes = data.resolved_task == "classification"
    units = model.units
    options: dict[str, list[Change]] = {
        "learning_rate": [learning_rate_times(step)(spec) for step in LEARNING_RATE_STEPS],
        "optimizer": [{"train.optimizer": "adam", "train.momentum": 0.0, "train.nesterov": False},
                      {"train.optimizer": "sgd", "train.momentum": 0.9, "train.nesterov": False},
                      {"train.optimizer": "rmsprop", "train.momentum": 0.0, "train.nesterov": False}],
        "width": [{"model.units": tuple(max(1, min(MAX_UNITS, round(u * factor))) for u in units)} for factor in (0.5, 2, 4, 8)]
        if units else [{"model.units": (w,), "model.activation": ("tanh",)} for w in (4, 16, 64)],
        "depth": ([{"model.units": units + units[-1:], "model.activation": model.activation + model.activation[-1:]}]
                  if units and len(units) < MAX_LAYERS else []) + ([{"model.units": units[:-1], "model.activation": model.activation[:-1]}]
                                                                    if len(units) > 1 else []),
        "activation": [{"model.activation": (act,) * len(units)} for act in ("relu", "tanh", "sigmoid")] if units else [],
        "initializer": [{"model.kernel_initializer": (name,), "model.kernel_init_scale": None} for name in ("glorot_uniform", "he_normal")],
        "epochs": [{"train.epochs": train.epochs * factor} for factor in (2, 4)],
        "batch_size": [{"train.batch_size": size} for size in ("full", 32, 8)],
        "x_scaling": [{"data.x_scaling": kind} for kind in ("standard", "minmax", "none")],
        "y_scaling": [] if classes else [{"data.y_scaling": kind} for kind in ("standard", "none")],
        "loss": [task_loss(spec)],
        "l2": [{"model.l2": penalty} for penalty in L2_PENALTIES],
    }
    return {name: valid for name, changes in options.items() if (valid := [c for c in changes if _differs(spec, c)])}


def textbook(spec: RunSpec) -> list[tuple[str, Change]]:
    """The setup a tutorial would write for this task, as a few leaps from `spec` (valid ones that differ only).

    Every knob at once, where one at a time finds nothing: x (and a regression's y) standardised, the loss and
    output that suit the task, Adam at 0.01, the initializer that suits the activation, biases, batches of 32, no L2; then
    the same 4x as wide (or with a hidden layer), with 4x the epochs, and without hidden layers (a linear model).
    """
    model, data, train = spec.model, spec.data, spec.train
    base: Change = {"data.x_scaling": "standard", "train.optimizer": "adam", "train.learning_rate": 0.01, "train.momentum": 0.0,
                    "train.nesterov": False, **initializer(spec), "model.use_bias": True, "model.l2": 0.0,
                    "train.batch_size": 32 if data.n_samples > 32 else "full"}
    if data.resolved_task != "classification":
        base["data.y_scaling"] = "standard"
    base.update(task_loss(spec))
    wider = ({"model.units": tuple(min(MAX_UNITS, u * 4) for u in model.units)} if model.units
             else {"model.units": (16,), "model.activation": ("tanh",)})
    leaps = [("the textbook setup", base),
             ("the textbook setup, 4× as wide" if model.units else "the textbook setup with a hidden layer", {**base, **wider}),
             ("the textbook setup, 4× the epochs", {**base, "train.epochs": min(MAX_EPOCHS, train.epochs * 4)})]
    if model.units:  # the simplest model first, as tutorials say: a straight line (or plane) is sometimes all it takes
        leaps.append(("the textbook setup as a linear model (no hidden layer)", {**base, "model.units": ()}))
    return [(name, changes) for name, changes in leaps if _differs(spec, changes)]


def apply(spec: RunSpec, changes: Change) -> RunSpec | None:
    """`spec` with `changes`, or None when they make no valid setup together."""
    try:
        return spec.with_values(changes)
    except SpecError:
        return None


def _differs(spec: RunSpec, changes: Change) -> bool:
    changed = apply(spec, changes)
    return changed is not None and changed.key() != spec.key()

