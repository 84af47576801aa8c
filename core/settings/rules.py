"""Each setting's allowed values, written once as data, and the `Rule` that checks and parses a value of it.

The limits (MAX_UNITS, MAX_EPOCHS, ...) and the choices (ACTIVATIONS, LOSSES, ...) live here; the specs
(core/settings/specs.py) attach one Rule to each field, so the command line, URLs, JSON and the form
all answer a wrong value with the same message: the field, the value and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.settings.errors import SpecError

SCALINGS = ("none", "minmax", "symmetric", "standard")
# The TensorFlow Playground's datasets, two inputs each: four classifications and two regressions.
PLANE_CLASSES = ("circle", "xor", "gauss", "spiral")
PLANE_REGRESSIONS = ("plane", "multi_gauss")
PLANE_FUNCTIONS = PLANE_CLASSES + PLANE_REGRESSIONS
FUNCTIONS = ("sine", "parabola", "segments", "custom", "file", *PLANE_FUNCTIONS)
# The Playground's input features, computed from the (scaled) inputs x1, x2 and fed to the first layer.
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
MAX_PLANE_NOISE = 0.5  # the Playground's noise slider goes to 50%
TASKS = ("auto", "regression", "classification")
SAMPLINGS = ("grid", "uniform", "blocks")
ACTIVATIONS = (
    "linear", "relu", "leaky_relu", "elu", "selu", "gelu", "swish",
    "softplus", "sigmoid", "tanh", "square", "softmax",
)
INITIALIZERS = (
    "uniform", "random_uniform", "random_normal", "truncated_normal",
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "zeros", "ones",
)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
LOSSES = ("mse", "mae", "sse", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
CLASS_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")  # over one output unit per class
MAX_OUTPUTS = 100
MAX_UNITS = 1024
MAX_LAYERS = 8
MAX_EPOCHS = 100_000
MAX_SAMPLES = 200_000
MAX_X = 1e9  # the largest |x| of a data range: unscaled inputs are a real case to diagnose, not to refuse
MAX_SEEDS = 256  # seeds trained at once by restarts
DEFAULT_SEEDS = 64  # restarts, sweeps and the claims table, unless told otherwise


@dataclass(frozen=True)
class Rule:
    """How one field is parsed and checked: `kind` is int, float, bool, choice, units or names."""

    kind: str
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is allowed (means "the framework's default")
    full: bool = False  # the word "full" is allowed (batch size)
    most: int = MAX_LAYERS  # items of a units or names list (one per hidden layer, or one more with the output)

    def allowed(self) -> str:
        if self.kind == "choice":
            return ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return f"text of at most {self.hi:g} characters"
        if self.kind in ("units", "names"):
            item = f"whole numbers {_show(self.lo)} to {_show(self.hi)}" if self.kind == "units" else ", ".join(self.choices)
            return f"a comma-separated list of 0 to {self.most} of: {item}"
        word = "a whole number" if self.kind == "int" else "a number"
        text = f"{word} from {_show(self.lo)} to {_show(self.hi)}"
        if self.full:
            text += ", or 'full'"
        if self.optional:
            text += ", or empty for the default"
        return text

    def parse(self, name: str, value: Any) -> Any:
        """Turn `value` (typed or a string) into this field's type, or raise SpecError."""
        fail = SpecError(name, value, self.allowed())
        if self.optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "default"))):
            return None
        if self.full and isinstance(value, str) and value.strip().lower() == "full":
            return "full"
        if self.kind == "text":
            if not isinstance(value, str) or len(value) > self.hi:
                raise SpecError(name, value if not isinstance(value, str) else value[:40], self.allowed())
            return value.strip()
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
                return True
            if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise fail
        if self.kind == "choice":
            text = str(value).strip().lower().replace("-", "_") if isinstance(value, str) else value
            for choice in self.choices:
                if text == choice or text == choice.replace("-", "_"):
                    return choice
            raise fail
        if self.kind in ("units", "names"):
            if isinstance(value, str) and (len(value) > 40 * self.most or value.count(",") > 2 * self.most):
                raise fail  # refused before it is split: a pasted list of millions of items is not read
            items = value.split(",") if isinstance(value, str) else value
            items = items if isinstance(items, (list, tuple)) else [items]
            items = [item for item in items if not (isinstance(item, str) and not item.strip())]
            if len(items) > self.most:
                raise fail
            inner = Rule("int" if self.kind == "units" else "choice", self.help, self.lo, self.hi, self.choices)
            try:
                return tuple(inner.parse(name, item.strip() if isinstance(item, str) else item) for item in items)
            except SpecError:
                raise fail from None
        number = _number(value, integer=self.kind == "int")
        if number is None or not (self.lo <= number <= self.hi):
            raise fail
        return number


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) >= 1 else f"{number:g}"


def _number(value: Any, integer: bool) -> float | int | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if integer:
        return int(number) if number == int(number) else None
    return number
