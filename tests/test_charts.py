"""ui/charts/: the specs the builders emit, checked against real short training runs."""

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ui.charts
from core.cases import scenarios
from core.data.datasets import Scaler
from core.engine.training import train
from core.outcomes.readout import parabola_coefficients, to_original_units
from ui.charts.common import COMPARE_BLUE, DATA_GREY, HISTORY_POINTS, TARGET_DASH, thin
from ui.charts.doctor import fixes_chart
from ui.charts.fit import MINI_POINTS, compare_charts, fit_chart, mini_chart, replay_chart, residual_chart, segments_chart
from ui.charts.history import WEIGHT_EPOCHS, coefficients_chart, history_charts, weights_chart
from ui.charts.restarts import restarts_histogram, success_rates_chart
from ui.charts.units import COLOURED_UNITS, UNIT_POINTS, units_chart

ALTAIR_MAX_ROWS = 5000


def run(scenario: str, preset: str, **changes):
    spec = scenarios.get(scenario).spec(preset)
    return train(spec.with_values(changes) if changes else spec)


@pytest.fixture(scope="module")
def sine():  # 10,000 grid points: more than Altair allows in one dataset
    return run("sine-relu", "question", **{"train.epochs": 3})


@pytest.fixture(scope="module")
def noisy():  # 128 tanh units, 4000 noisy samples
    return run("noisy-sine", "question", **{"train.epochs": 20})


@pytest.fixture(scope="module")
def parabola():  # has test points
    return run("parabola", "answer", **{"train.epochs": 2})


@pytest.fixture(scope="module")
def segments():
    return run("segments", "answer")


@pytest.fixture(scope="module")
def diverged():  # SGD at 10 on the parabola overflows in its first epoch: an empty history
    result = run("parabola", "question", **{"train.optimizer": "sgd", "train.learning_rate": 10.0,
                                            "train.epochs": 3, "train.batch_size": 32})
    assert result.diverged_at == 1 and len(result.history["loss"]) == 0
    return result


# ---------------------------------------------------------------------------------------------
# Reading specs


def units(spec: dict):
    """Every single view (a dict with a mark) in a spec, through layers and concatenations."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            yield from units(child)
    if "spec" in spec:
        yield from units(spec["spec"])


def layer(spec: dict, description: str) -> dict:
    found = [u for u in units(spec) if u.get("description") == description]
    assert len(found) == 1, f"{description!r}: {[u.get('description') for u in units(spec)]}"
    return found[0]


def rows(spec: dict, unit: dict) -> list[dict]:
    return spec["datasets"][unit["data"]["name"]]


def mark_type(unit: dict) -> str:
    return unit["mark"]["type"] if isinstance(unit["mark"], dict) else unit["mark"]


def scale_bindings(value) -> list[dict]:
    if isinstance(value, dict):
        found = [value] if value.get("bind") == "scales" else []
        return found + [p for v in value.values() for p in scale_bindings(v)]
    if isinstance(value, list):
        return [p for v in value for p in scale_bindings(v)]
    return []


def column(spec: dict, description: str, field: str) -> np.ndarray:
    return np.array([row[field] for row in rows(spec, layer(spec, description))], dtype=float)


def assert_drawable(chart, zoomable: bool = True) -> dict:
    """The spec is strict JSON, within Altair's row limit, has tooltips everywhere and zooms."""
    spec = chart.to_dict()
    json.dumps(spec, allow_nan=False)
    sizes = {name: len(values) for name, values in spec.get("datasets", {}).items()}
    assert sizes and max(sizes.values()) <= ALTAIR_MAX_ROWS, sizes
    for unit in units(spec):
        assert "tooltip" in unit["encoding"], unit.get("description")
    if zoomable:
        assert scale_bindings(spec), "no scale-bound selection"
    return spec


# ---------------------------------------------------------------------------------------------
# thin and the module's boundaries


def test_thin_keeps_first_and_last_and_spacing():
    frame = pd.DataFrame({"x": np.arange(10_000)})
    thinned = thin(frame, 4000)
    assert len(thinned) == 4000
    assert thinned["x"].iloc[0] == 0 and thinned["x"].iloc[-1] == 9999
    steps = np.diff(thinned["x"].to_numpy())
    assert steps.min() >= 2 and steps.max() <= 3  # evenly spaced up to rounding
    assert thin(frame, 4000).equals(thinned)  # deterministic
    small = frame.head(10)
    assert thin(small, 4000) is small


def test_chart_modules_never_import_streamlit():
    package = Path(ui.charts.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert {m.stem for m in modules} >= {"__init__", "common", "doctor", "fit", "history", "layers", "plane", "restarts", "units"}
    for module in modules:
        tree = ast.parse(module.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert "streamlit" not in imported, module.name


# ---------------------------------------------------------------------------------------------
# The fit


def test_fit_chart_thins_ten_thousand_grid_points_into_a_line(sine):
    assert len(sine.x) == 10_000
    spec = assert_drawable(fit_chart(sine))
    data = layer(spec, "training data")
    assert mark_type(data) == "line"  # a clean grid is drawn as a thin line, not 10,000 dots
    x = column(spec, "training data", "x")
    assert len(x) == 4000 and x[0] == sine.x.min() and x[-1] == sine.x.max()
    np.testing.assert_allclose(column(spec, "fit", "y"), sine.grid_prediction)
    np.testing.assert_allclose(column(spec, "clean target", "y"), sine.grid_target)
    assert layer(spec, "clean target")["mark"]["strokeDash"] == TARGET_DASH
    colours = dict(zip(data["encoding"]["color"]["scale"]["domain"], data["encoding"]["color"]["scale"]["range"]))
    assert colours == {"training data": DATA_GREY, "clean target": "#000000", "fit": "#d9480f"}
    assert spec["width"] == "container"


def test_fit_chart_scatters_noisy_samples(noisy):
    spec = assert_drawable(fit_chart(noisy, title="Noisy"))
    assert mark_type(layer(spec, "training data")) == "circle"
    assert len(column(spec, "training data", "y")) == 4000
    assert spec["title"]["text"] == "Noisy"


def test_fit_chart_shows_test_points_and_answers(parabola):
    spec = assert_drawable(fit_chart(parabola))
    assert mark_type(layer(spec, "training data")) == "circle"  # uniform draws
    np.testing.assert_allclose(column(spec, "test answers", "answer"), parabola.test_prediction)
    np.testing.assert_allclose(column(spec, "test data", "truth"), parabola.y_test)
    assert layer(spec, "test answers")["encoding"]["y"]["field"] == "answer"


def test_fit_chart_classification_has_probability_half_rule_and_crossings(segments):
    spec = assert_drawable(fit_chart(segments))
    np.testing.assert_allclose(column(spec, "predicted probability", "y"), segments.grid_prediction)
    assert column(spec, "decision level", "y").tolist() == [0.5]
    crossings = segments.readout.classifier.crossings
    assert len(crossings) == 2
    np.testing.assert_allclose(column(spec, "crossings", "x"), crossings)
    points = rows(spec, layer(spec, "training data"))
    assert {row["class"] for row in points} == {"class 0", "class 1"}
    assert all(row["y"] == row["label"] for row in points)


def test_residual_chart_is_fit_minus_target(sine, segments):
    spec = assert_drawable(residual_chart(sine))
    np.testing.assert_allclose(column(spec, "residual", "residual"), sine.grid_prediction - sine.grid_target)
    assert column(spec, "zero error", "y").tolist() == [0.0]
    spec = assert_drawable(residual_chart(segments))
    np.testing.assert_allclose(column(spec, "residual", "residual"), segments.grid_prediction - segments.grid_target)


# ---------------------------------------------------------------------------------------------
# Training curves


def history(history, metric):
    """The two history charts' specs, each checked drawable and as wide as its column."""
    specs = [assert_drawable(chart) for chart in history_charts(history, metric)]
    assert all(spec["width"] == "container" for spec in specs)  # never wider than the column it is in
    return specs


def test_history_charts_loss_is_log(noisy):
    loss, metric = history(noisy.history, "max_abs_error")
    assert loss["encoding"]["y"]["scale"]["type"] == "log"
    assert metric["encoding"]["y"]["scale"].get("type") != "log"
    np.testing.assert_allclose(column(loss, "loss", "value"), noisy.history["loss"])
    np.testing.assert_allclose(column(metric, "metric", "value"), noisy.history["max_abs_error"])
    assert column(loss, "loss", "epoch").tolist() == list(range(1, 21))
    assert f"last {noisy.history['loss'][-1]:.4g}" in loss["title"]["subtitle"]


@pytest.mark.parametrize("history_", [
    {},
    {"loss": [], "accuracy": []},
    {"epoch": np.arange(1, 1), "loss": np.empty(0), "accuracy": np.empty(0)},
], ids=["no keys", "empty lists", "empty arrays"])
def test_history_charts_with_no_epochs_are_empty_with_axes(history_):
    loss, metric = (chart.to_dict() for chart in history_charts(history_, "accuracy"))
    json.dumps([loss, metric], allow_nan=False)
    assert rows(loss, loss) == [] and rows(metric, metric) == []
    assert loss["encoding"]["y"]["scale"]["type"] == "log"
    assert loss["encoding"]["x"]["title"] == "epoch"


def test_history_charts_one_epoch_is_drawn_as_a_point():
    loss, _ = history({"loss": [0.25], "max_abs_error": [0.5]}, "max_abs_error")
    assert rows(loss, loss) == [{"epoch": 1, "value": 0.25, "run": "run"}]
    assert loss["mark"]["point"]  # a one-point line would draw nothing


def test_history_charts_live_partial_and_bad_losses():
    # A live history: the metric one epoch behind, a zero, a negative and a NaN loss.
    loss, metric = history({"loss": [1.0, 0.0, -1.0, float("nan"), 0.5], "accuracy": [0.5, 0.6, 0.7, 0.8]}, "accuracy")
    assert column(loss, "loss", "epoch").tolist() == [1, 5]
    assert column(metric, "metric", "epoch").tolist() == [1, 2, 3, 4]


def test_history_charts_thin_long_histories():
    epochs = 12_000
    loss, _ = history({"epoch": np.arange(1, epochs + 1), "loss": np.linspace(2, 1, epochs), "accuracy": np.linspace(0, 1, epochs)},
                      "accuracy")
    epochs_shown = column(loss, "loss", "epoch")
    assert len(epochs_shown) == HISTORY_POINTS
    assert epochs_shown[0] == 1 and epochs_shown[-1] == epochs


# ---------------------------------------------------------------------------------------------
# Weights and units


def _weights(spec: dict) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    unit = layer(spec, "weights")
    fold, lookup = unit["transform"]
    names = pd.DataFrame(spec["datasets"][lookup["from"]["data"]["name"]])
    return fold["fold"], pd.DataFrame(rows(spec, unit)), names


def test_weights_chart_names_every_scalar(sine):
    spec = assert_drawable(weights_chart(sine))
    keys, wide, names = _weights(spec)
    assert len(keys) == 4 + 4 + 4 + 1  # kernel 1x4, bias 4, kernel 4x1, bias 1
    assert list(names["weight"]) == (
        [f"hidden_1/kernel[0,{j}]" for j in range(4)] + [f"hidden_1/bias[{j}]" for j in range(4)]
        + [f"output/kernel[{j},0]" for j in range(4)] + ["output/bias[0]"]
    )
    assert set(names["layer"]) == {"hidden_1", "output"}
    assert wide["epoch"].tolist() == sine.weight_epochs.tolist()
    np.testing.assert_allclose(wide[keys[3]], sine.weight_history[0][:, 0, 3])  # hidden_1/kernel[0,3]


def test_weights_chart_keeps_the_largest_max_lines(noisy):
    total = 128 + 128
    spec = assert_drawable(weights_chart(noisy))
    keys, wide, names = _weights(spec)
    assert len(keys) == 64 and len(names) == 64
    assert "64 of 256" in " ".join(spec["title"]["subtitle"])
    final = np.abs(np.concatenate([h[-1].ravel() for h in noisy.weight_history]))
    shown = np.abs(wide[keys].iloc[-1].to_numpy())
    assert shown.min() >= np.sort(final)[total - 64] - 1e-12
    spec = weights_chart(noisy, max_lines=5).to_dict()
    keys, _, names = _weights(spec)
    assert len(keys) == 5 and all(n.startswith(("hidden_1/kernel[0,", "output/kernel[")) for n in names["weight"])


def test_weights_chart_thins_epochs(sine):
    epochs = 1000  # a long recording, made by repeating the real one
    long = dataclasses.replace(
        sine,
        weight_epochs=np.arange(epochs),
        weight_history=[np.repeat(h[:1], epochs, axis=0) for h in sine.weight_history],
    )
    spec = assert_drawable(weights_chart(long))
    _, wide, _ = _weights(spec)
    assert len(wide) == WEIGHT_EPOCHS
    assert wide["epoch"].iloc[0] == 0 and wide["epoch"].iloc[-1] == epochs - 1


def test_units_chart_draws_kinks_where_the_readout_puts_them(sine):
    spec = assert_drawable(units_chart(sine))
    fold = layer(spec, "units")["transform"][0]
    assert fold["fold"] == ["unit 1", "unit 2", "unit 3", "unit 4"]
    wide = pd.DataFrame(rows(spec, layer(spec, "units")))
    np.testing.assert_allclose(wide["x"], sine.readout.units.contributions.x)
    np.testing.assert_allclose(wide["unit 2"], sine.readout.units.contributions.units[1])
    kinks = pd.DataFrame(rows(spec, layer(spec, "kinks")))
    expected = [(v, inside) for v, inside in zip(sine.readout.units.kinks, sine.readout.units.kink_in_range) if v is not None]
    np.testing.assert_allclose(kinks["x"], [v for v, _ in expected])
    assert kinks["where"].tolist() == ["inside the data" if inside else "outside the data" for _, inside in expected]
    dash = layer(spec, "kinks")["encoding"]["strokeDash"]["scale"]
    assert dash["range"][dash["domain"].index("outside the data")] != [1, 0]
    shade = rows(spec, layer(spec, "data range"))[0]
    assert (shade["x_min"], shade["x_max"]) == (sine.spec.data.x_min, sine.spec.data.x_max)


def test_units_chart_colours_the_units_that_add_most_and_keeps_the_rest_faint(noisy):
    spec = assert_drawable(units_chart(noisy))
    assert spec["width"] == "container"
    coloured = layer(spec, "units")["transform"][0]["fold"]
    faint = layer(spec, "other units")["transform"][0]["fold"]
    assert len(coloured) == COLOURED_UNITS and len(coloured) + len(faint) == 128
    units_ = np.asarray(noisy.readout.units.contributions.units)
    x = np.asarray(noisy.readout.units.contributions.x)
    inside = (x >= noisy.spec.data.x_min) & (x <= noisy.spec.data.x_max)
    peaks = np.abs(units_[:, inside]).max(axis=1)
    shown = [int(n.split()[1]) - 1 for n in coloured]
    assert peaks[shown].min() >= np.sort(peaks)[-COLOURED_UNITS]
    # One compact legend below the plot (it takes no width from it): the coloured units and one grey entry.
    colour = layer(spec, "units")["encoding"]["color"]
    assert colour["legend"]["orient"] == "bottom"
    assert colour["scale"]["domain"] == coloured + ["the other 120 units"]
    assert layer(spec, "other units")["mark"]["opacity"] < 0.5
    assert "grey: the other 120 units" in " ".join(spec["title"]["subtitle"])
    assert len(spec["datasets"][layer(spec, "units")["data"]["name"]]) <= UNIT_POINTS
    assert not any(u.get("description") == "kinks" for u in units(spec))  # tanh: no kinks


def test_units_chart_with_few_units_colours_them_all(sine):
    spec = assert_drawable(units_chart(sine))
    assert not any(u.get("description") == "other units" for u in units(spec))
    assert layer(spec, "units")["encoding"]["color"]["scale"]["domain"] == ["unit 1", "unit 2", "unit 3", "unit 4"]


def test_units_chart_without_hidden_layer_says_so(parabola):
    readout = dataclasses.replace(parabola.readout, units=None)
    spec = units_chart(dataclasses.replace(parabola, readout=readout)).to_dict()
    assert mark_type(spec) == "text"
    assert "no hidden layer" in rows(spec, spec)[0]["message"].lower()
    assert "tooltip" in spec["encoding"]


# ---------------------------------------------------------------------------------------------
# Replay and comparison


def test_replay_chart_shows_the_recorded_epoch_and_clamps(noisy):
    spec = assert_drawable(replay_chart(noisy, 5))
    assert spec["title"]["text"] == f"Fit at epoch {noisy.replay_epochs[5]}"
    np.testing.assert_allclose(column(spec, "fit", "y"), noisy.replay_predictions[5])
    np.testing.assert_allclose(column(spec, "fit", "x"), noisy.replay_x)
    last = replay_chart(noisy, 10_000).to_dict()
    assert last["title"]["text"] == f"Fit at epoch {noisy.replay_epochs[-1]}"
    first = replay_chart(noisy, -3).to_dict()
    assert first["title"]["text"] == "Fit at epoch 0"
    # The y axis stays put while a slider moves through the epochs.
    domain = lambda s: layer(s, "training data")["encoding"]["y"]["scale"]["domain"]
    assert domain(first) == domain(last)


def test_replay_chart_classification(segments):
    spec = assert_drawable(replay_chart(segments, 3))
    np.testing.assert_allclose(column(spec, "predicted probability", "y"), segments.replay_predictions[3])


def test_compare_charts_run_with_different_epoch_counts(sine, noisy):
    fits, losses = (assert_drawable(chart) for chart in compare_charts(sine, noisy, "ReLU", "tanh"))
    assert fits["width"] == losses["width"] == "container"
    np.testing.assert_allclose(column(fits, "fit ReLU", "y"), sine.grid_prediction)
    np.testing.assert_allclose(column(fits, "fit tanh", "y"), noisy.grid_prediction)
    colours = layer(fits, "fit ReLU")["encoding"]["color"]["scale"]
    assert dict(zip(colours["domain"], colours["range"]))["fit tanh"] == COMPARE_BLUE
    assert losses["encoding"]["y"]["scale"]["type"] == "log"
    loss = pd.DataFrame(rows(losses, losses))
    assert loss.groupby("run")["epoch"].max().to_dict() == {"ReLU": 3, "tanh": 20}


# ---------------------------------------------------------------------------------------------
# Scenario views


def test_coefficients_chart_lines_and_target_rules(parabola):
    sx, sy = Scaler(**parabola.scalers["x"]), Scaler(**parabola.scalers["y"])
    k1, b1, k2, b2 = parabola.weight_history
    trajectory = pd.DataFrame([
        {"epoch": int(e), **dict(zip("ABC", to_original_units(
            parabola_coefficients(k1[i].item(), b1[i].item(), k2[i].item(), b2[i].item()), sx, sy)))}
        for i, e in enumerate(parabola.weight_epochs)
    ])
    spec = assert_drawable(coefficients_chart(trajectory, target=parabola.readout.parabola.target))
    lines = pd.DataFrame(rows(spec, layer(spec, "coefficients")))
    assert sorted(lines["coefficient"].unique()) == ["A", "B", "C"]
    final = lines[lines["epoch"] == lines["epoch"].max()].set_index("coefficient")["value"]
    np.testing.assert_allclose(final[["A", "B", "C"]], parabola.readout.parabola.coefficients, rtol=1e-6)
    targets = pd.DataFrame(rows(spec, layer(spec, "targets")))
    assert dict(zip(targets["coefficient"], targets["value"])) == {"A": 1.0, "B": 2.0, "C": 2.0}
    assert layer(spec, "targets")["mark"]["strokeDash"] == TARGET_DASH
    # B and C share the target 2: one dashed line, labelled with both, so neither hides behind the other's curve.
    assert sorted(r["label"] for r in rows(spec, layer(spec, "target labels"))) == ["A target 1", "B = C target 2"]
    assert layer(spec, "targets")["encoding"]["color"] == layer(spec, "coefficients")["encoding"]["color"]
    no_target = coefficients_chart(trajectory).to_dict()
    assert [u["description"] for u in units(no_target)] == ["coefficients"]


def test_segments_chart_thresholds_and_crossings(segments):
    spec = assert_drawable(segments_chart(segments))
    thresholds = pd.DataFrame(rows(spec, layer(spec, "thresholds")))
    np.testing.assert_allclose(thresholds["x"], segments.readout.units.thresholds)
    assert thresholds["unit"].tolist() == ["unit 1", "unit 2"]
    assert layer(spec, "threshold labels")["encoding"]["text"]["field"] == "unit"
    crossings = pd.DataFrame(rows(spec, layer(spec, "crossings")))
    np.testing.assert_allclose(crossings["x"], segments.readout.classifier.crossings)
    assert set(crossings["y"]) == {0.5}
    strip = pd.DataFrame(rows(spec, layer(spec, "training data")))
    assert strip["y"].nunique() == 1 and set(strip["class"]) == {"class 0", "class 1"}


def test_mini_chart_is_small_and_light(sine, segments):
    spec = assert_drawable(mini_chart(sine), zoomable=False)
    assert spec["height"] == 140 and spec["width"] == "container"
    assert "title" not in spec
    assert all(u["encoding"]["x"]["axis"]["title"] is None for u in units(spec))
    assert len(column(spec, "training data", "x")) <= MINI_POINTS
    spec = assert_drawable(mini_chart(segments, height=100), zoomable=False)
    assert spec["height"] == 100


# ---------------------------------------------------------------------------------------------
# A run that diverged in its first epoch


def test_every_chart_copes_with_a_run_that_diverged_at_once(diverged):
    for chart in (fit_chart(diverged), residual_chart(diverged), weights_chart(diverged),
                  units_chart(diverged), replay_chart(diverged, 3), *compare_charts(diverged, diverged)):
        assert_drawable(chart)
    for spec in (chart.to_dict() for chart in history_charts(diverged.history, "max_abs_error")):
        assert all(rows(spec, u) == [] for u in units(spec))
    assert "diverged in epoch 1" in " ".join(fit_chart(diverged).to_dict()["title"]["subtitle"])


def test_restarts_histogram_bins_span_the_threshold_and_label_it():
    spec = assert_drawable(restarts_histogram([0.008, 0.01, 0.019, None], "max_abs_error", threshold=0.1), zoomable=False)
    bars = next(u for u in units(spec) if mark_type(u) == "bar")
    assert bars["encoding"]["x"]["bin"]["extent"] == [0.008, 0.1]  # no hairlines squeezed beside a far-off rule
    assert bars["encoding"]["y"]["axis"]["format"] == "d"  # whole seeds only
    text = next(u for u in units(spec) if mark_type(u) == "text")
    assert text["encoding"]["text"]["field"] == "what"
    assert spec["title"]["subtitle"] == "3 seeds (1 diverged and are left out)"


def test_success_rates_chart_shows_a_lone_setup_and_a_rate_of_zero():
    lone = assert_drawable(success_rates_chart([{"label": "As asked", "rate": 0.0, "low": 0.0, "high": 0.06,
                                                         "successes": 0, "seeds": 64}]), zoomable=False)
    assert lone["height"] == {"step": 40}  # one row is as tall as each of several, never squeezed to nothing
    marks = [mark_type(u) for u in units(lone)]
    assert "bar" in marks and "point" in marks  # a 0% rate has no bar: its diamond still shows where it is
    assert next(u for u in units(lone) if mark_type(u) == "point")["encoding"]["x"]["field"] == "rate"
    assert [r["rate"] for r in next(iter(lone["datasets"].values()))] == [0.0]


def test_fixes_chart_names_every_setup_inside_the_plot_and_marks_the_goal():
    rows = [{"label": "as it is (control)", "kind": "as it is", "rate": 0.0, "low": 0.0, "high": 0.19, "successes": 0, "seeds": 16},
            {"label": "the posted fix", "kind": "posted fix", "rate": 0.875, "low": 0.64, "high": 0.97, "successes": 14, "seeds": 16},
            {"label": "Adam + standardise x + learning rate ×10", "kind": "best", "rate": 1.0, "low": 0.81, "high": 1.0,
             "successes": 16, "seeds": 16, "changes": "x_scaling=standard"}]
    spec = fixes_chart(rows, target=0.9).to_dict()
    layers = spec["layer"]
    names = next(layer for layer in layers if layer["encoding"].get("text", {}).get("field") == "setup")
    assert names["mark"]["type"] == "text" and spec["height"] == {"step": 34}
    assert layers[0]["encoding"]["y"]["axis"] is None  # no axis of long labels to squeeze the plot
    values = spec["datasets"][spec["layer"][0]["data"]["name"]] if "datasets" in spec else None
    assert values is None or [v["setup"] for v in values] == [r["label"] for r in rows]
    assert any(layer["mark"]["type"] == "rule" and layer["encoding"]["x"]["field"] == "target" for layer in layers)
    colours = layers[0]["encoding"]["color"]["scale"]
    assert colours["domain"] == ["as it is", "posted fix", "best"]
