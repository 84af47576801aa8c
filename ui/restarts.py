"""Restarts on a case page: the success criterion, and many seeds at once with their success rate.

The segments post asks whether Keras tries several initializations as k-means does (it does not);
a single run proves little either way, so this panel trains N seeds of the current settings in one
compiled model and says how often they succeed, with a Wilson interval and the best seed.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.cases.scenarios import Scenario
from core.outcomes.restarts import summarize_sweep
from core.outcomes.results import RestartsResult, RunResult
from core.settings.criteria import Criterion
from core.settings.rules import DEFAULT_SEEDS, MAX_SEEDS
from core.settings.specs import SpecError
from ui import controls, live, run
from ui.charts.restarts import restarts_histogram, restarts_loss_chart, success_rates_chart
from ui.display import lower_label, md, show_chart
from ui.state import keys


def _threshold_key(scenario: Scenario, base: Criterion) -> str:
    return keys(scenario.id).threshold(base.kind, own=base.kind == scenario.criterion.kind)


def settings_task(scenario: Scenario, form: controls.FormRead) -> str:
    """The task (regression or classification) of the settings in the form, else of the case."""
    return (form.spec or scenario.spec()).data.resolved_task


def criterion(scenario: Scenario, task: str | None = None) -> Criterion:
    """The page's success criterion for this task: the case's default with the threshold the user typed."""
    base = scenario.criterion_for(task)
    raw = st.session_state.get(_threshold_key(scenario, base), base.threshold)
    try:
        return base.with_threshold(raw)
    except SpecError:
        return base


def criterion_control(scenario: Scenario, task: str | None = None) -> Criterion:
    base = scenario.criterion_for(task)
    key = _threshold_key(scenario, base)
    st.session_state.setdefault(key, float(base.threshold))
    # A short label (a long one is cut with an ellipsis at every width); the rule itself is written out below it.
    st.number_input("Success threshold", min_value=0.0, max_value=1e6, step=0.01, format="%g", key=key,
                    help="What counts as 'it worked' for this case; every verdict, success rate and fix on the page uses it.")
    rule = criterion(scenario, task)
    st.caption(f"Success: {md(rule.describe())}.")
    return rule


def verdict(result: RunResult, rule: Criterion) -> None:
    met = rule.met(result.final, result.readout)
    text = f"Success criterion ({rule.describe()}): **{'met' if met else 'not met'}** by this run."
    st.markdown(f":{'green' if met else 'red'}[{'✔' if met else '✘'}] {text}")


def panel(scenario: Scenario, busy: bool, form: controls.FormRead) -> None:
    st.subheader("Restarts: how often does it work?")
    st.caption("Keras trains one initialization per fit (there is no n_init as in k-means). Train many seeds of these "
               "settings at once and count how many succeed.")
    k = keys(scenario.id)
    rule = criterion_control(scenario, settings_task(scenario, form))
    live.slot(scenario.id, run.RestartsJob, run.active(scenario.id))  # the seeds' progress and Stop, where the buttons were
    row = st.container(horizontal=True, gap="small", vertical_alignment="bottom", key=k.restart_row)
    seeds = row.number_input("Seeds", min_value=1, max_value=MAX_SEEDS, value=DEFAULT_SEEDS, step=1, key=k.seeds, width=170)
    spec = form.spec
    if row.button(f"Train {seeds} seeds", key=k.restart, disabled=busy, width="content",
                  icon=":material/casino:", help="The settings above, with their seed and the next ones."):
        if form.errors:
            st.error("Nothing was trained, fix these settings first:\n\n" + "\n".join(f"- {md(e)}" for e in form.errors),
                     icon=":material/error:")
        else:
            _start(scenario, [spec], seeds)
    both = None
    if "answer" in scenario.preset_names():
        first = scenario.spec().seed
        try:
            both = [controls.session_spec(scenario, "question", seed=first), controls.session_spec(scenario, "answer", seed=first)]
        except SpecError:  # a data file whose columns are still to be chosen: the form's errors say which
            both = None
        asked, answered = scenario.preset("question").label, lower_label(scenario.preset("answer").label)
        if both is not None and row.button(f"{asked} and {answered}, {seeds} seeds each", key=k.restart_compare, disabled=busy,
                      width="content", icon=":material/compare_arrows:",
                      help=f"The posted setup and the posted fix, {seeds} seeds each, from seed {first}."):
            _start(scenario, both, seeds)
    if spec is not None:
        mine = lower_label(scenario.preset(form.preset).label) if form.preset else "your own settings"
        pair = (f"{lower_label(scenario.preset('question').label)} and {lower_label(scenario.preset('answer').label)}"
                if both is not None else "")
        st.caption(_estimate(spec, int(seeds), both, f"the form's settings ({mine})", pair))
    outcomes: list[RestartsResult] = st.session_state.get(k.restarts) or []
    if not outcomes:
        return
    reports = [summarize_sweep(outcome, rule) for outcome in outcomes]
    rows = []
    for outcome, report in zip(outcomes, reports):
        low, high = report.interval
        rows.append({"label": _label(outcome), "rate": report.success_rate, "low": low, "high": high,
                     "successes": report.successes, "seeds": report.seeds})
    for row, report, outcome in zip(rows, reports, outcomes):
        best = report.best
        finals = ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in best.final.items())
        stopped = (f" (stopped {'by the wall-clock budget ' if outcome.stop_reason == 'budget' else ''}after "
                   f"{outcome.epochs_run:,} of {outcome.spec.train.epochs:,} epochs: the rates are for nets trained that far)"
                   if outcome.stopped else "")
        st.markdown(
            f"**{row['label']}**: **{row['successes']} of {row['seeds']}** seeds succeeded ({row['rate']:.0%}; 95% interval "
            f"{row['low']:.0%} to {row['high']:.0%}){stopped}, in {outcome.wall_s:.1f} s. Best of {row['seeds']} "
            f"(k-means' n_init idea: keep the best seed): seed **{best.seed}**, {finals}."
            + (f" {report.diverged} seed(s) diverged." if report.diverged else "")
        )
    show_chart(success_rates_chart(rows))
    for outcome, report in zip(outcomes, reports):
        show_chart(restarts_loss_chart(outcome.losses, outcome.seeds, f"— {_label(outcome)}"))
        values = [run_.final.get(outcome.metric) for run_ in report.runs]
        threshold = rule.threshold if rule.kind != "coefficients_within" else None
        if threshold is None:
            st.caption(f"Success here is judged by the learned coefficients ({rule.describe()}), not by this error, "
                       "so the histogram below has no threshold line.")
        show_chart(restarts_histogram(values, outcome.metric, threshold, not rule.higher_is_better,
                                      f"— {_label(outcome)}"))
    table = pd.DataFrame([{
        "setup": _label(outcome), "seed": r.seed, "success": r.success,
        **r.final, "diverged at": r.member.diverged_at,
    } for outcome, report in zip(outcomes, reports) for r in report.runs])
    with st.expander("Every seed"):
        st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Loading a seed puts its setup and seed into the settings; press Train to see its whole run. Its result "
               "then says whether it ends as it did here, and why it may not.")
    row = st.container(horizontal=True, gap="small", key=k.load_best_row)
    for index, (outcome, report) in enumerate(zip(outcomes, reports)):
        best = report.best
        which = f" of {_label(outcome)}" if len(outcomes) > 1 else ""
        if row.button(f"Load the best seed{which} ({best.seed})", key=k.load_best(index), disabled=busy,
                      width="content", icon=":material/upload:"):
            # The setup that seed belongs to, not only its number: after "as asked and as answered"
            # the best seed of the fix must train the fix.
            controls.load_on_rerun(scenario, outcome.spec.with_value("seed", best.seed))


def _label(outcome: RestartsResult) -> str:
    """The setup by its preset button ("As asked", "Scaled"), or "Your settings" when the form matched none."""
    from core.cases import scenarios

    spec = outcome.spec
    try:
        return scenarios.get(spec.scenario).preset(spec.preset).label
    except SpecError:  # no scenario, or settings of the user's own ("custom")
        return "Your settings"


def _start(scenario: Scenario, specs, seeds: int) -> None:
    refused = run.refusal(specs, int(seeds))
    if refused:
        st.error("Nothing was trained. " + md(refused), icon=":material/timer_off:")
        return
    run.start(run.RestartsJob(scenario.id, list(specs), members=int(seeds)))
    st.rerun()


def _estimate(spec, seeds: int, both, mine: str = "these settings", pair: str = "as asked and as answered") -> str:
    """How long the restarts will take, before they start: from this server's own pace once it has timed a run; `mine`
    and `pair` name what the two buttons train, in the page's own words."""
    limits = run.budget()[0]
    cap = limits.seconds_for(seeds)
    basis = run.estimate_seconds(spec, seeds).basis
    parts = []
    for label, specs in ((mine, [spec]), (pair, both)):
        if specs is None:
            continue
        if run.refusal(specs, seeds):
            parts.append(f"{label}: over this server's budget, so it would be refused")
            continue
        seconds = sum(run.estimate_seconds(s, seeds).seconds for s in specs)
        text = f"{label}: about {_duration(seconds)}"
        if seconds > cap:
            text += f", more than this server's {_duration(cap)} per request, so it would stop there and keep what it learned"
        parts.append(text)
    return f"{seeds} seeds of " + "; ".join(parts) + f" ({basis})."


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 100:
        return f"{round(seconds / 5) * 5:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
