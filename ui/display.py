"""Streamlit display helpers shared by the pages' pieces."""

from __future__ import annotations

import re
import threading

import altair as alt
import streamlit as st


def md(text: str) -> str:
    """Text shown exactly as written inside Markdown: its special characters (and LaTeX's $) escaped,
    so a typed `x**x` or `__import__('os')` reaches the page verbatim, not half in bold."""
    for char in "\\`*_[]#$~|<>":
        text = text.replace(char, "\\" + char)
    # Streamlit reads :name: as an emoji or icon and :red[...] as colour, even escaped: an invisible
    # zero-width space after such a colon keeps the text exactly as typed on the page.
    return _DIRECTIVE.sub(":\u200b", text)


_DIRECTIVE = re.compile(r":(?=[\w+\-/]+(?::|\\?\[))")


# Streamlit converts an Altair chart under its own lock, but moves the chart's datasets onto the page
# after releasing it; with several sessions drawing live at once that step once met a datasets dict
# still being filled ("dictionary changed size during iteration", the load test; streamlit#8409).
# Every chart of this server is drawn through `draw_chart`, one at a time: a few milliseconds each.
_CHART_LOCK = threading.Lock()


def draw_chart(chart, target=None, width: str = "stretch") -> None:
    """st.altair_chart (or `target.altair_chart`, a placeholder's) under the server's one chart lock."""
    with _CHART_LOCK:
        (target or st).altair_chart(chart, width=width)


def lower_label(label: str) -> str:
    """A preset's label inside a sentence: 'As asked' -> 'as asked'; an acronym keeps its capitals ('XOR, 4 tanh units')."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def show_chart(chart, stretch: bool = True) -> None:
    """An Altair chart with its title drawn by Streamlit: Vega titles with subtitles get clipped in
    Streamlit's container-width layout, so the title and subtitle become markdown above the chart."""
    title = getattr(chart, "title", alt.Undefined)
    if isinstance(title, alt.TitleParams):
        text, subtitle = title.text, title.subtitle
    else:
        text, subtitle = (title if isinstance(title, str) else None), None
    if text:
        st.markdown(f"**{md(text)}**")
    if subtitle and subtitle is not alt.Undefined:  # a subtitle may hold what a user typed (y = x**2): shown verbatim
        st.caption(md(" · ".join(subtitle) if isinstance(subtitle, (list, tuple)) else str(subtitle)))
    if text or subtitle:
        chart = chart.copy()
        chart.title = alt.Undefined
    if not stretch:  # drawn at the chart's own size (Streamlit's theme would fit it into a smaller box)
        chart = chart.properties(autosize=alt.AutoSizeParams(type="pad"))
    elif isinstance(chart, (alt.Chart, alt.LayerChart)) and chart.autosize is alt.Undefined:
        # As wide as the column, and the height the plot's own: with "fit", a legend below the plot took its height.
        chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    draw_chart(chart, width="stretch" if stretch else "content")
