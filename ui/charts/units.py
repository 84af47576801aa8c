"""The units view: what each hidden unit adds to the output over x, with the data range and the ReLU kinks."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from core.outcomes.results import RunResult
from ui.charts.common import (
    DATA_GREY,
    HEIGHT,
    MAX_POINTS,
    RULE_GREY,
    UNIT_COLOURS,
    chart_title,
    finite,
    message_chart,
    number_tooltip,
    run_label,
    thin,
)
from ui.charts.layers import boundary_view

RANGE_SHADE = "#e9ecef"
COLOURED_UNITS = 8  # units drawn in colour in the units chart; the rest are faint grey
UNIT_POINTS = 600  # x positions per unit when many units are drawn


def units_chart(r: RunResult, coloured: int = COLOURED_UNITS) -> alt.LayerChart | alt.Chart:
    """Each last-hidden-layer unit's contribution to the output over x, with the data range shaded and ReLU kinks.

    Readable from 1 to 128 units: the `coloured` units that add the most over the data range (by peak
    |contribution| there) get a colour and a legend entry; the others are drawn faint grey as one
    legend entry, so the plot keeps its width however many units there are.
    """
    readout_units = r.readout.units
    contributions = readout_units.contributions if readout_units else None
    if readout_units is not None and contributions is None and r.spec.model.output_units > 1:
        return message_chart(f"{r.spec.model.output_units} outputs, one per class: each hidden unit feeds every class's score, so "
                             "there is no single curve per unit to add up; the Weights tab shows the output layer's weights.")
    if contributions is None or not np.size(contributions.units):
        return message_chart("No hidden layer: the output is computed from x directly, so there are no units to show.")
    x = finite(contributions.x)
    units = np.asarray(contributions.units, dtype=np.float64).reshape(-1, len(x))
    x_min, x_max = float(r.spec.data.x_min), float(r.spec.data.x_max)
    top, rest = _rank_units(x, units, x_min, x_max, coloured)
    others = f"the other {len(rest)} units" if len(rest) != 1 else "the other unit"
    wide = pd.DataFrame({"x": x, **{f"unit {i + 1}": finite(units[i]) for i in range(len(units))}})
    wide = thin(wide, MAX_POINTS if len(units) <= coloured else UNIT_POINTS)
    additive, offset = bool(contributions.additive), float(contributions.offset)
    y_title = "contribution to y (y units)" if additive else "contribution (pre-activation)"
    top_names, rest_names = [f"unit {i + 1}" for i in top], [f"unit {i + 1}" for i in rest]
    palette = dict(zip(top_names, UNIT_COLOURS * (len(top_names) // len(UNIT_COLOURS) + 1)))
    if rest_names:
        palette[others] = DATA_GREY
    layers = [_data_range(x_min, x_max), *_unit_lines(wide, top_names, rest_names, others, palette, y_title)]

    deep = len(readout_units.layers) > 1
    subtitle = [run_label(r) + ((" · lines: the last hidden layer" + ("; kinks: the first" if readout_units.kinks else ""))
                                if deep else "")]
    if rest_names:
        subtitle.append(f"coloured: the {len(top_names)} units that add the most over the data range (peak |contribution|); "
                        f"grey: {others}")
    subtitle.append(f"fit = sum of the contributions + offset {offset:.4g}" if additive
                    else f"the output activation is applied to the sum of the contributions + offset {offset:.4g}")
    kinks = _kink_rules(readout_units, x_min, x_max, coloured)
    if kinks is not None:
        rules, domain, beyond = kinks
        layers.append(rules)
        if beyond:
            subtitle.append(f"{beyond} kink(s) lie further outside the data range: pan to see them")
        if domain:
            layers[1] = layers[1].encode(x=alt.X("x:Q", title="x", scale=alt.Scale(domain=domain, nice=False)))
    return alt.layer(*layers).properties(  # taller: the legends below the plot count in the height
        width="container", height=HEIGHT + 40 + 20 * math.ceil(len(palette) / 5), title=chart_title("What each hidden unit adds", subtitle)
    ).interactive()


def _rank_units(x: np.ndarray, units: np.ndarray, x_min: float, x_max: float, coloured: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the `coloured` units with the largest peak |contribution| over the data range, and of the rest (each sorted)."""
    inside = (x >= x_min) & (x <= x_max)
    values = np.where(np.isfinite(units), units, np.nan)[:, inside if inside.any() else slice(None)]
    with np.errstate(all="ignore"):
        peak = np.nan_to_num(np.nanmax(np.abs(values), axis=1), nan=-1.0) if values.size else np.zeros(len(units))
    order = np.argsort(-peak, kind="stable")
    return np.sort(order[: max(1, int(coloured))]), np.sort(order[max(1, int(coloured)):])


def _data_range(x_min: float, x_max: float) -> alt.Chart:
    frame = pd.DataFrame({"x_min": [x_min], "x_max": [x_max], "what": ["data range"]})
    return alt.Chart(frame, description="data range").mark_rect(color=RANGE_SHADE, opacity=0.6).encode(
        x=alt.X("x_min:Q", title="x"), x2="x_max:Q",
        tooltip=[alt.Tooltip("what:N", title="shaded"), number_tooltip("x_min", "from"), number_tooltip("x_max", "to")],
    )


def _unit_lines(wide: pd.DataFrame, top_names: list[str], rest_names: list[str], others: str, palette: dict[str, str],
                y_title: str) -> list[alt.Chart]:
    """The other units as faint grey lines under one legend entry (if any), then the coloured units."""
    # Three to a row, so that nine entries fit a phone's column (five to a row cut the last ones at 390 px).
    legend = alt.Legend(title=None, orient="bottom", columns=min(len(palette), 3), symbolType="stroke", labelLimit=160)
    tooltip = [alt.Tooltip("unit:N", title="unit"), number_tooltip("x", "x"), number_tooltip("contribution", "contribution")]
    scale = alt.Scale(domain=list(palette), range=list(palette.values()))
    layers = []
    if rest_names:
        layers.append(alt.Chart(wide, description="other units").transform_fold(rest_names, as_=["unit", "contribution"])
                      .transform_calculate(group=f"'{others}'").mark_line(strokeWidth=1, opacity=0.35, clip=True).encode(
            x=alt.X("x:Q", title="x"),
            y=alt.Y("contribution:Q", title=y_title),
            color=alt.Color("group:N", scale=scale, legend=legend),
            detail="unit:N",
            tooltip=tooltip,
        ))
    layers.append(alt.Chart(wide, description="units").transform_fold(top_names, as_=["unit", "contribution"]).mark_line(
        strokeWidth=2, clip=True
    ).encode(
        x=alt.X("x:Q", title="x"),
        y=alt.Y("contribution:Q", title=y_title),
        color=alt.Color("unit:N", scale=scale, legend=legend),
        tooltip=tooltip,
    ))
    return layers


def _kink_rules(readout_units, x_min: float, x_max: float, coloured: int) -> tuple[alt.Chart, list[float] | None, int] | None:
    """The first layer's ReLU kinks as rules (solid inside the data range, dotted outside), the x domain that shows the
    nearby ones and how many lie beyond it; None without kinks."""
    kinks = readout_units.kinks
    if not kinks:
        return None
    in_range = readout_units.kink_in_range or [v is not None and x_min < v < x_max for v in kinks]
    rows = [(float(v), f"unit {i + 1}", "inside the data" if inside else "outside the data")
            for i, (v, inside) in enumerate(zip(kinks, in_range)) if v is not None and math.isfinite(v)]
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["x", "unit", "where"])
    where = ["inside the data", "outside the data"]
    rules = alt.Chart(frame, description="kinks").mark_rule(
        color=RULE_GREY, strokeWidth=1.2, opacity=1.0 if len(rows) <= coloured else 0.5, clip=True
    ).encode(
        x="x:Q",
        strokeDash=alt.StrokeDash("where:N", title="ReLU kink", scale=alt.Scale(domain=where, range=[[1, 0], [2, 3]]),
                                  legend=alt.Legend(orient="top", title="ReLU kink", direction="horizontal")),
        tooltip=[alt.Tooltip("unit:N", title="first-layer unit"), number_tooltip("x", "kink at x"), alt.Tooltip("where:N", title="lies")],
    )
    domain, beyond = boundary_view(x_min, x_max, frame["x"].tolist())
    return rules, domain, beyond
