"""Why, and what fixes it: the doctor's findings for the run on the page, and its fix search over seeds.

The findings are read from the run itself (core/doctor), causes first. "Find a fix" trains the
settings as they are and every candidate change on the same seeds in the worker process, with live
progress (which candidate, how far, the time left in this round); Stop keeps what was measured. The
ranked table and chart then say how often each setup succeeded, with its 95% interval, beside the
control and the posted fix, and one click loads a candidate into the settings (and the URL).
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core import doctor
from core.cases.scenarios import Scenario
from core.outcomes.restarts import check as check_restarts
from core.outcomes.restarts import summarize_sweep
from core.outcomes.results import Finding, RunResult
from core.settings.criteria import Criterion
from core.settings.rules import MAX_SEEDS
from core.settings.specs import SpecError
from ui import controls, live, run
from ui.charts.doctor import fixes_chart
from ui.display import md, show_chart
from ui.state import keys

ROLE_TITLES = {"cause": "Why it fails", "symptom": "What the failure looks like", "note": "Also true, but not the problem"}


def _restarts_report(scenario: Scenario, result: RunResult, criterion: Criterion) -> dict | None:
    """The restarts of the same settings as the run (any seeds), read under the page's criterion."""
    for outcome in st.session_state.get(keys(scenario.id).restarts) or []:
        if outcome.spec.with_value("seed", result.spec.seed).key() == result.spec.key() \
                and outcome.epochs_run == outcome.spec.train.epochs:
            return summarize_sweep(outcome, criterion)
    return None


def findings_block(scenario: Scenario, result: RunResult, criterion: Criterion) -> list[Finding]:
    """The findings, grouped by role; returns them for the fix panel."""
    found = doctor.findings(result, criterion, _restarts_report(scenario, result, criterion))
    st.subheader("Why, and what fixes it")
    if criterion.met(result.final, result.readout):
        st.caption(f"This run meets its criterion ({criterion.describe()}), so nothing below is a cause: these are notes.")
    for role in ("cause", "symptom", "note"):
        items = [f for f in found if f.role == role]
        if not items:
            continue
        st.markdown(f"**{ROLE_TITLES[role]}**")
        st.markdown("\n".join(f"- **{doctor.TITLES.get(f.id, f.id)}** (`{f.id}`). {md(_body(f))}" for f in items))
    if not found:
        st.markdown("- Nothing unusual: no divergence, no dead or saturated units, no scaling problem, no extra bumps.")
    if found:
        with st.expander("The numbers behind these findings"):
            st.dataframe(pd.DataFrame([{"finding": f.id, "role": f.role, "evidence": _evidence(f.evidence)} for f in found]),
                         hide_index=True, width="stretch")
    return found


def _body(finding: Finding) -> str:
    """A finding's text after its title: without the title again ("Dead units (dead_units). Dead units: ...")."""
    title = doctor.TITLES.get(finding.id, finding.id)
    text = finding.text
    if not text.lower().startswith(title.lower() + ":"):
        return text
    rest = text[len(title) + 1:].lstrip()
    return rest[:1].upper() + rest[1:]


def _evidence(evidence: dict) -> str:
    def show(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {show(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            items = [show(x) for x in v[:8]]
            return "[" + ", ".join(items) + (", …" if len(v) > 8 else "") + "]"
        return str(v)

    return "; ".join(f"{k} = {show(v)}" for k, v in evidence.items())


def fix_panel(scenario: Scenario, result: RunResult, criterion: Criterion, found: list[Finding], busy: bool) -> None:
    """The Find a fix button, and the last search's results for these settings."""
    live.slot(scenario.id, run.DoctorJob, run.active(scenario.id))  # the search's progress and Stop, where its button was
    row = st.container(horizontal=True, gap="small", vertical_alignment="bottom", key=keys(scenario.id).fix_row)
    seeds = row.number_input("Seeds per candidate", min_value=1, max_value=MAX_SEEDS, value=doctor.default_seeds(result.spec), step=1,
                              key=keys(scenario.id).doctor_seeds,
                              help="Every candidate trains on the same seeds (the run's seed and the next ones).", width=170)
    proposed = doctor.candidates(result, found)
    limits, _ = run.budget()
    worked = bool(criterion.met(result.final, result.readout))  # a run that succeeded: the search is a check, not a cure
    pressed = row.button("Find a fix" if not worked else "Check over seeds", key=keys(scenario.id).find_fix, disabled=busy,
                         type="secondary" if worked else "primary", width="content", icon=":material/healing:",
                         help=f"At most {limits.max_doctor_seconds:g} s in all; Stop keeps what is measured.")
    names = ", ".join(c.name for c in proposed) or "none: nothing here is a cause"
    if worked:
        st.caption(f"This run succeeded. The doctor would first train these settings on {seeds} seeds and stop there if "
                   f"{doctor.TARGET_RATE:.0%} of them succeed; only if not does it search for a fix.")
    st.caption(f"The doctor trains these settings as they are and each candidate change ({names}) on the same {seeds} seeds, "
               f"then the textbook setup, then climbs from the best with the usual knobs (each screened on a few seeds first), "
               f"until one succeeds on {doctor.TARGET_RATE:.0%} of the seeds or {limits.max_doctor_seconds:g} s have passed.")
    if pressed:
        _start(scenario, result, criterion, found, int(seeds))
    report = st.session_state.get(keys(scenario.id).doctor)
    if report is not None and _same_settings(report, result):
        if report.control is None:
            st.info("The search was stopped before it had measured these settings over the seeds: nothing to show yet.",
                    icon=":material/info:")
        else:
            show_report(scenario, result, report)


def _same_settings(report: doctor.DoctorReport, result: RunResult) -> bool:
    return report.spec is not None and report.spec.key() == result.spec.key()


def _start(scenario: Scenario, result: RunResult, criterion: Criterion, found: list[Finding], seeds: int) -> None:
    spec = result.spec
    try:
        check_restarts(spec, seeds)
    except SpecError as err:
        st.error(f"The doctor measures over seeds with restarts, and these settings cannot: {md(str(err))}", icon=":material/error:")
        return
    refused = run.refusal([spec], seeds)
    if refused:
        st.error("Nothing was trained. " + md(refused), icon=":material/timer_off:")
        return
    posted = None
    if "answer" in scenario.preset_names() and spec.preset != "answer":
        try:
            posted = controls.session_spec(scenario, "answer", seed=spec.seed)
            posted = posted if doctor.same_question(posted, spec) else None  # another dataset's answer says nothing here
        except SpecError:  # a data file whose columns the form no longer chooses: the search goes on without it
            posted = None
    request = run.DoctorRequest(result, tuple(found), criterion, seeds, posted, posted_label(scenario))
    run.start(run.DoctorJob(scenario.id, [spec], request=request))
    st.rerun()


def posted_label(scenario: Scenario) -> str:
    """What the page calls the preset the doctor measures beside its own fixes: a post's fix, or (your data) the usual advice."""
    return "the posted fix" if scenario.posted else f"the preset {scenario.preset('answer').label}"


def rows_of(report: doctor.DoctorReport, posted: str = "the posted fix") -> list[dict]:
    rows = []
    best = report.best  # fixes hold only setups that beat the control
    if report.control is not None:
        rows.append(_row("as it is (control)", "as it is", report.control))
    if report.posted_fix is not None:
        rows.append(_row(posted, "posted fix", report.posted_fix))
    for m in report.fixes:
        rows.append(_row(m.label, "best" if m is best else "candidate", m))
    others = [m for m in report.tried if m not in report.fixes]
    for m in others:
        rows.append(_row(m.label, "candidate", m))
    return rows


def _row(label: str, kind: str, m: doctor.Measured) -> dict:
    low, high = m.interval
    return {"label": label, "kind": kind, "rate": m.success_rate, "low": low, "high": high, "successes": m.successes,
            "seeds": m.seeds, "changes": doctor.label_changes(m.changes) if kind not in ("as it is",) else "no change",
            "median": m.median_metric, "metric": m.metric, "wall_s": m.wall_s, "measured": m}


def show_report(scenario: Scenario, result: RunResult, report: doctor.DoctorReport) -> None:
    text = md(report.summary())
    (st.success if report.found_fix else st.info)(text, icon=":material/healing:" if report.found_fix else ":material/info:")
    if report.note:  # the run shown succeeded while other seeds fail: the search read its findings from a failing seed
        causes = [f"**{md(doctor.TITLES.get(f.id, f.id))}**" for f in report.findings if f.role == "cause"]
        st.info(md(report.note) + (" Its causes: " + ", ".join(causes) + "." if causes else ""), icon=":material/casino:")
    if report.seeds_read:  # the findings counted over the control's failing seeds, not read from one
        with st.expander(f"The findings over the failing seeds ({len(report.seeds_read)} read again)"):
            st.caption("Each finding says in how many of the failing seeds it shows; the search used these.")
            st.markdown("\n".join(f"- **{doctor.TITLES.get(f.id, f.id)}** ({f.role}). {md(_body(f))}" for f in report.findings))
    if report.posted_fix is not None and report.best is not None:
        p, b = report.posted_fix, report.best
        # The settings of both in words: two fixes can share a name and differ in a setting (segments: epochs).
        st.markdown(f"{posted_label(scenario).capitalize()} on the same seeds: **{p.successes} of {p.seeds}** "
                    f"({md(doctor.label_changes(p.changes) or 'no change')}); the doctor's best: "
                    f"**{b.successes} of {b.seeds}** ({md(doctor.label_changes(b.changes) or 'no change')}).")
    if report.stopped:
        st.caption("Stopped on request: the table holds what was measured until then.")
    rows = rows_of(report, posted_label(scenario))
    show_chart(fixes_chart(rows, report.target))
    table = pd.DataFrame([{"setup": r["label"], "succeeded": f"{r['successes']}/{r['seeds']}", "changes": r["changes"],
                           "rate": f"{r['rate']:.0%}", "95% interval": f"{r['low']:.0%}–{r['high']:.0%}",
                           f"median {r['metric']}": r["median"], "seconds": round(r["wall_s"], 1)} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        f"median {rows[0]['metric']}": st.column_config.NumberColumn(format="%.3g"),
        "changes": st.column_config.TextColumn(width="large")})
    if report.screened:  # the usual knobs tried on a few seeds first: the promising went on to every seed, above
        with st.expander(f"Screened on {report.screened[0].seeds} seeds only ({len(report.screened)})"):
            st.caption("Each of these was tried on the first few seeds; the most promising were then measured on every seed "
                       "and appear in the table above.")
            st.dataframe(pd.DataFrame([{"stage": m.stage, "setup": m.label, "succeeded": f"{m.successes}/{m.seeds}",
                                        f"median {m.metric}": m.median_metric, "seconds": round(m.wall_s, 1)}
                                       for m in report.screened]), hide_index=True, width="stretch",
                         column_config={f"median {report.screened[0].metric}": st.column_config.NumberColumn(format="%.3g")})
    if report.skipped:
        with st.expander(f"Not measured ({len(report.skipped)})"):
            st.markdown("\n".join(f"- {md(line)}" for line in report.skipped))
    order = {"best": 0, "candidate": 1, "posted fix": 2}
    loadable = sorted((r for r in rows if r["kind"] in order and r["measured"].changes), key=lambda r: order[r["kind"]])
    if loadable:
        choices = list(range(len(loadable)))
        left, right = st.columns([2.4, 1], vertical_alignment="bottom")
        chosen = left.selectbox("Setup to load into the settings", choices, key=keys(scenario.id).doctor_pick,
                                format_func=lambda i: f"{loadable[i]['label']}: {loadable[i]['successes']}/{loadable[i]['seeds']}")
        if right.button("Load it", key=keys(scenario.id).doctor_load, width="stretch", icon=":material/input:",
                        help="Fills the settings and the URL with this setup; press Train to see its whole run."):
            try:
                spec = result.spec.with_values(loadable[chosen]["measured"].changes)
            except SpecError as err:
                st.error(f"That setup cannot be loaded: {md(str(err))}")
                return
            controls.load_on_rerun(scenario, spec)


def draw_live(job: run.DoctorJob, progress, box) -> None:
    """The search's progress line and the setups measured so far."""
    state = job.state or doctor.SearchProgress("control", "as it is")
    elapsed = f"{time.perf_counter() - job.started:.0f} s"
    if job.waiting:
        progress.progress(0.0, text=f"Finding a fix · waiting for a free training slot · {elapsed}")
        return
    if job.starting:
        progress.progress(0.0, text=f"Finding a fix · starting the training process (it loads TensorFlow once) · {elapsed}")
        return
    share, left, stage = state.share, state.left_s, state.stage
    more = " (pairs or triples may follow)" if stage == "single changes" else ""
    when = f" · about {left:.0f} s left in this round{more}" if left is not None else ""
    seeds = job.request.seeds
    epochs = "" if stage == "failing seeds" else f" · {share:.0%} of its epochs on {seeds} seeds"
    most = f" of at most {job.budget.max_doctor_seconds:g} s"
    progress.progress(min(share, 1.0), text=(f"Finding a fix · {stage}: {state.label}{epochs} · {len(job.measured)} measured"
                                             f"{when} · {elapsed}{most}"))
    if job.measured and job.drawn_measured != len(job.measured):  # redraw the table only when it grew
        job.drawn_measured = len(job.measured)
        with box.container():
            st.dataframe(pd.DataFrame([{"setup": m.label, "changes": doctor.label_changes(m.changes) or "no change",
                                        "succeeded": f"{m.successes}/{m.seeds}", "seconds": round(m.wall_s, 1)}
                                       for m in job.measured]), hide_index=True, width="stretch")
