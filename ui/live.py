"""Where long work shows its progress: beside the button that started it, with Stop, while the rest of the page stays drawn.

A page draws everything first. Each panel with a long-work button calls `slot(...)` just under it: when
the running job is of that panel's kind, a bordered box takes the button's place in the reader's view
(the progress line and Stop, then room for live charts). Only then, at the very end of the script run,
`follow(...)` redraws those boxes until the job ends. Nothing else is left to draw, so Streamlit does not
fade the page as stale while the job runs, and the progress sits where the user was looking.

Example:
    >>> live.begin(scenario.id)                          # at the top of the page
    >>> live.slot(scenario.id, run.RestartsJob, job)     # under "Train 16 seeds"
    >>> live.follow(scenario.id, job, draw)              # last: redraw until the job ends
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from ui import run
from ui.state import keys

LIVE_INTERVAL = 0.25  # seconds between live redraws while a job runs


@dataclass
class Box:
    """One job's live box: its progress line, and placeholders for what is drawn live (charts, the doctor's table)."""

    progress: Any
    chart: Any
    extra: Any


def _slots_key(page: str) -> str:
    return f"_live_boxes_{page}"


def begin(page: str) -> None:
    """A new script run: no box drawn yet."""
    st.session_state[_slots_key(page)] = {}


def stop_label(job: run.Job) -> str:
    return "Stop the search" if isinstance(job, run.DoctorJob) else "Stop training"


def slot(page: str, kind: type | tuple[type, ...], job: run.Job | None, chart_here: bool = True) -> Box | None:
    """The running job's box, drawn here when `job` is of `kind`: the progress line and Stop side by side, then room for
    live charts (`chart_here`; otherwise a page may give them a place of its own with `chart_slot`)."""
    if job is None or not job.running or not isinstance(job, kind):
        return None
    box = st.container(border=True, key=f"live-box-{page}")
    top = box.columns([4, 1.5], vertical_alignment="center")
    progress = top[0].empty()
    # Stop acts in its callback, before the page is drawn again: the job hears it within a chunk of epochs (0.15 s).
    top[1].button(stop_label(job), key=keys(page).stop, type="primary", width="stretch", icon=":material/stop_circle:",
                  on_click=job.stop.set)
    drawn = Box(progress, box.empty() if chart_here else None, box.empty())
    with box:
        _scroll_into_view(f"live-box-{page}")
    st.session_state[_slots_key(page)]["box"] = drawn
    return drawn


def _scroll_into_view(key: str) -> None:
    """Bring the box into the window if the page put it past an edge (a button pressed at the window's bottom): a script
    in a zero-height frame of the same origin, run once when the box appears."""
    from streamlit.components.v1 import html

    script = f"""<script>
    setTimeout(() => {{
      const box = window.parent.document.querySelector('.st-key-{key}');
      if (!box) return;
      const r = box.getBoundingClientRect();
      if (r.top < 0 || r.bottom > window.parent.innerHeight) box.scrollIntoView({{block: 'nearest'}});
    }}, 60);
    </script>"""
    html(script, height=0)


def chart_slot(page: str, job: run.Job | None, kind: type | tuple[type, ...]) -> None:
    """A place for the running job's live charts away from its box (a case's results column)."""
    if job is None or not job.running or not isinstance(job, kind):
        return
    st.session_state[_slots_key(page)]["charts"] = (st.empty(), st.empty())


def follow(page: str, job: run.Job | None, draw: Callable[[run.Job, Box], None]) -> bool:
    """Redraw the running job's box until it ends (a box at the end of the page when no panel drew one); True when a
    job was followed to its end, so the caller keeps its results and reruns."""
    if job is None:
        return False
    if job.running:
        boxes = st.session_state.get(_slots_key(page)) or {}
        drawn = boxes.get("box") or slot(page, type(job), job)
        if drawn is None:
            return True
        if drawn.chart is None:
            drawn.chart, drawn.extra = boxes.get("charts") or (drawn.extra, st.empty())
        if isinstance(job, run.DoctorJob):
            job.drawn_measured = None  # a fresh script run: its live table starts empty
        while job.running:
            draw(job, drawn)
            time.sleep(LIVE_INTERVAL)
    return True
