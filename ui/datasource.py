"""The data file of a case that trains on one ("Your data"): an upload or pasted rows, kept in this session only.

A file is read from its bytes in memory (core/data/datafile.py) and kept in `st.session_state`, never on disk
and never in a cache that another session could hit. A bad file is answered with one message naming
its line, its column and what is allowed; the data and results from before stay.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.cases.scenarios import Scenario
from core.data import datafile
from core.io import kerasfile
from core.settings.errors import SpecError, shorten
from ui import controls
from ui.display import md
from ui.state import keys


def trains_on_a_file(scenario: Scenario) -> bool:
    return scenario.spec().data.function == "file"


def panel(scenario: Scenario, form: controls.FormRead) -> None:
    """Where the data comes from: the upload, the paste box, what was read, and why a file was refused (`form`: the
    settings form as read in this rerun, whose file settings are checked here)."""
    k = keys(scenario.id)
    own = controls.session_table(scenario)
    table = own if own is not None else scenario.spec().data.table
    with st.container(border=True, key=k.source):
        st.markdown("**The data**")
        left, right = st.columns(2, gap="medium")
        left.file_uploader(
            "Your data: a CSV file", type=["csv", "txt", "tsv", "dat"], key=k.upload, on_change=_uploaded, args=(scenario,),
            max_upload_size=datafile.MAX_BYTES // (1024 * 1024),
            help=(f"Rows of numbers: the input, then the target (other columns: choose them in the Data tab). A header "
                  f"line is detected; commas, semicolons, tabs or spaces separate the cells. {datafile.MIN_ROWS} to "
                  f"{datafile.MAX_ROWS:,} rows, at most {datafile.MAX_BYTES // (1024 * 1024)} MB, every cell a finite number "
                  f"of at most {datafile.MAX_VALUE:g}. Kept in this session's memory only."),
        )
        right.file_uploader(
            "Your Keras model (optional)", type=["keras"], key=k.model_upload, on_change=_model_uploaded, args=(scenario,),
            max_upload_size=kerasfile.MAX_BYTES // (1024 * 1024),
            help=("A .keras file saved by Keras 3: its Dense layers (units, activations, biases, initializers) and its "
                  "compile settings (optimizer, learning rate, loss) fill the settings below. It is read as JSON, so no code "
                  "in it runs; the lab trains that architecture from fresh weights drawn with the run's seed."),
        )
        note, failed = st.session_state.get(k.model_note), st.session_state.get(k.model_error)
        if failed:
            st.error(md(failed), icon=":material/error:")
        elif note:
            st.info(md(note), icon=":material/model_training:")
        with st.expander("…or paste rows"):
            st.text_area("Rows (CSV)", key=k.paste, height=140, placeholder="x,y\n0,0.1\n1,0.9\n2,4.2\n3,8.8",
                         max_chars=datafile.PASTE_CHARS, help=f"At most {datafile.PASTE_CHARS:,} characters; a bigger table is an upload.")
            st.button("Use these rows", key=k.use_paste, on_click=_pasted, args=(scenario,))
        problem = st.session_state.get(k.data_error)
        if problem:
            st.error(md(problem), icon=":material/error:")
        columns = _column_problems(scenario, form)
        if columns:  # the file is fine, the form's columns, task or test share are not (three inputs, a hold-out of every row)
            st.warning("This file needs other settings in the Data tab (its columns, its task or its test share) before Train: "
                       + "; ".join(md(c) for c in columns),
                       icon=":material/view_column:")
        what = "the example" if own is None else "your data"
        names = ", ".join(md(shorten(n, 40)) for n in table.names[:12]) + (f" and {len(table.names) - 12} more" if len(table.names) > 12 else "")
        st.caption(f"Training on {what}: **{md(shorten(table.name or 'pasted rows', 80))}**, {table.rows:,} rows, columns "
                   + names + (" (header line)" if table.header else " (no header)")
                   + ". " + _chosen(form))
        with st.expander("First rows"):
            st.dataframe(pd.DataFrame(table.values[:8], columns=list(table.names)), hide_index=True, width="stretch")
        row = st.container(horizontal=True, gap="small")
        if own is not None:
            row.button("Back to the example", key=k.example, on_click=_forget, args=(scenario,), width="content")
        row.caption("A link carries the settings, never the file: whoever opens it trains on the example until they load "
                    "the same file.")


def _column_problems(scenario: Scenario, form: controls.FormRead) -> list[str]:
    if controls.session_table(scenario) is None:
        return []
    return [e for e in form.errors if any(path in e for path in ("data.x_columns", "data.y_column", "data.task", "data.test_share", "data.file",
                                                              "model.output_units"))]


def _chosen(form: controls.FormRead) -> str:
    spec = form.spec
    if spec is None:
        return ""
    chosen = spec.data.chosen
    task = chosen.task + (f" of {len(chosen.classes)} classes" if chosen.classes else "")
    held = f"; {spec.data.test_samples} rows held out for testing" if spec.data.test_samples else ""
    inputs = ", ".join(f"**{md(name)}**" for name in chosen.x_names)
    return f"Input{'s' if len(chosen.x_names) > 1 else ''} {inputs}, target **{md(chosen.y_name)}** ({task}){held}."


def _uploaded(scenario: Scenario) -> None:
    upload = st.session_state.get(keys(scenario.id).upload)
    if upload is None:  # the user removed the file from the widget: the data it gave stays until they choose another
        return
    _use(scenario, upload.getvalue(), shorten(upload.name, 80), f"The file {shorten(upload.name, 80)!r} was")


def _pasted(scenario: Scenario) -> None:
    text = st.session_state.get(keys(scenario.id).paste) or ""
    _use(scenario, text.encode(), "pasted rows", "The pasted rows were")


def _use(scenario: Scenario, content: bytes, name: str, what: str) -> None:
    """Read `content`; on success it becomes the session's data, on failure the message says why and nothing changes."""
    k = keys(scenario.id)
    try:
        table = datafile.parse(content, name=name)
    except SpecError as err:
        st.session_state[k.data_error] = (f"{what} not used: {err.value} is not allowed; allowed: {err.allowed}. "
                                                 "The data and results from before are kept.")
        return
    st.session_state[k.table] = table
    st.session_state.pop(k.data_error, None)
    for path, default in controls.file_defaults().items():  # a new file starts from the default columns and an inferred task
        control = next(c for c in controls.CONTROLS if c.path == path)
        st.session_state[controls.key(scenario, control)] = default


def _model_uploaded(scenario: Scenario) -> None:
    """A .keras file: its settings go into the form (and the URL), or a message names the layer that cannot be rebuilt."""
    k = keys(scenario.id)
    upload = st.session_state.get(k.model_upload)
    if upload is None:
        return
    try:
        settings, notes = kerasfile.read_model(upload.getvalue(), upload.name)
        spec = controls.session_spec(scenario, controls.current_preset(scenario)).with_text(settings)
        kerasfile.check_inputs(settings, spec)
    except SpecError as err:
        st.session_state[k.model_error] = (f"The model {shorten(upload.name, 80)!r} was not used: {err.value} is not allowed; "
                                                 f"allowed: {err.allowed}. The settings before it are kept.")
        return
    controls.load(scenario, spec)
    st.session_state.pop(k.model_error, None)
    scaling = "".join(f", {axis} scaling {getattr(spec.data, f'{axis}_scaling')}" for axis in ("x", "y")
                      if f"data.{axis}_scaling" in settings)  # the lab's own download carries its scalers
    st.session_state[k.model_note] = " ".join([
        f"The settings of {upload.name!r} are in the form: {controls.architecture(spec.model)}, {spec.train.optimizer} at learning "
        f"rate {spec.train.learning_rate:g}, loss {spec.train.loss}{scaling}. Training starts from fresh weights drawn with the "
        "run's seed, not from the file's weights.", *notes])


def _forget(scenario: Scenario) -> None:
    st.session_state.pop(keys(scenario.id).table, None)
    st.session_state.pop(keys(scenario.id).data_error, None)
