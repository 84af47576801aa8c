"""The views over epochs: the loss and the metric, two runs' losses, every weight, and the parabola's coefficients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from core.outcomes.results import RunResult
from ui.charts.common import (
    COMPARE_BLUE,
    FIT_ORANGE,
    HEIGHT,
    HISTORY_POINTS,
    MAX_POINTS,
    METRIC_TITLES,
    TARGET_DASH,
    chart_title,
    colour_by,
    epoch_axis,
    finite,
    message_chart,
    number_tooltip,
    run_label,
    thin,
)

WEIGHT_EPOCHS = 400
COEFFICIENT_COLOURS = {"A": "#ae3ec9", "B": "#0c8599", "C": "#2f9e44"}


def _history_frame(history: Mapping[str, Any], key: str) -> pd.DataFrame:
    values = finite(history.get(key, ()))
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
        x=alt.X("epoch:Q", title="epoch", axis=epoch_axis(frame["epoch"])),
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log") if log else alt.Scale(zero=False)),
        color=colour_by("run", palette, legend=legend and alt.Legend(title=None, orient="bottom")),
        tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("epoch:Q", title="epoch", format="d"),
                 number_tooltip("value", y_title.split(" (")[0])],
    ).properties(width="container", height=240, title=chart_title(title, subtitle))  # the plot's own height: show_chart
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
        return message_chart("No weights were recorded for this run.")
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
    wide = pd.DataFrame(finite(values[np.ix_(keep, chosen)]).reshape(len(keep), len(chosen)), columns=keys)
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
        x=alt.X("epoch:Q", title="epoch", axis=epoch_axis(wide["epoch"])),
        y=alt.Y("value:Q", title="weight value (scaled units of the network)"),
        color=alt.Color("layer:N", title="layer", scale=alt.Scale(scheme="dark2"), legend=alt.Legend(orient="bottom", columns=3)),
        strokeDash=alt.StrokeDash("kind:N", title="kind", scale=alt.Scale(domain=kind_domain, range=dashes[: len(kind_domain)] or [[1, 0]]),
                                  legend=alt.Legend(orient="bottom", columns=3)),
        detail="weight:N",
        tooltip=[alt.Tooltip("weight:N", title="weight"), alt.Tooltip("epoch:Q", title="epoch", format="d"),
                 number_tooltip("value", "value")],
    ).properties(width="container", height=HEIGHT, title=chart_title("Weights over training", [run_label(r), subtitle])).interactive()


def coefficients_chart(trajectory: pd.DataFrame, target=None) -> alt.LayerChart:
    """The parabola's learned coefficients A, B, C over epochs, with dashed rules at the target values."""
    names = [c for c in COEFFICIENT_COLOURS if c in trajectory.columns]
    frame = thin(trajectory[["epoch", *names]].reset_index(drop=True), MAX_POINTS // max(len(names), 1))
    long = frame.melt(id_vars="epoch", value_vars=names, var_name="coefficient", value_name="value")
    long["value"] = finite(long["value"])
    palette = {name: COEFFICIENT_COLOURS[name] for name in names}
    lines = alt.Chart(long, description="coefficients").mark_line(strokeWidth=2, clip=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=epoch_axis(frame["epoch"])),
        y=alt.Y("value:Q", title="coefficient (original units)"),
        color=colour_by("coefficient", palette, title="coefficient"),
        tooltip=[alt.Tooltip("coefficient:N", title="coefficient"), alt.Tooltip("epoch:Q", title="epoch", format="d"),
                 number_tooltip("value", "value")],
    )
    layers = [lines]
    goal = dict(zip("ABC", target)) if target is not None and not isinstance(target, Mapping) else dict(target or {})
    goal = {k: float(v) for k, v in goal.items() if k in palette and v is not None}
    if goal:
        rules = pd.DataFrame({"coefficient": list(goal), "value": list(goal.values()), "what": "target"})
        layers.append(alt.Chart(rules, description="targets").mark_rule(strokeDash=TARGET_DASH, strokeWidth=1.3).encode(
            y="value:Q",
            color=colour_by("coefficient", palette, title="coefficient"),
            tooltip=[alt.Tooltip("what:N", title="rule"), alt.Tooltip("coefficient:N", title="coefficient"),
                     number_tooltip("value", "value")],
        ))
        # Equal targets (B = C = 2 in the posted case) draw one line: a label at the left names every coefficient on it,
        # so none hides behind another's curve.
        labels = {}
        for name, value in goal.items():
            labels.setdefault(value, []).append(name)
        marks = pd.DataFrame({"epoch": float(frame["epoch"].min()), "value": list(labels),
                              "label": [f"{' = '.join(names)} target {value:g}" for value, names in labels.items()]})
        layers.append(alt.Chart(marks, description="target labels").mark_text(align="left", baseline="bottom", dx=4, dy=-3,
                                                                              fontSize=11, fontWeight="bold").encode(
            x="epoch:Q", y="value:Q", text="label:N", tooltip=[alt.Tooltip("label:N", title="target")]))
    subtitle = "dashed: the target " + ", ".join(f"{k} = {v:g}" for k, v in goal.items()) if goal else None
    return alt.layer(*layers).properties(
        width="container", height=HEIGHT, title=chart_title("Learned A x² + B x + C over epochs", subtitle)
    ).interactive()
