"""The settings panel of a case page: every spec field as a keyed widget, presets, and the URL.

Each control is one field of the RunSpec with a short URL name. Widget keys are `<case>.<url name>`
(ui/state.py), values are read back as text and parsed once, by the spec's own rules, so a bad value is
answered with the same message the command line gives. The form is read once per rerun (`read_spec`,
passed down by the page). The URL carries every setting that differs from the preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.cases.scenarios import Scenario
from core.settings.rules import FUNCTIONS, PLANE_FUNCTIONS, PLANE_REGRESSIONS
from core.settings.specs import DataSpec, ModelSpec, RunSpec, SpecError, all_rules, parse_value
from ui.state import keys


@dataclass(frozen=True)
class Control:
    path: str  # dotted spec field
    url: str  # query parameter name
    label: str
    group: str  # data, network, training
    functions: tuple[str, ...] = ()  # only for these data functions (empty: all)
    wide: bool = False  # the form's full width (a formula), not one of its two columns
    placeholder: str | None = None  # shown in an empty text box (what empty means)
    choices: tuple[str, ...] = ()  # a choice offered from these only (empty: all the rule's)


DRAWN = tuple(f for f in FUNCTIONS if f != "file")  # the functions whose data the lab draws (not a file)
LINE = tuple(f for f in DRAWN if f not in PLANE_FUNCTIONS)  # ... over one input
CONTROLS = (
    Control("data.function", "dataset", "Dataset", "data", PLANE_FUNCTIONS, choices=PLANE_FUNCTIONS),
    Control("data.features", "features", "Features", "data", PLANE_FUNCTIONS, placeholder="x1, x2"),
    Control("data.expression", "f", "Target f(x)", "data", ("custom",), wide=True),
    Control("data.x_columns", "xcol", "Input column", "data", ("file",), placeholder="all but the target"),
    Control("data.y_column", "ycol", "Target column", "data", ("file",), placeholder="the last"),
    Control("data.task", "task", "Task", "data", ("file",)),
    Control("data.test_share", "test", "Test share", "data", ("file",)),
    Control("data.x_min", "xmin", "x from", "data", DRAWN),
    Control("data.x_max", "xmax", "x to", "data", DRAWN),
    Control("data.n_samples", "n", "Samples", "data", DRAWN),
    Control("data.noise", "noise", "Noise (sd of y)", "data", ("sine", "parabola", "custom")),
    Control("data.noise", "noise", "Noise (0 to 0.5)", "data", PLANE_FUNCTIONS),
    Control("data.test_samples", "ntest", "Test points", "data", PLANE_FUNCTIONS),
    Control("data.classify_above", "above", "Classify above", "data", ("custom",)),
    Control("data.sampling", "sampling", "Sampling", "data", LINE),
    Control("data.amplitude", "amp", "Amplitude", "data", ("sine",)),
    Control("data.coef_a", "a", "Target A (x²)", "data", ("parabola",)),
    Control("data.coef_b", "b", "Target B (x)", "data", ("parabola",)),
    Control("data.coef_c", "c", "Target C", "data", ("parabola",)),
    Control("data.x_scaling", "xscale", "x scaling", "data"),
    Control("data.y_scaling", "yscale", "y scaling", "data", ("sine", "parabola", "custom", "file", *PLANE_REGRESSIONS)),
    Control("data.data_seed", "dseed", "Data seed", "data", DRAWN),
    Control("data.test_seed", "tseed", "Test seed", "data", ("file",)),
    Control("model.units", "units", "Hidden layer widths", "network"),
    Control("model.activation", "act", "Hidden activations", "network"),
    Control("model.output_activation", "out", "Output activation", "network"),
    Control("model.output_units", "outunits", "Output units", "network"),
    Control("model.use_bias", "bias", "Biases", "network"),
    Control("model.kernel_initializer", "init", "Weight initializer", "network"),
    Control("model.kernel_init_scale", "iscale", "Initializer scale", "network"),
    Control("model.bias_initializer", "binit", "Bias initializer", "network"),
    Control("model.l2", "l2", "L2 penalty", "network"),
    Control("train.optimizer", "opt", "Optimizer", "training"),
    Control("train.learning_rate", "lr", "Learning rate", "training"),
    Control("train.momentum", "mom", "Momentum", "training"),
    Control("train.nesterov", "nesterov", "Nesterov momentum", "training"),
    Control("train.decay", "decay", "Learning-rate decay", "training"),
    Control("train.loss", "loss", "Loss", "training"),
    Control("train.batch_size", "bs", "Batch size", "training"),
    Control("train.epochs", "epochs", "Epochs", "training"),
    Control("train.shuffle", "shuffle", "Shuffle every epoch", "training"),
    Control("train.clipnorm", "clip", "Clip gradient norm", "training"),
    Control("train.global_clipnorm", "gclip", "Clip global norm", "training"),
    Control("seed", "seed", "Seed", "training"),
)
RULES = all_rules()
GROUPS = (("data", "Data"), ("network", "Network"), ("training", "Training"))


def controls_for(scenario: Scenario) -> list[Control]:
    function = scenario.spec().data.function
    return [c for c in CONTROLS if not c.functions or function in c.functions]


def session_table(scenario: Scenario):
    """The data file this session gave the page (a core.data.datafile.Table), or None: the example is shown then."""
    return st.session_state.get(keys(scenario.id).table)


FILE_SETTINGS = ("data.x_columns", "data.y_column", "data.task")  # a file's column choice: kept when a preset is chosen


def file_defaults() -> dict[str, Any]:
    """The column choice a new file starts from, as its widgets show it (DataSpec's own defaults)."""
    return {path: widget_value(path, DataSpec.__dataclass_fields__[path.partition(".")[2]].default) for path in FILE_SETTINGS}


def _column_choice(scenario: Scenario) -> dict[str, Any]:
    by_path = {c.path: c for c in controls_for(scenario)}
    return {path: st.session_state[key(scenario, by_path[path])] for path in FILE_SETTINGS
            if path in by_path and key(scenario, by_path[path]) in st.session_state}


def attach(scenario: Scenario, spec: RunSpec) -> RunSpec:
    """`spec` on this session's data file (with the columns the form chooses), when the case trains on a file and one was given."""
    table = session_table(scenario)
    if table is None or spec.data.function != "file":
        return spec
    return spec.with_values(_column_choice(scenario), table=table)


def session_spec(scenario: Scenario, preset: str = "question", seed: int | None = None) -> RunSpec:
    """A preset's spec as this session sees it: on its own data file, if it gave one (raises SpecError if its columns do not fit)."""
    return attach(scenario, scenario.spec(preset, seed=seed))


def key(scenario: Scenario, control: Control) -> str:
    return keys(scenario.id).setting(control.url)


def value_of(spec: RunSpec, path: str) -> Any:
    section, _, name = path.partition(".")
    return getattr(getattr(spec, section), name) if name else getattr(spec, section)


def widget_value(path: str, value: Any) -> Any:
    """A spec value as its widget shows it (text for numbers and lists, so any value can be typed)."""
    rule = RULES[path]
    if rule.kind == "bool":
        return bool(value)
    if rule.kind == "choice":
        return value
    if value is None:
        return ""
    if path in ("model.activation", "model.kernel_initializer") and len(set(value)) == 1:
        return value[0]  # one name stands for every layer, so a changed layer count carries it along
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as exactly this number
    return str(value)


def fill(scenario: Scenario, spec: RunSpec) -> None:
    """Put every value of `spec` into the widgets' state (before they are drawn)."""
    for control in controls_for(scenario):
        st.session_state[key(scenario, control)] = widget_value(control.path, value_of(spec, control.path))


def apply_preset(scenario: Scenario, preset: str, seed: int | None = None) -> None:
    try:
        fill(scenario, session_spec(scenario, preset, seed=seed))
    except SpecError:  # the file's columns are still to be chosen: the preset fills the rest and keeps the choice
        kept = _column_choice(scenario)
        fill(scenario, scenario.spec(preset, seed=seed))
        for path, value in kept.items():
            st.session_state[key(scenario, next(c for c in CONTROLS if c.path == path))] = value
    st.session_state[keys(scenario.id).preset] = preset


def choose_preset(scenario: Scenario, preset: str, seed: int | None = None) -> None:
    """A preset button (or the compare button) pressed: its settings in the form (the page then writes the URL from the
    form: a URL written in a button's callback reached the browser one click late)."""
    apply_preset(scenario, preset, seed)


def load(scenario: Scenario, spec: RunSpec) -> None:
    """Settings loaded by a button (a doctor's candidate, a restart's best seed, a .keras file): form and preset (and so
    the URL, which the page writes from the form)."""
    fill(scenario, spec)
    if spec.preset in scenario.preset_names():
        st.session_state[keys(scenario.id).preset] = spec.preset


@dataclass(frozen=True)
class PresetRequest:
    """A preset (and seed) for the form and the URL on the next rerun: the compare button shows what it trained last."""

    preset: str
    seed: int | None = None


def load_on_rerun(scenario: Scenario, spec: RunSpec) -> None:
    """Put `spec` into the form (and the URL) and rerun: a button pressed below the form cannot fill its drawn widgets,
    so the page loads it first thing in the next run (`apply_requests`), on this session's data file."""
    st.session_state[keys(scenario.id).pending_spec] = spec
    st.rerun()


def apply_requests(scenario: Scenario) -> bool:
    """Before any widget is drawn: the compare button's preset, then a loaded spec. True when a spec was loaded."""
    k = keys(scenario.id)
    request: PresetRequest | None = st.session_state.pop(k.pending_preset, None)
    if request is not None:
        choose_preset(scenario, request.preset, request.seed)
    loaded: RunSpec | None = st.session_state.pop(k.pending_spec, None)
    if loaded is not None:
        load(scenario, attach(scenario, loaded))
    return loaded is not None


def current_preset(scenario: Scenario) -> str:
    """The preset the form started from (the base of the URL)."""
    return st.session_state.get(keys(scenario.id).preset, "question")


def init_from_url(scenario: Scenario) -> list[str]:
    """On a page's first run in a session: the preset, then URL values; warnings for bad ones."""
    k = keys(scenario.id)
    if st.session_state.get(k.initialised):
        return []
    st.session_state[k.initialised] = True
    warnings = []
    params = {name: st.query_params.get(name) for name in st.query_params}
    st.session_state[k.from_url] = bool(params)  # the page then checks the link against the budget
    preset = params.pop("preset", "question")
    if preset not in scenario.preset_names():
        warnings.append(f"URL parameter preset={preset!r} is not a preset of {scenario.id} "
                        f"(allowed: {', '.join(scenario.preset_names())}); using 'question'.")
        preset = "question"
    apply_preset(scenario, preset)
    base = scenario.spec(preset)
    by_url = {c.url: c for c in controls_for(scenario)}
    for name, raw in params.items():
        control = by_url.get(name)
        if control is None:
            warnings.append(f"URL parameter {name}={raw!r} is not a setting of this page; ignored "
                            f"(settings: {', '.join(by_url)}).")
            continue
        try:
            parsed = parse_value(control.path, raw)  # text from a link, by the same rule as the form's
        except SpecError as err:
            default = widget_value(control.path, value_of(base, control.path))
            warnings.append(f"URL parameter {name}={raw!r} ({control.label}) {err.refusal}. "
                            f"Using the default {default!r}.")
            continue
        st.session_state[key(scenario, control)] = widget_value(control.path, parsed)
    return warnings


def render_form(scenario: Scenario, busy: bool) -> bool:
    """The settings form (a tab per group, two columns each); returns True when Train was pressed."""
    controls = controls_for(scenario)
    with st.form(keys(scenario.id).form, border=True):
        tabs = st.tabs([title for _, title in GROUPS])
        for tab, (group, _) in zip(tabs, GROUPS):
            members = [c for c in controls if c.group == group]
            with tab:
                for control in (c for c in members if c.wide):
                    _widget(scenario, control)
                columns = st.columns(2, gap="small")
                for index, control in enumerate(c for c in members if not c.wide):
                    with columns[index % 2]:
                        _widget(scenario, control)
        return st.form_submit_button("Train", key=keys(scenario.id).train, type="primary", disabled=busy, width="stretch",
                                     icon=":material/play_arrow:")


def _widget(scenario: Scenario, control: Control) -> None:
    rule = RULES[control.path]
    k = key(scenario, control)
    help_text = f"{rule.help}. Allowed: {rule.allowed()}. URL: ?{control.url}=…"
    if rule.kind == "bool":
        st.checkbox(control.label, key=k, help=help_text)
    elif rule.kind == "choice":
        st.selectbox(control.label, control.choices or rule.choices, key=k, help=help_text)
    else:
        st.text_input(control.label, key=k, help=help_text, placeholder=control.placeholder)


@dataclass(frozen=True)
class FormRead:
    """The settings form as read once in a rerun: the spec it describes, labelled by the preset it matches (any seed)
    or "custom", or what is wrong with it, one line per setting."""

    spec: RunSpec | None
    errors: tuple[str, ...] = ()

    @property
    def preset(self) -> str | None:
        """The preset whose settings the form holds, or None for settings of the user's own (or wrong ones)."""
        return None if self.spec is None or self.spec.preset == "custom" else self.spec.preset


def read_spec(scenario: Scenario) -> FormRead:
    """The spec the widgets describe, each value parsed once by its rule, or the list of what is wrong with them.

    A page reads it once per rerun, after the requests of the last one are filled in, and passes it down.
    """
    base = scenario.spec(current_preset(scenario))
    changes, errors = {}, []
    for control in controls_for(scenario):
        raw = st.session_state.get(key(scenario, control))
        try:
            changes[control.path] = RULES[control.path].parse(control.path, raw)
        except SpecError as err:
            errors.append(f"{control.label} ({control.path}): {raw!r} {err.refusal}")
    if errors:
        return FormRead(None, tuple(errors))
    try:
        spec = base.with_values(changes, table=session_table(scenario) if base.data.function == "file" else None)
    except SpecError as err:  # a value that parses but does not fit the rest (a formula, activations per layer)
        label = next((c.label for c in controls_for(scenario) if c.path == err.field), None)
        return FormRead(None, (f"{label} ({err.field}): {err.value!r} {err.refusal}" if label else str(err),))
    matching = next((p for p in scenario.preset_names() if _same(scenario, p, spec)), "custom")
    return FormRead(dataclasses.replace(spec, scenario=scenario.id, preset=matching))


def _same(scenario: Scenario, preset: str, spec: RunSpec) -> bool:
    try:
        return session_spec(scenario, preset, seed=spec.seed).key() == spec.key()
    except SpecError:
        return False


def write_url(scenario: Scenario, spec: RunSpec) -> None:
    """Put the settings that differ from the preset into the URL, so a copied link reproduces them (only when they change:
    each write is a message to the browser)."""
    preset = spec.preset if spec.preset in scenario.preset_names() else current_preset(scenario)
    try:
        base = session_spec(scenario, preset)
    except SpecError:
        base = scenario.spec(preset)
    params = {} if preset == "question" else {"preset": preset}
    for control in controls_for(scenario):
        mine, theirs = value_of(spec, control.path), value_of(base, control.path)
        if mine != theirs:
            params[control.url] = str(widget_value(control.path, mine)).lower() if isinstance(mine, bool) else widget_value(control.path, mine)
    if {name: st.query_params.get(name) for name in st.query_params} != {name: str(value) for name, value in params.items()}:
        st.query_params.from_dict(params)


def architecture(spec: ModelSpec) -> str:
    """e.g. '1-4-1 relu/linear'."""
    widths = "-".join(str(w) for w in (spec.inputs, *spec.units, spec.output_units))
    acts = "/".join([*dict.fromkeys(spec.activation), spec.output_activation])
    return f"{widths} {acts}"
