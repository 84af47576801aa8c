"""Pure Altair chart builders: a RunResult or a tidy DataFrame in, a chart out, no Streamlit."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from core.outcomes.results import RunResult  # plain data: no TensorFlow

DATA_GREY = "#868e96"
TEST_GREY = "#495057"
TARGET_BLACK = "#000000"
FIT_ORANGE = "#d9480f"
COMPARE_BLUE = "#1c7ed6"
RULE_GREY = "#495057"
RANGE_SHADE = "#e9ecef"
CLASS_COLOURS = {"class 0": "#adb5bd", "class 1": "#343a40"}
# Eight colours told apart at a glance (Tableau 10 without its grey, which marks the other units).
UNIT_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f"]
COEFFICIENT_COLOURS = {"A": "#ae3ec9", "B": "#0c8599", "C": "#2f9e44"}
TARGET_DASH = [6, 4]
CLASS_Y_SCALE = alt.Scale(domain=[-0.05, 1.05], nice=False)  # room for the points at 0 and 1

MAX_POINTS = 4000  # per layer: below Altair's 5000-row limit, and still smooth in the browser
HISTORY_POINTS = 2000
WEIGHT_EPOCHS = 400
COLOURED_UNITS = 8  # units drawn in colour in the units chart; the rest are faint grey
UNIT_POINTS = 600  # x positions per unit when many units are drawn
MINI_POINTS = 800
HEIGHT = 320
# Boundaries far outside the data range would squash the plot, so the view reaches only this
# share of the data span beyond each end; the rest stay reachable by panning.
BOUNDARY_MARGIN = 0.25

METRIC_TITLES = {
    # Short: a vertical axis title longer than the plot makes Vega shrink the plot to fit it.
    "max_abs_error": "max |fit − target| (y units)",
    "accuracy": "accuracy (training samples)",
    "r2": "R² (training points)",
    "loss": "loss",
}


# ---------------------------------------------------------------------------------------------
# Helpers
#
# Layers carry a description rather than a name: it marks them for screen readers and tests,
# while Altair attaches a concatenated layer chart's zoom to every *named* layer, which Vega then
# rejects as duplicate signals.


def target_label(r) -> str:
    """What the dashed line is: the clean target of a drawn function, or the binned means of a data file's training points."""
    return "data trend (binned)" if r.spec.data.function == "file" else "clean target"


def thin(df: pd.DataFrame, max_rows: int = MAX_POINTS) -> pd.DataFrame:
    """An evenly spaced subset of at most `max_rows` rows that keeps the first and the last row."""
    n = len(df)
    if n <= max_rows:
        return df
    if max_rows < 2:
        return df.iloc[: max(max_rows, 0)]
    index = np.unique(np.round(np.linspace(0, n - 1, max_rows)).astype(np.int64))
    return df.iloc[index]


def _finite(values) -> np.ndarray:
    # inf is not valid JSON; NaN becomes null and leaves a gap instead of a spike to infinity.
    values = np.asarray(values, dtype=np.float64).ravel()
    return np.where(np.isfinite(values), values, np.nan)


def _colour(field: str, palette: Mapping[str, str], title: str | None = None, legend: bool | alt.Legend = True) -> alt.Color:
    # One explicit domain per chart keeps every layer on the same colours and one legend.
    return alt.Color(
        f"{field}:N",
        scale=alt.Scale(domain=list(palette), range=list(palette.values())),
        legend=(legend if isinstance(legend, alt.Legend) else alt.Legend(title=title, orient="right")) if legend else None,
    )


def _number(field: str, title: str, fmt: str = ".4g") -> alt.Tooltip:
    return alt.Tooltip(f"{field}:Q", title=title, format=fmt)


def _run_label(r: RunResult) -> str:
    spec = r.spec
    if spec.scenario:
        return f"{spec.scenario} / {spec.preset}" if spec.preset else spec.scenario
    return "custom run"


def _run_subtitle(r: RunResult) -> list[str]:
    lines = [_run_label(r)]
    if r.final:
        lines[0] += " · " + ", ".join(f"{k} {v:.4g}" for k, v in r.final.items())
    if r.diverged_at:
        lines.append(f"diverged in epoch {r.diverged_at}: showing the last finite state")
    elif r.stopped:
        lines.append(f"stopped after {r.epochs_run} of {r.spec.train.epochs} epochs")
    return lines


def _title(text: str, subtitle: Sequence[str] | str | None = None) -> alt.TitleParams:
    if subtitle:
        return alt.TitleParams(text, subtitle=list(subtitle) if not isinstance(subtitle, str) else subtitle, anchor="start")
    return alt.TitleParams(text, anchor="start")


def _epoch_axis(epochs) -> alt.Axis:
    epochs = np.unique(np.asarray(epochs, dtype=np.int64))
    if 0 < len(epochs) <= 12:
        # Vega's tickMinStep still puts ticks at half epochs on a short run; list them instead.
        return alt.Axis(values=epochs.tolist(), format="d")
    return alt.Axis(format="d", tickMinStep=1)


def _y_title(r: RunResult) -> str:
    if r.task != "classification":
        return "y"
    return "class / predicted class" if _several(r) else "class / predicted probability of class 1"


def _several(r: RunResult) -> bool:
    """One output unit per class: the fit is the predicted class, not a probability."""
    return r.spec.model.output_units > 1


def class_count(r: RunResult) -> int:
    return max(2, r.spec.model.output_units, r.spec.data.n_classes)


def class_colours(r: RunResult) -> dict[str, str]:
    count = class_count(r)
    if count == 2:
        return dict(CLASS_COLOURS)
    return {f"class {i}": UNIT_COLOURS[i % len(UNIT_COLOURS)] for i in range(count)}


def class_y_scale(r: RunResult) -> alt.Scale:
    count = class_count(r)
    return CLASS_Y_SCALE if count == 2 else alt.Scale(domain=[-0.3, count - 0.7], nice=False)


def _labels(r: RunResult, y) -> np.ndarray:
    y = np.asarray(y, float).ravel()
    return (y > 0.5).astype(int) if class_count(r) == 2 else np.rint(y).astype(int)


def fit_name(r: RunResult) -> str:
    return "predicted class" if _several(r) else "predicted probability"


X_SCALE = alt.Scale(zero=False)  # the data range, not 0 to it: a file's x may run from 10,000 to 60,000


def _line(x, y, series: str, palette: Mapping[str, str], *, dash: Sequence[int] | None = None,
          width: float = 2.0, y_title: str = "y", legend: bool = True, axis: dict | None = None) -> alt.Chart:
    frame = pd.DataFrame({"x": _finite(x), "y": _finite(y), "series": series})
    axis = axis or {}
    return alt.Chart(frame, description=series).mark_line(
        strokeWidth=width, strokeDash=list(dash) if dash else alt.Undefined, clip=True
    ).encode(
        x=alt.X("x:Q", title="x", scale=X_SCALE, **axis),
        y=alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False), **axis),
        color=_colour("series", palette, legend=legend),
        tooltip=[alt.Tooltip("series:N", title="curve"), _number("x", "x"), _number("y", "y")],
    )


def _training_data(r: RunResult, palette: Mapping[str, str], max_rows: int = MAX_POINTS,
                   legend: bool = True, axis: dict | None = None) -> alt.Chart:
    """The training data: points where they are scattered, a thin line where they are a clean grid."""
    series = "training data"
    frame = pd.DataFrame({"x": _finite(r.x), "y": _finite(r.y), "series": series})
    spec = r.spec.data
    as_line = spec.sampling == "grid" and not spec.noise and spec.function != "file"  # a file's rows are points
    if as_line:
        frame = thin(frame.sort_values("x", kind="stable"), max_rows)
        mark = alt.Chart(frame, description=series).mark_line(strokeWidth=1, opacity=0.8, clip=True)
    else:
        frame = thin(frame, max_rows)
        mark = alt.Chart(frame, description=series).mark_circle(size=10, opacity=0.45, clip=True)
    axis = axis or {}
    return mark.encode(
        x=alt.X("x:Q", title="x", scale=X_SCALE, **axis),
        y=alt.Y("y:Q", title="y", scale=alt.Scale(zero=False), **axis),
        color=_colour("series", palette, legend=legend),
        tooltip=[alt.Tooltip("series:N", title="points"), _number("x", "x"), _number("y", "y")],
    )


def _class_points(r: RunResult, palette: Mapping[str, str], max_rows: int = MAX_POINTS, y_value: float | None = None,
                  legend: bool = True, axis: dict | None = None) -> alt.Chart:
    """The labelled samples, at y = their class (or on one strip at `y_value`), coloured by class."""
    labels = _labels(r, r.y)
    frame = pd.DataFrame({
        "x": _finite(r.x),
        "y": labels.astype(float) if y_value is None else np.full(len(labels), float(y_value)),
        "label": labels,
        "class": [f"class {v}" for v in labels],
    })
    frame = thin(frame, max_rows)
    axis = axis or {}
    return alt.Chart(frame, description="training data").mark_point(size=18, filled=True, opacity=0.7, clip=True).encode(
        x=alt.X("x:Q", title="x", scale=X_SCALE, **axis),
        y=alt.Y("y:Q", title=_y_title(r), scale=class_y_scale(r), **axis),
        color=_colour("class", palette, legend=legend),
        shape=alt.Shape("class:N", scale=alt.Scale(domain=list(class_colours(r)), range=["circle", "square", "triangle-up", "diamond",
                                                                                         "cross", "triangle-down"]), legend=None),
        tooltip=[alt.Tooltip("class:N", title="class"), _number("x", "x")],
    )


def _class_test_points(r: RunResult) -> list[alt.Chart]:
    """Held-out samples of a classification: hollow diamonds at their class, with the model's probability in the tooltip."""
    if r.x_test is None or r.test_prediction is None:
        return []
    labels = _labels(r, r.y_test)
    frame = thin(pd.DataFrame({"x": _finite(r.x_test), "y": labels.astype(float), "answer": _finite(r.test_prediction),
                               "series": "test data"}))
    return [alt.Chart(frame, description="test data").mark_point(shape="diamond", size=40, filled=False, strokeWidth=1.2,
                                                                   color=TEST_GREY, clip=True).encode(
        x="x:Q", y="y:Q", tooltip=[alt.Tooltip("series:N", title="points"), _number("x", "x"), _number("y", "class"),
                                   _number("answer", fit_name(r))])]


def _vertical_rules(frame: pd.DataFrame, tooltip: list, *, colour: str = RULE_GREY, dash: Sequence[int] | None = None,
                    description: str, width: float = 1.2) -> alt.Chart:
    return alt.Chart(frame, description=description).mark_rule(
        color=colour, strokeWidth=width, strokeDash=list(dash) if dash else alt.Undefined, clip=True
    ).encode(x="x:Q", tooltip=tooltip)


def _horizontal_rule(value: float, what: str, *, colour: str = RULE_GREY, dash: Sequence[int] | None = (4, 4),
                     description: str) -> alt.Chart:
    frame = pd.DataFrame({"y": [float(value)], "what": [what]})
    return alt.Chart(frame, description=description).mark_rule(
        color=colour, strokeWidth=1, strokeDash=list(dash) if dash else alt.Undefined
    ).encode(y="y:Q", tooltip=[alt.Tooltip("what:N", title="line"), _number("y", "y")])


def _boundary_view(x_min: float, x_max: float, values: Sequence[float]) -> tuple[list[float] | None, int]:
    """The x domain showing the data range and nearby boundaries, and how many boundaries lie beyond it."""
    span = (x_max - x_min) or 1.0
    lo, hi = x_min - BOUNDARY_MARGIN * span, x_max + BOUNDARY_MARGIN * span
    outside_range = [v for v in values if not x_min <= v <= x_max]
    if not outside_range:
        return None, 0
    return [lo, hi], sum(1 for v in values if not lo <= v <= hi)


def _message(text: str, height: int = 120) -> alt.Chart:
    frame = pd.DataFrame({"message": [text]})
    return alt.Chart(frame).mark_text(fontSize=14, color=TEST_GREY).encode(
        text="message:N", tooltip=alt.Tooltip("message:N", title="note")
    ).properties(width="container", height=height)


# ---------------------------------------------------------------------------------------------
# The fit


def fit_chart(r: RunResult, title: str | None = None) -> alt.LayerChart:
    """The training data, the clean target and the final fit (regression), or the data and the
    predicted probability with its 0.5 crossings (classification)."""
    title = title or f"Fit after {r.epochs_run} epochs"
    if r.task == "classification":
        layers = _classification_layers(r, r.grid_x, r.grid_prediction, fit_name(r))
    else:
        palette = {"training data": DATA_GREY, target_label(r): TARGET_BLACK, "fit": FIT_ORANGE}
        if r.x_test is not None:
            palette.update({"test data": TEST_GREY, "test answers": FIT_ORANGE})
        layers = [
            _training_data(r, palette),
            _line(r.grid_x, r.grid_target, target_label(r), palette, dash=TARGET_DASH, width=1.5),
            _line(r.grid_x, r.grid_prediction, "fit", palette, width=2.5),
        ]
        if r.x_test is not None:
            layers += _test_layers(r, palette)
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=_title(title, _run_subtitle(r))
    ).interactive()


def _test_layers(r: RunResult, palette: Mapping[str, str]) -> list[alt.Chart]:
    frame = pd.DataFrame({
        "x": _finite(r.x_test), "truth": _finite(r.y_test), "answer": _finite(r.test_prediction),
    })
    frame = thin(frame)
    tooltip = [_number("x", "x"), _number("truth", "test y"), _number("answer", "answer")]
    points = alt.Chart(frame.assign(series="test data"), description="test data").mark_point(
        shape="square", size=28, filled=False, clip=True
    ).encode(x="x:Q", y="truth:Q", color=_colour("series", palette), tooltip=tooltip)
    answers = alt.Chart(frame.assign(series="test answers"), description="test answers").mark_point(
        shape="triangle-up", size=34, filled=True, opacity=0.85, clip=True
    ).encode(x="x:Q", y="answer:Q", color=_colour("series", palette), tooltip=tooltip)
    return [points, answers]


def _classification_layers(r: RunResult, x, probability, series: str, colour: str = FIT_ORANGE) -> list[alt.Chart]:
    palette = {**class_colours(r), series: colour}
    crossings = [float(c) for c in (r.readout.classifier.crossings if r.readout.classifier else ()) if c is not None]
    layers = [
        _class_points(r, palette),
        _line(x, probability, series, palette, width=2.5, y_title=_y_title(r)),
        *([] if _several(r) else [_horizontal_rule(0.5, "decision level 0.5", description="decision level")]),
        *_class_test_points(r),
    ]
    if crossings:
        frame = pd.DataFrame({"x": crossings, "what": "the predicted class changes" if _several(r) else "probability crosses 0.5"})
        layers.append(_vertical_rules(frame, [alt.Tooltip("what:N", title="rule"), _number("x", "x")],
                                      colour=colour, dash=(2, 3), description="crossings"))
    return layers


def residual_chart(r: RunResult) -> alt.LayerChart:
    """The fit minus the clean target on the fine grid (regression), or probability minus clean label."""
    classification = r.task == "classification"
    clean = "trend" if r.spec.data.function == "file" else ("clean label" if classification else "clean target")
    what = f"probability − {clean}" if classification else f"fit − {clean} (y units)"
    residual = np.asarray(r.grid_prediction, float) - np.asarray(r.grid_target, float)
    if classification and class_count(r) > 2:  # classes are not a scale: 1 where the predicted class is not the data's
        what, clean = "wrong class (1) or right (0)", "the data's commonest class"
        residual = (np.rint(np.asarray(r.grid_prediction, float)) != np.rint(np.asarray(r.grid_target, float))).astype(float)
    frame = pd.DataFrame({
        "x": _finite(r.grid_x),
        "residual": _finite(residual),
        "fit": _finite(r.grid_prediction),
        "target": _finite(r.grid_target),
    })
    line = alt.Chart(frame, description="residual").mark_line(color=FIT_ORANGE, strokeWidth=2, clip=True).encode(
        x=alt.X("x:Q", title="x"),
        y=alt.Y("residual:Q", title=what),
        tooltip=[_number("x", "x"), _number("residual", "residual"), _number("fit", "fit"),
                 _number("target", clean)],
    )
    zero = _horizontal_rule(0.0, "zero error", colour=TARGET_BLACK, dash=None, description="zero error")
    worst = float(np.nanmax(np.abs(frame["residual"]))) if frame["residual"].notna().any() else float("nan")
    return alt.layer(line, zero).properties(
        width="container", height=220,
        title=_title("Error of the fit on the fine grid", f"largest |{what.split(' (')[0]}| = {worst:.4g}"),
    ).interactive()


# ---------------------------------------------------------------------------------------------
# Training curves


def _history_frame(history: Mapping[str, Any], key: str) -> pd.DataFrame:
    values = _finite(history.get(key, ()))
    epochs = history.get("epoch")
    if epochs is not None and len(epochs) >= len(values):
        epochs = np.asarray(epochs, dtype=np.int64)[: len(values)]
    else:  # a live history may hold the values a moment before their epoch numbers
        epochs = np.arange(1, len(values) + 1, dtype=np.int64)
    return pd.DataFrame({"epoch": epochs, "value": values}).astype({"epoch": "int64", "value": "float64"})


def _curve_panel(frame: pd.DataFrame, y_title: str, *, log: bool, palette: Mapping[str, str],
                 title: str, name: str, legend: bool = False, subtitle: Sequence[str] | str | None = None) -> alt.Chart:
    if log:
        # A log scale cannot show zero, negative or missing losses; they are left out, not clipped.
        frame = frame[np.isfinite(frame["value"]) & (frame["value"] > 0)]
    frame = pd.concat([thin(group, HISTORY_POINTS) for _, group in frame.groupby("run", sort=False)]) if len(frame) else frame
    few = len(frame) <= 60  # a single epoch is a point: a line needs two
    chart = alt.Chart(frame, description=name).mark_line(
        strokeWidth=2, point=alt.OverlayMarkDef(size=30, filled=True) if few else False, clip=True
    ).encode(
        x=alt.X("epoch:Q", title="epoch", axis=_epoch_axis(frame["epoch"])),
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log") if log else alt.Scale(zero=False)),
        color=_colour("run", palette, legend=legend and alt.Legend(title=None, orient="bottom")),
        tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("epoch:Q", title="epoch", format="d"),
                 _number("value", y_title.split(" (")[0])],
    ).properties(width="container", height=240, title=_title(title, subtitle))
    return chart.interactive(name=f"zoom_{name}")


def history_charts(history: Mapping[str, Any], metric: str) -> tuple[alt.Chart, alt.Chart]:
    """The loss (log scale) and the metric over epochs: two charts, each as wide as its column; fine with 0 or 1 epochs."""
    palette = {"run": FIT_ORANGE}
    loss = _history_frame(history, "loss").assign(run="run")
    held = _history_frame(history, "test_loss") if "test_loss" in history else None
    with_test = held is not None and held["value"].notna().any()
    if with_test:  # the held-out points' loss beside the training loss, as the Playground shows both
        palette = {"training": FIT_ORANGE, "test": COMPARE_BLUE}
        loss = pd.concat([loss.assign(run="training"), held.assign(run="test")], ignore_index=True)
    values = _history_frame(history, metric).assign(run="run")
    metric_title = METRIC_TITLES.get(metric, metric.replace("_", " "))
    epochs = max(len(_history_frame(history, "loss")), len(values))
    count = f"{epochs:,} epoch{'s' if epochs != 1 else ''}"
    last = lambda frame: f" · last {frame['value'].iloc[-1]:.4g}" if len(frame) and np.isfinite(frame["value"].iloc[-1]) else ""
    return (
        _curve_panel(loss, "loss (log scale)", log=True, palette=palette, title="Loss", name="loss", legend=with_test,
                     subtitle=count + (f" · training{last(loss[loss['run'] == 'training'])[2:]} · test{last(held)[2:]}" if with_test
                                       else last(loss))),
        _curve_panel(values, metric_title, log=False, palette={"run": FIT_ORANGE}, title=metric.replace("_", " ").capitalize(),
                     name="metric", subtitle=count + last(values)),
    )


# ---------------------------------------------------------------------------------------------
# Weights and units


def weights_chart(r: RunResult, max_lines: int = 64) -> alt.Chart:
    """Every weight and bias over the recorded epochs, one line each, coloured by layer."""
    max_lines = max(1, int(max_lines))
    epochs = np.asarray(r.weight_epochs, dtype=np.int64)
    names, layers, kinds, columns = [], [], [], []
    for name, history in zip(r.weight_names, r.weight_history):
        history = np.asarray(history, dtype=np.float64)
        flat = history.reshape(len(history), -1)
        layer, _, kind = name.partition("/")
        shape = history.shape[1:]
        for j, index in enumerate(np.ndindex(*shape)):
            names.append(f"{name}[{','.join(str(i) for i in index)}]" if shape else name)
            layers.append(layer)
            kinds.append(kind or "weight")
            columns.append(flat[:, j])
    total = len(names)
    if total == 0 or len(epochs) == 0:
        return _message("No weights were recorded for this run.")
    values = np.column_stack(columns)
    chosen = np.arange(total)
    if total > max_lines:
        final = np.nan_to_num(np.abs(values[-1]), nan=-1.0)
        chosen = np.sort(np.argsort(-final, kind="stable")[:max_lines])
    keep = thin(pd.DataFrame({"row": np.arange(len(epochs))}), WEIGHT_EPOCHS)["row"].to_numpy()
    # Wide rows folded in the browser: 64 lines x 400 epochs would be 25,600 long rows, far past
    # Altair's row limit, while the wide table has one row per epoch. Plain keys avoid Vega
    # reading the brackets in "kernel[0,3]" as nested field access.
    keys = [f"w{i}" for i in chosen]
    wide = pd.DataFrame(_finite(values[np.ix_(keep, chosen)]).reshape(len(keep), len(chosen)), columns=keys)
    wide.insert(0, "epoch", epochs[keep])
    lookup = pd.DataFrame({
        "key": keys,
        "weight": [names[i] for i in chosen],
        "layer": [layers[i] for i in chosen],
        "kind": [kinds[i] for i in chosen],
    })
    kind_domain = list(dict.fromkeys(lookup["kind"]))
    dashes = [[1, 0], [4, 3], [1, 2], [8, 2, 2, 2]]
    subtitle = (f"showing {len(chosen)} of {total} weights and biases: the largest by final |value|"
                if total > max_lines else f"{total} weights and biases")
    return alt.Chart(wide, description="weights").transform_fold(keys, as_=["key", "value"]).transform_lookup(
        lookup="key", from_=alt.LookupData(lookup, "key", ["weight", "layer", "kind"])
    ).mark_line(strokeWidth=1.3, clip=True, point=len(keep) < 2).encode(  # one epoch: a point, no line
        x=alt.X("epoch:Q", title="epoch", axis=_epoch_axis(wide["epoch"])),
        y=alt.Y("value:Q", title="weight value (scaled units of the network)"),
        color=alt.Color("layer:N", title="layer", scale=alt.Scale(scheme="dark2"), legend=alt.Legend(orient="right")),
        strokeDash=alt.StrokeDash("kind:N", title="kind", scale=alt.Scale(domain=kind_domain, range=dashes[: len(kind_domain)] or [[1, 0]]),
                                  legend=alt.Legend(orient="right")),
        detail="weight:N",
        tooltip=[alt.Tooltip("weight:N", title="weight"), alt.Tooltip("epoch:Q", title="epoch", format="d"),
                 _number("value", "value")],
    ).properties(width="container", height=HEIGHT, title=_title("Weights over training", [_run_label(r), subtitle])).interactive()


def units_chart(r: RunResult, coloured: int = COLOURED_UNITS) -> alt.LayerChart | alt.Chart:
    """Each last-hidden-layer unit's contribution to the output over x, with the data range shaded and ReLU kinks.

    Readable from 1 to 128 units: the `coloured` units that add the most over the data range (by peak
    |contribution| there) get a colour and a legend entry; the others are drawn faint grey as one
    legend entry, so the plot keeps its width however many units there are.
    """
    readout_units = r.readout.units
    contributions = readout_units.contributions if readout_units else None
    if readout_units is not None and contributions is None and r.spec.model.output_units > 1:
        return _message(f"{r.spec.model.output_units} outputs, one per class: each hidden unit feeds every class's score, so "
                        "there is no single curve per unit to add up; the Weights tab shows the output layer's weights.")
    if contributions is None or not np.size(contributions.units):
        return _message("No hidden layer: the output is computed from x directly, so there are no units to show.")
    x = _finite(contributions.x)
    units = np.asarray(contributions.units, dtype=np.float64).reshape(-1, len(x))
    count = len(units)
    x_min, x_max = float(r.spec.data.x_min), float(r.spec.data.x_max)
    inside = (x >= x_min) & (x <= x_max)
    values = np.where(np.isfinite(units), units, np.nan)[:, inside if inside.any() else slice(None)]
    with np.errstate(all="ignore"):
        peak = np.nan_to_num(np.nanmax(np.abs(values), axis=1), nan=-1.0) if values.size else np.zeros(count)
    order = np.argsort(-peak, kind="stable")
    top = np.sort(order[: max(1, int(coloured))])
    rest = np.sort(order[max(1, int(coloured)):])
    top_names = [f"unit {i + 1}" for i in top]
    rest_names = [f"unit {i + 1}" for i in rest]
    others = f"the other {len(rest)} units" if len(rest) != 1 else "the other unit"
    wide = pd.DataFrame({"x": x, **{f"unit {i + 1}": _finite(units[i]) for i in range(count)}})
    wide = thin(wide, MAX_POINTS if count <= coloured else UNIT_POINTS)
    additive = bool(contributions.additive)
    offset = float(contributions.offset)
    y_title = "contribution to y (y units)" if additive else "contribution (pre-activation)"

    shade = alt.Chart(pd.DataFrame({"x_min": [x_min], "x_max": [x_max], "what": ["data range"]}), description="data range").mark_rect(
        color=RANGE_SHADE, opacity=0.6
    ).encode(x=alt.X("x_min:Q", title="x"), x2="x_max:Q", tooltip=[alt.Tooltip("what:N", title="shaded"),
                                                                   _number("x_min", "from"), _number("x_max", "to")])
    palette = dict(zip(top_names, UNIT_COLOURS * (len(top_names) // len(UNIT_COLOURS) + 1)))
    if rest_names:
        palette[others] = DATA_GREY
    legend = alt.Legend(title=None, orient="bottom", columns=min(len(palette), 5), symbolType="stroke", labelLimit=160)
    tooltip = [alt.Tooltip("unit:N", title="unit"), _number("x", "x"), _number("contribution", "contribution")]
    lines = alt.Chart(wide, description="units").transform_fold(top_names, as_=["unit", "contribution"]).mark_line(
        strokeWidth=2, clip=True
    ).encode(
        x=alt.X("x:Q", title="x"),
        y=alt.Y("contribution:Q", title=y_title),
        color=alt.Color("unit:N", scale=alt.Scale(domain=list(palette), range=list(palette.values())), legend=legend),
        tooltip=tooltip,
    )
    layers: list[alt.Chart] = [shade]
    if rest_names:
        layers.append(alt.Chart(wide, description="other units").transform_fold(rest_names, as_=["unit", "contribution"])
                      .transform_calculate(group=f"'{others}'").mark_line(strokeWidth=1, opacity=0.35, clip=True).encode(
            x=alt.X("x:Q", title="x"),
            y=alt.Y("contribution:Q", title=y_title),
            color=alt.Color("group:N", scale=alt.Scale(domain=list(palette), range=list(palette.values())), legend=legend),
            detail="unit:N",
            tooltip=tooltip,
        ))
    layers.append(lines)
    deep = len(readout_units.layers) > 1
    subtitle = [_run_label(r) + ((" · lines: the last hidden layer" + ("; kinks: the first" if readout_units.kinks else ""))
                                 if deep else "")]
    if rest_names:
        subtitle.append(f"coloured: the {len(top_names)} units that add the most over the data range (peak |contribution|); "
                        f"grey: {others}")
    subtitle.append(f"fit = sum of the contributions + offset {offset:.4g}" if additive
                    else f"the output activation is applied to the sum of the contributions + offset {offset:.4g}")

    domain = None
    kinks = readout_units.kinks
    if kinks:
        in_range = readout_units.kink_in_range or [v is not None and x_min < v < x_max for v in kinks]
        rows = [(float(v), f"unit {i + 1}", "inside the data range" if inside_ else "outside the data range")
                for i, (v, inside_) in enumerate(zip(kinks, in_range)) if v is not None and math.isfinite(v)]
        if rows:
            frame = pd.DataFrame(rows, columns=["x", "unit", "where"])
            where = ["inside the data range", "outside the data range"]
            layers.append(alt.Chart(frame, description="kinks").mark_rule(
                color=RULE_GREY, strokeWidth=1.2, opacity=1.0 if len(rows) <= coloured else 0.5, clip=True
            ).encode(
                x="x:Q",
                strokeDash=alt.StrokeDash("where:N", title="ReLU kink", scale=alt.Scale(domain=where, range=[[1, 0], [2, 3]]),
                                          legend=alt.Legend(orient="bottom", title="ReLU kink")),
                tooltip=[alt.Tooltip("unit:N", title="first-layer unit"), _number("x", "kink at x"), alt.Tooltip("where:N", title="lies")],
            ))
            domain, beyond = _boundary_view(x_min, x_max, frame["x"].tolist())
            if beyond:
                subtitle.append(f"{beyond} kink(s) lie further outside the data range: pan to see them")
    if domain:
        layers[1] = layers[1].encode(x=alt.X("x:Q", title="x", scale=alt.Scale(domain=domain, nice=False)))
    return alt.layer(*layers).properties(  # taller: the legends below the plot count in the height
        width="container", height=HEIGHT + 40 + 20 * math.ceil(len(palette) / 5), title=_title("What each hidden unit adds", subtitle)
    ).interactive()


# ---------------------------------------------------------------------------------------------
# Replay and comparison


def replay_chart(r: RunResult, index: int) -> alt.LayerChart:
    """The fit recorded at one epoch (r.replay_epochs[index], clamped) against the target and the data."""
    recorded = len(r.replay_epochs)
    if recorded == 0:
        return fit_chart(r, title="No epochs recorded: the final fit")
    index = min(max(int(index), 0), recorded - 1)
    epoch = int(r.replay_epochs[index])
    prediction = np.asarray(r.replay_predictions[index], dtype=np.float64)
    subtitle = [_run_label(r), f"recorded state {index + 1} of {recorded}"]
    if r.task == "classification":
        layers = _classification_layers(r, r.replay_x, prediction, fit_name(r))
        layers = layers[:3]  # the 0.5 crossings in the readout belong to the final fit only
        y_scale = class_y_scale(r)
    else:
        palette = {"training data": DATA_GREY, target_label(r): TARGET_BLACK, "fit": FIT_ORANGE}
        layers = [
            _training_data(r, palette),
            _line(r.grid_x, r.grid_target, target_label(r), palette, dash=TARGET_DASH, width=1.5),
            _line(r.replay_x, prediction, "fit", palette, width=2.5),
        ]
        y_scale = alt.Scale(domain=_replay_y_domain(r), nice=False)
    # One y domain for every epoch, so a slider moves the curve and not the axes.
    layers[0] = layers[0].encode(y=alt.Y("y:Q", title=_y_title(r), scale=y_scale))
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=_title(f"Fit at epoch {epoch}", subtitle)
    ).interactive()


def _replay_y_domain(r: RunResult) -> list[float]:
    base = np.concatenate([_finite(r.y), _finite(r.grid_target)])
    lo, hi = float(np.nanmin(base)), float(np.nanmax(base))
    span = (hi - lo) or 1.0
    fits = _finite(r.replay_predictions)
    if np.isfinite(fits).any():
        # A wild early epoch may widen the view, but only so far: the data must stay readable.
        lo = max(min(lo, float(np.nanmin(fits))), lo - 2 * span)
        hi = min(max(hi, float(np.nanmax(fits))), hi + 2 * span)
    pad = 0.05 * ((hi - lo) or 1.0)
    return [lo - pad, hi + pad]


def compare_charts(a: RunResult, b: RunResult, label_a: str = "A", label_b: str = "B") -> tuple[alt.LayerChart, alt.Chart]:
    """Two runs' fits over the data and target of the first, and both loss curves: two charts, each as wide as its column."""
    if label_b == label_a:
        label_b = f"{label_b} (2)"
    fit_a, fit_b = f"fit {label_a}", f"fit {label_b}"
    if a.task == "classification":
        palette = {**class_colours(a), fit_a: FIT_ORANGE, fit_b: COMPARE_BLUE}
        layers = [
            _class_points(a, palette),
            _line(a.grid_x, a.grid_prediction, fit_a, palette, width=2.5, y_title=_y_title(a)),
            _line(b.grid_x, b.grid_prediction, fit_b, palette, width=2.0, y_title=_y_title(a)),
            _horizontal_rule(0.5, "decision level 0.5", description="decision level"),
        ]
    else:
        palette = {"training data": DATA_GREY, target_label(a): TARGET_BLACK, fit_a: FIT_ORANGE, fit_b: COMPARE_BLUE}
        layers = [
            _training_data(a, palette),
            _line(a.grid_x, a.grid_target, target_label(a), palette, dash=TARGET_DASH, width=1.5),
            _line(a.grid_x, a.grid_prediction, fit_a, palette, width=2.5),
            _line(b.grid_x, b.grid_prediction, fit_b, palette, width=2.0),
        ]
    subtitle = [f"{label_a}: {_run_label(a)}, {a.epochs_run} epochs · {label_b}: {_run_label(b)}, {b.epochs_run} epochs"]
    fits = alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=_title(f"Fits: {label_a} against {label_b}", subtitle)).interactive()
    return fits, compare_loss_chart(a, b, label_a, label_b)


def compare_loss_chart(a: RunResult, b: RunResult, label_a: str = "A", label_b: str = "B") -> alt.Chart:
    """Both runs' loss curves on one log scale."""
    if label_b == label_a:
        label_b = f"{label_b} (2)"
    loss = pd.concat([
        _history_frame(a.history, "loss").assign(run=label_a),
        _history_frame(b.history, "loss").assign(run=label_b),
    ], ignore_index=True)
    note = None
    if a.spec.train.loss != b.spec.train.loss:
        note = f"different losses ({a.spec.train.loss} vs {b.spec.train.loss}): compare the shapes, not the levels"
    return _curve_panel(loss, "loss (log scale)", log=True, palette={label_a: FIT_ORANGE, label_b: COMPARE_BLUE},
                        title=f"Loss: {label_a} against {label_b}", name="loss", legend=True, subtitle=note)


# ---------------------------------------------------------------------------------------------
# Scenario views


def coefficients_chart(trajectory: pd.DataFrame, target=None) -> alt.LayerChart:
    """The parabola's learned coefficients A, B, C over epochs, with dashed rules at the target values."""
    names = [c for c in COEFFICIENT_COLOURS if c in trajectory.columns]
    frame = thin(trajectory[["epoch", *names]].reset_index(drop=True), MAX_POINTS // max(len(names), 1))
    long = frame.melt(id_vars="epoch", value_vars=names, var_name="coefficient", value_name="value")
    long["value"] = _finite(long["value"])
    palette = {name: COEFFICIENT_COLOURS[name] for name in names}
    lines = alt.Chart(long, description="coefficients").mark_line(strokeWidth=2, clip=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=_epoch_axis(frame["epoch"])),
        y=alt.Y("value:Q", title="coefficient (original units)"),
        color=_colour("coefficient", palette, title="coefficient"),
        tooltip=[alt.Tooltip("coefficient:N", title="coefficient"), alt.Tooltip("epoch:Q", title="epoch", format="d"),
                 _number("value", "value")],
    )
    layers = [lines]
    goal = dict(zip("ABC", target)) if target is not None and not isinstance(target, Mapping) else dict(target or {})
    goal = {k: float(v) for k, v in goal.items() if k in palette and v is not None}
    if goal:
        rules = pd.DataFrame({"coefficient": list(goal), "value": list(goal.values()), "what": "target"})
        layers.append(alt.Chart(rules, description="targets").mark_rule(strokeDash=TARGET_DASH, strokeWidth=1.3).encode(
            y="value:Q",
            color=_colour("coefficient", palette, title="coefficient"),
            tooltip=[alt.Tooltip("what:N", title="rule"), alt.Tooltip("coefficient:N", title="coefficient"),
                     _number("value", "value")],
        ))
    subtitle = "dashed: the target " + ", ".join(f"{k} = {v:g}" for k, v in goal.items()) if goal else None
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=_title("Learned A x² + B x + C over epochs", subtitle)
    ).interactive()


def segments_chart(r: RunResult) -> alt.LayerChart:
    """The classifier view: the labelled strip, the predicted probability, each first-layer unit's
    threshold and where the probability crosses 0.5."""
    if r.task != "classification":
        return fit_chart(r)
    strip_y = -0.12
    palette = {**CLASS_COLOURS, "predicted probability": FIT_ORANGE}
    y_scale = alt.Scale(domain=[-0.2, 1.12], nice=False)
    y_axis = alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".2~f")
    strip = _class_points(r, palette, y_value=strip_y).encode(
        y=alt.Y("y:Q", title="predicted probability of class 1", scale=y_scale, axis=y_axis)
    )
    layers: list[alt.Chart] = [
        strip,
        _line(r.grid_x, r.grid_prediction, "predicted probability", palette, width=2.5,
              y_title="predicted probability of class 1"),
        _horizontal_rule(0.5, "decision level 0.5", description="decision level"),
    ]
    x_min, x_max = float(r.spec.data.x_min), float(r.spec.data.x_max)
    thresholds = [(i, float(v)) for i, v in enumerate((r.readout.units.thresholds if r.readout.units else None) or ())
                  if v is not None and math.isfinite(v)]
    subtitle = [_run_label(r) + " · bottom strip: the training samples by class"]
    domain = None
    if thresholds:
        # Labels at alternating heights, so two thresholds close together stay readable.
        frame = pd.DataFrame({"x": [v for _, v in thresholds], "unit": [f"unit {i + 1}" for i, _ in thresholds],
                              "y": [1.06 if k % 2 == 0 else 0.96 for k in range(len(thresholds))]})
        tooltip = [alt.Tooltip("unit:N", title="threshold of"), _number("x", "x")]
        layers.append(_vertical_rules(frame, tooltip, dash=(5, 3), description="thresholds"))
        layers.append(alt.Chart(frame, description="threshold labels").mark_text(
            dy=-2, fontSize=11, color=RULE_GREY, clip=True
        ).encode(x="x:Q", y="y:Q", text="unit:N", tooltip=tooltip))
        domain, beyond = _boundary_view(x_min, x_max, frame["x"].tolist())
        if beyond:
            subtitle.append(f"{beyond} threshold(s) lie further outside the data range: pan to see them")
    crossings = [float(c) for c in (r.readout.classifier.crossings if r.readout.classifier else ()) if c is not None]
    if crossings:
        frame = pd.DataFrame({"x": crossings, "y": 0.5, "what": "probability crosses 0.5"})
        layers.append(alt.Chart(frame, description="crossings").mark_point(
            shape="diamond", size=140, filled=True, color=FIT_ORANGE, stroke=TARGET_BLACK, strokeWidth=1, opacity=1, clip=True
        ).encode(x="x:Q", y="y:Q", tooltip=[alt.Tooltip("what:N", title="point"), _number("x", "x")]))
    subtitle.append(f"{len(crossings)} crossing(s) of 0.5" + (": " + ", ".join(f"x = {c:.3g}" for c in crossings) if crossings else ""))
    if domain:
        layers[0] = layers[0].encode(x=alt.X("x:Q", title="x", scale=alt.Scale(domain=domain, nice=False)))
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=_title("Thresholds and the 0.5 crossings", subtitle)
    ).interactive()


def mini_chart(r: RunResult, height: int = 140) -> alt.LayerChart:
    """A small, axis-light fit for a card: the data, the target (regression) and the fit."""
    axis = {"axis": alt.Axis(title=None, grid=False, labelFontSize=9, tickCount=3)}
    if r.task == "classification":
        palette = {**CLASS_COLOURS, "predicted probability": FIT_ORANGE}
        layers = [
            _class_points(r, palette, MINI_POINTS, legend=False, axis=axis),
            _line(r.grid_x, r.grid_prediction, "predicted probability", palette, width=2, legend=False, axis=axis),
        ]
    else:
        palette = {"training data": DATA_GREY, target_label(r): TARGET_BLACK, "fit": FIT_ORANGE}
        layers = [
            _training_data(r, palette, MINI_POINTS, legend=False, axis=axis),
            _line(r.grid_x, r.grid_target, target_label(r), palette, dash=TARGET_DASH, width=1, legend=False, axis=axis),
            _line(r.grid_x, r.grid_prediction, "fit", palette, width=2, legend=False, axis=axis),
        ]
    return alt.layer(*layers).properties(width="container", height=height)


# ---------------------------------------------------------------------------------------------
# Restarts: many seeds of one setup

RESTART_LINES = 64  # faint loss curves drawn at most; the median always covers every seed
RESTART_EPOCHS = 60  # points per faint curve


def restarts_loss_chart(losses: np.ndarray, seeds: Sequence[int], label: str = "") -> alt.LayerChart:
    """Every seed's loss per epoch, faint, with the median over the seeds drawn bold (log scale)."""
    losses = np.asarray(losses, dtype=float).reshape(len(losses), -1)
    epochs_total, members = losses.shape
    rows = np.unique(np.linspace(0, max(epochs_total - 1, 0), min(RESTART_EPOCHS, max(epochs_total, 1))).astype(int))
    shown = list(range(min(members, RESTART_LINES)))
    frame = pd.DataFrame([
        {"epoch": int(r) + 1, "seed": int(seeds[m]), "loss": losses[r, m]}
        for m in shown for r in rows if epochs_total and np.isfinite(losses[r, m]) and losses[r, m] > 0
    ], columns=["epoch", "seed", "loss"])
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(losses > 0, losses, np.nan), axis=1) if epochs_total else np.empty(0)
    keep = np.arange(epochs_total)[np.isfinite(median)]
    median_frame = thin(pd.DataFrame({"epoch": keep + 1, "loss": median[keep]}), HISTORY_POINTS)
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(format="d", tickMinStep=1))
    y = alt.Y("loss:Q", title="loss (log scale)", scale=alt.Scale(type="log"))
    faint = alt.Chart(frame).mark_line(strokeWidth=1, opacity=0.25, color=DATA_GREY).encode(
        x=x, y=y, detail="seed:N",
        tooltip=[alt.Tooltip("seed:N", title="seed"), alt.Tooltip("epoch:Q", format="d"), _number("loss", "loss")],
    )
    bold = alt.Chart(median_frame).mark_line(strokeWidth=3, color=FIT_ORANGE).encode(
        x=x, y=y, tooltip=[alt.Tooltip("epoch:Q", format="d"), _number("loss", "median loss")],
    )
    note = f"{members} seeds" + (f" (faint: the first {len(shown)})" if members > len(shown) else "") + "; bold: the median"
    return alt.layer(faint, bold).properties(
        width="container", height=260, title=_title(f"Loss of every seed {label}".strip(), note),
    ).interactive()


def restarts_histogram(values: Sequence[float], metric: str, threshold: float | None = None, success_below: bool = True,
                       label: str = "") -> alt.LayerChart:
    """How the seeds' final metric is distributed, with the success threshold as a labelled rule."""
    given = len(values)
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    title = METRIC_TITLES.get(metric, metric.replace("_", " "))
    frame = pd.DataFrame({"value": values})
    if metric == "accuracy":  # accuracy lives on [0, 1]: fixed bins keep identical values from collapsing the axis
        binning = alt.Bin(extent=[0, 1], step=0.025)
    else:  # the bins span the threshold too, so the bars are not hairlines beside a far-off rule
        span = [float(v) for v in values] + ([float(threshold)] if threshold is not None else [])
        lo, hi = (min(span), max(span)) if span else (0.0, 1.0)
        binning = alt.Bin(maxbins=30, extent=[lo, hi if hi > lo else lo + 1.0])
    bars = alt.Chart(frame).mark_bar(color=FIT_ORANGE, opacity=0.8).encode(
        x=alt.X("value:Q", bin=binning, title=f"final {title}"),
        y=alt.Y("count():Q", title="seeds", axis=alt.Axis(tickMinStep=1, format="d")),
        tooltip=[alt.Tooltip("value:Q", bin=binning, title=f"final {title}"), alt.Tooltip("count():Q", title="seeds")],
    )
    layers = [bars]
    if threshold is not None:
        side = "at most" if success_below else "at least"
        rule = pd.DataFrame({"x": [threshold], "what": [f"success: {side} {threshold:g}"]})
        layers.append(alt.Chart(rule).mark_rule(color=TARGET_BLACK, strokeDash=TARGET_DASH, strokeWidth=2).encode(
            x="x:Q", tooltip=[alt.Tooltip("what:N", title="threshold")]))
        layers.append(alt.Chart(rule).mark_text(align="right" if success_below else "left", dx=-4 if success_below else 4,
                                                baseline="top", y=4, color=TARGET_BLACK, fontSize=11).encode(
            x="x:Q", text="what:N", tooltip=[alt.Tooltip("what:N", title="threshold")]))
    dropped = given - len(values)
    note = f"{len(values)} seeds" + (f" ({dropped} diverged and are left out)" if dropped else "")
    return alt.layer(*layers).properties(
        width="container", height=220, title=_title(f"Final {title} over the seeds {label}".strip(), note),
    )


def success_rates_chart(rows: Sequence[Mapping[str, Any]]) -> alt.LayerChart:
    """Success rates with their 95% intervals, one bar per setup (e.g. as asked and as answered)."""
    frame = pd.DataFrame([{"setup": r["label"], "rate": r["rate"], "low": r["low"], "high": r["high"],
                           "text": f"{r['successes']}/{r['seeds']}"} for r in rows])
    base = alt.Chart(frame).encode(y=alt.Y("setup:N", title=None, sort=None, scale=alt.Scale(paddingInner=0.35, paddingOuter=0.3)))
    bars = base.mark_bar(color=FIT_ORANGE, opacity=0.85).encode(
        x=alt.X("rate:Q", title="success rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("setup:N"), alt.Tooltip("text:N", title="succeeded"), alt.Tooltip("rate:Q", format=".0%"),
                 alt.Tooltip("low:Q", format=".0%", title="95% low"), alt.Tooltip("high:Q", format=".0%", title="95% high")],
    )
    whiskers = base.mark_rule(color=TARGET_BLACK, strokeWidth=2).encode(x="low:Q", x2="high:Q", tooltip=bars.encoding.tooltip)
    # A dot at the rate itself: a rate of 0% has no bar to see, and one setup alone must still show its rate.
    dots = base.mark_point(shape="diamond", size=90, filled=True, color=FIT_ORANGE, stroke=TARGET_BLACK, strokeWidth=1,
                           opacity=1).encode(x="rate:Q", tooltip=bars.encoding.tooltip)
    labels = base.mark_text(align="left", dx=8, color=TARGET_BLACK).encode(x="high:Q", text="text:N", tooltip=bars.encoding.tooltip)
    return alt.layer(bars, whiskers, dots, labels).properties(
        width="container", height={"step": 40},
        title=_title("Success rate", "bars and diamonds: share of seeds that succeeded; lines: 95% Wilson interval"),
    )


FIX_COLOURS = {"as it is": DATA_GREY, "posted fix": COMPARE_BLUE, "candidate": FIT_ORANGE, "best": "#2b8a3e"}


def fixes_chart(rows: Sequence[Mapping[str, Any]], target: float | None = None) -> alt.LayerChart:
    """The doctor's measured setups: success rate and 95% interval per setup, coloured by kind (as it is, posted fix, candidate, best).

    Each setup's name is written above its bar, inside the plot, so the chart reads the same in a
    narrow column as in a wide one (an axis of long labels would squeeze the plot away).
    """
    frame = pd.DataFrame([{"setup": r["label"], "kind": r["kind"], "rate": r["rate"], "low": r["low"], "high": r["high"],
                           "text": f"{r['successes']}/{r['seeds']}", "changes": r.get("changes", ""), "zero": 0.0}
                          for r in rows])
    kinds = [k for k in FIX_COLOURS if k in set(frame["kind"])]
    y = alt.Y("setup:N", title=None, sort=None, axis=None, scale=alt.Scale(paddingInner=0.55, paddingOuter=0.4))
    base = alt.Chart(frame).encode(y=y)
    tooltip = [alt.Tooltip("setup:N"), alt.Tooltip("changes:N"), alt.Tooltip("text:N", title="succeeded"),
               alt.Tooltip("rate:Q", format=".0%"), alt.Tooltip("low:Q", format=".0%", title="95% low"),
               alt.Tooltip("high:Q", format=".0%", title="95% high")]
    bars = base.mark_bar(opacity=0.85).encode(
        x=alt.X("rate:Q", title="success rate over the same seeds", scale=alt.Scale(domain=[0, 1.12], clamp=True),
                axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1.0])),
        color=alt.Color("kind:N", scale=alt.Scale(domain=kinds, range=[FIX_COLOURS[k] for k in kinds]),
                        legend=alt.Legend(title=None, orient="bottom", columns=2)),
        tooltip=tooltip,
    )
    whiskers = base.mark_rule(color=TARGET_BLACK, strokeWidth=2).encode(x="low:Q", x2="high:Q", tooltip=tooltip)
    counts = base.mark_text(align="left", dx=5, color=TARGET_BLACK, fontSize=11).encode(x="high:Q", text="text:N")
    names = base.mark_text(align="left", baseline="bottom", dy=-9, color=TARGET_BLACK, fontSize=11, limit=600).encode(
        x="zero:Q", text="setup:N")
    layers = [bars, whiskers, counts, names]
    if target is not None:
        layers.append(alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(color=RULE_GREY, strokeDash=[4, 3]).encode(x="target:Q"))
    return alt.layer(*layers).properties(
        width="container", height={"step": 34},
        title=_title("What the doctor measured", "bars: share of the seeds that succeeded; lines: 95% Wilson interval; "
                                                 "dashed: the goal"),
    )
