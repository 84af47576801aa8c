"""The recipes the engine trains with, as tables: initializers, the square activation, optimizers, losses, shuffles.

Each recipe is a Keras class name and its arguments, so the engine builds its objects from the table
(`initializer`, `make_optimizer`, `make_loss`) and core/io/export.py writes the very same calls into its
standalone script. Plain Python and numpy: Keras is imported inside the functions that build objects.

Example:
    >>> from core.settings.specs import TrainSpec
    >>> OPTIMIZERS["sgd"].cls, optimizer_args(TrainSpec(optimizer="sgd", learning_rate=0.01))
    ('SGD', {'learning_rate': 0.01, 'momentum': 0.0, 'clipnorm': None, 'global_clipnorm': None})
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from core.settings.specs import RunSpec, TrainSpec

DEFAULT_INIT_SCALE = 0.05  # Keras's default limit of RandomUniform and stddev of RandomNormal / TruncatedNormal
# Keras initializer class of each name the spec allows; `uniform` is Keras's RandomUniform (-0.05, 0.05).
INITIALIZER_CLASSES = {
    "uniform": "RandomUniform",
    "random_uniform": "RandomUniform",
    "random_normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal",
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_normal": "HeNormal",
    "he_uniform": "HeUniform",
    "lecun_normal": "LecunNormal",
    "lecun_uniform": "LecunUniform",
    "zeros": "Zeros",
    "ones": "Ones",
}


def derived_seed(seed: int, layer: int, role: str) -> int:
    """A stable integer seed for one initializer, independent of everything else in the process."""
    state = np.random.SeedSequence([seed, layer, {"kernel": 0, "bias": 1}[role]]).generate_state(1)[0]
    return int(state % (2**31 - 1))


def initializer_args(name: str, seed: int, scale: float | None = None) -> dict[str, Any]:
    """Keyword arguments of the initializer `name`; `scale` is the uniform limit or the normal stddev (of those that have one)."""
    cls = INITIALIZER_CLASSES[name]
    if cls in ("Zeros", "Ones"):
        return {}
    limit = DEFAULT_INIT_SCALE if scale is None else scale
    if cls == "RandomUniform":
        return {"minval": -limit, "maxval": limit, "seed": seed}
    if cls in ("RandomNormal", "TruncatedNormal"):
        return {"stddev": limit, "seed": seed}
    return {"seed": seed}


def initializer(name: str, seed: int, scale: float | None = None):
    """The Keras initializer `name`, seeded by `seed`."""
    import keras

    return getattr(keras.initializers, INITIALIZER_CLASSES[name])(**initializer_args(name, seed, scale))


def square(x):
    """x**2, the activation of the parabola post (`lambda x: x**2`)."""
    return x * x


CUSTOM_ACTIVATIONS = {"square": square}  # activations Keras does not have; the others are Keras's by name


class Recipe(NamedTuple):
    """A Keras class (in keras.optimizers or keras.losses) and fixed keyword arguments."""

    cls: str
    args: dict[str, Any]


# Optimizers; sgd and rmsprop also take the spec's momentum (see optimizer_args).
OPTIMIZERS = {
    "sgd": Recipe("SGD", {}),
    "rmsprop": Recipe("RMSprop", {}),
    "adagrad": Recipe("Adagrad", {}),
    "adam": Recipe("Adam", {}),
}
WITH_MOMENTUM = ("sgd", "rmsprop")
LOSSES = {
    "mse": Recipe("MeanSquaredError", {}),
    "mae": Recipe("MeanAbsoluteError", {}),
    # The noisy-sine post sums squared errors over all samples instead of averaging them.
    "sse": Recipe("MeanSquaredError", {"reduction": "sum", "name": "sum_squared_error"}),
    "binary_crossentropy": Recipe("BinaryCrossentropy", {}),
    "sparse_categorical_crossentropy": Recipe("SparseCategoricalCrossentropy", {}),
    # The labels are class numbers; this one takes them one-hot (the lab one-hots them inside the loss, the script before it).
    "categorical_crossentropy": Recipe("CategoricalCrossentropy", {}),
}


def optimizer_args(spec: TrainSpec) -> dict[str, Any]:
    """Keyword arguments of the optimizer of `spec` (None clip norms mean no clipping, Keras's default)."""
    args: dict[str, Any] = {"learning_rate": spec.learning_rate, **OPTIMIZERS[spec.optimizer].args}
    if spec.optimizer in WITH_MOMENTUM:
        args["momentum"] = spec.momentum
    if spec.optimizer == "sgd" and spec.nesterov:
        args["nesterov"] = True
    args.update(clipnorm=spec.clipnorm, global_clipnorm=spec.global_clipnorm)
    return args


def make_optimizer(spec: TrainSpec):
    """A fresh Keras optimizer for `spec`."""
    import keras

    args = optimizer_args(spec)
    if spec.decay:  # Keras 2's decay: lr / (1 + decay * iterations), which is InverseTimeDecay with decay_steps 1
        args["learning_rate"] = keras.optimizers.schedules.InverseTimeDecay(spec.learning_rate, decay_steps=1, decay_rate=spec.decay)
    return getattr(keras.optimizers, OPTIMIZERS[spec.optimizer].cls)(**args)


def make_loss(spec: TrainSpec):
    """A fresh Keras loss for `spec`."""
    import keras

    recipe = LOSSES[spec.loss]
    if spec.loss == "categorical_crossentropy":
        return _one_hot_loss()
    return getattr(keras.losses, recipe.cls)(**recipe.args)


def _one_hot_loss():
    """Keras's CategoricalCrossentropy on class-number labels, one-hot encoded to the output's width first."""
    import keras

    class OneHotCategoricalCrossentropy(keras.losses.CategoricalCrossentropy):
        def call(self, y_true, y_pred):
            labels = keras.ops.cast(keras.ops.reshape(y_true, keras.ops.shape(y_pred)[:-1]), "int32")
            return super().call(keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1]), y_pred)

    return OneHotCategoricalCrossentropy()


SHUFFLE_SALT = 0x5EED  # the shuffles' Generator is seeded by SeedSequence([run seed, SHUFFLE_SALT])


def shuffle_generator(seed: int) -> np.random.Generator:
    """The Generator of a run's per-epoch shuffles: one per run, from its seed alone."""
    return np.random.default_rng(np.random.SeedSequence([seed, SHUFFLE_SALT]))


def shuffle_orders(spec: RunSpec, n: int):
    """Yield each epoch's sample order, drawn from the run's own Generator (one per run)."""
    rng = shuffle_generator(spec.seed)
    while True:
        yield rng.permutation(n).astype(np.int32) if spec.train.shuffle else np.arange(n, dtype=np.int32)
