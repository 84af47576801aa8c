"""The exported Keras script rebuilds the run: the lab's data, weights, optimizer, loss and shuffles, so its losses.

Each script is run as __main__ in this process (tests/inprocess.py; it imports numpy and Keras only), and
its printed final loss is compared with the lab's own run of the same spec; the system tier runs one as
users run it, `python script.py` in a fresh process without the lab on its path. Because the script
feeds model.fit every epoch's samples in the lab's order, it IS the lab's reference path (`train(spec, path="fit")`, model.fit on the
same batches) outside the lab: the two agree to float32 rounding (asserted: 1e-6 relative, a few
float32 ulps; measured: equal in all 9 printed digits, i.e. the same float32). The lab's default fast
path runs the same steps in one XLA-compiled loop, which sums in another order; over a few epochs that
drifts by float32 rounding only (asserted: 1e-4 relative; measured: 1e-9 to 4e-6, the most for the
parabola's 600 single-sample steps at learning rate 0.1).
"""

import inspect
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from inprocess import cli, script  # `python -m core` through main(argv) and exported scripts, in this process

from core.cases import scenarios
from core.data.datafile import example_csv
from core.data.datasets import clean_target, make_dataset
from core.data.expression import FUNCTIONS, TWO_ARGUMENTS, evaluate, numpy_source
from core.io import export
from core.settings import recipes
from core.settings.network import layer_shapes
from core.settings.rules import INITIALIZERS, LOSSES, OPTIMIZERS
from core.settings.specs import RunSpec, TrainSpec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
FIT_RTOL = 1e-6  # script vs the lab's model.fit path: the same computation, float32 rounding at most
FAST_RTOL = 1e-4  # script vs the lab's compiled fast path: the same steps summed in another order

# Every scenario's question, cut to a few epochs (and the parabola's 999 single-sample steps per
# epoch to 300) so that each case takes seconds; two variants cover the other samplings, scalers,
# initializers, optimizers, losses, clipping, no shuffling and a short last batch.
CASES = {
    "sine-relu": ("sine-relu", "question", {"train.epochs": 3}),
    "noisy-sine": ("noisy-sine", "question", {"train.epochs": 5}),
    "parabola": ("parabola", "question", {"train.epochs": 2, "data.n_samples": 300}),
    "segments": ("segments", "question", {"train.epochs": 5}),
    "custom": ("custom", "question", {"train.epochs": 3, "data.expression": "abs(x) - 0.5"}),
    "custom-classifier": ("custom", "classifier", {
        "train.epochs": 3, "data.sampling": "uniform", "data.x_scaling": "symmetric", "data.n_samples": 500,
        "train.shuffle": False, "train.batch_size": 64,
        "data.expression": "sigmoid(4*x) - min(x, 0)", "train.optimizer": "rmsprop", "train.momentum": 0.5,
        "train.global_clipnorm": 1.0, "model.kernel_initializer": "truncated_normal", "model.kernel_init_scale": 0.5,
        "model.bias_initializer": "random_uniform"}),
    "custom-variety": ("custom", "question", {
        "train.epochs": 3, "data.sampling": "uniform", "data.noise": 0.1, "data.data_seed": 5, "data.test_samples": 40,
        "data.x_scaling": "standard", "data.y_scaling": "symmetric", "data.n_samples": 700, "train.batch_size": 64,
        "model.units": "6", "model.activation": "square", "model.kernel_initializer": "he_uniform",
        "model.bias_initializer": "random_normal", "train.optimizer": "sgd", "train.learning_rate": 0.01,
        "train.momentum": 0.9, "train.clipnorm": 1.0, "train.loss": "mae", "model.l2": 0.003}),
}


def case_spec(name: str) -> RunSpec:
    scenario, preset, changes = CASES[name]
    return scenarios.get(scenario).spec(preset).with_values(changes)


def run_python(args, cwd, timeout=300, env=None):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=timeout)


def printed_loss(stdout: str) -> float:
    return float(re.search(r"^final loss after \d+ epochs?: (\S+)$", stdout, re.M).group(1))


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


@pytest.mark.parametrize("name", list(CASES))
def test_the_script_trains_to_the_labs_final_loss(name, tmp_path):
    from core.engine.training import train

    spec = case_spec(name)
    fit = train(spec, path="fit")
    fast = train(spec)
    path = tmp_path / "run.py"
    path.write_text(export.keras_script(spec, expected_final_loss=fast.final["loss"]))
    out = script(path, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    loss = printed_loss(out.stdout)
    print(f"{name}: script {loss!r}, lab fit {fit.final['loss']!r} ({relative(loss, fit.final['loss']):.1e}), "
          f"lab fast {fast.final['loss']!r} ({relative(loss, fast.final['loss']):.1e})")
    assert len(fit.history["loss"]) == spec.train.epochs and math.isfinite(loss)
    assert relative(loss, fit.final["loss"]) <= FIT_RTOL
    assert relative(loss, fast.final["loss"]) <= FAST_RTOL
    assert f"the lab's final loss: {fast.final['loss']:.9g} (relative difference" in out.stdout
    assert "the same final loss to float32 rounding" in out.stdout and "they differ" not in out.stdout
    assert "same as the lab: data, scaling, initial weights, optimizer, loss, batch size, epochs" in out.stdout
    assert "may differ slightly: the lab's default fast path trains in one XLA-compiled loop" in out.stdout
    if spec.data.resolved_task == "classification":
        assert re.search(r"^accuracy on the training samples: \S+$", out.stdout, re.M)
    else:
        assert re.search(r"^max \|fit - target\| on 1001 points of the range: \S+$", out.stdout, re.M)


@pytest.mark.system  # a fresh interpreter without the lab on its path, as users run the script
def test_a_script_runs_as_users_run_it_in_a_fresh_process_without_the_lab(tmp_path):
    from core.engine.training import train

    spec = case_spec("custom-variety")  # the x^2 activation, written out in the script
    fast = train(spec)
    path = tmp_path / "run.py"
    path.write_text(export.keras_script(spec, expected_final_loss=fast.final["loss"]))
    out = run_python([str(path)], tmp_path, env={**ENV, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    assert relative(printed_loss(out.stdout), fast.final["loss"]) <= FAST_RTOL
    assert "the same final loss to float32 rounding" in out.stdout


def test_a_script_that_ends_elsewhere_than_the_lab_says_why(tmp_path):
    from core.engine.training import train

    spec = case_spec("segments")
    lab = train(spec)
    text = export.run_script(lab)
    assert "\n".join(export.DIFFERENCE_NOTE) in text.split('"""')[1]  # the header says it too
    assert f"lab_first = {[float(v) for v in lab.history['loss'][:export.FIRST_EPOCHS]]!r}" in text
    # The lab's final loss as if a chaotic run had ended elsewhere: the script explains, and its first
    # epochs still agree with the lab's.
    path = tmp_path / "run.py"
    path.write_text(text.replace(f"lab_loss = {lab.final['loss']!r}", f"lab_loss = {lab.final['loss'] * 1.5!r}"))
    out = script(path, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "they differ by more than float32 rounding: the lab trains with its own compiled loop" in out.stdout
    assert "(Adam at a large learning rate, for one) can end elsewhere. The loss curves agree at the start." in out.stdout
    start = float(re.search(r"^first 5 epochs: largest relative difference from the lab's losses (\S+)$", out.stdout, re.M).group(1))
    assert start <= FAST_RTOL
    assert "the same final loss to float32 rounding" not in out.stdout


# Cases for the .keras file: minmax x and y, no scaling without biases, a classifier on standardised
# x, the x^2 activation (registered by core.engine.models), and standardised x with symmetric y.
MODEL_CASES = {
    "sine-relu": ("sine-relu", "question", {"train.epochs": 3}),
    "noisy-sine": ("noisy-sine", "question", {"train.epochs": 5}),
    "segments": ("segments", "answer", {}),
    "parabola": ("parabola", "answer", {"train.epochs": 1, "data.n_samples": 200}),
    "custom-variety": CASES["custom-variety"],
}


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_the_keras_file_takes_and_returns_the_datas_own_units(name, tmp_path):
    import keras

    from core.engine.training import train

    scenario, preset, changes = MODEL_CASES[name]
    result = train(scenarios.get(scenario).spec(preset).with_values(changes))
    data = export.model_bytes(result.spec, result.final_weights)  # as the worker makes it: scalers fitted again
    assert len(data) < 40_000
    path = tmp_path / "model.keras"
    path.write_bytes(data)
    model = keras.saving.load_model(path)  # safe_mode on: built-in layers and the lab's registered x^2 only
    names = [layer.name for layer in model.layers]
    d = result.spec.data
    assert names[0] == f"scale_x_{d.x_scaling}" and names[-1] == f"unscale_y_{d.y_scaling}"  # named after their scalers
    assert names[1:-1] == [s.name for s in layer_shapes(result.spec.model)]
    assert "scale_x" in export.MODEL_NOTE and "unscale_y" in export.MODEL_NOTE
    fit = model.predict(result.grid_x.reshape(-1, 1), verbose=0).ravel()  # raw x in, y (or the probability) out
    span = np.max(np.abs(result.grid_prediction))
    print(f"{name}: largest difference {np.max(np.abs(fit - result.grid_prediction)) / span:.1e} of the largest |fit|, "
          f"{len(data)} bytes")
    np.testing.assert_allclose(fit, result.grid_prediction, rtol=1e-4, atol=1e-5 * span)
    if result.spec.data.resolved_task == "classification":
        assert np.all((fit >= 0) & (fit <= 1))


@pytest.mark.system  # a fresh interpreter without the lab on its path
def test_the_keras_file_loads_outside_the_lab(tmp_path):
    from core.engine.training import train

    runs = {name: train(scenarios.get(scenario).spec(preset).with_values(changes))
            for name, (scenario, preset, changes) in MODEL_CASES.items() if name in ("sine-relu", "parabola")}
    for name, result in runs.items():
        (tmp_path / f"{name}.keras").write_bytes(export.model_bytes(result.spec, result.final_weights, result.scalers))
        np.save(tmp_path / f"{name}.npy", np.stack([result.grid_x, result.grid_prediction]))
    # Plain Keras, no lab on the path: the x^2 activation is given as the docstring of model_bytes says.
    code = ("import numpy as np, keras\n"
            "for name in ('sine-relu', 'parabola'):\n"
            "    model = keras.saving.load_model(name + '.keras', custom_objects={'tinynet>square': lambda x: x * x})\n"
            "    x, lab = np.load(name + '.npy')\n"
            "    fit = model.predict(x.reshape(-1, 1), verbose=0).ravel()\n"
            "    print(name, float(np.max(np.abs(fit - lab)) / np.max(np.abs(lab))))\n")
    env = {**ENV, "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split()
    assert lines[0::2] == ["sine-relu", "parabola"], out.stdout
    assert all(float(difference) < 1e-5 for difference in lines[1::2]), out.stdout


def script_data(spec: RunSpec) -> dict:
    """What the script's numpy part defines (our own generated code, run in a namespace; a data file's script reads it)."""
    names = {"np": np}
    source = export.data_source(spec)
    if spec.data.function != "file":
        exec(compile(source, "<data>", "exec"), names)
        return names
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / (spec.data.table.name or "data.csv")).write_text(FILE_TEXTS[spec.data.table.digest])
        here = os.getcwd()
        os.chdir(folder)
        try:
            exec(compile(source, "<data>", "exec"), names)
        finally:
            os.chdir(here)
    return names


# Files as users write them: the example, semicolons with labels 1 and 2, spaces without a header, a chosen column order.
FILE_TEXTS = {}


def _file_spec(text: str, name: str, **changes) -> RunSpec:
    from core.data.datafile import parse

    table = parse(text, name=name)
    FILE_TEXTS[table.digest] = text
    return scenarios.get("data").spec().with_values({f"data.{k}": v for k, v in changes.items()}, table=table)


FILE_TEXTS[scenarios.get("data").spec().data.table.digest] = example_csv()
FILE_SPECS = [
    _file_spec("a;label\n" + "".join(f"{i * 1000};{1 + (i % 3 == 0)}\n" for i in range(30)), "labels.csv", test_share=0.3,
               x_scaling="standard"),
    _file_spec("".join(f"  {i / 7:.6f}   {np.sin(i / 7):.6f}\n" for i in range(40)), "spaces.txt", y_scaling="minmax"),
    _file_spec("y,x\n" + "".join(f"{i * i / 10},{i}\n" for i in range(25)), "swapped.csv", x_columns="x", y_column="y",
               test_share=0.2),
]


DATA_SPECS = [scenario.spec(preset.name) for scenario in scenarios.SCENARIOS.values() for preset in scenario.presets]
DATA_SPECS += [case_spec(name) for name in CASES] + FILE_SPECS
DATA_SPECS += [scenarios.get("segments").spec().with_values({"data.sampling": sampling, "data.x_scaling": "minmax", "data.n_samples": 301})
               for sampling in ("grid", "uniform")]
DATA_SPECS += [
    scenarios.get("custom").spec().with_values({"data.expression": text, "data.classify_above": above, "data.x_scaling": xs,
                                                "data.y_scaling": ys, "data.sampling": sampling, "data.noise": noise})
    for text, above, xs, ys, sampling, noise in [
        ("2", None, "none", "minmax", "grid", 0.0),  # a constant target: y_scaling leaves it unscaled
        ("exp(-x**2) * cos(pi * x) + min(x, 1/0)", None, "standard", "standard", "uniform", 0.3),
        ("sign(x) * sqrt(abs(x)) + floor(x) - ceil(x/2) + tanh(x) + tan(x/4) + log(3 + x)", "0.25", "minmax", "none", "uniform", 0.0),
        ("max(x, 0) ** 0.5 - e ** 2 * (-x) ** 3 / 2", None, "symmetric", "symmetric", "grid", 0.0),
    ]
]


@pytest.mark.parametrize("spec", DATA_SPECS, ids=lambda s: f"{s.scenario}-{s.preset}-{s.data.sampling}-{s.data.expression[:12]}")
def test_the_scripts_data_is_the_labs_bit_for_bit(spec):
    names, lab = script_data(spec), make_dataset(spec.data)
    for key in ("x", "y", "x_train", "y_train"):
        np.testing.assert_array_equal(names[key], getattr(lab, key), err_msg=key)
        assert names[key].dtype == getattr(lab, key).dtype
    for mine, theirs in zip((names["x_shift"], names["x_scale"], names["y_shift"], names["y_scale"]),
                            (lab.x_scaler.shift, lab.x_scaler.scale, lab.y_scaler.shift, lab.y_scaler.scale)):
        np.testing.assert_array_equal(np.asarray(mine, np.float64), np.asarray(theirs, np.float64))  # per input for two
    if spec.data.test_samples:
        np.testing.assert_array_equal(names["x_test"], lab.x_test)
        np.testing.assert_array_equal(names["y_test"], lab.y_test)
    if "target" in names:  # every sampling but blocks (which carry their own labels)
        grid = lab.grid()
        np.testing.assert_array_equal(names["target"](grid), lab.target(grid))
        column = grid.reshape(len(grid), -1)  # (points, inputs), as the script's x
        np.testing.assert_array_equal(names["target"](column), clean_target(spec.data, column))


def test_the_custom_target_is_written_as_plain_numpy():
    spec = case_spec("custom")
    source = export.data_source(spec)
    assert "return np.abs(x) - 0.5" in source and "# the lab's formula 'abs(x) - 0.5', as numpy" in source
    assert "def target(x):" in source and "segments" not in source and "10.5" not in source
    text = export.keras_script(scenarios.get("custom").spec())
    assert "return np.sin(3 * x) + 0.3 * x ** 2" in text
    assert "import core" not in text and "from core" not in text
    classifier = export.data_source(scenarios.get("custom").spec("classifier"))
    assert "return (np.sin(3 * x) + 0.3 * x ** 2 > 0.5).astype(np.float64)" in classifier


@pytest.mark.parametrize("text, source", [
    ("sin(3*x) + 0.3*x**2", "np.sin(3 * x) + 0.3 * x ** 2"),
    ("abs(x) - 0.5", "np.abs(x) - 0.5"),
    ("max(x, 0) - min(x, 1/0)", "np.maximum(x, 0) - np.minimum(x, np.inf)"),  # Python's 1/0 would raise
    ("sigmoid(2*x) * exp(-x**2) + cos(pi*x) - e", "sigmoid(2 * x) * np.exp(-x ** 2) + np.cos(np.pi * x) - np.e"),
    ("-0 * x", "-0.0 * x"),  # numpy's -0.0, not Python's int 0
    ("999999**10 * x", None),  # Python's exact integer power differs from numpy's float power: written as numpy's value
])
def test_formulas_become_numpy_source_that_computes_what_the_lab_computes(text, source):
    code, helpers = numpy_source(text)
    if source is not None:
        assert code == source
    names = {"np": np}
    for helper in helpers:
        exec(helper, names)
    x = np.concatenate([np.linspace(-3, 3, 601), [0.0, -0.0]])
    names["x"] = x
    with np.errstate(all="ignore"):
        got = np.broadcast_to(eval(code, names), x.shape)  # our own generated source
    lab = evaluate(text, x)
    np.testing.assert_array_equal(got, lab)
    assert np.array_equal(np.signbit(got), np.signbit(lab))


def test_every_whitelisted_function_maps_to_the_labs_own():
    for name in [*FUNCTIONS, *TWO_ARGUMENTS]:
        arity = 2 if name in TWO_ARGUMENTS else 1
        code, helpers = numpy_source(f"{name}({', '.join(['x', '0.5'][:arity])})")
        assert code.startswith("np.") or helpers == [inspect.getsource(FUNCTIONS[name])]


def test_the_engine_builds_from_the_recipes_the_script_writes():
    import keras

    from core.engine import loop, models, reference

    # One home: the engine's builders are the recipes' own, so the script cannot drift from the engine.
    assert models.initializer is recipes.initializer and models.square is recipes.square
    assert loop.make_optimizer is recipes.make_optimizer and loop.make_loss is recipes.make_loss
    assert reference.make_optimizer is recipes.make_optimizer and reference.shuffle_orders is recipes.shuffle_orders
    assert set(recipes.INITIALIZER_CLASSES) == set(INITIALIZERS)
    assert set(recipes.OPTIMIZERS) == set(OPTIMIZERS) and set(recipes.LOSSES) == set(LOSSES)
    # The recipes are what Keras's defaults and the posts say.
    uniform = recipes.initializer("uniform", 123).get_config()
    assert (uniform["minval"], uniform["maxval"], uniform["seed"]) == (-0.05, 0.05, 123)
    assert recipes.initializer("random_normal", 1, 0.3).get_config()["stddev"] == 0.3
    assert isinstance(recipes.initializer("he_normal", 1), keras.initializers.HeNormal)
    sgd = recipes.make_optimizer(TrainSpec(optimizer="sgd", learning_rate=0.02, momentum=0.9, clipnorm=0.5)).get_config()
    assert (sgd["momentum"], sgd["clipnorm"]) == (0.9, 0.5) and sgd["learning_rate"] == pytest.approx(0.02)
    assert isinstance(recipes.make_optimizer(TrainSpec(optimizer="adam")), keras.optimizers.Adam)
    sse = recipes.make_loss(TrainSpec(loss="sse"))
    y, p = np.array([[1.0], [2.0]], np.float32), np.array([[0.0], [0.0]], np.float32)
    assert float(sse(y, p)) == pytest.approx(5.0)  # summed, as the noisy-sine post does
    assert float(recipes.make_loss(TrainSpec(loss="mse"))(y, p)) == pytest.approx(2.5)
    values = keras.ops.convert_to_tensor(np.linspace(-2, 2, 9, dtype=np.float32))
    np.testing.assert_array_equal(recipes.square(values), np.linspace(-2, 2, 9, dtype=np.float32) ** 2)
    spec = scenarios.get("segments").spec()
    expected = np.random.default_rng(np.random.SeedSequence([spec.seed, 0x5EED]))
    orders = recipes.shuffle_orders(spec, 50)
    for _ in range(3):
        np.testing.assert_array_equal(next(orders), expected.permutation(50))
    unshuffled = recipes.shuffle_orders(spec.with_value("train.shuffle", False), 5)
    np.testing.assert_array_equal(next(unshuffled), np.arange(5))


def test_cli_saves_a_script_that_runs(tmp_path):
    out = cli("run", "custom", "--set", "data.expression=abs(x) - 0.5", "--set", "train.epochs=5", "--save-script", "fit.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "script saved to fit.py" in out.stdout
    lab_loss = float(re.search(r"^final: loss (\S+),", out.stdout, re.M).group(1))
    assert "return np.abs(x) - 0.5" in (tmp_path / "fit.py").read_text()
    run = script(tmp_path / "fit.py", tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert relative(printed_loss(run.stdout), lab_loss) <= FAST_RTOL
    difference = float(re.search(r"the lab's final loss: \S+ \(relative difference (\S+)\)", run.stdout).group(1))
    assert difference <= FAST_RTOL


@pytest.mark.parametrize("where, reason", [
    ("missing/fit.py", "allowed: a path in an existing folder"),
    (".", "allowed: a file path"),
])
def test_a_bad_script_path_exits_2_with_one_line(where, reason, tmp_path):
    out = cli("run", "custom", "--save-script", where, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith(f"error: --save-script: {where!r} is not allowed; {reason}")
    assert out.stderr.count("\n") == 1
