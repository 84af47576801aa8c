"""Pure Altair builders for two inputs, as the TensorFlow Playground draws them: the output over the square as a
heatmap with the points on it, one small map per hidden unit, and the network with its weights as line widths.

Nothing here imports Streamlit or TensorFlow: numpy arrays and RunResults in, charts out.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.outcomes.results import RunResult
from core.settings.network import iter_layer_outputs, layer_shapes, split_layers

# The Playground's colours: orange for its -1 (class 0 here), blue for +1 (class 1), near-white between.
CLASS0 = "#f59322"
CLASS1 = "#0877bd"
MIDDLE = "#e8eaeb"
SIDE = 300  # px of the main surface's plot: square, as the Playground's
UNIT_SIDE = 96  # px of each unit's map
MAX_POINTS = 2000  # drawn points per chart (the heatmap holds at most 61 x 61 cells)


def _edges(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges around sorted, evenly spaced centres."""
    step = (values[1] - values[0]) if len(values) > 1 else 1.0
    return values - step / 2, values + step / 2


def surface_frame(grid: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """One row per grid cell: its centre, its edges and the value there (grid: (points, 2), x1 fastest)."""
    grid = np.asarray(grid, float)
    x1, x2 = np.unique(grid[:, 0]), np.unique(grid[:, 1])
    lo1, hi1 = _edges(x1)
    lo2, hi2 = _edges(x2)
    i1 = np.searchsorted(x1, grid[:, 0])
    i2 = np.searchsorted(x2, grid[:, 1])
    values = np.asarray(values, float).ravel()
    return pd.DataFrame({"x1": grid[:, 0], "x2": grid[:, 1], "a1": lo1[i1], "b1": hi1[i1], "a2": lo2[i2], "b2": hi2[i2],
                         "value": np.where(np.isfinite(values), values, np.nan)})


def value_scale(classify: bool, values: np.ndarray) -> alt.Scale:
    """Probability 0..1 (orange, white at 0.5, blue), or a value symmetric around 0 in the same colours."""
    if classify:
        return alt.Scale(domain=[0, 0.5, 1], range=[CLASS0, MIDDLE, CLASS1], clamp=True, interpolate="rgb")
    finite = np.asarray(values, float)[np.isfinite(values)]
    reach = float(np.max(np.abs(finite))) if finite.size else 1.0
    reach = reach if reach > 0 else 1.0
    return alt.Scale(domain=[-reach, 0, reach], range=[CLASS0, MIDDLE, CLASS1], clamp=True, interpolate="rgb")


def points_frame(x: np.ndarray, y: np.ndarray, which: str, classify: bool, prediction: np.ndarray | None = None) -> pd.DataFrame:
    x = np.asarray(x, float).reshape(len(x), -1)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": np.asarray(y, float).ravel(), "set": which})
    if classify:
        frame["class"] = np.where(frame["y"] > 0.5, "class 1", "class 0")
        if prediction is not None:
            guess = np.asarray(prediction, float).ravel() > 0.5
            frame["right"] = np.where(guess == (frame["y"] > 0.5), "right", "wrong")
    elif prediction is not None:
        frame["fit"] = np.asarray(prediction, float).ravel()
    if len(frame) > MAX_POINTS:
        frame = frame.iloc[np.linspace(0, len(frame) - 1, MAX_POINTS).astype(int)]
    return frame


def surface_chart(grid: np.ndarray, values: np.ndarray, bounds, classify: bool, points: Sequence[pd.DataFrame] = (),
                  title: str = "", subtitle: str | Sequence[str] | None = None, side: int = SIDE,
                  value_title: str = "output") -> alt.LayerChart:
    """The output over the square as a heatmap, the training points (filled) and test points (hollow) on it."""
    (lo1, hi1), (lo2, hi2) = bounds
    frame = surface_frame(grid, values)
    colour = value_scale(classify, frame["value"].to_numpy())
    x = alt.X("a1:Q", title="x1", scale=alt.Scale(domain=[lo1, hi1], nice=False, zero=False))
    y = alt.Y("a2:Q", title="x2", scale=alt.Scale(domain=[lo2, hi2], nice=False, zero=False))
    heat = alt.Chart(frame, description="surface").mark_rect(stroke=None).encode(
        x=x, x2="b1:Q", y=y, y2="b2:Q",
        color=alt.Color("value:Q", scale=colour, title=value_title, legend=alt.Legend(orient="right", gradientLength=side - 60)),
        tooltip=[alt.Tooltip("x1:Q", format=".3g"), alt.Tooltip("x2:Q", format=".3g"), alt.Tooltip("value:Q", title=value_title, format=".3f")],
    )
    layers = [heat]
    for frame_points in points:
        if not len(frame_points):
            continue
        test = frame_points["set"].iloc[0] == "test"
        fill = "class" if classify else "y"
        tooltip = [alt.Tooltip("set:N"), alt.Tooltip("x1:Q", format=".3g"), alt.Tooltip("x2:Q", format=".3g"),
                   alt.Tooltip("y:Q", title="label" if classify else "y", format=".3g")]
        if "right" in frame_points:
            tooltip.append(alt.Tooltip("right:N", title="predicted"))
        if "fit" in frame_points:
            tooltip.append(alt.Tooltip("fit:Q", format=".3g"))
        mark = alt.Chart(frame_points, description=f"{'test' if test else 'training'} points").mark_point(
            filled=not test, size=28 if not test else 34, opacity=0.95, strokeWidth=1.5 if test else 0.8,
            stroke="#000000" if not test else None, shape="circle" if not test else "square")
        encode = {"x": alt.X("x1:Q"), "y": alt.Y("x2:Q"), "tooltip": tooltip}
        if test:  # the training points' legend names the classes; the subtitle says hollow squares are test points
            encode["stroke"] = (alt.Stroke("class:N", scale=alt.Scale(domain=["class 0", "class 1"], range=[CLASS0, CLASS1]), legend=None)
                                if classify else alt.Stroke("y:Q", scale=colour, legend=None))
        else:
            encode["fill"] = alt.Fill(fill + (":N" if classify else ":Q"),
                                      scale=alt.Scale(domain=["class 0", "class 1"], range=[CLASS0, CLASS1]) if classify else colour,
                                      legend=alt.Legend(title=None, orient="bottom") if classify else None)
        layers.append(mark.encode(**encode))
    chart = alt.layer(*layers).resolve_scale(color="independent", fill="independent", stroke="independent")
    return chart.properties(width=side, height=side, title=alt.TitleParams(title, subtitle=subtitle or alt.Undefined))


def run_points(r: RunResult, prediction_at_points: bool = True) -> list[pd.DataFrame]:
    """A run's training points (with right/wrong) and test points, as frames for `surface_chart`."""
    classify = r.task == "classification"
    frames = [points_frame(r.x, r.y, "training", classify, r.prediction if prediction_at_points else None)]
    if r.x_test is not None:
        frames.append(points_frame(r.x_test, r.y_test, "test", classify, r.test_prediction if prediction_at_points else None))
    return frames


def output_chart(r: RunResult, title: str = "The output over the square") -> alt.LayerChart:
    """The final output on the fine grid: the probability of class 1, or the value, with the points."""
    classify = r.task == "classification"
    wrong = ""
    if classify and r.final:
        wrong_train = int(np.sum((np.asarray(r.prediction) > 0.5) != (np.asarray(r.y) > 0.5)))
        wrong = f"{wrong_train} of {len(r.y)} training points on the wrong side"
        if r.x_test is not None:
            wrong_test = int(np.sum((np.asarray(r.test_prediction) > 0.5) != (np.asarray(r.y_test) > 0.5)))
            wrong += f" · {wrong_test} of {len(r.y_test)} test points"
    subtitle = ["filled circles: training points · hollow squares: test points", wrong] if wrong else \
        ["filled circles: training points · hollow squares: test points"]
    what = "probability of class 1" if classify else "output"
    return surface_chart(r.grid_x, r.grid_prediction, r.spec.data.input_bounds, classify, run_points(r), title, subtitle,
                         value_title=what)


def replay_surface(r: RunResult, index: int) -> alt.LayerChart:
    """The output recorded at one epoch, on the replay grid, with the training points."""
    recorded = len(r.replay_epochs)
    index = min(max(int(index), 0), recorded - 1)
    classify = r.task == "classification"
    return surface_chart(r.replay_x, r.replay_predictions[index], r.spec.data.input_bounds, classify, run_points(r, False),
                         f"The output at epoch {int(r.replay_epochs[index])}", f"recorded state {index + 1} of {recorded}",
                         value_title="probability of class 1" if classify else "output")


def unit_values(spec, weights, encoded_grid: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """(layer name, activation, (points, units) outputs) of every hidden layer over an encoded grid."""
    hidden = layer_shapes(spec.model)[:-1]
    if not hidden:
        return []
    outputs = iter_layer_outputs(spec.model, weights, encoded_grid, upto=len(hidden) - 1)  # the output layer is not needed
    return [(shape.name, shape.activation, post) for shape, (_, post) in zip(hidden, outputs)]


def unit_maps(spec, weights, grid: np.ndarray, encoded_grid: np.ndarray, title: str = "What each hidden unit computes",
              subtitle: str | None = None, side: int = UNIT_SIDE, columns: int = 4) -> alt.VConcatChart | None:
    """One small heatmap per hidden unit (the Playground's signature view): the unit's output over the square, a row
    per layer, white where it is 0, blue above, orange below (each layer on its own symmetric scale). None: no hidden layer."""
    layers = unit_values(spec, weights, encoded_grid)
    if not layers:
        return None
    rows = []
    for name, activation, values in layers:
        values = np.asarray(values, float)
        finite = values[np.isfinite(values)]
        reach = float(np.max(np.abs(finite))) if finite.size else 1.0
        scale = alt.Scale(domain=[-(reach or 1.0), 0, reach or 1.0], range=[CLASS0, MIDDLE, CLASS1], clamp=True, interpolate="rgb")
        frames = []
        for unit in range(values.shape[1]):
            frame = surface_frame(grid, values[:, unit])
            frame["unit"] = f"unit {unit + 1}"
            frames.append(frame)
        data = pd.concat(frames, ignore_index=True)
        order = [f"unit {u + 1}" for u in range(values.shape[1])]
        chart = alt.Chart(data, description=f"units of {name}").mark_rect(stroke=None).encode(
            x=alt.X("a1:Q", axis=None, scale=alt.Scale(nice=False, zero=False)), x2="b1:Q",
            y=alt.Y("a2:Q", axis=None, scale=alt.Scale(nice=False, zero=False)), y2="b2:Q",
            color=alt.Color("value:Q", scale=scale, title=f"{name} output", legend=alt.Legend(orient="bottom", gradientLength=120,
                                                                                                      direction="horizontal")),
            tooltip=[alt.Tooltip("unit:N"), alt.Tooltip("x1:Q", format=".3g"), alt.Tooltip("x2:Q", format=".3g"),
                     alt.Tooltip("value:Q", title="output", format=".3f")],
        ).properties(width=side, height=side).facet(
            facet=alt.Facet("unit:N", sort=order, title=None, header=alt.Header(labelFontSize=11)),
            columns=min(columns, values.shape[1]), spacing=10, title=f"{name}: {values.shape[1]} {activation} units")
        rows.append(chart)
    return alt.vconcat(*rows).resolve_scale(color="independent").properties(
        title=alt.TitleParams(title, subtitle=subtitle or alt.Undefined))


def network_chart(spec, weights, feature_names: Sequence[str], title: str = "The network: weights as line widths") -> alt.LayerChart:
    """Every unit as a dot, a column per layer, every weight as a line from its input to its unit: as wide as the weight
    is large, blue for a positive weight and orange for a negative one."""
    shapes = layer_shapes(spec.model)
    sizes = [shapes[0].fan_in] + [s.units for s in shapes]
    names = [list(feature_names)] + [[f"{s.name} {i + 1}" if s.name != "output" else ("output" if s.units == 1 else f"output {i + 1}")
                                      for i in range(s.units)] for s in shapes]
    tallest = max(sizes)

    def place(layer: int, index: int) -> float:
        return (tallest - 1) / 2 - (sizes[layer] - 1) / 2 + index

    edges = []
    for layer, (kernel, _bias) in enumerate(split_layers(spec.model, weights)):
        kernel = np.asarray(kernel, float)
        for i in range(kernel.shape[0]):
            for j in range(kernel.shape[1]):
                edges.append({"x": layer, "y": place(layer, i), "x2": layer + 1, "y2": place(layer + 1, j), "weight": kernel[i, j],
                              "from": names[layer][i], "to": names[layer + 1][j]})
    edge_frame = pd.DataFrame(edges)
    biggest = float(np.max(np.abs(edge_frame["weight"]))) if len(edge_frame) and np.isfinite(edge_frame["weight"]).all() else 1.0
    edge_frame["size"] = np.abs(edge_frame["weight"]) / (biggest or 1.0)
    edge_frame["sign"] = np.where(edge_frame["weight"] >= 0, "positive", "negative")
    nodes = pd.DataFrame([{"x": layer, "y": place(layer, i), "name": names[layer][i]} for layer in range(len(sizes))
                          for i in range(sizes[layer])])
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-0.6, len(sizes) - 0.4]))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[tallest - 0.5, -0.5]))
    lines = alt.Chart(edge_frame, description="weights").mark_rule(opacity=0.85).encode(
        x=x, y=y, x2="x2:Q", y2="y2:Q",
        strokeWidth=alt.StrokeWidth("size:Q", scale=alt.Scale(domain=[0, 1], range=[0.3, 7]), legend=None),
        color=alt.Color("sign:N", scale=alt.Scale(domain=["positive", "negative"], range=[CLASS1, CLASS0]),
                        legend=alt.Legend(title="weight", orient="bottom")),
        tooltip=[alt.Tooltip("from:N"), alt.Tooltip("to:N"), alt.Tooltip("weight:Q", format=".4g")],
    )
    dots = alt.Chart(nodes, description="units").mark_circle(size=260, color="#343a40", opacity=1).encode(
        x=x, y=y, tooltip=[alt.Tooltip("name:N", title="unit")])
    labels = alt.Chart(nodes[nodes["x"] == 0], description="inputs").mark_text(align="right", dx=-12, fontSize=12).encode(
        x=x, y=y, text="name:N")
    return alt.layer(lines, dots, labels).properties(width="container", height=max(160, 46 * tallest),
                                                     title=alt.TitleParams(title))


def weights_frame(spec, weights, feature_names: Sequence[str]) -> pd.DataFrame:
    """The final weights as a table: one row per weight (from, to, value), biases as from 'bias'."""
    shapes = layer_shapes(spec.model)
    rows = []
    sources = list(feature_names)
    for (kernel, bias), shape in zip(split_layers(spec.model, weights), shapes):
        targets = [f"{shape.name} {i + 1}" if shape.units > 1 or shape.name != "output" else "output" for i in range(shape.units)]
        for i, source in enumerate(sources):
            for j, target in enumerate(targets):
                rows.append({"layer": shape.name, "from": source, "to": target, "weight": float(np.asarray(kernel)[i, j])})
        if bias is not None:
            for j, target in enumerate(targets):
                rows.append({"layer": shape.name, "from": "bias", "to": target, "weight": float(np.asarray(bias)[j])})
        sources = targets
    return pd.DataFrame(rows)


def compare_surfaces(a: RunResult, b: RunResult, label_a: str = "A", label_b: str = "B") -> alt.HConcatChart:
    """Two runs' outputs side by side, each with its own points."""
    side = 240
    return alt.hconcat(
        output_chart(a, f"{label_a}").properties(width=side, height=side),
        output_chart(b, f"{label_b}").properties(width=side, height=side),
    ).resolve_scale(color="independent", fill="independent", stroke="independent")
