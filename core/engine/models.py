"""Keras models from a ModelSpec: Dense stacks with explicitly seeded initializers.

No global seed is touched: each initializer gets its own integer seed derived from the run seed, the
layer and its role, so the same spec and seed always give the same starting weights in any process.
"""

from __future__ import annotations

import keras
import numpy as np

from core.settings.network import layer_shapes
from core.settings.recipes import derived_seed, initializer, square
from core.settings.specs import ModelSpec

# The x^2 activation of the parabola post, registered so a saved model loads again.
keras.saving.register_keras_serializable(package="tinynet", name="square")(square)


def activation(name: str):
    return square if name == "square" else keras.activations.get(name)


def build_model(spec: ModelSpec, seed: int) -> keras.Sequential:
    """The network of `spec`, its weights drawn from initializers seeded by `seed`."""
    layers = [keras.Input(shape=(spec.inputs,), name="x")]
    for index, shape in enumerate(layer_shapes(spec)):
        layers.append(
            keras.layers.Dense(
                shape.units,
                activation=activation(shape.activation),
                use_bias=spec.use_bias,
                kernel_initializer=initializer(spec.initializer_of(index), derived_seed(seed, index, "kernel"), spec.kernel_init_scale),
                bias_initializer=initializer(spec.bias_initializer, derived_seed(seed, index, "bias")),
                kernel_regularizer=keras.regularizers.L2(spec.l2) if spec.l2 else None,
                name=shape.name,
            )
        )
    return keras.Sequential(layers, name="tiny_net")


def initial_weights(spec: ModelSpec, seed: int) -> list[np.ndarray]:
    """The starting weights `build_model(spec, seed)` would get, without building a model."""
    weights = []
    for index, shape in enumerate(layer_shapes(spec)):
        kernel = initializer(spec.initializer_of(index), derived_seed(seed, index, "kernel"), spec.kernel_init_scale)
        weights.append(np.asarray(kernel((shape.fan_in, shape.units), dtype="float32")))
        if spec.use_bias:
            bias = initializer(spec.bias_initializer, derived_seed(seed, index, "bias"))
            weights.append(np.asarray(bias((shape.units,), dtype="float32")))
    return weights


def model_with_weights(spec: ModelSpec, weights: list[np.ndarray]) -> keras.Sequential:
    """A Keras model of `spec` holding `weights` (e.g. a run's final weights, to save as .keras)."""
    model = build_model(spec, seed=0)
    model.set_weights(weights)
    return model
