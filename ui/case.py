"""The page every case shares: story, presets, settings, live training, results, compare, downloads.

A case page script calls `render(scenario_id, extras)`; the extras add what only that case has
(the parabola's algebra, the segments' classes and thresholds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.cases import scenarios
from core.cases.scenarios import Scenario
from core.io import export
from core.outcomes.restarts import seed_record
from core.outcomes.results import RunResult, metric_name
from core.settings.specs import SpecError, parse_value
from ui import charts, controls, datasource, doctor, errors, live, plane, restarts, run
from ui.display import lower_label, md, show_chart
from ui.state import keys


@dataclass(frozen=True)
class Extras:
    """What one case adds to the shared page."""

    live: Callable[[run.Job], None] | None = None  # drawn live while training (inside a placeholder)
    summary: Callable[[RunResult], None] | None = None  # beside the diagnostics
    tabs: tuple[tuple[str, Callable[[RunResult], None]], ...] = ()  # first result tabs


def render(scenario_id: str, extras: Extras = Extras()) -> None:
    with errors.guard(scenario_id):
        _render(scenarios.get(scenario_id), extras)


def _render(scenario: Scenario, extras: Extras) -> None:
    k = keys(scenario.id)
    live.begin(scenario.id)
    if controls.apply_requests(scenario):
        st.toast("Loaded into the settings. Press Train to see its whole run.")
    warnings = controls.init_from_url(scenario)
    form = controls.read_spec(scenario)  # once per rerun: every panel below reads this
    if form.spec is not None:  # the URL follows the settings on screen, whatever changed them
        controls.write_url(scenario, form.spec)
    st.title(scenario.title)
    st.caption(scenario.question)
    for warning in warnings:
        st.warning(md(warning), icon=":material/link_off:")
    if st.session_state.pop(k.from_url, False):
        if form.errors:  # a link whose values the form takes but the settings refuse (a formula, say)
            st.warning("This link's settings cannot be trained as they are; fix them in the form:\n\n"
                       + "\n".join(f"- {md(e)}" for e in form.errors), icon=":material/link_off:")
        refused = run.refusal([form.spec]) if form.spec is not None else None
        if refused:  # a shared link whose settings this server's budget does not allow
            st.warning("This link's settings are over this server's budget, so Train will refuse them. " + md(refused),
                       icon=":material/timer_off:")
    title = "The case: what was asked and what the answer proposed" if scenario.posted else "About this page"
    # Open until there is a result: then the settings and the charts get the laptop screen's height.
    with st.expander(title, expanded=k.result not in st.session_state):
        st.write(scenario.story)
        if scenario.posted:
            st.caption(f"Asked as {scenario.source}.")
    if datasource.trains_on_a_file(scenario):
        datasource.panel(scenario, form)
    _preset_buttons(scenario, form)

    job = run.active(scenario.id)
    busy = job is not None and job.running
    # Side by side on a wide screen; ui/style.css stacks the pair (settings on top) below 1100 px.
    settings, outcome = st.container(key="case-layout").columns([1.25, 2], gap="large")
    with settings:
        pressed = controls.render_form(scenario, busy)
        started = _train(scenario, form) if pressed and not busy else None
        refused = pressed and not busy and started is None  # _train said why, in red, under the form
        job = started or job
        busy = busy or started is not None
        live.slot(scenario.id, run.RunJob, job, chart_here=False)  # Train's progress and Stop, right under Train
        _compare_buttons(scenario, busy)
        limits, problem = run.budget()
        if problem:
            st.warning(problem, icon=":material/warning:")
        with st.expander("This server's limits"):
            st.caption(limits.describe() + ". A run over them is refused; one that outlives its time stops and keeps "
                       "what it learned.")
    with outcome:
        failure = st.session_state.pop(k.failure, None)
        if failure:
            st.error(md(failure), icon=":material/error:")
        live.chart_slot(scenario.id, job, run.RunJob)  # the live loss chart, where the results will be
        result = st.session_state.get(k.result)
        if result is not None:
            _results(scenario, result, extras)
        elif not (failure or refused or busy):  # a hint to press Train, never under a refusal of it
            st.info("Press **Train** to train the settings in the form.",
                    icon=":material/play_arrow:")
        st.divider()
        restarts.panel(scenario, busy, form)
    # Last, with the whole page drawn (so nothing fades as stale): the running job's box, redrawn until it ends.
    if live.follow(scenario.id, job, lambda running, box: _draw_live(running, box, extras)):
        _keep(scenario)


def _train(scenario: Scenario, form: controls.FormRead) -> run.Job | None:
    """Train pressed: the form's spec in a worker, or why not."""
    if form.errors:
        st.error("Nothing was trained, fix these settings first:\n\n" + "\n".join(f"- {md(e)}" for e in form.errors),
                 icon=":material/error:")
        return None
    refused = run.refusal([form.spec])  # the URL already holds form.spec: the page writes it each run
    if refused:
        st.error("Nothing was trained. " + md(refused), icon=":material/timer_off:")
        return None
    return run.start(run.RunJob(scenario.id, [form.spec]))


def _preset_buttons(scenario: Scenario, form: controls.FormRead) -> None:
    current = form.preset
    k = keys(scenario.id)
    # Buttons as wide as their labels, wrapping onto a second row in a narrow window.
    with st.container(horizontal=True, gap="small", key=k.presets):
        for preset in scenario.presets:
            st.button(
                preset.label, key=k.preset_button(preset.name), help=preset.description, width="content",
                type="primary" if preset.name == current else "secondary",
                on_click=controls.choose_preset, args=(scenario, preset.name),
            )
    if current is None:
        base = scenario.preset(controls.current_preset(scenario)).label
        st.caption(f"Settings: **your own** (started from {base}). A preset fills every setting; Train runs it.")
    else:
        st.caption(f"Preset: **{scenario.preset(current).label}**. A preset fills every setting; Train runs it.")


def _compare_buttons(scenario: Scenario, busy: bool) -> None:
    k = keys(scenario.id)
    has_result = k.result in st.session_state
    row = st.container(horizontal=True, gap="small", key=k.compare_row)
    if "answer" in scenario.preset_names() and row.button(
            compare_label(scenario), key=k.compare, disabled=busy, width="content",
            icon=":material/compare_arrows:",
            help="Train the posted setup and the posted fix with the same seed (one run each) and compare them in the Compare tab."):
        seed = _typed_seed(scenario)
        try:
            specs = [controls.session_spec(scenario, "question", seed=seed), controls.session_spec(scenario, "answer", seed=seed)]
        except SpecError as err:
            st.error("Nothing was trained: " + md(str(err)), icon=":material/error:")
            return
        refused = run.refusal(specs)
        if refused:
            st.error("Nothing was trained. " + md(refused), icon=":material/timer_off:")
            return
        st.session_state[k.pending_preset] = controls.PresetRequest("answer", seed)
        run.start(run.RunJob(scenario.id, specs, compare=True))
        st.rerun()
    if row.button("Keep this run as A", key=k.keep, disabled=busy or not has_result, width="content",
                  help="Keep the current result; the next run is compared with it in the Compare tab."):
        st.session_state[k.kept] = st.session_state[k.result]
        st.toast("Kept as A. Change a setting and train B.")
    if row.button("Forget A", key=k.forget, disabled=k.kept not in st.session_state, width="content"):
        st.session_state.pop(k.kept, None)


def compare_label(scenario: Scenario) -> str:
    """The compare button, named by the two presets it trains ("Compare as asked with as answered")."""
    return f"Compare {lower_label(scenario.preset('question').label)} with {lower_label(scenario.preset('answer').label)}"


def _typed_seed(scenario: Scenario) -> int:
    raw = st.session_state.get(keys(scenario.id).setting("seed"))
    try:
        return parse_value("seed", raw)
    except SpecError:
        return scenario.spec().seed


def _keep(scenario: Scenario) -> None:
    """The job has ended: keep its results for the page and draw it again."""
    k = keys(scenario.id)
    job = run.finish(scenario.id)
    if job is None:
        return
    if job.error:
        # Shown after the rerun below (an element drawn now would vanish with it).
        st.session_state[k.failure] = job.error
    if isinstance(job, run.DoctorJob):
        if job.report is not None:
            st.session_state[k.doctor] = job.report
    elif isinstance(job, run.RestartsJob) and job.results:
        st.session_state[k.restarts] = job.results
        for outcome in job.results:
            if not outcome.stopped:
                run.record_time(outcome.spec, job.members, outcome.wall_s)
    elif isinstance(job, run.RunJob) and job.results:
        if job.compare and len(job.results) == 2:
            st.session_state[k.kept] = job.results[0]
        st.session_state[k.result] = job.results[-1]
        st.session_state[k.ran_for] = job.finished - job.started
    st.rerun()


def _draw_live(job: run.Job, box: live.Box, extras: Extras) -> None:
    progress, live_chart, live_extra = box.progress, box.chart, box.extra
    if isinstance(job, run.DoctorJob):
        doctor.draw_live(job, progress, live_extra)
        return
    spec = job.current
    members = job.members if isinstance(job, run.RestartsJob) else 0
    which = f"{job.index + 1} of {len(job.specs)}: {spec.preset} · " if len(job.specs) > 1 else ""
    elapsed = f"{time.perf_counter() - job.started:.1f} s"
    if job.waiting:
        progress.progress(0.0, text=f"{which}Waiting for a free training slot: {run.busy_slots(job)} of "
                                    f"{job.budget.max_trainings} on this server busy · {elapsed}")
        return
    live = job.live
    if live is None or job.starting:
        text = ("starting the training process (it loads TensorFlow once, a few seconds)" if job.starting
                else "sending the run to the training process")
        progress.progress(0.0, text=f"{f'Restarts, {members} seeds · ' if members else ''}{which}{text} · {elapsed}")
        return
    if members:
        median = live.logs.get("median_loss")
        state = (f"epoch {live.epoch:,} of {spec.train.epochs:,} · median loss {median:.4g}" if live.epoch and median is not None
                 else "compiling the training loop for these seeds")
        progress.progress(min(live.epoch / spec.train.epochs, 1.0), text=f"Restarts, {members} seeds · {which}{state} · {elapsed}")
        return
    epochs = spec.train.epochs
    if live.epoch == 0:
        text = f"{which}compiling the training loop for this architecture (once per architecture) · {elapsed}"
    else:
        logs = ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in live.logs.items())
        text = f"{which}epoch {live.epoch:,} of {epochs:,} · {logs} · {elapsed}"
    progress.progress(min(live.epoch / epochs, 1.0), text=text)
    history = {k: list(v) for k, v in live.history.items()}
    metric = metric_name(spec.data.resolved_task, spec.data.function)
    history.setdefault("loss", [])
    history.setdefault(metric, [])
    with live_chart.container():
        _history(history, metric)
    draw_extra = extras.live or (plane.live if plane.two_inputs(spec) else None)
    if draw_extra is not None:
        with live_extra.container():
            draw_extra(job)



def _results(scenario: Scenario, result: RunResult, extras: Extras) -> None:
    waited = st.session_state.get(keys(scenario.id).ran_for, result.wall_s)
    cached = waited < 0.5 * result.wall_s
    final = " · ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in result.final.items())
    why = "by the wall-clock budget" if result.stop_reason == "budget" else "on request"
    how = f" (stopped {why} after {result.epochs_run:,} of {result.spec.train.epochs:,} epochs)" if result.stopped else ""
    how += f" (diverged in epoch {result.diverged_at:,})" if result.diverged_at else ""
    how += " (shown from the cache)" if cached else ""
    line = (f"Trained in {result.wall_s:.2f} s{how} · {controls.architecture(result.spec.model)} · {_plural(result.epochs_run, 'epoch')} · "
            f"{_plural(result.steps, 'optimizer step')} · seed {result.spec.seed} · {_preset_label(scenario, result)}"
            + (f" · {final}" if final else ""))
    if result.diverged_at or result.stop_reason == "budget":
        st.info(line, icon=":material/info:")  # trained, but not as asked: the box below says why
    else:
        st.success(line, icon=":material/check_circle:")
    if _loss_units(result):
        st.caption(_loss_units(result))
    if result.diverged_at:
        st.error(_divergence_markdown(result), icon=":material/trending_up:")
    if result.stop_reason == "budget":
        st.warning(run.budget()[0].stop_message(result.epochs_run, result.spec.train.epochs), icon=":material/timer_off:")
    restarts.verdict(result, restarts.criterion(scenario, result.task))
    record = seed_record(result, st.session_state.get(keys(scenario.id).restarts) or [])
    if record is not None:
        (st.caption if record.agrees else st.info)(record.text())
    if extras.summary is not None:
        extras.summary(result)
    rule = restarts.criterion(scenario, result.task)
    found = doctor.findings_block(scenario, result, rule)
    job = run.active(scenario.id)
    doctor.fix_panel(scenario, result, rule, found, busy=job is not None and job.running)
    if plane.two_inputs(result.spec):
        _plane_results(scenario, result, extras)
        return
    names = [t for t, _ in extras.tabs] + ["Fit", "Loss & metric", "Weights", "Hidden units", "Replay", "Compare"]
    tabs = st.tabs(names, key=keys(scenario.id).tabs)
    for tab, (_, draw) in zip(tabs, extras.tabs):
        with tab:
            draw(result)
    offset = len(extras.tabs)
    with tabs[offset]:
        show_chart(charts.fit_chart(result))
        show_chart(charts.residual_chart(result))
    with tabs[offset + 1]:
        _history(result.history, result.metric)
    with tabs[offset + 2]:
        show_chart(charts.weights_chart(result))
    with tabs[offset + 3]:
        show_chart(charts.units_chart(result))
    with tabs[offset + 4]:
        _replay(scenario, result)
    with tabs[offset + 5]:
        _compare(scenario, result)
    _downloads(scenario, result)


def _plane_results(scenario: Scenario, result: RunResult, extras: Extras) -> None:
    """Two inputs: the Playground's views (the output over the square, a map per unit, the network) in the same tabs."""
    names = [t for t, _ in extras.tabs] + ["Surface", "Loss & metric", "Hidden units", "Network", "Replay", "Compare"]
    tabs = st.tabs(names, key=keys(scenario.id).tabs)
    for tab, (_, draw) in zip(tabs, extras.tabs):
        with tab:
            draw(result)
    offset = len(extras.tabs)
    with tabs[offset]:
        plane.surface_tab(result)
    with tabs[offset + 1]:
        _history(result.history, result.metric)
    with tabs[offset + 2]:
        plane.units_tab(result)
    with tabs[offset + 3]:
        plane.network_tab(result)
    with tabs[offset + 4]:
        _replay(scenario, result)
    with tabs[offset + 5]:
        _compare(scenario, result)
    _downloads(scenario, result)


def _history(history, metric: str) -> None:
    """Loss and metric side by side, each chart its column's width (Streamlit stacks them on a phone)."""
    for column, chart in zip(st.columns(2, gap="medium"), charts.history_charts(history, metric)):
        with column:
            show_chart(chart)


def _preset_label(scenario: Scenario, result: RunResult) -> str:
    """The preset (or "your own settings"), and on Your function the formula fitted, exactly as typed."""
    preset = result.spec.preset
    label = f"preset {scenario.preset(preset).label}" if preset in scenario.preset_names() else "your own settings"
    data = result.spec.data
    return f"fitting y = {md(data.expression)} · {label}" if data.function == "custom" else label


def _loss_units(result: RunResult) -> str:
    """The loss is computed on the scaled target: say so where it stands next to an error in y's own units."""
    data = result.spec.data
    if result.task == "regression" and data.y_scaling != "none":
        return (f"The loss is computed on y scaled by {data.y_scaling} (what the network sees); the max abs error is "
                f"in y's own units, on the clean target.")
    return ""


def _divergence_markdown(result: RunResult) -> str:
    """The divergence finding laid out as a short head and two lists."""
    found = result.divergence
    causes = "\n".join(f"- {cause}" for cause in found.causes)
    fixes = "\n".join(f"- {fix}" for fix in found.fixes)
    return f"**Training diverged** {found.summary}\n\n**Likely cause**\n{causes}\n\n**Try**\n{fixes}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


REPLAY_SPEEDS = {"slow": 2.0, "normal": 5.0, "fast": 12.0}  # recorded epochs shown per second while playing


@st.fragment
def _replay(scenario: Scenario, result: RunResult) -> None:
    """The fit at each recorded epoch: a slider, and Play, which steps through them at the chosen speed. A fragment: a
    step redraws this tab only, not the page."""
    k = keys(scenario.id)
    epochs = [int(e) for e in result.replay_epochs]
    if len(epochs) < 2:
        st.info("Only one recorded epoch: nothing to replay.")
        return
    playing = bool(st.session_state.get(k.replay_play))
    if st.session_state.get(k.replay) not in epochs:
        st.session_state[k.replay] = epochs[-1]
    if playing:  # the next recorded epoch, set before the slider is drawn; from the start again after the last
        at = epochs.index(st.session_state[k.replay])
        st.session_state[k.replay] = epochs[at + 1] if at + 1 < len(epochs) else epochs[-1]
    row = st.container(horizontal=True, gap="small", vertical_alignment="bottom")
    if row.button("Pause" if playing else "Play", key=f"{k.replay_play}.button", width="content",
                  icon=":material/pause:" if playing else ":material/play_arrow:"):
        playing = not playing
        st.session_state[k.replay_play] = playing
        if playing and st.session_state[k.replay] == epochs[-1]:
            st.session_state[k.replay] = epochs[0]  # Play at the end starts over
    speed = row.segmented_control("Speed", list(REPLAY_SPEEDS), default="normal", key=k.replay_speed)
    epoch = st.select_slider("Epoch", options=epochs, key=k.replay)
    if plane.two_inputs(result.spec):
        plane.replay(result, epochs.index(epoch))
    else:
        show_chart(charts.replay_chart(result, epochs.index(epoch)))
    if playing:
        if epoch == epochs[-1]:
            st.session_state[k.replay_play] = False
        time.sleep(1.0 / REPLAY_SPEEDS.get(speed or "normal", 5.0))
        st.rerun(scope="fragment")


def _compare(scenario: Scenario, result: RunResult) -> None:
    kept = st.session_state.get(keys(scenario.id).kept)
    if kept is None:
        # The compare button trains the question's own data: offered only when this run is on the same data.
        same_data = "answer" in scenario.preset_names() and scenario.spec().data.function == result.spec.data.function
        also = f", or press **{compare_label(scenario)}**" if same_data else ""
        st.info(f"Press **Keep this run as A**, change something and train again{also}.")
        return
    if plane.two_inputs(result.spec) or plane.two_inputs(kept.spec):
        plane.compare(kept, result)
        show_chart(charts.compare_loss_chart(kept, result, "A", "B (current)"))
    else:
        for chart in charts.compare_charts(kept, result, "A", "B (current)"):
            show_chart(chart)
    differences = kept.spec.differences(result.spec)
    # One activation name for every layer is one setting, however many layers it covers (relu = relu,relu).
    act = differences.get("model.activation")
    if act and len(set(act[0])) == len(set(act[1])) == 1 and set(act[0]) == set(act[1]):
        del differences["model.activation"]
    rows = [{"setting": k, "A": _show(a), "B (current)": _show(b)} for k, (a, b) in differences.items()]
    for name in sorted(set(kept.final) | set(result.final)):
        rows.append({"setting": f"final {name}", "A": _show(kept.final.get(name)), "B (current)": _show(result.final.get(name))})
    frame = pd.DataFrame(rows, columns=["setting", "A", "B (current)"])
    changed = set(differences)
    st.dataframe(
        frame.style.apply(lambda row: ["background-color: #fff3bf" if row["setting"] in changed else "" for _ in row], axis=1),
        hide_index=True, width="stretch",
    )
    if not differences:
        st.caption("A and B have the same settings.")


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "—" if value is None else str(value)


def _downloads(scenario: Scenario, result: RunResult) -> None:
    stem = f"{scenario.id}-{result.spec.preset}-seed{result.spec.seed}"
    k = keys(scenario.id)
    row = st.container(horizontal=True, gap="small", key=k.downloads)
    row.download_button("History (CSV)", export.history_csv(result.history), f"{stem}-history.csv", "text/csv",
                        key=k.download("csv"), width="content", on_click="ignore", icon=":material/download:")
    row.download_button("Run (JSON)", lambda: json.dumps(result.to_json(full=True)), f"{stem}.json", "application/json",
                        key=k.download("json"), width="content", on_click="ignore", icon=":material/download:",
                        help="The settings, every epoch's loss and metric, the weights over training and the final fit.")
    row.download_button("Trained model (.keras)", lambda: run.model_file(result), f"{stem}.keras",
                        "application/octet-stream", key=k.download("keras"), width="content", on_click="ignore",
                        icon=":material/download:", help=export.MODEL_NOTE)
    row.download_button("Keras script (.py)", export.run_script(result), f"{stem}.py", "text/x-python",
                        key=k.download("py"), width="content", on_click="ignore", icon=":material/download:",
                        help="A plain numpy + Keras script that rebuilds this run outside the lab.")
