"""The 1-D views of a run's fit: the fit over the data, its error, the fit at a recorded epoch, two runs compared, the
classifier's thresholds and a small card."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from core.outcomes.results import RunResult
from ui.charts.common import (
    COMPARE_BLUE,
    DATA_GREY,
    FIT_ORANGE,
    HEIGHT,
    RULE_GREY,
    TARGET_BLACK,
    TARGET_DASH,
    TEST_GREY,
    chart_title,
    finite,
    number_tooltip,
    run_label,
    run_subtitle,
    thin,
)
from ui.charts.history import compare_loss_chart
from ui.charts.layers import (
    CLASS_COLOURS,
    boundary_view,
    class_colours,
    class_count,
    class_points_layer,
    class_test_points_layer,
    class_y_scale,
    fit_axis_title,
    fit_name,
    horizontal_rule,
    line_layer,
    one_output_per_class,
    target_label,
    training_data_layer,
    vertical_rules,
)

MINI_POINTS = 800


def fit_chart(r: RunResult, title: str | None = None) -> alt.LayerChart:
    """The training data, the clean target and the final fit (regression), or the data and the
    predicted probability with its 0.5 crossings (classification)."""
    title = title or f"Fit after {r.epochs_run} epochs"
    if r.task == "classification":
        layers = _classification_layers(r, r.grid_x, r.grid_prediction, fit_name(r))
    else:
        palette = {"training data": DATA_GREY, target_label(r): TARGET_BLACK, "fit": FIT_ORANGE}
        layers = [
            training_data_layer(r, palette),
            line_layer(r.grid_x, r.grid_target, target_label(r), palette, dash=TARGET_DASH, width=1.5),
            line_layer(r.grid_x, r.grid_prediction, "fit", palette, width=2.5),
        ]
        if r.x_test is not None:
            layers += _test_layers(r)
    subtitle = run_subtitle(r)
    if r.task != "classification" and r.x_test is not None:  # the legend's symbols are the lines' and circles': say these
        subtitle = [*subtitle, "hollow squares: test points · triangles: the fit's answers on them"]
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=chart_title(title, subtitle)
    ).interactive()


def _test_layers(r: RunResult) -> list[alt.Chart]:
    """The test points (hollow grey squares) and the fit's answers on them (orange triangles), outside the colour legend,
    whose symbols could not show their shapes; the subtitle names them."""
    frame = pd.DataFrame({
        "x": finite(r.x_test), "truth": finite(r.y_test), "answer": finite(r.test_prediction),
    })
    frame = thin(frame)
    tooltip = [number_tooltip("x", "x"), number_tooltip("truth", "test y"), number_tooltip("answer", "answer")]
    points = alt.Chart(frame.assign(series="test data"), description="test data").mark_point(
        shape="square", size=28, filled=False, clip=True
    ).encode(x="x:Q", y="truth:Q", color=alt.value(TEST_GREY), tooltip=tooltip)
    answers = alt.Chart(frame.assign(series="test answers"), description="test answers").mark_point(
        shape="triangle-up", size=34, filled=True, opacity=0.85, clip=True
    ).encode(x="x:Q", y="answer:Q", color=alt.value(FIT_ORANGE), tooltip=tooltip)
    return [points, answers]


def _classification_layers(r: RunResult, x, probability, series: str, colour: str = FIT_ORANGE) -> list[alt.Chart]:
    palette = {**class_colours(r), series: colour}
    crossings = [float(c) for c in (r.readout.classifier.crossings if r.readout.classifier else ()) if c is not None]
    layers = [
        class_points_layer(r, palette),
        line_layer(x, probability, series, palette, width=2.5, y_title=fit_axis_title(r)),
        *([] if one_output_per_class(r) else [horizontal_rule(0.5, "decision level 0.5", description="decision level")]),
        *class_test_points_layer(r),
    ]
    if crossings:
        frame = pd.DataFrame({"x": crossings, "what": "the predicted class changes" if one_output_per_class(r) else "probability crosses 0.5"})
        layers.append(vertical_rules(frame, [alt.Tooltip("what:N", title="rule"), number_tooltip("x", "x")],
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
        "x": finite(r.grid_x),
        "residual": finite(residual),
        "fit": finite(r.grid_prediction),
        "target": finite(r.grid_target),
    })
    line = alt.Chart(frame, description="residual").mark_line(color=FIT_ORANGE, strokeWidth=2, clip=True).encode(
        x=alt.X("x:Q", title="x"),
        y=alt.Y("residual:Q", title=what),
        tooltip=[number_tooltip("x", "x"), number_tooltip("residual", "residual"), number_tooltip("fit", "fit"),
                 number_tooltip("target", clean)],
    )
    zero = horizontal_rule(0.0, "zero error", colour=TARGET_BLACK, dash=None, description="zero error")
    worst = float(np.nanmax(np.abs(frame["residual"]))) if frame["residual"].notna().any() else float("nan")
    return alt.layer(line, zero).properties(
        width="container", height=220,
        title=chart_title("Error of the fit on the fine grid", f"largest |{what.split(' (')[0]}| = {worst:.4g}"),
    ).interactive()


def replay_chart(r: RunResult, index: int) -> alt.LayerChart:
    """The fit recorded at one epoch (r.replay_epochs[index], clamped) against the target and the data."""
    recorded = len(r.replay_epochs)
    if recorded == 0:
        return fit_chart(r, title="No epochs recorded: the final fit")
    index = min(max(int(index), 0), recorded - 1)
    epoch = int(r.replay_epochs[index])
    prediction = np.asarray(r.replay_predictions[index], dtype=np.float64)
    subtitle = [run_label(r), f"recorded state {index + 1} of {recorded}"]
    if r.task == "classification":
        layers = _classification_layers(r, r.replay_x, prediction, fit_name(r))
        layers = layers[:3]  # the 0.5 crossings in the readout belong to the final fit only
        y_scale = class_y_scale(r)
    else:
        palette = {"training data": DATA_GREY, target_label(r): TARGET_BLACK, "fit": FIT_ORANGE}
        layers = [
            training_data_layer(r, palette),
            line_layer(r.grid_x, r.grid_target, target_label(r), palette, dash=TARGET_DASH, width=1.5),
            line_layer(r.replay_x, prediction, "fit", palette, width=2.5),
        ]
        y_scale = alt.Scale(domain=_replay_y_domain(r), nice=False)
    # One y domain for every epoch, so a slider moves the curve and not the axes.
    layers[0] = layers[0].encode(y=alt.Y("y:Q", title=fit_axis_title(r), scale=y_scale))
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=chart_title(f"Fit at epoch {epoch}", subtitle)
    ).interactive()


def _replay_y_domain(r: RunResult) -> list[float]:
    base = np.concatenate([finite(r.y), finite(r.grid_target)])
    lo, hi = float(np.nanmin(base)), float(np.nanmax(base))
    span = (hi - lo) or 1.0
    fits = finite(r.replay_predictions)
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
            class_points_layer(a, palette),
            line_layer(a.grid_x, a.grid_prediction, fit_a, palette, width=2.5, y_title=fit_axis_title(a)),
            line_layer(b.grid_x, b.grid_prediction, fit_b, palette, width=2.0, y_title=fit_axis_title(a)),
            horizontal_rule(0.5, "decision level 0.5", description="decision level"),
        ]
    else:
        palette = {"training data": DATA_GREY, target_label(a): TARGET_BLACK, fit_a: FIT_ORANGE, fit_b: COMPARE_BLUE}
        layers = [
            training_data_layer(a, palette),
            line_layer(a.grid_x, a.grid_target, target_label(a), palette, dash=TARGET_DASH, width=1.5),
            line_layer(a.grid_x, a.grid_prediction, fit_a, palette, width=2.5),
            line_layer(b.grid_x, b.grid_prediction, fit_b, palette, width=2.0),
        ]
    subtitle = [f"{label_a}: {run_label(a)}, {a.epochs_run} epochs · {label_b}: {run_label(b)}, {b.epochs_run} epochs"]
    fits = alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=chart_title(f"Fits: {label_a} against {label_b}", subtitle)).interactive()
    return fits, compare_loss_chart(a, b, label_a, label_b)


def segments_chart(r: RunResult) -> alt.LayerChart:
    """The classifier view: the labelled strip, the predicted probability, each first-layer unit's
    threshold and where the probability crosses 0.5."""
    if r.task != "classification":
        return fit_chart(r)
    strip_y = -0.12
    palette = {**CLASS_COLOURS, "predicted probability": FIT_ORANGE}
    y_scale = alt.Scale(domain=[-0.2, 1.12], nice=False)
    y_axis = alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".2~f")
    strip = class_points_layer(r, palette, y_value=strip_y).encode(
        y=alt.Y("y:Q", title="predicted probability of class 1", scale=y_scale, axis=y_axis)
    )
    layers: list[alt.Chart] = [
        strip,
        line_layer(r.grid_x, r.grid_prediction, "predicted probability", palette, width=2.5,
                   y_title="predicted probability of class 1"),
        horizontal_rule(0.5, "decision level 0.5", description="decision level"),
    ]
    x_min, x_max = float(r.spec.data.x_min), float(r.spec.data.x_max)
    thresholds = [(i, float(v)) for i, v in enumerate((r.readout.units.thresholds if r.readout.units else None) or ())
                  if v is not None and math.isfinite(v)]
    subtitle = [run_label(r) + " · bottom strip: the training samples by class"]
    domain = None
    if thresholds:
        # Labels at alternating heights, so two thresholds close together stay readable.
        frame = pd.DataFrame({"x": [v for _, v in thresholds], "unit": [f"unit {i + 1}" for i, _ in thresholds],
                              "y": [1.06 if k % 2 == 0 else 0.96 for k in range(len(thresholds))]})
        tooltip = [alt.Tooltip("unit:N", title="threshold of"), number_tooltip("x", "x")]
        layers.append(vertical_rules(frame, tooltip, dash=(5, 3), description="thresholds"))
        layers.append(alt.Chart(frame, description="threshold labels").mark_text(
            dy=-2, fontSize=11, color=RULE_GREY, clip=True
        ).encode(x="x:Q", y="y:Q", text="unit:N", tooltip=tooltip))
        domain, beyond = boundary_view(x_min, x_max, frame["x"].tolist())
        if beyond:
            subtitle.append(f"{beyond} threshold(s) lie further outside the data range: pan to see them")
    crossings = [float(c) for c in (r.readout.classifier.crossings if r.readout.classifier else ()) if c is not None]
    if crossings:
        frame = pd.DataFrame({"x": crossings, "y": 0.5, "what": "probability crosses 0.5"})
        layers.append(alt.Chart(frame, description="crossings").mark_point(
            shape="diamond", size=140, filled=True, color=FIT_ORANGE, stroke=TARGET_BLACK, strokeWidth=1, opacity=1, clip=True
        ).encode(x="x:Q", y="y:Q", tooltip=[alt.Tooltip("what:N", title="point"), number_tooltip("x", "x")]))
    subtitle.append(f"{len(crossings)} crossing(s) of 0.5" + (": " + ", ".join(f"x = {c:.3g}" for c in crossings) if crossings else ""))
    if domain:
        layers[0] = layers[0].encode(x=alt.X("x:Q", title="x", scale=alt.Scale(domain=domain, nice=False)))
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=chart_title("Thresholds and the 0.5 crossings", subtitle)
    ).interactive()


def mini_chart(r: RunResult, height: int = 140) -> alt.LayerChart:
    """A small, axis-light fit for a card: the data, the target (regression) and the fit."""
    axis = {"axis": alt.Axis(title=None, grid=False, labelFontSize=9, tickCount=3)}
    if r.task == "classification":
        palette = {**CLASS_COLOURS, "predicted probability": FIT_ORANGE}
        layers = [
            class_points_layer(r, palette, MINI_POINTS, legend=False, axis=axis),
            line_layer(r.grid_x, r.grid_prediction, "predicted probability", palette, width=2, legend=False, axis=axis),
        ]
    else:
        palette = {"training data": DATA_GREY, target_label(r): TARGET_BLACK, "fit": FIT_ORANGE}
        layers = [
            training_data_layer(r, palette, MINI_POINTS, legend=False, axis=axis),
            line_layer(r.grid_x, r.grid_target, target_label(r), palette, dash=TARGET_DASH, width=1, legend=False, axis=axis),
            line_layer(r.grid_x, r.grid_prediction, "fit", palette, width=2, legend=False, axis=axis),
        ]
    return alt.layer(*layers).properties(width="container", height=height)
