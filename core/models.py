"""Keras models from a ModelSpec: Dense stacks with explicitly seeded initializers.

No global seed is touched: each initializer gets its own integer seed derived from the run seed, the
layer and its role, so the same spec and seed always give the same starting weights in any process.
"""

from __future__ import annotations

import numpy as np

import keras
from core.specs import ModelSpec


@keras.saving.register_keras_serializable(package="tinynet", name="square")
def square(x):
    """x**2, the activation of the parabola post (`lambda x: x**2`), made serialisable."""
    return x * x


def activation(name: str):
    return square if name == "square" else keras.activations.get(name)


def derived_seed(seed: int, layer: int, role: str) -> int:
    """A stable integer seed for one initializer, independent of everything else in the process."""
    state = np.random.SeedSequence([seed, layer, {"kernel": 0, "bias": 1}[role]]).generate_state(1)[0]
    return int(state % (2**31 - 1))


def initializer(name: str, seed: int, scale: float | None = None):
    """A Keras initializer by name; `uniform` is Keras's RandomUniform default (-0.05, 0.05)."""
    if name in ("zeros", "ones"):
        return keras.initializers.get(name)
    if name in ("uniform", "random_uniform"):
        limit = 0.05 if scale is None else scale
        return keras.initializers.RandomUniform(-limit, limit, seed=seed)
    if name == "random_normal":
        return keras.initializers.RandomNormal(stddev=0.05 if scale is None else scale, seed=seed)
    if name == "truncated_normal":
        return keras.initializers.TruncatedNormal(stddev=0.05 if scale is None else scale, seed=seed)
    return getattr(keras.initializers, INITIALIZER_CLASSES[name])(seed=seed)


INITIALIZER_CLASSES = {
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_normal": "HeNormal",
    "he_uniform": "HeUniform",
    "lecun_normal": "LecunNormal",
    "lecun_uniform": "LecunUniform",
}


def layer_shapes(spec: ModelSpec) -> list[tuple[str, int, int, str]]:
    """(layer name, fan in, fan out, activation) for every Dense layer, output last."""
    widths = [1, *spec.units, 1]
    names = [f"hidden_{i + 1}" for i in range(len(spec.units))] + ["output"]
    acts = [*spec.activation, spec.output_activation]
    return [(names[i], widths[i], widths[i + 1], acts[i]) for i in range(len(names))]


def build_model(spec: ModelSpec, seed: int) -> keras.Sequential:
    """The network of `spec`, its weights drawn from initializers seeded by `seed`."""
    layers = [keras.Input(shape=(1,), name="x")]
    for index, (name, _, units, act) in enumerate(layer_shapes(spec)):
        layers.append(
            keras.layers.Dense(
                units,
                activation=activation(act),
                use_bias=spec.use_bias,
                kernel_initializer=initializer(spec.kernel_initializer, derived_seed(seed, index, "kernel"), spec.kernel_init_scale),
                bias_initializer=initializer(spec.bias_initializer, derived_seed(seed, index, "bias")),
                name=name,
            )
        )
    return keras.Sequential(layers, name="tiny_net")


def initial_weights(spec: ModelSpec, seed: int) -> list[np.ndarray]:
    """The starting weights `build_model(spec, seed)` would get, without building a model."""
    weights = []
    for index, (_, fan_in, units, _) in enumerate(layer_shapes(spec)):
        kernel = initializer(spec.kernel_initializer, derived_seed(seed, index, "kernel"), spec.kernel_init_scale)
        weights.append(np.asarray(kernel((fan_in, units), dtype="float32")))
        if spec.use_bias:
            bias = initializer(spec.bias_initializer, derived_seed(seed, index, "bias"))
            weights.append(np.asarray(bias((units,), dtype="float32")))
    return weights


def split_layers(spec: ModelSpec, weights: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(kernel, bias or None) per Dense layer, from a flat `get_weights()` list."""
    step = 2 if spec.use_bias else 1
    return [(weights[i], weights[i + 1] if spec.use_bias else None) for i in range(0, len(weights), step)]


def layer_outputs(spec: ModelSpec, weights: list[np.ndarray], x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(pre-activation, activation) of every layer for scaled inputs x, computed in float32."""
    out = np.asarray(x, dtype=np.float32).reshape(-1, 1)
    layers = []
    for (kernel, bias), (_, _, _, act) in zip(split_layers(spec, weights), layer_shapes(spec)):
        pre = out @ np.asarray(kernel, np.float32)
        if bias is not None:
            pre = pre + np.asarray(bias, np.float32)
        out = np.asarray(activation(act)(pre), dtype=np.float32)
        layers.append((pre, out))
    return layers


def forward(spec: ModelSpec, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network's output (scaled units) for scaled inputs x, shape (n,), without Keras models."""
    return layer_outputs(spec, weights, x)[-1][1].ravel().astype(np.float64)


def model_with_weights(spec: ModelSpec, weights: list[np.ndarray]) -> keras.Sequential:
    """A Keras model of `spec` holding `weights` (e.g. a run's final weights, to save as .keras)."""
    model = build_model(spec, seed=0)
    model.set_weights(weights)
    return model


def weight_names(spec: ModelSpec) -> list[str]:
    names = []
    for name, *_ in layer_shapes(spec):
        names.append(f"{name}/kernel")
        if spec.use_bias:
            names.append(f"{name}/bias")
    return names


def count_params(spec: ModelSpec) -> int:
    return sum((fan_in + (1 if spec.use_bias else 0)) * units for _, fan_in, units, _ in layer_shapes(spec))
