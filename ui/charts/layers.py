"""The layers the 1-D views are drawn from: the training data, lines, class points, rules, and the class helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.outcomes.results import RunResult
from ui.charts.common import (
    MAX_POINTS,
    RULE_GREY,
    TEST_GREY,
    UNIT_COLOURS,
    colour_by,
    finite,
    number_tooltip,
    thin,
)

CLASS_COLOURS = {"class 0": "#adb5bd", "class 1": "#343a40"}
CLASS_Y_SCALE = alt.Scale(domain=[-0.05, 1.05], nice=False)  # room for the points at 0 and 1
X_SCALE = alt.Scale(zero=False)  # the data range, not 0 to it: a file's x may run from 10,000 to 60,000
# Boundaries far outside the data range would squash the plot, so the view reaches only this
# share of the data span beyond each end; the rest stay reachable by panning.
BOUNDARY_MARGIN = 0.25


def target_label(r) -> str:
    """What the dashed line is: the clean target of a drawn function, or the binned means of a data file's training points."""
    return "data trend (binned)" if r.spec.data.function == "file" else "clean target"


def fit_axis_title(r: RunResult) -> str:
    if r.task != "classification":
        return "y"
    return "class / predicted class" if one_output_per_class(r) else "class / predicted probability of class 1"


def one_output_per_class(r: RunResult) -> bool:
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


def class_labels(r: RunResult, y) -> np.ndarray:
    y = np.asarray(y, float).ravel()
    return (y > 0.5).astype(int) if class_count(r) == 2 else np.rint(y).astype(int)


def fit_name(r: RunResult) -> str:
    return "predicted class" if one_output_per_class(r) else "predicted probability"


def line_layer(x, y, series: str, palette: Mapping[str, str], *, dash: Sequence[int] | None = None,
               width: float = 2.0, y_title: str = "y", legend: bool = True, axis: dict | None = None) -> alt.Chart:
    frame = pd.DataFrame({"x": finite(x), "y": finite(y), "series": series})
    axis = axis or {}
    return alt.Chart(frame, description=series).mark_line(
        strokeWidth=width, strokeDash=list(dash) if dash else alt.Undefined, clip=True
    ).encode(
        x=alt.X("x:Q", title="x", scale=X_SCALE, **axis),
        y=alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False), **axis),
        color=colour_by("series", palette, legend=legend),
        tooltip=[alt.Tooltip("series:N", title="curve"), number_tooltip("x", "x"), number_tooltip("y", "y")],
    )


def training_data_layer(r: RunResult, palette: Mapping[str, str], max_rows: int = MAX_POINTS,
                        legend: bool = True, axis: dict | None = None) -> alt.Chart:
    """The training data: points where they are scattered, a thin line where they are a clean grid."""
    series = "training data"
    frame = pd.DataFrame({"x": finite(r.x), "y": finite(r.y), "series": series})
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
        color=colour_by("series", palette, legend=legend),
        tooltip=[alt.Tooltip("series:N", title="points"), number_tooltip("x", "x"), number_tooltip("y", "y")],
    )


def class_points_layer(r: RunResult, palette: Mapping[str, str], max_rows: int = MAX_POINTS, y_value: float | None = None,
                       legend: bool = True, axis: dict | None = None) -> alt.Chart:
    """The labelled samples, at y = their class (or on one strip at `y_value`), coloured by class."""
    labels = class_labels(r, r.y)
    frame = pd.DataFrame({
        "x": finite(r.x),
        "y": labels.astype(float) if y_value is None else np.full(len(labels), float(y_value)),
        "label": labels,
        "class": [f"class {v}" for v in labels],
    })
    frame = thin(frame, max_rows)
    axis = axis or {}
    return alt.Chart(frame, description="training data").mark_point(size=18, filled=True, opacity=0.7, clip=True).encode(
        x=alt.X("x:Q", title="x", scale=X_SCALE, **axis),
        y=alt.Y("y:Q", title=fit_axis_title(r), scale=class_y_scale(r), **axis),
        color=colour_by("class", palette, legend=legend),
        shape=alt.Shape("class:N", scale=alt.Scale(domain=list(class_colours(r)), range=["circle", "square", "triangle-up", "diamond",
                                                                                         "cross", "triangle-down"]), legend=None),
        tooltip=[alt.Tooltip("class:N", title="class"), number_tooltip("x", "x")],
    )


def class_test_points_layer(r: RunResult) -> list[alt.Chart]:
    """Held-out samples of a classification: hollow diamonds at their class, with the model's probability in the tooltip."""
    if r.x_test is None or r.test_prediction is None:
        return []
    labels = class_labels(r, r.y_test)
    frame = thin(pd.DataFrame({"x": finite(r.x_test), "y": labels.astype(float), "answer": finite(r.test_prediction),
                               "series": "test data"}))
    return [alt.Chart(frame, description="test data").mark_point(shape="diamond", size=40, filled=False, strokeWidth=1.2,
                                                                   color=TEST_GREY, clip=True).encode(
        x="x:Q", y="y:Q", tooltip=[alt.Tooltip("series:N", title="points"), number_tooltip("x", "x"), number_tooltip("y", "class"),
                                   number_tooltip("answer", fit_name(r))])]


def vertical_rules(frame: pd.DataFrame, tooltip: list, *, colour: str = RULE_GREY, dash: Sequence[int] | None = None,
                   description: str, width: float = 1.2) -> alt.Chart:
    return alt.Chart(frame, description=description).mark_rule(
        color=colour, strokeWidth=width, strokeDash=list(dash) if dash else alt.Undefined, clip=True
    ).encode(x="x:Q", tooltip=tooltip)


def horizontal_rule(value: float, what: str, *, colour: str = RULE_GREY, dash: Sequence[int] | None = (4, 4),
                    description: str) -> alt.Chart:
    frame = pd.DataFrame({"y": [float(value)], "what": [what]})
    return alt.Chart(frame, description=description).mark_rule(
        color=colour, strokeWidth=1, strokeDash=list(dash) if dash else alt.Undefined
    ).encode(y="y:Q", tooltip=[alt.Tooltip("what:N", title="line"), number_tooltip("y", "y")])


def boundary_view(x_min: float, x_max: float, values: Sequence[float]) -> tuple[list[float] | None, int]:
    """The x domain showing the data range and nearby boundaries, and how many boundaries lie beyond it."""
    span = (x_max - x_min) or 1.0
    lo, hi = x_min - BOUNDARY_MARGIN * span, x_max + BOUNDARY_MARGIN * span
    outside_range = [v for v in values if not x_min <= v <= x_max]
    if not outside_range:
        return None, 0
    return [lo, hi], sum(1 for v in values if not lo <= v <= hi)
