"""A case page's state: every key named once (ui/state.py), the form read once per rerun, one identity per run."""

import dataclasses
import pathlib
import re
from types import SimpleNamespace

from streamlit.testing.v1 import AppTest

from core.cases import scenarios
from core.settings.criteria import Criterion
from ui.controls import CONTROLS
from ui.state import PageKeys, keys

UI = pathlib.Path(__file__).resolve().parent.parent / "ui"


def test_the_keys_keep_the_strings_the_pages_and_tests_use():
    k = keys("segments")
    assert (k.result, k.job, k.kept, k.pending_preset, k.restarts, k.doctor) == (
        "segments.result", "segments.job", "segments.A", "segments.pending", "segments.restarts", "segments.doctor")
    assert k.setting("lr") == "segments.lr" and k.preset_button("answer") == "segments.preset.answer"
    assert keys("data").source == "data-source"  # the browser tests find .st-key-data-source
    assert k.threshold("accuracy_at_least", own=True) == "segments.threshold"
    assert k.threshold("max_abs_error_below", own=False) == "segments.threshold.max_abs_error_below"
    assert keys("segments") is k


def test_no_setting_takes_the_name_of_another_key_family():
    taken = set(PageKeys.names())
    clashes = sorted({c.url for c in CONTROLS} & taken)
    assert not clashes, f"settings whose URL names are also state keys: {clashes}"


def test_every_session_state_key_is_spelled_in_ui_state_only():
    spelled = re.compile(r'f"\{(scenario\.id|sid|scenario|scenario_id)\}(\.|-source)')
    found = [f"{path.name}:{number}: {line.strip()}" for path in sorted(UI.glob("*.py")) if path.name != "state.py"
             for number, line in enumerate(path.read_text().splitlines(), 1) if spelled.search(line)]
    assert not found, "\n".join(found)


def test_the_form_is_read_once_per_rerun(monkeypatch):
    import ui.controls
    from core.settings import specs

    reads, built = [], []
    read_spec = ui.controls.read_spec
    monkeypatch.setattr(ui.controls, "read_spec", lambda scenario: reads.append(1) or read_spec(scenario))
    post_init = specs.RunSpec.__post_init__
    monkeypatch.setattr(specs.RunSpec, "__post_init__", lambda self: built.append(1) or post_init(self))
    at = AppTest.from_file("../pages/sine-relu.py", default_timeout=60).run()
    for change in (lambda: None, lambda: at.text_input(key="sine-relu.lr").set_value("0.02"),
                   lambda: at.button(key="sine-relu.preset.answer").click()):
        change()
        reads.clear()
        built.clear()
        at.run()
        assert not at.exception
        assert len(reads) == 1
        assert len(built) <= 3, len(built)  # the form's spec and its label; before, 55 RunSpecs in three reads


def test_a_cached_outcome_is_shown_under_the_labels_it_was_asked_for():
    from core.doctor import DoctorReport
    from ui.run import DoctorRequest, _labelled

    case = scenarios.get("segments")
    asked, mine = case.spec("answer"), dataclasses.replace(case.spec("answer"), preset="custom")
    assert asked.key() == mine.key()  # one cache entry for both
    report = DoctorReport(findings=(), criterion=case.criterion, seeds=(0,), control=None, fixes=(), posted_fix=None, tried=(),
                          skipped=(), target=0.9, wall_s=1.0, spec=asked)
    again = _labelled(report, mine)
    assert again.spec.preset == "custom" and again.spec.key() == asked.key() and again.wall_s == 1.0
    assert _labelled(report, asked) is report
    # A search's key: its settings, seeds, criterion, posted fix and budget, never its labels (a run stands in for the result).
    def key(spec, **changes):
        fields = {"result": SimpleNamespace(spec=spec), "findings": (), "criterion": case.criterion, "seeds": 16,
                  "posted": case.spec("answer"), **changes}
        return DoctorRequest(**fields).key(300)

    assert key(asked) == key(mine)
    assert key(asked) != key(asked, criterion=Criterion("accuracy_at_least", 0.9))
    assert key(asked) != key(asked, seeds=8)
    assert key(asked) != key(asked, posted=None)
    assert key(asked) != key(asked.with_value("train.epochs", 21))
