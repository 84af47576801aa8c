"""The session state of a case page: every key it keeps, named in one place.

A case page keeps its settings, its results and its requests for the next rerun in `st.session_state`,
each under a key that starts with the case's id (`segments.result`, `segments.lr`). `keys(page)` names
every family once, with what it holds; the modules that read or write the state ask it for the key, so
no key is spelled in two places. The strings are the ones the pages always used (the tests press
widgets by them, the browser tests find `.st-key-data-upload`), so a key's text never changes here.
"""

from __future__ import annotations

import functools


class _Key:
    """One key family: `<page>.<name>`, with a line on what it holds."""

    def __init__(self, name: str, holds: str, sep: str = "."):
        self.name, self.holds, self.sep = name, holds, sep

    def __get__(self, keys: PageKeys | None, owner: type) -> str | _Key:
        return self if keys is None else f"{keys.page}{self.sep}{self.name}"


class PageKeys:
    """The session_state keys of one case page (`keys("segments").result == "segments.result"`)."""

    def __init__(self, page: str):
        self.page = page

    # The settings form: one widget per setting, keyed by its URL name (`setting`), and where it started.
    preset = _Key("preset", "the preset the form started from (the base of the URL)")
    initialised = _Key("initialised", "True once the page filled the form from its URL in this session")
    from_url = _Key("from_url", "True on the first rerun of a page opened with settings in its URL (checked against the budget)")
    form = _Key("form", "the settings form")
    train = _Key("train", "the form's Train button")
    presets = _Key("presets", "the row of preset buttons")
    # Requests for the next rerun, filled in before any widget is drawn.
    pending_preset = _Key("pending", "a controls.PresetRequest: the compare button's preset and seed, for the form and the URL")
    pending_spec = _Key("pending_spec", "a RunSpec to load into the form: a doctor's candidate or a restart's best seed")
    # The job in a worker and what it left.
    job = _Key("job", "the ui.run.Job training for this page (a RunJob, RestartsJob or DoctorJob)")
    stop = _Key("stop", "the Stop button of the job's live box")
    failure = _Key("failure", "a failed job's message, shown once after its rerun")
    result = _Key("result", "the RunResult on the page")
    ran_for = _Key("ran_for", "seconds from Train to the result (much less than its training time: it came from the cache)")
    kept = _Key("A", "the RunResult kept as A, compared with the current one")
    compare_row = _Key("compare_row", "the row of the compare, keep and forget buttons")
    compare = _Key("asked_vs_answered", "the button that trains the posted setup and the posted fix")
    keep = _Key("keep", "the Keep this run as A button")
    forget = _Key("forget", "the Forget A button")
    tabs = _Key("tabs", "the result's tabs")
    replay = _Key("replay", "the replay's epoch slider")
    replay_play = _Key("replay_play", "True while the replay plays (its Play and Pause button)")
    replay_speed = _Key("replay_speed", "the replay's speed (recorded epochs per second)")
    downloads = _Key("downloads", "the row of download buttons")
    # Restarts.
    restarts = _Key("restarts", "the list of RestartsResult of the last restarts request")
    seeds = _Key("seeds", "the restarts' seed count")
    restart = _Key("restart", "the Train N seeds button")
    restart_compare = _Key("restart_compare", "the button that trains N seeds of the posted setup and of the posted fix")
    restart_row = _Key("restart_row", "the row of the restarts' controls")
    load_best_row = _Key("load_best_row", "the row of the Load the best seed buttons")
    # The doctor.
    doctor = _Key("doctor", "the DoctorReport of the last fix search")
    fix_row = _Key("fix_row", "the row of the Find a fix controls")
    doctor_seeds = _Key("doctor_seeds", "the fix search's seeds per candidate")
    find_fix = _Key("find_fix", "the Find a fix button")
    doctor_pick = _Key("doctor_pick", "which measured setup to load")
    doctor_load = _Key("doctor_load", "the Load it button")
    # A case that trains on a file (Your data).
    table = _Key("table", "the data file this session gave the page (a core.data.datafile.Table)")
    source = _Key("source", "the data box", sep="-")
    upload = _Key("upload", "the CSV upload widget")
    paste = _Key("paste", "the pasted rows")
    use_paste = _Key("use_paste", "the Use these rows button")
    example = _Key("example", "the Back to the example button")
    data_error = _Key("data_error", "why the last file or paste was refused")
    model_upload = _Key("model_upload", "the .keras upload widget")
    model_note = _Key("model_note", "what a .keras file put into the form, and what it could not")
    model_error = _Key("model_error", "why the last .keras file was refused")

    def setting(self, url: str) -> str:
        """The widget of one setting, by its URL name (`segments.lr`)."""
        return f"{self.page}.{url}"

    def preset_button(self, preset: str) -> str:
        return f"{self.page}.preset.{preset}"

    def threshold(self, kind: str, own: bool) -> str:
        """The success threshold typed for a criterion kind: the case's own kind, or another task's (`.threshold.<kind>`)."""
        return f"{self.page}.threshold" if own else f"{self.page}.threshold.{kind}"

    def load_best(self, index: int) -> str:
        """The Load the best seed button of the index-th restarts outcome."""
        return f"{self.page}.load_best.{index}"

    def download(self, kind: str) -> str:
        """A download button: csv, json, keras or py."""
        return f"{self.page}.dl.{kind}"

    @classmethod
    def names(cls) -> dict[str, str]:
        """Every fixed family's name -> what it holds (settings are keyed by their URL names, which must not be one of these)."""
        fixed = {k.name: k.holds for k in vars(cls).values() if isinstance(k, _Key)}
        return {**fixed, "threshold": "success thresholds", "load_best": "load buttons", "dl": "downloads"}


@functools.cache
def keys(page: str) -> PageKeys:
    """The keys of the case page `page` (a scenario id)."""
    return PageKeys(page)
