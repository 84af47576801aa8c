"""The doctor's view: each measured setup's success rate with its interval, coloured by kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from ui.charts.common import COMPARE_BLUE, DATA_GREY, FIT_ORANGE, RULE_GREY, TARGET_BLACK, chart_title

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
        title=chart_title("What the doctor measured", "bars: share of the seeds that succeeded; lines: 95% Wilson interval; "
                                                      "dashed: the goal"),
    )
