"""Exports of a run: the history as CSV, the trained model as .keras bytes, and a plain Keras script.

The .keras model takes and returns the data's own units: the lab's scaling is built into it.

The script reproduces the run outside the lab with nothing but numpy and Keras: the same data draw,
the same scaling, the same seeded initializers, optimizer, loss, batch size and epochs, and every
epoch's samples in the lab's own order, so its losses agree with the lab's to float precision.
"""

from __future__ import annotations

import ast
import inspect
import io
import math
import os
import re
import tempfile

import numpy as np
import pandas as pd

from core.data import datasets as lab_data
from core.data.datasets import FEATURE_SOURCE, FINE_GRID, PLANE_GRID, PLANE_SPAN, SCALERS, SEGMENT_BLOCKS, SEGMENT_EDGES, SEGMENT_LINE
from core.data.expression import numpy_source
from core.outcomes.results import RunResult
from core.settings import recipes
from core.settings.network import layer_shapes
from core.settings.rules import PLANE_FUNCTIONS
from core.settings.specs import RunSpec


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


# The download button's help text for the .keras file (one line; the page shows it as is).
MODEL_NOTE = ("Takes x in the data's own units and returns y in its own units (for a classifier, the probability): "
              "the lab's scaling is built in as its first and last layers, scale_x and unscale_y, each named after its "
              "scaler (scale_x_minmax, say). With features (x1², sin x1, ...) it takes the features of the scaled inputs, "
              "as the script computes them. Compiled with the run's optimizer and loss: upload it on Your data (or pass "
              "it to --model) and it reads back as the run's settings.")


def model_bytes(spec: RunSpec, weights, scalers: dict | None = None) -> bytes:
    """The trained model as the bytes of a .keras file that takes and returns the data's own units.

    The lab scales x and y outside the network (core/data/datasets.py); the file carries that scaling as two
    built-in Rescaling layers around the trained Dense layers, so `keras.saving.load_model(path)`
    (safe_mode on) gives a model whose `predict(x)` is the lab's fit of x. `scalers` is a run's
    `result.scalers` ({"x": {"shift", "scale"}, "y": ...}); without it they are fitted on the spec's
    data again, as the lab fits them. Keras's predict hands the model float32 x; calling the model on
    float64 x keeps the scaling's float64 digits. Each Rescaling is named after its scaler (`scale_x_minmax`,
    `unscale_y_none`, ...) and the model is compiled with the run's optimizer and loss, so that
    core/io/kerasfile.py reads the file back as the run's settings. The x^2 activation is the lab's registered
    `tinynet>square` (core/engine/models.py): outside the lab, load such a model with
    `custom_objects={"tinynet>square": lambda x: x * x}`.

    This imports Keras: the dashboard asks a worker for it (core/runner/workers.py) instead of calling it.
    """
    import keras

    from core.engine.models import model_with_weights  # also registers the x^2 activation for saving

    if scalers is None:
        from core.data.datasets import make_dataset

        data = make_dataset(spec.data)
        scalers = {"x": data.x_scaler.to_dict(), "y": data.y_scaler.to_dict()}
    x_shift, x_scale = np.atleast_1d(scalers["x"]["shift"]).astype(float), np.atleast_1d(scalers["x"]["scale"]).astype(float)
    y_shift, y_scale = float(scalers["y"]["shift"]), float(scalers["y"]["scale"])
    trained = model_with_weights(spec.model, weights)
    fed = spec.data.input_features
    plain = fed in (("x",), ("x1", "x2"))  # the inputs themselves: the scaling can be built in

    def rescaling(scale: float, offset: float, name: str):
        # In float64, as the lab scales (float64, then float32 for the network), so that x far from 0
        # (say 1000 +- 1) keeps its digits. One-element arrays, because Keras turns a plain float into
        # a float32 tensor first (and writes a 0-d array back as a plain float).
        return keras.layers.Rescaling(np.atleast_1d(scale), offset=np.atleast_1d(offset), dtype="float64", name=name)

    x_kind, y_kind = scalers["x"].get("kind", spec.data.x_scaling), scalers["y"].get("kind", spec.data.y_scaling)
    front = ([keras.Input(shape=(len(fed),), name="x", dtype="float64"),
              rescaling(1.0 / x_scale, -x_shift / x_scale, f"scale_x_{x_kind}")]  # (x - shift) / scale
             if plain else [keras.Input(shape=(len(fed),), name="features")])  # features are no built-in layer
    model = keras.Sequential([
        *front,
        *trained.layers,
        rescaling(y_scale, y_shift, f"unscale_y_{y_kind}"),  # y = output * scale + shift; (1, 0) for a classifier
    ], name="tiny_net")
    # The run's optimizer and loss, as the file's compile settings (the lab's categorical cross-entropy one-hots class
    # numbers inside its loss; the file names Keras's own, which takes one-hot labels, as the script feeds it).
    loss = keras.losses.CategoricalCrossentropy() if spec.train.loss == "categorical_crossentropy" else recipes.make_loss(spec.train)
    model.compile(optimizer=recipes.make_optimizer(spec.train), loss=loss)
    model.optimizer.build(model.trainable_variables)  # its (zero) slots saved too, so that load_model restores it without a warning
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def run_script(result: RunResult) -> str:
    """The script of a finished run, with the lab's final loss (and first losses) in it when the run went all the way."""
    finished = not result.stopped and result.diverged_at is None and "loss" in result.final
    if not finished:
        return keras_script(result.spec)
    first = [float(v) for v in result.history["loss"][:FIRST_EPOCHS]]
    return keras_script(result.spec, expected_final_loss=result.final["loss"], expected_first_losses=first)


def keras_script(spec: RunSpec, expected_final_loss: float | None = None,
                 expected_first_losses: list[float] | None = None) -> str:
    """A short standalone numpy + Keras script that trains `spec` from scratch as the lab does.

    Everything is written from the tables the engine reads: the data from core/data/datasets.py (samplings,
    segment blocks, scalers) and core/data/expression.py (a custom formula as numpy source), the network,
    initializers, optimizer, loss and shuffles from core/settings/recipes.py. The script feeds model.fit each
    epoch's samples in the lab's own order, so its losses agree with the lab's to float precision.
    `expected_final_loss`, when given, is the lab's final loss for this spec, printed beside the script's;
    when the two differ by more than float32 rounding (AGREEMENT) the script says why, and compares its
    first epochs with `expected_first_losses` (the lab's first losses) when given.
    """
    label = re.sub(r"[^\w .,/+-]", "?", f"{spec.scenario or 'custom'} / {spec.preset or 'custom'}, seed {spec.seed}")
    lines = [
        f'"""Tiny Net Lab run {label}, rebuilt with nothing but numpy and Keras.',
        "",
        "The same data, scaling, initial weights, optimizer, loss, batch size, epochs and per-epoch sample order as",
        "the lab, so the same losses: digit for digit with the lab's model.fit path (--path fit), to float32 rounding",
        "with its default fast path (see the notes it prints).",
        "",
        *DIFFERENCE_NOTE,
        '"""',
        "import keras",
        "import numpy as np",
        "",
        data_source(spec),
        *_network_lines(spec),
        *_training_lines(spec),
        *_report_lines(spec, expected_final_loss, expected_first_losses),
    ]
    return "\n".join(lines) + "\n"


# Script and lab agree to float32 rounding when their final losses are within this relative difference
# (measured over a few epochs: 1e-9 to 4e-6); beyond it the script says why they may part.
AGREEMENT = 1e-4
FIRST_EPOCHS = 5  # the lab's first losses written into a run's script, to show where the curves still agree
DIFFERENCE_NOTE = (
    "Why this script's final loss can differ from the lab's by more than float32 rounding: the lab trains",
    "with its own compiled loop, which adds the same float32 numbers in another order. Those rounding",
    "differences are tiny at first but grow over thousands of epochs in an unstable run, so a chaotic one",
    "(Adam at a large learning rate, for one) can end somewhere else; the loss curves agree at the start",
    "(the script then compares its first epochs with the lab's).",
)


def _difference_lines(first_losses: list[float] | None) -> list[str]:
    """The script's explanation when its final loss is not the lab's, with the first epochs compared when known."""
    lines = [
        'print("they differ by more than float32 rounding: the lab trains with its own compiled loop, which adds the "',
        '      "same float32 numbers in another order; those rounding differences grow over thousands of epochs in an "',
        '      "unstable run, so a chaotic one (Adam at a large learning rate, for one) can end elsewhere. The loss "',
        '      "curves agree at the start.")',
    ]
    first = [v for v in first_losses or [] if math.isfinite(v)]
    if first:
        lines += [
            f"lab_first = {first!r}  # the lab's losses of its first {len(first)} epochs",
            "start = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(history.history[\"loss\"], lab_first))",
            'print(f"first {len(lab_first)} epochs: largest relative difference from the lab\'s losses {start:.1e}")',
        ]
    return lines


def _network_lines(spec: RunSpec) -> list[str]:
    """The lab's layers, each initializer seeded as the lab seeds it, compiled with its optimizer and loss."""
    m, t = spec.model, spec.train
    lines = []
    if "square" in (shape.activation for shape in layer_shapes(m)):
        lines += ["", inspect.getsource(recipes.CUSTOM_ACTIVATIONS["square"]), ""]
    fed = spec.data.input_features
    inputs = "one input" if len(fed) == 1 and fed == ("x",) else "the inputs " + ", ".join(fed)
    lines += [f"# The network: Dense layers on {inputs}; each initializer has its own seed, derived from the run seed {spec.seed}.",
              "model = keras.Sequential([", f'    keras.Input(shape=({len(fed)},), name="x"),']
    for index, shape in enumerate(layer_shapes(m)):
        act = shape.activation if shape.activation in recipes.CUSTOM_ACTIVATIONS else _text(shape.activation)
        kernel = _initializer_call(m.initializer_of(index), recipes.derived_seed(spec.seed, index, "kernel"), m.kernel_init_scale)
        bias = _initializer_call(m.bias_initializer, recipes.derived_seed(spec.seed, index, "bias"))
        arguments = [f"kernel_initializer={kernel}"]
        if m.use_bias:  # without biases the lab's bias initializer is never used
            arguments.append(f"bias_initializer={bias}")
        if m.l2:
            arguments.append(f"kernel_regularizer=keras.regularizers.L2({m.l2!r})")
        lines.append(f"    keras.layers.Dense({shape.units}, activation={act}, use_bias={m.use_bias}, name={_text(shape.name)},")
        lines += [f"                       {argument}" + ("," if i < len(arguments) - 1 else "),") for i, argument in enumerate(arguments)]
    optimizer = _keras_call("optimizers", recipes.OPTIMIZERS[t.optimizer].cls, recipes.optimizer_args(t))
    if t.decay:  # Keras 2's decay, lr / (1 + decay * iterations), as Keras 3 writes it
        schedule = f"keras.optimizers.schedules.InverseTimeDecay({t.learning_rate!r}, decay_steps=1, decay_rate={t.decay!r})"
        optimizer = optimizer.replace(f"learning_rate={_text(t.learning_rate)}", f"learning_rate={schedule}", 1)
    loss = _keras_call("losses", recipes.LOSSES[t.loss].cls, recipes.LOSSES[t.loss].args)
    lines += ['], name="tiny_net")', f"model.compile(optimizer={optimizer},", f"              loss={loss})", ""]
    return lines


def _training_lines(spec: RunSpec) -> list[str]:
    """model.fit on the lab's batches, in the lab's order."""
    t = spec.train
    batch = t.resolved_batch_size(spec.data.n_samples)
    batches = f"batches of {batch}" + (" (all samples)" if batch == spec.data.n_samples else "")
    if t.shuffle:
        return [
            f"# Training: {t.epochs} epochs of {batches}; each epoch's order is the lab's, a permutation drawn",
            f"# from numpy's Generator seeded with SeedSequence([{spec.seed}, {recipes.SHUFFLE_SALT:#x}]) (Keras's own shuffle would differ).",
            f"epochs, batch_size = {t.epochs}, {batch}",
            "",
            "",
            "def batches():",
            f"    rng = np.random.default_rng(np.random.SeedSequence([{spec.seed}, {recipes.SHUFFLE_SALT:#x}]))",
            "    for _ in range(epochs):",
            "        order = rng.permutation(len(x_train))",
            "        for start in range(0, len(x_train), batch_size):",
            "            rows = order[start:start + batch_size]",
            "            yield x_train[rows], y_train[rows]",
            "",
            "",
            "steps = -(-len(x_train) // batch_size)  # batches per epoch; the last one may be short",
            "history = model.fit(batches(), epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=0)",
        ]
    return [
        f"# Training: {t.epochs} epochs of {batches}, the samples in the same order every epoch (train.shuffle is off).",
        f"epochs, batch_size = {t.epochs}, {batch}",
        "history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)",
    ]


def _report_lines(spec: RunSpec, expected_final_loss: float | None, expected_first_losses: list[float] | None = None) -> list[str]:
    """What the script prints: its final loss beside the lab's, the fit or accuracy, what may differ and why."""
    d, t = spec.data, spec.train
    word = "epoch" if t.epochs == 1 else "epochs"
    lines = ['final_loss = history.history["loss"][-1]', f'print(f"final loss after {{epochs}} {word}: {{final_loss:.9g}}")']
    if expected_final_loss is not None and math.isfinite(expected_final_loss):
        lines += [
            f"lab_loss = {float(expected_final_loss)!r}  # the lab's final loss for these settings, when this script was made",
            "difference = abs(final_loss - lab_loss) / max(abs(lab_loss), 1e-30)",
            'print(f"the lab\'s final loss: {lab_loss:.9g} (relative difference {difference:.1e})")',
            f"if difference > {AGREEMENT!r}:  # more than float32 rounding",
            *(f"    {line}" for line in _difference_lines(expected_first_losses)),
            "else:",
            '    print("the same final loss to float32 rounding")',
        ]
    else:
        lines.append('print("the lab\'s final loss: not included in this export; compare with the lab\'s run of these settings")')
    if spec.model.output_units > 1:
        truth = "labels_train" if t.loss == "categorical_crossentropy" else "y_train"
        lines += [
            f"accuracy = np.mean(np.argmax(model.predict(x_train, verbose=0), axis=1) == {truth}[:, 0])",
            'print(f"accuracy on the training samples: {accuracy:.6g}")',
        ]
    elif d.resolved_task == "classification":
        lines += [
            "accuracy = np.mean((model.predict(x_train, verbose=0) > 0.5) == (y_train > 0.5))",
            'print(f"accuracy on the training samples: {accuracy:.6g}")',
        ]
    elif d.function == "file":
        lines += [
            "fit = model.predict(x_train, verbose=0).astype(np.float64)",
            "r2 = 1 - np.sum((fit - y_train) ** 2) / np.sum((y_train - y_train.mean()) ** 2)",
            'print(f"R² of the fit on the {len(x_train)} training rows: {r2:.6g}")',
        ]
    elif d.n_inputs > 1:
        lines += [
            f"side = np.linspace(x_min, x_max, {PLANE_GRID})",
            "grid = np.stack([a.ravel() for a in np.meshgrid(side, side)], axis=1)  # the square, x1 fastest",
            "fit = model.predict(scaled(grid, np.zeros((len(grid), 1)))[0], verbose=0).astype(np.float64)[:, 0] * y_scale + y_shift",
            'print(f"max |fit - target| on {len(grid)} points of the square: {np.max(np.abs(fit - target(grid))):.6g}")',
        ]
    else:
        lines += [
            f"grid = np.linspace(x_min, x_max, {FINE_GRID}).reshape(-1, 1)",
            "fit = model.predict(((grid - x_shift) / x_scale).astype(np.float32), verbose=0).astype(np.float64) * y_scale + y_shift",
            'print(f"max |fit - target| on {len(grid)} points of the range: {np.max(np.abs(fit - target(grid))):.6g}")',
        ]
    if d.test_samples and t.loss == "categorical_crossentropy":
        lines += [
            "x_held, y_held = scaled(x_test, y_test)",
            "test_loss = model.evaluate(x_held, one_hot[y_held[:, 0].astype(int)], batch_size=len(x_test), verbose=0)",
            'print(f"loss on the {len(x_test)} held-out samples: {test_loss:.6g}")',
        ]
    elif d.test_samples:
        lines += [
            "test_loss = model.evaluate(*scaled(x_test, y_test), batch_size=len(x_test), verbose=0)",
            'print(f"loss on the {len(x_test)} held-out samples: {test_loss:.6g}")',
        ]
    lines += [
        'print("same as the lab: data, scaling, initial weights, optimizer, loss, batch size, epochs and each epoch\'s sample order")',
        'print("may differ slightly: the lab\'s default fast path trains in one XLA-compiled loop that sums float32 numbers in "',
        '      "another order, so the last digits drift apart over many steps (its --path fit is model.fit as here and should "',
        '      "agree digit for digit); Keras\'s own shuffle instead of the lab\'s order would change the losses more")',
    ]
    return lines


def _file_lines(spec: RunSpec) -> list[str]:
    """The script's data from the user's file: read with numpy, the lab's columns, classes and test rows."""
    d = spec.data
    table, chosen = d.table, d.chosen
    names = list(table.names)
    x_cols, y_col = [names.index(name) for name in chosen.x_names], names.index(chosen.y_name)
    delimiter = "" if table.delimiter is None else f"delimiter={table.delimiter!r}, "
    lines = [
        f"# The data: your file, read as the lab read it (sha256 {table.digest[:16]}..., {table.rows} rows); put it beside this script.",
        f"DATA_FILE = {(table.name or 'data.csv')!r}",
        f"table = np.loadtxt(DATA_FILE, {delimiter}skiprows={1 if table.header else 0}, comments=\"#\", quotechar='\"', "
        "ndmin=2, encoding=\"utf-8-sig\")",
        f"x_all, y_all = table[:, {x_cols}], table[:, [{y_col}]]  # input{'s' if len(x_cols) > 1 else ''} "
        f"{', '.join(map(repr, chosen.x_names))}, target {chosen.y_name!r}",
    ]
    if chosen.task == "classification":
        lines.append(f"y_all = np.searchsorted({list(chosen.classes)!r}, y_all).astype(np.float64)  # class i of the sorted labels is i")
    lines += [
        f"held = np.sort(np.random.RandomState({d.test_seed}).permutation(len(x_all))[:{d.test_samples}])  # the test rows",
        "rows = np.setdiff1d(np.arange(len(x_all)), held)",
        "x, y = x_all[rows], y_all[rows]",
        f"x_min, x_max = {d.x_min!r}, {d.x_max!r}  # the range of every row's x",
    ]
    return lines


def data_source(spec: RunSpec) -> str:
    """The numpy part of the script: defines x, y, x_train, y_train (and x_test, y_test) as the lab draws them."""
    d = spec.data
    if d.function == "file":
        return _file_data_source(spec)
    if d.function in PLANE_FUNCTIONS:
        return _plane_data_source(spec)
    random = d.sampling == "uniform" or bool(d.noise)
    signature = "n, seed" if random else "n"
    lines = [f"# The data: {d.n_samples} samples on [{d.x_min!r}, {d.x_max!r}], drawn and scaled as the lab draws them.",
             f"x_min, x_max = {d.x_min!r}, {d.x_max!r}"]
    if d.sampling != "blocks":  # blocks carry their own labels
        lines += ["", "", "def target(x):", *(f"    {line}" for line in _target_lines(d))]
    helpers = numpy_source(d.expression)[1] if d.function == "custom" else []
    for helper in helpers:
        lines += ["", "", helper.rstrip("\n")]
    lines += ["", "", f"def draw({signature}):"]
    if random:
        lines += ['    """n samples as the lab draws them: numpy\'s legacy RandomState(seed) draws x first, then the noise."""',
                  "    rs = np.random.RandomState(seed)"]
    else:
        lines.append('    """n samples as the lab draws them."""')
    if d.sampling == "grid":
        lines += ["    x = np.linspace(x_min, x_max, n).reshape(-1, 1)", "    y = target(x)"]
    elif d.sampling == "uniform":
        lines += ["    x = rs.rand(n, 1) * (x_max - x_min) + x_min", "    y = target(x)"]
    else:
        blocks, line_end = list(SEGMENT_BLOCKS), SEGMENT_LINE
        lines += [
            f"    blocks = {blocks}  # (start, end, label) on the posted line from 0 to {line_end}",
            "    sizes = [n // len(blocks) + (1 if i < n % len(blocks) else 0) for i in range(len(blocks))]",
            "    span = x_max - x_min",
            f"    x = np.concatenate([np.linspace(x_min + a / {line_end} * span, x_min + b / {line_end} * span, k)"
            " for (a, b, _), k in zip(blocks, sizes)])",
            "    y = np.concatenate([np.repeat(float(label), k) for (_, _, label), k in zip(blocks, sizes)])",
            "    x, y = x.reshape(-1, 1), y.reshape(-1, 1)",
        ]
    if d.noise:
        lines.append(f"    y = y + rs.randn(n, 1) * {d.noise!r}")
    lines.append("    return x, y")
    seed = f", seed={d.data_seed}" if random else ""
    lines += _scaling_lines(d, f"x, y = draw({d.n_samples}{seed})")
    if d.test_samples:
        seed = f", seed={d.test_seed}" if random else ""
        lines.append(f"x_test, y_test = draw({d.test_samples}{seed})  # held-out samples, scaled with the training scalers")
    lines += _one_hot_lines(spec)
    return "\n".join(lines) + "\n"


# core/data/datasets.py's Playground code the script copies, in this order (each needs only the ones before it).
PLANE_SOURCE = ("_circle_label", "_xor_label", "_gauss_label", "SPIRAL_TURNS", "_spiral_arms", "_spiral_label", "_plane_value",
                "GAUSSIANS", "_multi_gauss_value", "PLANE_LABELS", "playground_points")


def _plane_data_source(spec: RunSpec) -> str:
    """A Playground dataset as core/data/datasets.py draws it: its functions copied, then all points drawn, shuffled and split."""
    d = spec.data
    lines = [f"# The data: the TensorFlow Playground's {d.function!r} dataset (its src/dataset.ts), {d.n_samples} training and "
             f"{d.test_samples} test points, as the lab draws them.",
             f"x_min, x_max = {d.x_min!r}, {d.x_max!r}  # the Playground's square [-{PLANE_SPAN:g}, {PLANE_SPAN:g}] maps onto this range"]
    for name in PLANE_SOURCE:
        value = getattr(lab_data, name)
        source = inspect.getsource(value).rstrip("\n") if callable(value) and not isinstance(value, dict) else f"{name} = {_constant(value)}"
        lines += ["", "", source]
    lines += [
        "", "",
        "def target(x):",
        '    """The label (or value) without noise at x in the data\'s units: the Playground\'s function of the square."""',
        f"    p = (x - x_min) / (x_max - x_min) * {2 * PLANE_SPAN!r} - {PLANE_SPAN!r}",
        f"    return PLANE_LABELS[{d.function!r}](p[:, 0], p[:, 1])",
        "", "",
        f"rs = np.random.RandomState({d.data_seed})",
        f"points, labels = playground_points({d.function!r}, {d.n_samples + d.test_samples}, {d.noise!r}, rs)",
        f"order = rs.permutation({d.n_samples + d.test_samples})  # the Playground shuffles, then splits",
        f"x_all = x_min + (points[order] + {PLANE_SPAN!r}) / {2 * PLANE_SPAN!r} * (x_max - x_min)",
        "y_all = labels[order].reshape(-1, 1)",
        f"x, y = x_all[:{d.n_samples}], y_all[:{d.n_samples}]",
    ]
    lines += _scaling_lines(d)
    if d.test_samples:
        lines.append(f"x_test, y_test = x_all[{d.n_samples}:], y_all[{d.n_samples}:]  # test points, scaled with the training scalers")
    lines += _one_hot_lines(spec)
    return "\n".join(lines) + "\n"


def _constant(value) -> str:
    if isinstance(value, dict):  # the table of label functions, by name
        return "{" + ", ".join(f"{k!r}: {v.__name__}" for k, v in value.items()) + "}"
    return repr(value)


def _file_data_source(spec: RunSpec) -> str:
    d = spec.data
    lines = _file_lines(spec) + _scaling_lines(d)
    if d.test_samples:
        lines.append("x_test, y_test = x_all[held], y_all[held]  # held-out rows, scaled with the training scalers")
    lines += _one_hot_lines(spec)
    return "\n".join(lines) + "\n"


def _scaling_lines(d, data_line: str | None = None) -> list[str]:
    """The scalers' source, then x and y (drawn by `data_line`, or already there) fitted, scaled and made x_train, y_train."""
    lines = []
    for kind in dict.fromkeys((d.x_scaling, d.y_scaling)):
        lines += ["", "", inspect.getsource(SCALERS[kind]).rstrip("\n")]
    lines += ["", ""] + ([data_line] if data_line else [])
    if d.n_inputs == 1:
        lines += [
            f"x_shift, x_scale = {SCALERS[d.x_scaling].__name__}(x)",
            f"y_shift, y_scale = {SCALERS[d.y_scaling].__name__}(y)",
            "x_scale, y_scale = (s if s > 0 else 1.0 for s in (x_scale, y_scale))  # constant values are left unscaled",
        ]
    else:  # each input its own scaler
        lines += [
            f"x_shift, x_scale = (np.array(v) for v in zip(*({SCALERS[d.x_scaling].__name__}(column) for column in x.T)))",
            "x_scale = np.where(x_scale > 0, x_scale, 1.0)  # a constant input is left unscaled",
            f"y_shift, y_scale = {SCALERS[d.y_scaling].__name__}(y)",
            "y_scale = y_scale if y_scale > 0 else 1.0",
        ]
    fed = d.input_features
    if fed in (("x",), ("x1", "x2")):
        network_x = "((x - x_shift) / x_scale).astype(np.float32)"
    else:
        lines += ["", "", "def features(x):",
                  f'    """What the first layer is fed: {", ".join(fed)} of the scaled inputs (columns x1, x2)."""',
                  "    return np.stack([" + ", ".join(FEATURE_SOURCE[name] for name in fed) + "], axis=1)"]
        network_x = "features((x - x_shift) / x_scale).astype(np.float32)"
    lines += [
        "",
        "",
        "def scaled(x, y):",
        '    """x and y in the network\'s units, float32 as the lab trains on them."""',
        f"    return {network_x}, ((y - y_shift) / y_scale).astype(np.float32)",
        "",
        "",
        "x_train, y_train = scaled(x, y)",
    ]
    return lines


def _one_hot_lines(spec: RunSpec) -> list[str]:
    """Keras's categorical cross-entropy takes one-hot labels; the lab's are class numbers (it one-hots them in its loss)."""
    if spec.train.loss != "categorical_crossentropy":
        return []
    return ["", f"one_hot = np.eye({spec.model.output_units}, dtype=np.float32)  # class i -> row i",
            "labels_train, y_train = y_train, one_hot[y_train[:, 0].astype(int)]"]


def _target_lines(d) -> list[str]:
    """The body of the script's `target(x)`: the clean target as core/data/datasets.py computes it."""
    if d.function == "sine":
        return [f"return {d.amplitude!r} * np.sin(x)"]
    if d.function == "parabola":
        return [f"return {d.coef_a!r} * x**2 + {d.coef_b!r} * x + {d.coef_c!r}"]
    if d.function == "segments":
        low, high = SEGMENT_EDGES
        return [f'"""Class 1 from {low} to {high} on the posted line from 0 to {SEGMENT_LINE}, class 0 elsewhere."""',
                "t = (x - x_min) / (x_max - x_min)",
                f"return ((t >= {low} / {SEGMENT_LINE}) & (t <= {high} / {SEGMENT_LINE})).astype(np.float64)"]
    source = numpy_source(d.expression)[0]
    if "x" not in _names(source):
        source = f"np.full(np.shape(x), {source}, dtype=np.float64)"
    lines = [f"# the lab's formula {d.expression!r}, as numpy"]
    if d.classify_above is None:
        return lines + [f"return {source}"]
    return lines + [f"return ({source} > {d.classify_above!r}).astype(np.float64)  # classes: where the formula exceeds {d.classify_above!r}"]


def _names(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source, mode="eval")) if isinstance(node, ast.Name)}


def _initializer_call(name: str, seed: int, scale: float | None = None) -> str:
    return _keras_call("initializers", recipes.INITIALIZER_CLASSES[name], recipes.initializer_args(name, seed, scale))


def _keras_call(module: str, cls: str, args: dict) -> str:
    """Source of `keras.<module>.<cls>(name=value, ...)`, leaving out arguments that are None (Keras's default)."""
    return f"keras.{module}.{cls}(" + ", ".join(f"{k}={_text(v)}" for k, v in args.items() if v is not None) + ")"


def _text(value) -> str:
    """Python source of a value; names in double quotes, like the rest of the script."""
    return f'"{value}"' if isinstance(value, str) and value.isidentifier() else repr(value)
