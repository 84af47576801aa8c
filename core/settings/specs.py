"""The run specification: frozen, validated dataclasses that say everything a run depends on.

Every field carries a `Rule` (core/settings/rules.py: its kind, range or choices and a one-line help). The same rules parse
values typed on the command line, read from URLs or from JSON, so a wrong value anywhere is answered
with one message that names the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from core.data.datafile import MIN_ROWS, select
from core.data.expression import check_on_range
from core.settings.errors import SpecError
from core.settings.rules import (
    ACTIVATIONS,
    CLASS_LOSSES,
    FEATURES,
    FUNCTIONS,
    INITIALIZERS,
    LOSSES,
    MAX_EPOCHS,
    MAX_LAYERS,
    MAX_OUTPUTS,
    MAX_PLANE_NOISE,
    MAX_SAMPLES,
    MAX_UNITS,
    MAX_X,
    OPTIMIZERS,
    PLANE_CLASSES,
    PLANE_FUNCTIONS,
    SAMPLINGS,
    SCALINGS,
    TASKS,
    Rule,
)


def _f(default: Any, rule: Rule) -> Any:
    return field(default=default, metadata={"rule": rule})


class _Spec:
    """Shared behaviour: validation of every field on construction, dict conversion, rules."""

    section = ""
    ATTACHED: tuple[str, ...] = ()  # fields without a rule: objects carried along, never in to_dict

    def __post_init__(self) -> None:
        for f in _ruled(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, f.metadata["rule"].parse(f"{self.section}.{f.name}", value))
        self._check()

    def _check(self) -> None:
        """Rules that tie several fields together; subclasses override."""

    @classmethod
    def rules(cls) -> dict[str, Rule]:
        return {f.name: f.metadata["rule"] for f in _ruled(cls)}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None):
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.rules()) - set(cls.ATTACHED))
        if unknown:
            raise SpecError(f"{cls.section}.{unknown[0]}", values[unknown[0]], f"fields of {cls.section}: " + ", ".join(cls.rules()))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in _ruled(self)}

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)


def _ruled(spec) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(spec) if "rule" in f.metadata]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class DataSpec(_Spec):
    """The dataset: which function is sampled where and how, its noise, and how x and y are scaled."""

    section = "data"
    function: str = _f("sine", Rule("choice", "target: amplitude*sin(x), A x^2 + B x + C, the 0/1/0 segments, your expression, "
                                              "your data file, or one of the TensorFlow Playground's two-input datasets (circle, "
                                              "xor, gauss, spiral: classes; plane, multi_gauss: regressions)", choices=FUNCTIONS))
    sampling: str = _f("grid", Rule("choice", "grid: evenly spaced; uniform: random draws; blocks: three separated runs (segments)",
                                    choices=SAMPLINGS))
    n_samples: int = _f(10_000, Rule("int", "training samples (a data file: its rows less the test share)", 3, MAX_SAMPLES))
    x_min: float = _f(0.0, Rule("float", "left end of the data range (a data file: its smallest x)", -MAX_X, MAX_X))
    x_max: float = _f(2 * math.pi, Rule("float", "right end of the data range (a data file: its largest x)", -MAX_X, MAX_X))
    noise: float = _f(0.0, Rule("float", "standard deviation of Gaussian noise added to y (a Playground dataset: its noise level, "
                                         "0 to 0.5, as its slider's 0 to 50%)", 0.0, 100.0))
    amplitude: float = _f(1.0, Rule("float", "sine: y = amplitude * sin(x)", -100.0, 100.0))
    coef_a: float = _f(1.0, Rule("float", "parabola: coefficient A of x^2", -100.0, 100.0))
    coef_b: float = _f(2.0, Rule("float", "parabola: coefficient B of x", -100.0, 100.0))
    coef_c: float = _f(2.0, Rule("float", "parabola: constant C", -100.0, 100.0))
    expression: str = _f("sin(3*x) + 0.3*x**2", Rule("text", "custom: the target as a formula in x, e.g. sin(3*x) + 0.3*x**2 or abs(x)", 0, 200))
    classify_above: float | None = _f(None, Rule("float", "custom: empty for regression; a number makes it a classification of target > number",
                                                 -1e6, 1e6, optional=True))
    data_seed: int = _f(0, Rule("int", "seed of numpy's legacy RandomState that draws x and noise", 0, 2**32 - 1))
    test_samples: int = _f(0, Rule("int", "held-out samples drawn like the training ones (0: none)", 0, MAX_SAMPLES))
    test_seed: int = _f(43, Rule("int", "seed of the held-out samples", 0, 2**32 - 1))
    x_scaling: str = _f("none", Rule("choice", "scaling of the input, fitted on the training x", choices=SCALINGS))
    y_scaling: str = _f("none", Rule("choice", "scaling of the target, fitted on the training y (a data file's class labels are never "
                                               "scaled)", choices=SCALINGS))
    task: str = _f("auto", Rule("choice", "regression or classification; auto: a data file's target of few distinct whole numbers "
                                          "is a classification (the other functions have their own)", choices=TASKS))
    x_columns: str = _f("", Rule("text", "data file: the input column, by 0-based index or header name (empty: every column "
                                         "but the target)", 0, 200))
    y_column: str = _f("", Rule("text", "data file: the target column, by 0-based index or header name (empty: the last)", 0, 100))
    test_share: float = _f(0.0, Rule("float", "data file: share of its rows held out as test points, drawn with test_seed", 0.0, 0.5))
    file_name: str = _f("", Rule("text", "data file: its name, as shown (set when a file is read)", 0, 200))
    file_digest: str = _f("", Rule("text", "data file: sha256 of its bytes (set when a file is read)", 0, 64))
    features: tuple[str, ...] = _f((), Rule("names", "two inputs: the features fed to the first layer, from the scaled inputs, as "
                                                   "the Playground's (empty: x1, x2)", choices=FEATURES))
    table: Any = field(default=None, compare=False, repr=False)  # a data file's core.data.datafile.Table, never in to_dict

    ATTACHED = ("table",)

    @property
    def n_classes(self) -> int:
        """How many classes the target has (0 for a regression): a file's distinct labels, 2 for segments and a threshold."""
        if self.resolved_task != "classification":
            return 0
        if self.function == "file" and self.table is not None:
            return self._file_classes
        return 2

    @property
    def n_inputs(self) -> int:
        """How many input columns the data has: 2 for a Playground dataset, a file's chosen columns, else 1."""
        if self.function in PLANE_FUNCTIONS:
            return 2
        if self.function == "file" and self.table is not None:
            return self._file_inputs
        return 1

    @property
    def input_features(self) -> tuple[str, ...]:
        """What the first layer is fed: the chosen features, or the inputs themselves (x for one input; x1, x2 for two)."""
        if self.features:
            return self.features
        return ("x",) if self.n_inputs == 1 else FEATURES[:self.n_inputs]

    @property
    def input_width(self) -> int:
        """The first layer's inputs: one per feature."""
        return len(self.input_features)

    @property
    def input_bounds(self) -> tuple[tuple[float, float], ...]:
        """The range of each input: x_min..x_max (both inputs of a Playground dataset), or a file's columns' own."""
        if self.function == "file" and self.table is not None:
            return self._file_bounds
        return ((self.x_min, self.x_max),) * self.n_inputs

    @property
    def chosen(self):
        """A data file's chosen columns (core.data.datafile.DataTable), or None."""
        return select(self.table, self.x_columns, self.y_column, self.task) if self.table is not None else None

    @property
    def resolved_task(self) -> str:
        """regression or classification: a data file's from its target (unless data.task says), the others' from their function."""
        if self.function == "file":
            return self._file_task if self.table is not None else ("regression" if self.task == "auto" else self.task)
        if self.function in ("segments", *PLANE_CLASSES) or (self.function == "custom" and self.classify_above is not None):
            return "classification"
        return "regression"

    def _check_file(self) -> None:
        if self.noise != 0:
            raise SpecError("data.noise", self.noise, "0 for a data file (its y is used as it is)")
        if self.table is None:
            return
        chosen = self.chosen
        rows = chosen.rows
        held = int(round(self.test_share * rows))
        if rows - held < MIN_ROWS:
            raise SpecError("data.test_share", self.test_share, f"a share that leaves at least {MIN_ROWS} training rows of {rows}")
        for column, name in enumerate(chosen.x_names):
            x = chosen.x[:, column]
            if not x.max() > x.min():
                raise SpecError("data.x_columns", name, f"an input column with at least two different values (all are {x[0]:g})")
        x = chosen.x[:, 0]
        object.__setattr__(self, "_file_inputs", len(chosen.x_names))
        object.__setattr__(self, "_file_bounds", tuple((float(c.min()), float(c.max())) for c in chosen.x.T))
        object.__setattr__(self, "_file_task", chosen.task)
        object.__setattr__(self, "_file_classes", len(chosen.classes))
        if chosen.task == "classification":  # a file's labels are never scaled, whatever a preset says ("Scaled" scales y too)
            object.__setattr__(self, "y_scaling", "none")
        for name, value in (("n_samples", rows - held), ("test_samples", held), ("x_min", float(x.min())),
                            ("x_max", float(x.max())), ("file_digest", self.table.digest), ("file_name", self.table.name or self.file_name)):
            object.__setattr__(self, name, value)

    @property
    def coefficients(self) -> tuple[float, float, float]:
        return (self.coef_a, self.coef_b, self.coef_c)

    def _check(self) -> None:
        if self.function == "file":
            self._check_file()
        else:
            object.__setattr__(self, "table", None)
            if self.task not in ("auto", self.resolved_task):
                raise SpecError("data.task", self.task, f"auto or {self.resolved_task} for function {self.function}")
        if not self.x_max > self.x_min:
            raise SpecError("data.x_max", self.x_max, f"a number greater than data.x_min ({self.x_min:g})")
        self._check_features()
        if self.function == "custom":
            check_on_range(self.expression, self.x_min, self.x_max)
        if self.sampling == "blocks" and self.function != "segments":
            raise SpecError("data.sampling", self.sampling, "grid or uniform for function " + self.function)
        if self.resolved_task == "classification" and self.y_scaling != "none":
            raise SpecError("data.y_scaling", self.y_scaling, "none (class labels 0/1 are not scaled)")
        if self.function in PLANE_FUNCTIONS:
            if self.noise > MAX_PLANE_NOISE:
                raise SpecError("data.noise", self.noise, f"0 to {MAX_PLANE_NOISE:g} for a Playground dataset (its slider's 0 to 50%)")
        elif self.resolved_task == "classification" and self.noise != 0:
            raise SpecError("data.noise", self.noise, "0 for class labels")

    def _check_features(self) -> None:
        if not self.features:
            return
        if self.n_inputs != 2:
            raise SpecError("data.features", ",".join(self.features), "empty for one input (features are made from two inputs, x1 and x2)")
        if len(set(self.features)) != len(self.features):
            raise SpecError("data.features", ",".join(self.features), "each feature once: " + ", ".join(FEATURES))


@dataclass(frozen=True)
class ModelSpec(_Spec):
    """A stack of Dense layers: its inputs (set from the data), hidden widths, activations, bias and initializers."""

    section = "model"
    inputs: int = _f(1, Rule("int", "inputs of the first layer: set from the data (1, 2, or one per feature of data.features)",
                             1, len(FEATURES)))
    units: tuple[int, ...] = _f((4,), Rule("units", "widths of the hidden layers, e.g. 32,32 (empty: no hidden layer)", 1, MAX_UNITS))
    activation: tuple[str, ...] = _f(("relu",), Rule("names", "activation of each hidden layer (one name applies to all)", choices=ACTIVATIONS))
    output_activation: str = _f("linear", Rule("choice", "activation of the output layer (softmax: over its units, one per class)",
                                                choices=ACTIVATIONS))
    output_units: int = _f(1, Rule("int", "units of the output layer: 1 (a value or the probability of class 1), or one per class "
                                          "(with softmax and a categorical cross-entropy)", 1, MAX_OUTPUTS))
    use_bias: bool = _f(True, Rule("bool", "whether every layer has a bias"))
    kernel_initializer: tuple[str, ...] = _f(("glorot_uniform",), Rule("names", "Keras initializer of the weights of each Dense layer, "
                                                                        "the output last (one name applies to all)", choices=INITIALIZERS,
                                                                        most=MAX_LAYERS + 1))
    kernel_init_scale: float | None = _f(None, Rule("float", "stddev (normal) or limit (uniform) of the kernel initializer; empty: Keras's default",
                                                    1e-6, 100.0, optional=True))
    bias_initializer: str = _f("zeros", Rule("choice", "Keras initializer of the biases", choices=INITIALIZERS))
    l2: float = _f(0.0, Rule("float", "L2 penalty on the weights of every Dense layer (Keras's kernel_regularizer=L2): the loss adds "
                                      "l2 times the sum of their squares (0: none)", 0.0, 10.0))

    def _check(self) -> None:
        # One activation name may stand for every hidden layer (and for none when there are none). The
        # same name written once per layer is still one name: changing the number of layers (say
        # ?units=3 over "tanh,tanh") carries it along; only different names per layer must match.
        if not self.units:
            object.__setattr__(self, "activation", ())
        if len(set(self.activation)) == 1 and len(self.activation) != len(self.units):
            object.__setattr__(self, "activation", self.activation[:1] * len(self.units))
        if len(self.activation) != len(self.units):
            layers = len(self.units)
            raise SpecError("model.activation", ",".join(self.activation),
                            f"one name for every hidden layer, or {layers} name{'s' if layers != 1 else ''} (one per hidden layer)")
        layers = len(self.units) + 1  # the hidden layers and the output layer
        if not self.kernel_initializer:
            object.__setattr__(self, "kernel_initializer", ("glorot_uniform",))
        if len(set(self.kernel_initializer)) == 1:
            object.__setattr__(self, "kernel_initializer", self.kernel_initializer[:1] * layers)
        if len(self.kernel_initializer) != layers:
            raise SpecError("model.kernel_initializer", ",".join(self.kernel_initializer),
                            f"one name for every layer, or {layers} names (one per Dense layer, the output last)")
        if self.kernel_init_scale is not None and not set(self.kernel_initializer) & set(_SCALED_INITIALIZERS):
            raise SpecError("model.kernel_init_scale", self.kernel_init_scale,
                            "empty unless model.kernel_initializer is one of " + ", ".join(_SCALED_INITIALIZERS))

    def initializer_of(self, layer: int) -> str:
        """The kernel initializer of Dense layer `layer` (0: the first hidden layer; the output last)."""
        return self.kernel_initializer[layer]

    @property
    def hidden(self) -> list[tuple[int, str]]:
        return list(zip(self.units, self.activation))


_SCALED_INITIALIZERS = ("uniform", "random_uniform", "random_normal", "truncated_normal")


@dataclass(frozen=True)
class TrainSpec(_Spec):
    """How the network is trained: optimizer, learning rate, loss, batch size, epochs, shuffling."""

    section = "train"
    optimizer: str = _f("adam", Rule("choice", "Keras optimizer", choices=OPTIMIZERS))
    learning_rate: float = _f(0.001, Rule("float", "step size of the optimizer", 1e-8, 10.0))
    momentum: float = _f(0.0, Rule("float", "momentum of sgd or rmsprop (0: none)", 0.0, 0.999))
    nesterov: bool = _f(False, Rule("bool", "sgd: Nesterov momentum (needs a momentum above 0)"))
    decay: float = _f(0.0, Rule("float", "Keras 2's learning-rate decay: the rate at step t is learning_rate / (1 + decay * t) (0: none)",
                                0.0, 1.0))
    loss: str = _f("mse", Rule("choice", "mse: mean squared error; mae: mean absolute error; sse: sum of squared errors over the batch; "
                                         "binary_crossentropy", choices=LOSSES))
    batch_size: int | str = _f(32, Rule("int", "samples per optimizer step", 1, MAX_SAMPLES, full=True))
    epochs: int = _f(500, Rule("int", "passes over the training data", 1, MAX_EPOCHS))
    shuffle: bool = _f(True, Rule("bool", "reshuffle the samples before every epoch"))
    clipnorm: float | None = _f(None, Rule("float", "clip each weight tensor's gradient to this norm; empty: no clipping", 1e-6, 1e6, optional=True))
    global_clipnorm: float | None = _f(None, Rule("float", "clip all gradients together to this norm; empty: no clipping", 1e-6, 1e6, optional=True))

    def _check(self) -> None:
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise SpecError("train.global_clipnorm", self.global_clipnorm, "empty when train.clipnorm is set (Keras takes one of them)")
        if self.nesterov and (self.optimizer != "sgd" or not self.momentum):
            raise SpecError("train.nesterov", self.nesterov, "false unless train.optimizer is sgd with a momentum above 0")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise SpecError("train.momentum", self.momentum, f"0 for optimizer {self.optimizer} (momentum applies to sgd and rmsprop)")

    def resolved_batch_size(self, n_samples: int) -> int:
        return n_samples if self.batch_size == "full" else min(int(self.batch_size), n_samples)

    def steps_per_epoch(self, n_samples: int) -> int:
        """Optimizer steps in one epoch over `n_samples`: the last batch may be short."""
        return -(-n_samples // self.resolved_batch_size(n_samples))


@dataclass(frozen=True)
class RunSpec:
    """One run: data, model, training, the seed of every initializer and shuffle, and labels."""

    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    seed: int = 0
    record_every: int = 0  # weights and replayed predictions every N epochs; 0 picks N by size
    scenario: str | None = None
    preset: str | None = None

    SECTIONS = ("data", "model", "train")
    DERIVED = ("model.inputs",)  # set from other fields (the data's features), so never a difference of its own
    TOP_RULES = {
        "seed": Rule("int", "seed of the initializers and the shuffles", 0, 2**31 - 1),
        "record_every": Rule("int", "record weights and predictions every N epochs (0: every epoch unless that is too much)", 0, MAX_EPOCHS),
    }

    def __post_init__(self) -> None:
        for name, rule in self.TOP_RULES.items():
            object.__setattr__(self, name, rule.parse(name, getattr(self, name)))
        for name, cls in (("data", DataSpec), ("model", ModelSpec), ("train", TrainSpec)):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, cls.from_dict(getattr(self, name)))
        if self.model.inputs != self.data.input_width:  # the first layer takes what the data gives it
            object.__setattr__(self, "model", self.model.replace(inputs=self.data.input_width))
        task, loss, outputs = self.data.resolved_task, self.train.loss, self.model.output_units
        if task == "regression" and loss in ("binary_crossentropy", *CLASS_LOSSES):
            raise SpecError("train.loss", loss, "mse, mae or sse for a regression target")
        if task == "regression" and outputs != 1:
            raise SpecError("model.output_units", outputs, "1 for a regression target")
        classes = self.data.n_classes
        if task == "classification" and outputs == 1 and classes > 2:
            raise SpecError("model.output_units", outputs, f"{classes} (one per class, with model.output_activation=softmax and "
                            f"train.loss=sparse_categorical_crossentropy) for {classes} classes")
        if task == "classification" and outputs > 1 and outputs < classes:
            raise SpecError("model.output_units", outputs, f"at least {classes}, one per class")
        if outputs > 1 and loss not in CLASS_LOSSES:
            raise SpecError("train.loss", loss, "categorical_crossentropy or sparse_categorical_crossentropy for "
                            f"{outputs} output units (one per class)")
        if outputs == 1 and loss == "sparse_categorical_crossentropy" and classes > 1:
            raise SpecError("train.loss", loss, f"binary_crossentropy for one output unit, or model.output_units={classes} "
                            "(one unit per class)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "preset": self.preset,
            "seed": self.seed,
            "record_every": self.record_every,
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        values = dict(values)
        known = {"scenario", "preset", "seed", "record_every", "data", "model", "train"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(unknown[0], values[unknown[0]], "keys: " + ", ".join(sorted(known)))
        return cls(
            data=DataSpec.from_dict(values.get("data")),
            model=ModelSpec.from_dict(values.get("model")),
            train=TrainSpec.from_dict(values.get("train")),
            seed=values.get("seed", 0),
            record_every=values.get("record_every", 0),
            scenario=values.get("scenario"),
            preset=values.get("preset"),
        )

    def with_table(self, table: Any) -> RunSpec:
        """A copy that trains on `table` (a core.data.datafile.Table), chosen by this spec's data.x_columns, y_column and task."""
        return self.with_values({}, table=table)

    def with_value(self, path: str, value: Any) -> RunSpec:
        """A copy with one field changed by its dotted name, e.g. `train.learning_rate`, 0.1."""
        return self.with_values({path: value})

    def with_values(self, changes: dict[str, Any], table: Any = None) -> RunSpec:
        """A copy with several fields changed at once by dotted name, to typed values (0.1, (32, 32), True), so cross-field
        rules see them together; only the sections changed are rebuilt (and checked by their rules). With `table` (a
        core.data.datafile.Table) it trains on that file, the changes choosing its columns. Text goes through `with_text`."""
        parts: dict[str, dict[str, Any]] = {section: {} for section in self.SECTIONS}
        top: dict[str, Any] = {}
        for path, value in changes.items():
            _rule_of(path, value)  # an unknown name is refused, naming the fields there are
            section, _, name = path.partition(".")
            (parts[section] if name else top)[name or section] = value
        if table is not None:
            parts["data"].update(function="file", table=table, file_name=table.name)
        return dataclasses.replace(self, **{s: getattr(self, s).replace(**c) for s, c in parts.items() if c}, **top)

    def with_text(self, changes: dict[str, str], table: Any = None) -> RunSpec:
        """`with_values` from text (a URL, the command line's --set, a .keras file): each value read once by its field's rule."""
        return self.with_values({path: parse_value(path, text) for path, text in changes.items()}, table=table)

    def key(self) -> str:
        """The one identity of this run's settings (cache keys, the doctor's "seen", "same settings?"): canonical JSON of
        every field but the labels (scenario, preset), which train nothing. A data file is in it by its content
        (data.file_digest, the sha256 of its bytes) and its chosen columns, never by the table object."""
        tree = self.to_dict()
        del tree["scenario"], tree["preset"]
        return json.dumps(_zeroed(tree), sort_keys=True)

    def differences(self, other: RunSpec) -> dict[str, tuple[Any, Any]]:
        """Dotted field name -> (this value, other value) for every field that differs."""
        mine, theirs = _flatten(self.to_dict()), _flatten(other.to_dict())
        return {k: (mine.get(k), theirs.get(k)) for k in mine
                if mine.get(k) != theirs.get(k) and k not in ("scenario", "preset", *self.DERIVED)}


def _zeroed(value: Any) -> Any:
    """-0.0 as 0.0 (equal numbers, one identity), through dicts and lists."""
    if isinstance(value, dict):
        return {k: _zeroed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_zeroed(v) for v in value]
    return 0.0 if isinstance(value, float) and value == 0 else value


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _rule_of(path: str, value: Any) -> Rule:
    """The rule of a dotted field name, or a SpecError naming the fields there are."""
    section, _, name = path.partition(".")
    if not name:
        if section not in RunSpec.TOP_RULES:
            raise SpecError(path, value, "section.field (sections: data, model, train) or " + ", ".join(RunSpec.TOP_RULES))
        return RunSpec.TOP_RULES[section]
    if section not in RunSpec.SECTIONS:
        raise SpecError(path, value, "section.field with section one of: " + ", ".join(RunSpec.SECTIONS))
    rules = {"data": DataSpec, "model": ModelSpec, "train": TrainSpec}[section].rules()
    if name not in rules:
        raise SpecError(path, value, f"fields of {section}: " + ", ".join(rules))
    return rules[name]


def parse_value(path: str, text: Any) -> Any:
    """One setting's typed value from text (a URL, --set, a form's box), by its dotted name and its field's rule."""
    return _rule_of(path, text).parse(path, text)


def all_rules() -> dict[str, Rule]:
    """Every settable field by its dotted name, for the command line and the dashboard."""
    rules = {f"{cls.section}.{name}": rule for cls in (DataSpec, ModelSpec, TrainSpec) for name, rule in cls.rules().items()}
    rules.update(RunSpec.TOP_RULES)
    return rules
