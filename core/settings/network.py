"""The lab's networks as plain numpy: layer shapes, weight names and counts, and the forward pass.

Everything that reads a trained network (readouts, charts, restarts summaries, the budget) needs
only this module, so none of it imports TensorFlow. The activations compute what Keras's do (same
constants, float32), so a forward pass here agrees with the Keras model to float32 rounding.

Example:
    >>> from core.settings.specs import ModelSpec
    >>> [shape.units for shape in layer_shapes(ModelSpec(units=(4,)))]
    [4, 1]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from core.settings.recipes import square
from core.settings.specs import ModelSpec

# Keras's SELU constants (keras.activations.selu) and leaky ReLU's default slope.
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
LEAKY_SLOPE = 0.2
_erf = np.frompyfunc(math.erf, 1, 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x >= 0, x, LEAKY_SLOPE * x),
    "elu": _elu,
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(np.asarray(x, np.float64) / math.sqrt(2.0)).astype(np.float64)),
    "swish": lambda x: x * _sigmoid(x),
    "softplus": lambda x: np.logaddexp(0, x),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "square": square,
    "softmax": lambda x: _softmax(np.asarray(x, np.float64)),
}


def _softmax(x: np.ndarray) -> np.ndarray:
    """Keras's softmax over the last axis: over a single unit it is 1 whatever the input."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def apply_activation(name: str, values: np.ndarray) -> np.ndarray:
    """The activation `name` of float32 values, as float32."""
    return np.asarray(ACTIVATIONS[name](np.asarray(values, np.float32)), dtype=np.float32)


class LayerShape(NamedTuple):
    """One Dense layer: its name, inputs, outputs and activation."""

    name: str
    fan_in: int
    units: int
    activation: str


def layer_shapes(spec: ModelSpec) -> list[LayerShape]:
    """Every Dense layer of the spec, output last."""
    widths = [spec.inputs, *spec.units, spec.output_units]
    names = [f"hidden_{i + 1}" for i in range(len(spec.units))] + ["output"]
    acts = [*spec.activation, spec.output_activation]
    return [LayerShape(names[i], widths[i], widths[i + 1], acts[i]) for i in range(len(names))]


def weight_names(spec: ModelSpec) -> list[str]:
    """Names of the weight arrays in Keras's `get_weights()` order."""
    names = []
    for shape in layer_shapes(spec):
        names.append(f"{shape.name}/kernel")
        if spec.use_bias:
            names.append(f"{shape.name}/bias")
    return names


def count_params(spec: ModelSpec) -> int:
    """Trainable weights of the network (its inputs, the hidden layers, the outputs)."""
    bias = 1 if spec.use_bias else 0
    return sum((shape.fan_in + bias) * shape.units for shape in layer_shapes(spec))


def split_layers(spec: ModelSpec, weights: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(kernel, bias or None) per Dense layer, from a flat `get_weights()` list."""
    step = 2 if spec.use_bias else 1
    return [(weights[i], weights[i + 1] if spec.use_bias else None) for i in range(0, len(weights), step)]


def iter_layer_outputs(spec: ModelSpec, weights: list[np.ndarray], x: np.ndarray,
                       upto: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(pre-activation, activation) of each layer in turn for scaled inputs x, computed in float32, through layer
    `upto` (an index, negative from the end; default the output). A caller that reads each layer as it comes holds
    one layer's values at a time, not the whole network's."""
    shapes = layer_shapes(spec)
    last = len(shapes) - 1 if upto is None else range(len(shapes))[upto]
    out = np.asarray(x, dtype=np.float32).reshape(-1, spec.inputs)
    for index, ((kernel, bias), shape) in enumerate(zip(split_layers(spec, weights), shapes)):
        if index > last:
            return
        pre = out @ np.asarray(kernel, np.float32)
        if bias is not None:
            pre = pre + np.asarray(bias, np.float32)
        out = apply_activation(shape.activation, pre)
        yield pre, out


def layer_outputs(spec: ModelSpec, weights: list[np.ndarray], x: np.ndarray,
                  layers: Iterable[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(pre-activation, activation) of every layer for scaled inputs x, computed in float32.

    With `layers` (indices, negative from the end) only those are kept, in layer order: the pass still runs
    through the earlier layers but keeps none of them, and stops at the last layer asked for.
    """
    if layers is None:
        return list(iter_layer_outputs(spec, weights, x))
    count = len(layer_shapes(spec))
    wanted = {range(count)[index] for index in layers}
    if not wanted:
        return []
    return [pair for index, pair in enumerate(iter_layer_outputs(spec, weights, x, max(wanted))) if index in wanted]


ROWS = 8192  # rows one pass computes at once: the layers before the one asked for never hold every row of a big file


def layer_output(spec: ModelSpec, weights: list[np.ndarray], x: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(pre-activation, activation) of layer `index` (negative from the end) alone, computed ROWS rows at a time."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, spec.inputs)
    if len(x) <= ROWS:
        return layer_outputs(spec, weights, x, (index,))[0]
    pieces = [layer_outputs(spec, weights, x[start:start + ROWS], (index,))[0] for start in range(0, len(x), ROWS)]
    return np.concatenate([pre for pre, _ in pieces]), np.concatenate([post for _, post in pieces])


def forward(spec: ModelSpec, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network's output (scaled units) for scaled inputs x without Keras: shape (n,), or (n, classes) for several output units."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = layer_output(spec, weights, x, -1)[1].astype(np.float64)
    return out.ravel() if spec.output_units == 1 else out


EPSILON = 1e-7  # Keras's backend epsilon: cross-entropies clip probabilities to [eps, 1 - eps]


def loss_value(loss: str, out: np.ndarray, y: np.ndarray) -> float:
    """The training loss `loss` of network outputs `out` against scaled targets `y` (class numbers for several outputs),
    over all the rows at once (sse: summed over them, as one batch)."""
    out = np.asarray(out, np.float64)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    with np.errstate(all="ignore"):
        if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            p = np.clip(out.reshape(len(y), -1), EPSILON, 1 - EPSILON)
            p = p / p.sum(axis=1, keepdims=True)
            return float(np.mean(-np.log(p[np.arange(len(y)), y[:, 0].astype(int)])))
        out = out.reshape(y.shape)
        if loss == "binary_crossentropy":
            p = np.clip(out, EPSILON, 1 - EPSILON)
            return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        if loss == "mae":
            return float(np.mean(np.abs(out - y)))
        squared = (out - y) ** 2
        return float(np.sum(squared) if loss == "sse" else np.mean(squared))


def predicted_class(probabilities: np.ndarray) -> np.ndarray:
    """The class of the largest output of each row (float, as the lab's labels are), for several output units."""
    return np.argmax(np.asarray(probabilities), axis=-1).astype(np.float64)
