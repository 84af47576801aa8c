"""Exports of a run: the history as CSV, the trained model as .keras bytes, and a plain Keras script.

The script reproduces the run outside the lab with nothing but numpy and Keras: the same data draw,
the same scaling, the same seeded initializers, optimizer, loss, batch size and epochs (Keras's own
shuffling replaces the lab's, so losses match in distribution, not digit for digit).
"""

from __future__ import annotations

import io
import os
import tempfile

import pandas as pd

from core.models import INITIALIZER_CLASSES, derived_seed, layer_shapes, model_with_weights
from core.specs import RunSpec


def history_frame(history: dict) -> pd.DataFrame:
    """One row per epoch: epoch, loss and each metric."""
    frame = pd.DataFrame({k: list(v) for k, v in history.items()})
    if "epoch" not in frame:
        frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame


def history_csv(history: dict) -> str:
    buffer = io.StringIO()
    history_frame(history).to_csv(buffer, index=False)
    return buffer.getvalue()


def model_bytes(spec: RunSpec, weights) -> bytes:
    """The trained model as the bytes of a .keras file (loads with keras.models.load_model)."""
    model = model_with_weights(spec.model, weights)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


_SCALE = {
    "none": "lambda v: (0.0, 1.0)",
    "minmax": "lambda v: (v.min(), v.max() - v.min())",
    "symmetric": "lambda v: ((v.max() + v.min()) / 2, (v.max() - v.min()) / 2)",
    "standard": "lambda v: (v.mean(), v.std())",
}


def keras_script(spec: RunSpec) -> str:
    """A short standalone Keras script that trains `spec` (data, model, training) from scratch."""
    d, m, t = spec.data, spec.model, spec.train
    lines = [
        f'"""Tiny Net Lab run: {spec.scenario or "custom"} / {spec.preset or "custom"}, seed {spec.seed}. Plain numpy + Keras."""',
        "import numpy as np",
        "import keras",
        "",
        "",
        "def square(x):  # the x^2 activation of the parabola case",
        "    return x * x",
        "",
        "",
        f"rs = np.random.RandomState({d.data_seed})",
        f"n, x_min, x_max = {d.n_samples}, {d.x_min!r}, {d.x_max!r}",
    ]
    if d.sampling == "grid":
        lines.append("x = np.linspace(x_min, x_max, n).reshape(-1, 1)")
    elif d.sampling == "uniform":
        lines.append("x = rs.rand(n, 1) * (x_max - x_min) + x_min")
    else:
        lines += [
            "span, k = x_max - x_min, [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]",
            "x = np.concatenate([np.linspace(x_min + a * span, x_min + b * span, s)",
            "                    for s, (a, b) in zip(k, [(0, 10 / 30), (11 / 30, 20 / 30), (21 / 30, 1)])]).reshape(-1, 1)",
        ]
    if d.function == "sine":
        lines.append(f"y = {d.amplitude!r} * np.sin(x)")
    elif d.function == "parabola":
        lines.append(f"y = {d.coef_a!r} * x**2 + {d.coef_b!r} * x + {d.coef_c!r}")
    else:
        lines += ["t = (x - x_min) / (x_max - x_min)", "y = ((t >= 10.5 / 30) & (t <= 20.5 / 30)).astype(float)"]
    if d.noise:
        lines.append(f"y = y + rs.randn(n, 1) * {d.noise!r}")
    lines += [
        f"x_shift, x_scale = ({_SCALE[d.x_scaling]})(x)",
        f"y_shift, y_scale = ({_SCALE[d.y_scaling]})(y)",
        "x_train, y_train = (x - x_shift) / x_scale, (y - y_shift) / y_scale",
        "",
        "layers = [keras.Input(shape=(1,))]",
    ]
    for index, (name, _, units, act) in enumerate(layer_shapes(m)):
        act_code = "square" if act == "square" else repr(act)
        lines.append(
            f"layers.append(keras.layers.Dense({units}, activation={act_code}, use_bias={m.use_bias}, "
            f"kernel_initializer={_init_code(m.kernel_initializer, derived_seed(spec.seed, index, 'kernel'), m.kernel_init_scale)}, "
            f"bias_initializer={_init_code(m.bias_initializer, derived_seed(spec.seed, index, 'bias'), None)}, name={name!r}))"
        )
    clip = "".join(f", {name}={value!r}" for name, value in (("clipnorm", t.clipnorm), ("global_clipnorm", t.global_clipnorm)) if value is not None)
    optimizer = {
        "sgd": f"keras.optimizers.SGD({t.learning_rate!r}, momentum={t.momentum!r}{clip})",
        "rmsprop": f"keras.optimizers.RMSprop({t.learning_rate!r}, momentum={t.momentum!r}{clip})",
        "adagrad": f"keras.optimizers.Adagrad({t.learning_rate!r}{clip})",
        "adam": f"keras.optimizers.Adam({t.learning_rate!r}{clip})",
    }[t.optimizer]
    loss = {
        "mse": '"mse"', "mae": '"mae"', "binary_crossentropy": '"binary_crossentropy"',
        "sse": 'keras.losses.MeanSquaredError(reduction="sum")',
    }[t.loss]
    batch = "len(x_train)" if t.batch_size == "full" else str(t.batch_size)
    lines += [
        "model = keras.Sequential(layers)",
        f"model.compile(optimizer={optimizer}, loss={loss})",
        f"history = model.fit(x_train, y_train, batch_size={batch}, epochs={t.epochs}, shuffle={t.shuffle}, verbose=0)",
        'print("final loss", history.history["loss"][-1])',
        "grid = np.linspace(x_min, x_max, 1001).reshape(-1, 1)",
        "fit = model.predict((grid - x_shift) / x_scale, verbose=0) * y_scale + y_shift",
        'print("fit at x_min, middle, x_max:", fit[0, 0], fit[500, 0], fit[-1, 0])',
    ]
    return "\n".join(lines) + "\n"


def _init_code(name: str, seed: int, scale: float | None) -> str:
    if name in ("zeros", "ones"):
        return repr(name)
    if name in ("uniform", "random_uniform"):
        limit = 0.05 if scale is None else scale
        return f"keras.initializers.RandomUniform({-limit!r}, {limit!r}, seed={seed})"
    if name in ("random_normal", "truncated_normal"):
        cls = "RandomNormal" if name == "random_normal" else "TruncatedNormal"
        return f"keras.initializers.{cls}(stddev={0.05 if scale is None else scale!r}, seed={seed})"
    return f"keras.initializers.{INITIALIZER_CLASSES[name]}(seed={seed})"
