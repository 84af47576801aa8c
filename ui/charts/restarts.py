"""The restarts views: many seeds of one setup, their losses, how their final metric spreads, and success rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from ui.charts.common import (
    DATA_GREY,
    FIT_ORANGE,
    HISTORY_POINTS,
    METRIC_TITLES,
    TARGET_BLACK,
    TARGET_DASH,
    chart_title,
    number_tooltip,
    thin,
)

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
        tooltip=[alt.Tooltip("seed:N", title="seed"), alt.Tooltip("epoch:Q", format="d"), number_tooltip("loss", "loss")],
    )
    bold = alt.Chart(median_frame).mark_line(strokeWidth=3, color=FIT_ORANGE).encode(
        x=x, y=y, tooltip=[alt.Tooltip("epoch:Q", format="d"), number_tooltip("loss", "median loss")],
    )
    note = f"{members} seeds" + (f" (faint: the first {len(shown)})" if members > len(shown) else "") + "; bold: the median"
    return alt.layer(faint, bold).properties(
        width="container", height=260, title=chart_title(f"Loss of every seed {label}".strip(), note),
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
        width="container", height=220, title=chart_title(f"Final {title} over the seeds {label}".strip(), note),
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
        title=chart_title("Success rate", "bars and diamonds: share of seeds that succeeded; lines: 95% Wilson interval"),
    )
