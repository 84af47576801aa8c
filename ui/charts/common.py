"""The colours, sizes and small helpers that every chart of the lab shares (pure Altair, no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.cases import scenarios
from core.outcomes.results import RunResult  # plain data: no TensorFlow

DATA_GREY = "#868e96"
TEST_GREY = "#495057"
TARGET_BLACK = "#000000"
FIT_ORANGE = "#d9480f"
COMPARE_BLUE = "#1c7ed6"
RULE_GREY = "#495057"
# Eight colours told apart at a glance (Tableau 10 without its grey, which marks the other units).
UNIT_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f"]
TARGET_DASH = [6, 4]

MAX_POINTS = 4000  # per layer: below Altair's 5000-row limit, and still smooth in the browser
HISTORY_POINTS = 2000
HEIGHT = 320

METRIC_TITLES = {
    # Short: a vertical axis title longer than the plot makes Vega shrink the plot to fit it.
    "max_abs_error": "max |fit − target| (y units)",
    "accuracy": "accuracy (training samples)",
    "r2": "R² (training points)",
    "loss": "loss",
}

# Layers carry a description rather than a name: it marks them for screen readers and tests,
# while Altair attaches a concatenated layer chart's zoom to every *named* layer, which Vega then
# rejects as duplicate signals.


def thin(df: pd.DataFrame, max_rows: int = MAX_POINTS) -> pd.DataFrame:
    """An evenly spaced subset of at most `max_rows` rows that keeps the first and the last row."""
    n = len(df)
    if n <= max_rows:
        return df
    if max_rows < 2:
        return df.iloc[: max(max_rows, 0)]
    index = np.unique(np.round(np.linspace(0, n - 1, max_rows)).astype(np.int64))
    return df.iloc[index]


def finite(values) -> np.ndarray:
    # inf is not valid JSON; NaN becomes null and leaves a gap instead of a spike to infinity.
    values = np.asarray(values, dtype=np.float64).ravel()
    return np.where(np.isfinite(values), values, np.nan)


def colour_by(field: str, palette: Mapping[str, str], title: str | None = None, legend: bool | alt.Legend = True) -> alt.Color:
    # One explicit domain per chart keeps every layer on the same colours and one legend.
    return alt.Color(
        f"{field}:N",
        scale=alt.Scale(domain=list(palette), range=list(palette.values())),
        # Below the plot, three to a row: a legend on the right took a third of a phone's width.
        legend=(legend if isinstance(legend, alt.Legend) else alt.Legend(title=title, orient="bottom", columns=3, labelLimit=140))
        if legend else None,
    )


def number_tooltip(field: str, title: str, fmt: str = ".4g") -> alt.Tooltip:
    return alt.Tooltip(f"{field}:Q", title=title, format=fmt)


def run_label(r: RunResult) -> str:
    """What ran, in the page's words: the preset's label ("As asked") or "your own settings", after the target typed on
    Your function (y = ...) and the data file's name on Your data."""
    spec = r.spec
    try:
        scenario = scenarios.get(spec.scenario)
    except (KeyError, ValueError):
        return spec.scenario or "custom run"
    setup = scenario.preset(spec.preset).label if spec.preset in scenario.preset_names() else "your own settings"
    data = spec.data
    if data.function == "custom":
        return f"y = {data.expression} · {setup}"
    if data.function == "file":
        return f"your data · {setup}"
    return setup


def run_subtitle(r: RunResult) -> list[str]:
    lines = [run_label(r)]
    if r.final:
        lines[0] += " · " + ", ".join(f"{k} {v:.4g}" for k, v in r.final.items())
    if r.diverged_at:
        lines.append(f"diverged in epoch {r.diverged_at}: showing the last finite state")
    elif r.stopped:
        lines.append(f"stopped after {r.epochs_run} of {r.spec.train.epochs} epochs")
    return lines


def chart_title(text: str, subtitle: Sequence[str] | str | None = None) -> alt.TitleParams:
    if subtitle:
        return alt.TitleParams(text, subtitle=list(subtitle) if not isinstance(subtitle, str) else subtitle, anchor="start")
    return alt.TitleParams(text, anchor="start")


def epoch_axis(epochs) -> alt.Axis:
    epochs = np.unique(np.asarray(epochs, dtype=np.int64))
    if 0 < len(epochs) <= 12:
        # Vega's tickMinStep still puts ticks at half epochs on a short run; list them instead.
        return alt.Axis(values=epochs.tolist(), format="d")
    return alt.Axis(format="d", tickMinStep=1)


def message_chart(text: str, height: int = 120) -> alt.Chart:
    frame = pd.DataFrame({"message": [text]})
    return alt.Chart(frame).mark_text(fontSize=14, color=TEST_GREY).encode(
        text="message:N", tooltip=alt.Tooltip("message:N", title="note")
    ).properties(width="container", height=height)
