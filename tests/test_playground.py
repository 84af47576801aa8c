"""Two inputs: the Playground's datasets, features, the engine, the doctor, the command line and the exports."""

import json
from pathlib import Path

import numpy as np
import pytest
from inprocess import cli, script  # `python -m core` through main(argv) and exported scripts, in this process

from core.cases import scenarios
from core.data.datasets import FEATURE_FUNCTIONS, make_dataset, playground_points
from core.doctor import findings
from core.doctor.shape import best_line_accuracy
from core.settings.rules import FEATURES, PLANE_FUNCTIONS
from core.settings.specs import DataSpec, RunSpec, SpecError

PLAYGROUND = scenarios.get("playground")


def run_json(*args) -> dict:
    out = cli("run", "playground", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------------------------
# The datasets, as the Playground's dataset.ts draws them


def test_the_datasets_have_the_playgrounds_shapes_and_labels():
    rs = np.random.RandomState(0)
    x, y = playground_points("circle", 1000, 0.0, rs)
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.all((y == 1) == (r < 2.5)) and r.max() <= 5 and not np.any((r > 2.5) & (r < 3.5))
    x, y = playground_points("xor", 1000, 0.0, rs)
    assert np.all(np.abs(x) >= 0.3) and np.all(np.abs(x) <= 5.3) and np.all((y == 1) == (x[:, 0] * x[:, 1] >= 0))
    x, y = playground_points("gauss", 4000, 0.0, rs)
    assert np.allclose(x[y == 1].mean(axis=0), [2, 2], atol=0.1) and np.allclose(x[y == 0].mean(axis=0), [-2, -2], atol=0.1)
    assert np.allclose(x[y == 1].var(axis=0), 0.5, atol=0.08)  # the Playground's variance 0.5 at noise 0
    x, y = playground_points("spiral", 500, 0.0, rs)
    assert np.hypot(x[:, 0], x[:, 1]).max() < 5 and y.sum() == 250
    x, y = playground_points("plane", 500, 0.0, rs)
    assert np.allclose(y, (x[:, 0] + x[:, 1]) / 10)
    x, y = playground_points("multi_gauss", 500, 0.0, rs)
    assert y.min() >= -1 and y.max() <= 1 and np.abs(x).max() <= 6


def test_noise_moves_labels_and_the_range_maps_the_square():
    clean = make_dataset(DataSpec(function="xor", n_samples=400, x_min=-6, x_max=6))
    noisy = make_dataset(DataSpec(function="xor", n_samples=400, x_min=-6, x_max=6, noise=0.5))
    flipped = np.mean((noisy.y.ravel() == 1) != (noisy.x[:, 0] * noisy.x[:, 1] >= 0))
    assert np.all((clean.y.ravel() == 1) == (clean.x[:, 0] * clean.x[:, 1] >= 0)) and 0.05 < flipped < 0.5
    wide = make_dataset(DataSpec(function="xor", n_samples=400, x_min=0, x_max=12_000))
    assert np.allclose(wide.x, (clean.x + 6) * 1000)  # the same points, on [0, 12000]²
    split = make_dataset(DataSpec(function="spiral", n_samples=300, test_samples=200, x_min=-6, x_max=6))
    assert split.x.shape == (300, 2) and split.x_test.shape == (200, 2)


def test_features_are_computed_from_the_scaled_inputs():
    data = make_dataset(DataSpec(function="circle", n_samples=50, x_min=-6, x_max=6, x_scaling="standard",
                                 features=("x1^2", "x1*x2", "sin(x2)")))
    scaled = data.x_scaler.transform(data.x)
    expected = np.stack([scaled[:, 0] ** 2, scaled[:, 0] * scaled[:, 1], np.sin(scaled[:, 1])], axis=1)
    assert np.allclose(data.x_train, expected.astype(np.float32)) and set(FEATURE_FUNCTIONS) >= set(FEATURES)
    assert np.allclose(scaled.mean(axis=0), 0) and np.allclose(scaled.std(axis=0), 1)  # each input its own scaler


def test_bad_two_input_settings_name_the_field():
    with pytest.raises(SpecError, match="data.features"):
        DataSpec(function="sine", features=("x1^2",))
    with pytest.raises(SpecError, match="data.features"):
        DataSpec(function="xor", features=("x1", "x1"))
    with pytest.raises(SpecError, match="data.features.*cos"):
        DataSpec(function="xor", features=("cos(x1)",))
    with pytest.raises(SpecError, match="data.noise.*0.5"):
        DataSpec(function="circle", noise=0.6)
    with pytest.raises(SpecError, match="train.loss"):
        PLAYGROUND.spec().with_value("data.function", "plane")  # binary cross-entropy on a regression
    spec = PLAYGROUND.spec().with_values({"data.features": "x1^2,x2^2,x1*x2"})
    assert spec.model.inputs == 3 and "model.inputs" not in PLAYGROUND.spec().differences(spec)


# ---------------------------------------------------------------------------------------------
# The engine and the command line


def test_xor_without_a_hidden_layer_stays_near_chance_and_four_tanh_units_separate_it():
    alone = run_json("--set", "data.function=xor", "--set", "model.units=")
    assert alone["config"]["model"]["units"] == [] and alone["final"]["accuracy"] < 0.65
    hidden = run_json("--set", "data.function=xor", "--set", "model.units=4", "--set", "model.activation=tanh")
    assert hidden["final"]["accuracy"] >= 0.95
    assert len(hidden["readout"]["positive_share"]) == 4 and any(hidden["readout"]["crosses_data"])


@pytest.mark.parametrize("preset, least", [("circle", 0.95), ("spiral-big", 0.95), ("xor-feature", 0.95)])
def test_circle_spiral_and_the_xor_feature_train(preset, least):
    from core.engine.training import train

    assert train(PLAYGROUND.spec(preset)).final["accuracy"] >= least


def test_gauss_and_the_regressions_train():
    from core.engine.training import train

    assert train(PLAYGROUND.spec().with_value("data.function", "gauss")).final["accuracy"] >= 0.99
    regression = {"model.output_activation": "linear", "train.loss": "mse"}
    plane = train(PLAYGROUND.spec().with_values({"data.function": "plane", **regression}))
    assert plane.final["max_abs_error"] < 0.05
    bumps = train(PLAYGROUND.spec().with_values({"data.function": "multi_gauss", **regression, "model.units": "8,8",
                                                  "model.activation": "tanh", "train.optimizer": "adam", "train.learning_rate": 0.01,
                                                  "train.epochs": 150}))
    assert bumps.final["loss"] < 0.03 and bumps.readout.units.positive_share is not None


def test_two_inputs_train_the_same_on_the_fast_path_model_fit_and_restarts():
    from core.engine.training import train, train_restarts

    spec = PLAYGROUND.spec("answer").with_values({"train.epochs": 15, "data.features": "x1,x2,x1*x2"})
    fast, fit = train(spec), train(spec, path="fit")
    assert fast.final["loss"] == pytest.approx(fit.final["loss"], rel=1e-4)
    assert fast.grid_prediction.shape == (61 * 61,) and fast.replay_predictions.shape[1] == 21 * 21
    assert np.isfinite(fast.history["test_loss"]).all()  # the test points' loss, every recorded epoch
    restarts = train_restarts(spec, 3)
    assert restarts.members[0].final["loss"] == pytest.approx(fast.final["loss"], rel=1e-4)


# ---------------------------------------------------------------------------------------------
# The doctor in two dimensions


def test_best_line_accuracy_is_the_best_straight_boundary():
    rs = np.random.RandomState(3)
    x = rs.uniform(-1, 1, (300, 2))
    assert best_line_accuracy(x, (x[:, 0] + 0.5 * x[:, 1] > 0.2).astype(float)) == 1.0  # separable: found
    xor = (x[:, 0] * x[:, 1] > 0).astype(float)
    best = best_line_accuracy(x, xor)
    assert 0.6 < best < 0.85  # a line cuts one quadrant's corner at most
    # Checked against brute force over lines through every pair of points.
    brute = 0.0
    for i in range(0, 300, 7):
        for j in range(i + 1, 300, 11):
            normal = np.array([x[j, 1] - x[i, 1], x[i, 0] - x[j, 0]])
            side = (x - x[i]) @ normal > 0
            brute = max(brute, np.mean(side == (xor > 0.5)), np.mean(side != (xor > 0.5)))
    assert best >= brute - 0.01


def test_the_doctor_proves_capacity_for_xor_without_a_hidden_layer_and_not_with_one():
    from core.engine.training import train

    criterion = PLAYGROUND.criterion
    alone = findings(train(PLAYGROUND.spec("question")), criterion)
    capacity = next(f for f in alone if f.id == "capacity")
    assert capacity.role == "cause" and capacity.evidence["proved"] and capacity.evidence["best_line_accuracy"] < 0.8
    assert all(f.role != "cause" for f in alone if f.id != "capacity")  # a proof leaves nothing else to blame
    hidden = findings(train(PLAYGROUND.spec("answer")), criterion)
    assert not any(f.id == "capacity" for f in hidden) and all(f.role == "note" for f in hidden)
    circle = findings(train(PLAYGROUND.spec("circle")), criterion)  # x1², x2²: a straight boundary there is a circle
    assert not any(f.id == "capacity" for f in circle)


def test_the_doctor_on_a_two_column_file_finds_a_fix_over_seeds(tmp_path):
    rs = np.random.RandomState(1)
    x = rs.uniform(-1, 1, (200, 2))
    path = tmp_path / "xor.csv"
    np.savetxt(path, np.column_stack([x, x[:, 0] * x[:, 1] > 0]), delimiter=",", header="x1,x2,label", comments="", fmt="%.5f")
    out = cli("doctor", "data", "--data", str(path), "--set", "model.units=", "--set", "model.output_activation=sigmoid",
              "--set", "train.loss=binary_crossentropy", "--seeds", "4", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    ids = {f["id"]: f["role"] for f in report["findings"]}
    assert ids.get("capacity") == "cause"
    assert report["control"]["successes"] == 0 and report["best"]["successes"] == 4


def test_a_file_with_two_input_columns_runs_and_a_third_is_refused(tmp_path):
    rs = np.random.RandomState(2)
    x = rs.uniform(0, 10, (120, 3))
    path = tmp_path / "three.csv"
    np.savetxt(path, np.column_stack([x, x[:, 0] + x[:, 1]]), delimiter=",", header="a,b,c,y", comments="")
    out = cli("run", "data", "--data", str(path), "--set", "data.x_columns=a,b", "--set", "data.x_scaling=standard",
              "--set", "data.y_scaling=standard", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["final"]["r2"] > 0.9
    out = cli("run", "data", "--data", str(path))
    assert out.returncode == 2 and "data.x_columns" in out.stderr and out.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# Exports


def test_the_script_of_a_playground_run_trains_the_same(tmp_path):
    from core.engine.training import train
    from core.io.export import run_script

    spec = PLAYGROUND.spec("circle").with_values({"train.epochs": 10, "data.x_scaling": "standard"})
    result = train(spec)
    path = tmp_path / "run.py"
    path.write_text(run_script(result))
    out = script(path, tmp_path)  # as __main__ in this process: it imports numpy and Keras only
    assert out.returncode == 0, out.stderr
    assert "the same final loss to float32 rounding" in out.stdout
    held = float(out.stdout.split("held-out samples: ")[1].split()[0])
    assert held == pytest.approx(result.history["test_loss"][-1], rel=1e-4)


def test_the_keras_file_of_a_playground_run_predicts_the_lab_output():
    import keras

    from core.engine.training import train
    from core.io.export import model_bytes

    for preset in ("answer", "circle"):
        result = train(PLAYGROUND.spec(preset).with_values({"train.epochs": 5}))
        path = Path(f"/tmp/tinynet-{preset}.keras")
        path.write_bytes(model_bytes(result.spec, result.final_weights, result.scalers))
        model = keras.saving.load_model(path)
        data = make_dataset(result.spec.data)
        fed = result.x if preset == "answer" else data.x_train  # with features the file takes the features
        assert np.allclose(model.predict(np.asarray(fed, np.float64), verbose=0).ravel(), result.prediction, atol=1e-5)
        path.unlink()


def test_every_playground_dataset_is_a_function_with_its_task():
    for function in PLANE_FUNCTIONS:
        spec = DataSpec(function=function, x_min=-6, x_max=6)
        assert spec.n_inputs == 2 and spec.input_features == ("x1", "x2")
        assert spec.resolved_task == ("regression" if function in ("plane", "multi_gauss") else "classification")
    assert RunSpec().model.inputs == 1


def test_a_keras_file_with_two_inputs_is_read_and_refused_on_one_input_data(tmp_path):
    import keras

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    path = tmp_path / "two.keras"
    model.save(path)
    out = cli("run", "data", "--model", str(path))  # the example has one input
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "model.file" in out.stderr and "(2,)" in out.stderr and "input shape (1,)" in out.stderr
    rs = np.random.RandomState(5)
    x = rs.uniform(-1, 1, (80, 2))
    data = tmp_path / "plane.csv"
    np.savetxt(data, np.column_stack([x, x.sum(axis=1)]), delimiter=",", header="a,b,y", comments="")
    out = cli("run", "data", "--data", str(data), "--model", str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["config"]["model"]["units"] == [3]


def test_two_input_diagnostics_dead_units_the_majority_plateau_and_saturated_units():
    from core.engine.training import train

    criterion = PLAYGROUND.criterion
    base = {"data.function": "circle", "model.units": "4"}
    dead = findings(train(PLAYGROUND.spec().with_values({**base, "model.activation": "relu", "model.kernel_initializer": "zeros"})),
                    criterion)
    roles = {f.id: f.role for f in dead}
    assert roles["dead_units"] == "cause" and roles["majority_class"] == "symptom" and roles["plateau"] == "symptom"
    boundaries = next(f for f in dead if f.id == "unit_boundaries")
    assert boundaries.role == "cause" and boundaries.evidence["crossing"] == [] and "none crosses the data" in boundaries.text
    hot = train(PLAYGROUND.spec().with_values({**base, "model.activation": "tanh", "model.kernel_initializer": "random_normal",
                                               "model.kernel_init_scale": "20"}))
    saturated = next(f for f in findings(hot, criterion) if f.id == "saturated_units")
    assert saturated.role == "cause" and saturated.evidence["hidden_1"]["saturated"] >= 3
