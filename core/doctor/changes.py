"""The changes the doctor proposes: each a concrete edit of the spec, named, grouped, and tied to the findings that ask for it.

A `Change` turns a spec into the dotted fields to set (`apply`); `combine` applies several in a fixed
order. The `propose_*` functions say which changes one finding asks for in this run's `Situation`;
core/doctor/registry.py ties each finding to its proposals.

Example:
    >>> situation = Situation(result, frozenset({"step_too_small"}))
    >>> [c.name for c in propose_larger_steps(situation)]
    ['learning rate ×10', 'learning rate ×100', 'Adam at 0.01']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.outcomes.results import RunResult
from core.settings.rules import FEATURES, MAX_EPOCHS, MAX_UNITS
from core.settings.specs import RunSpec


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


GROUP_ORDER = ("recipe", "optimizer", "learning_rate", "batch", "loss", "x_scaling", "features", "y_scaling", "bias", "initializer",
               "activation", "output", "width", "depth", "l2", "epochs")


def learning_rate_times(factor: float) -> Callable[[RunSpec], dict]:
    """The learning rate times `factor`, kept within what the spec allows (1e-8 to 10)."""
    return lambda spec: {"train.learning_rate": min(10.0, max(1e-8, float(f"{spec.train.learning_rate * factor:.3g}")))}


def adam(rate: float | None) -> Callable[[RunSpec], dict]:
    def apply(spec: RunSpec) -> dict:
        lr = spec.train.learning_rate
        chosen = rate if rate is not None else (lr if 1e-4 <= lr <= 0.1 else 0.001)
        return {"train.optimizer": "adam", "train.learning_rate": chosen, "train.momentum": 0.0, "train.nesterov": False}
    return apply


def initializer(spec: RunSpec) -> dict:
    relu = any(a == "relu" for a in spec.model.activation)
    return {"model.kernel_initializer": "he_normal" if relu else "glorot_uniform", "model.kernel_init_scale": None}


def wider_units(factor: int) -> Callable[[RunSpec], dict]:
    return lambda spec: {"model.units": tuple(min(MAX_UNITS, u * factor) for u in spec.model.units)}


def deeper(spec: RunSpec) -> dict:
    units = spec.model.units or (8,)
    acts = spec.model.activation or ("tanh",)
    return {"model.units": (*units, units[-1]), "model.activation": (*acts, acts[-1])}


def hidden_layer(spec: RunSpec) -> dict:
    """A model with no hidden layer gets one: the output's own nonlinearity moved inside, or 8 tanh units."""
    out = spec.model.output_activation
    if out in ("square",):
        return {"model.units": (1,), "model.activation": (out,), "model.output_activation": "linear"}
    return {"model.units": (8,), "model.activation": ("tanh",)}


KNOB_GROUPS = {"learning_rate": "learning_rate", "optimizer": "optimizer", "width": "width", "depth": "width", "activation": "activation",
               "initializer": "initializer", "epochs": "epochs", "batch_size": "batch", "x_scaling": "x_scaling",
               "y_scaling": "y_scaling", "loss": "output", "l2": "l2"}


def knob_changes(spec: RunSpec) -> list[Change]:
    """The usual knobs' changes from `spec` (core/doctor/space.py) as Changes the search can combine: no finding proposed them."""
    from core.doctor.space import knobs

    def current(path: str) -> Any:
        section, _, field_name = path.partition(".")
        return getattr(getattr(spec, section), field_name)

    out = []
    for name, options in knobs(spec).items():
        for index, values in enumerate(options):
            # Named by what it changes: Adam's reset of a momentum that was already 0 goes without saying.
            shown = {k: v for k, v in values.items() if shown_value(v) != shown_value(current(k))} or values
            words = ", ".join(f"{k.split('.')[-1].replace('_', ' ')} {shown_value(v)}" for k, v in shown.items())
            out.append(Change(f"knob-{name}-{index}", words, KNOB_GROUPS[name], lambda _spec, v=values: dict(v)))
    return out


def textbook_changes(spec: RunSpec) -> list[Change]:
    """The textbook setups of core/doctor/space.py as Changes: each sets many knobs at once, so it is applied first."""
    from core.doctor.space import textbook

    return [Change(f"textbook-{index}", name, "recipe", lambda _spec, v=values: dict(v)) for index, (name, values) in
            enumerate(textbook(spec))]


def refine_learning_rate() -> list[Change]:
    """A third and three times the learning rate of a setup, applied after its own changes (a rate found near the best)."""
    return [Change(f"refine-lr-{factor:g}", f"learning rate x{factor:g}", "learning_rate", learning_rate_times(factor))
            for factor in (0.3, 3.0)]


def shown_value(value: Any) -> str:
    """A setting's value as the tables write it: a list joined by commas, true/false, 'default' for None."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return str(value).lower()
    return "default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def combine(spec: RunSpec, changes: list[Change]) -> RunSpec:
    """`spec` with `changes` applied one after another in GROUP_ORDER (raises SpecError if the result is not valid)."""
    for change in sorted(changes, key=lambda c: GROUP_ORDER.index(c.group)):
        spec = spec.with_values(change.apply(spec))
    return spec


@dataclass(frozen=True)
class Situation:
    """What a proposal reads: the run, and the findings that are causes or symptoms of its failure (notes propose nothing)."""

    result: RunResult
    ids: frozenset[str]
    evidence: dict[str, dict] = field(default_factory=dict)  # each active finding's numbers, by id

    @property
    def spec(self) -> RunSpec:
        return self.result.spec

    @property
    def batch(self) -> int:
        return self.spec.train.resolved_batch_size(self.spec.data.n_samples)

    @property
    def relu(self) -> bool:
        return "relu" in self.spec.model.activation


Proposal = Callable[[Situation], list[Change]]


def change(key: str, name: str, group: str, apply: Callable[[RunSpec], dict[str, Any]]) -> Change:
    return Change(key, name, group, apply)


def nothing(s: Situation) -> list[Change]:
    return []


def _relu_to(activation: str) -> Callable[[RunSpec], dict]:
    return lambda s: {"model.activation": tuple(activation if a == "relu" else a for a in s.model.activation)}


def _epochs_times_4(s: Situation) -> list[Change]:
    if s.spec.train.epochs * 4 > MAX_EPOCHS:
        return []
    return [change("epochs*4", "4× the epochs", "epochs", lambda spec: {"train.epochs": spec.train.epochs * 4})]


def _standardise_x(s: Situation) -> list[Change]:
    if s.spec.data.x_scaling == "standard":
        return []
    return [change("xstd", "standardise x", "x_scaling", lambda spec: {"data.x_scaling": "standard"})]


def _standardise_y() -> Change:
    return change("ystd", "standardise y", "y_scaling", lambda spec: {"data.y_scaling": "standard"})


def _twice_as_wide() -> Change:
    return change("wider", "twice as wide", "width", wider_units(2))


def _default_initializer(s: Situation) -> list[Change]:
    m = s.spec.model
    if not m.units:
        return []
    default = "he_normal" if s.relu else "glorot_uniform"
    if set(m.kernel_initializer) == {default} and m.kernel_init_scale is None:
        return []
    return [change("init", f"{default} initial weights", "initializer", initializer)]


def propose_smaller_steps(s: Situation) -> list[Change]:
    """Diverged or bouncing: smaller learning rates, a larger batch, a mean instead of a summed loss."""
    t, d = s.spec.train, s.spec.data
    out = [change("lr/10", "learning rate ÷10", "learning_rate", learning_rate_times(0.1)),
           change("lr/100", "learning rate ÷100", "learning_rate", learning_rate_times(0.01))]
    if t.learning_rate >= 0.01:
        out.append(change("lr/1000", "learning rate ÷1000", "learning_rate", learning_rate_times(0.001)))
    if s.batch < 32 <= d.n_samples:
        out.append(change("batch32", "batch size 32", "batch", lambda spec: {"train.batch_size": 32}))
    if t.loss == "sse":
        out.append(change("mse", "mean instead of summed loss (mse)", "loss", lambda spec: {"train.loss": "mse"}))
    return out


def propose_after_divergence(s: Situation) -> list[Change]:
    """Smaller steps, and unscaled data scaled: raw x, or a raw regression target that unscaled_target also names."""
    out = propose_smaller_steps(s)
    d = s.spec.data
    if d.x_scaling == "none":
        out += _standardise_x(s)
    if s.result.task == "regression" and d.y_scaling == "none" and "unscaled_target" in s.ids:
        out.append(_standardise_y())
    return out


def propose_larger_steps(s: Situation) -> list[Change]:
    out = [change("lr*10", "learning rate ×10", "learning_rate", learning_rate_times(10)),
           change("lr*100", "learning rate ×100", "learning_rate", learning_rate_times(100))]
    if s.spec.train.optimizer != "adam":
        out.append(change("adam0.01", "Adam at 0.01", "optimizer", adam(0.01)))
    return out


def propose_unstick(s: Situation) -> list[Change]:
    """A plateau or one class everywhere: an adaptive optimizer, larger steps."""
    out = [] if s.spec.train.optimizer == "adam" else [change("adam", "Adam", "optimizer", adam(None))]
    return [*out, change("lr*10", "learning rate ×10", "learning_rate", learning_rate_times(10))]


def propose_weaker_penalty(s: Situation) -> list[Change]:
    """A tenth of the L2 penalty, or none."""
    return [change("l2/10", "L2 penalty ÷10", "l2", lambda spec: {"model.l2": float(f"{spec.model.l2 / 10:.3g}")}),
            change("l2off", "no L2 penalty", "l2", lambda spec: {"model.l2": 0.0})]


def propose_more_epochs(s: Situation) -> list[Change]:
    """4x the epochs, and as many as the final pace needs to bring the loss down tenfold (when that is more)."""
    if "step_too_small" in s.ids:
        return []
    out = _epochs_times_4(s)
    halves = s.evidence.get("undertrained", {}).get("halving_epochs")
    epochs = s.spec.train.epochs
    if halves:
        needed = min(MAX_EPOCHS, int(epochs + math.log2(10) * halves))
        if needed > 6 * epochs:
            out.append(change("epochs-pace", f"{needed:,} epochs (a tenfold fall at the final pace)", "epochs",
                              lambda spec: {"train.epochs": needed}))
    return out


def propose_scaled_input(s: Situation) -> list[Change]:
    return _standardise_x(s)


def propose_scaled_target(s: Situation) -> list[Change]:
    return [_standardise_y()]


def propose_biases(s: Situation) -> list[Change]:
    return [change("bias", "biases on", "bias", lambda spec: {"model.use_bias": True})]


def propose_for_saturation(s: Situation) -> list[Change]:
    return _standardise_x(s) + _default_initializer(s)


def propose_for_dead_units(s: Situation) -> list[Change]:
    out = _default_initializer(s)
    if s.relu:
        out += [change("elu", "elu instead of relu", "activation", _relu_to("elu")), _twice_as_wide()]
    return out


def propose_bends_inside(s: Situation) -> list[Change]:
    out = _standardise_x(s)
    if s.relu:
        out.append(change("tanh", "tanh instead of relu", "activation", _relu_to("tanh")))
    return out


def propose_more_bends(s: Situation) -> list[Change]:
    return [_twice_as_wide(), change("tanh", "tanh instead of relu", "activation", _relu_to("tanh"))]


def propose_anything(s: Situation) -> list[Change]:
    """No rule explains the failure: more capacity, other learning rates, more epochs."""
    if s.spec.model.units:
        out = [_twice_as_wide(), change("deeper", "one more hidden layer", "depth", deeper)]
    else:
        out = [change("hidden", "a hidden layer", "depth", hidden_layer)]
    out += [change("lr/10", "learning rate ÷10", "learning_rate", learning_rate_times(0.1)),
            change("lr*10", "learning rate ×10", "learning_rate", learning_rate_times(10))]
    return out + _epochs_times_4(s)


def propose_output(s: Situation) -> list[Change]:
    """An output that cannot produce the target: softmax over classes, one unit per class, sigmoid or linear."""
    m, t, classes = s.spec.model, s.spec.train, s.spec.data.n_classes
    if m.output_units > 1:
        return [change("out", "softmax output", "output", lambda spec: {"model.output_activation": "softmax"})]
    if classes > 2:  # a one-unit output for several classes: one unit per class
        return [change("out", f"{classes} softmax outputs", "output", lambda spec, k=classes: {
            "model.output_units": k, "model.output_activation": "softmax", "train.loss": "sparse_categorical_crossentropy"})]
    wanted = "sigmoid" if s.result.task == "classification" else "linear"
    changes = {"model.output_activation": wanted}
    if wanted == "sigmoid" and t.loss not in ("binary_crossentropy", "mse", "mae"):
        changes["train.loss"] = "binary_crossentropy"
    return [change("out", f"{wanted} output", "output", lambda spec, c=changes: dict(c))]


def task_loss(spec: RunSpec) -> dict[str, Any]:
    """The loss and output that suit the task: a probability with cross-entropy for classes, a linear output with MSE for values."""
    classes = spec.data.n_classes
    if spec.data.resolved_task != "classification":
        return {"model.output_activation": "linear", "model.output_units": 1, "train.loss": "mse"}
    if classes > 2:
        return {"model.output_activation": "softmax", "model.output_units": classes, "train.loss": "sparse_categorical_crossentropy"}
    return {"model.output_activation": "sigmoid", "model.output_units": 1, "train.loss": "binary_crossentropy"}


def propose_loss_for_task(s: Situation) -> list[Change]:
    """The loss and output that suit the task (`task_loss`)."""
    values = task_loss(s.spec)
    name = {"mse": "linear output + mean squared error", "binary_crossentropy": "sigmoid output + binary cross-entropy"}.get(
        values["train.loss"], f"{values['model.output_units']} softmax outputs + cross-entropy")
    return [change("value-loss" if values["train.loss"] == "mse" else "class-loss", name, "output", lambda spec: dict(values))]


def propose_capacity(s: Situation) -> list[Change]:
    """More of the network: the Playground's features, a hidden layer, 4× the width or one more layer, and larger steps."""
    d, m = s.spec.data, s.spec.model
    out = []
    if d.n_inputs == 2 and set(d.input_features) != set(FEATURES):
        out.append(change("features", "all the Playground's features", "features", lambda spec: {"data.features": tuple(FEATURES)}))
    if not m.units:
        out.append(change("hidden", "a hidden layer", "depth", hidden_layer))
    else:
        out += [change("wider4", "4× as wide", "width", wider_units(4)), change("deeper", "one more hidden layer", "depth", deeper)]
    return [*out, change("lr*10", "learning rate ×10", "learning_rate", learning_rate_times(10))]  # a larger net may need larger steps


def propose_boundaries_inside(s: Situation) -> list[Change]:
    return [*_standardise_x(s), _twice_as_wide()]


def propose_more_directions(s: Situation) -> list[Change]:
    """Units merged along one direction: more units, so more directions."""
    return [_twice_as_wide(), change("wider4", "4× as wide", "width", wider_units(4))]


def propose_wider(s: Situation) -> list[Change]:
    return [_twice_as_wide()] if s.spec.model.units else []
