"""`python -m core casebook`: the doctor against a case's accepted answer and plain searches of the same cost (issue 24)."""

import json

import pytest
from inprocess import cli

from core.cli.casebook import HOME, load
from core.doctor import space
from core.settings.errors import SpecError


def test_the_projects_casebook_loads_and_every_case_reads_as_the_command_line_reads_it():
    from core.cli import diagnose
    from core.cli.main import parser

    cases = load(HOME)
    assert len(cases) >= 7 and len({c.id for c in cases}) == len(cases)
    for case in cases:
        plan = diagnose.prepare(parser().parse_args(["doctor", *case.tokens(case.args), "--seeds", "2",
                                                     "--threshold", repr(case.threshold)]))
        assert plan.criterion.threshold == case.threshold, case.id
        parser().parse_args(["sweep", *case.tokens(case.answer_args)])


@pytest.mark.parametrize("content, words", [
    ("{}", "a JSON list of cases"),
    ('[{"id": "a"}]', "no source, args, threshold, answer_args, causes"),
    ('[{"id": "a", "source": "s", "args": "parabola", "threshold": "x", "answer_args": "parabola", "causes": []}]', "threshold 'x'"),
    ('[{"id": "a", "source": "s", "args": "parabola", "threshold": 1, "answer_args": "parabola", "causes": "dead"}]', "causes 'dead'"),
])
def test_a_bad_casebook_is_one_line_naming_the_case_and_the_field(tmp_path, content, words):
    path = tmp_path / "book.json"
    path.write_text(content)
    done = cli("casebook", path)
    assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_every_knob_change_is_a_valid_setup_that_differs():
    from core.cases.scenarios import SCENARIOS

    for scenario in SCENARIOS.values():
        spec = scenario.spec()
        for name, changes in space.knobs(spec).items():
            for change in changes:
                changed = space.apply(spec, change)
                assert changed is not None and changed.key() != spec.key(), (scenario.id, name, change)
    nesterov = SCENARIOS["sine-relu"].spec().with_values({"train.optimizer": "sgd", "train.momentum": 0.9, "train.nesterov": True})
    adam = next(c for c in space.knobs(nesterov)["optimizer"] if c["train.optimizer"] == "adam")
    assert space.apply(nesterov, adam).train.nesterov is False  # a change sets what it requires


def test_a_case_runs_the_doctor_the_answer_and_both_baselines_on_the_same_trainings(tmp_path):
    book = [{"id": "parabola-short", "source": "a test", "args": "parabola --set train.epochs=40", "threshold": 0.01,
             "answer_args": "parabola --preset answer --set train.epochs=40", "causes": ["step_too_large"]}]
    (tmp_path / "book.json").write_text(json.dumps(book))
    done = cli("casebook", tmp_path / "book.json", "--seeds", "2", "--seconds", "4", "--workers", "2", "--json")  # two side by side
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    row, totals = out["cases"][0], out["totals"]
    assert row["id"] == "parabola-short" and row["seeds"] == 2 and row["trainings"] >= 2  # the seeds read for findings count too
    assert row["answer"]["successes"] in (0, 1, 2) and row["doctor"]["successes"] in (0, 1, 2)
    for name in ("random", "tpe"):
        baseline = row["baselines"][name]
        assert baseline["candidates"] == row["trainings"] // 2, (name, baseline)  # the same number of trainings as the doctor
        assert baseline["doctor_as_good"] == (baseline["successes"] is None or row["doctor"]["successes"] >= baseline["successes"])
        # Past the doctor's count it goes on, up to twice it, only until it reaches the target.
        assert row["allowance"] == 2 * row["trainings"] and row["trainings"] <= baseline["trainings"] <= row["allowance"]
        if baseline["to_target"] is not None and baseline["to_target"] > row["trainings"]:
            assert baseline["trainings"] == baseline["to_target"], baseline  # it stopped there
        assert baseline["to_target"] is None or 2 <= baseline["to_target"] <= row["allowance"]
        assert totals[f"{name}_to_target"] == (baseline["to_target"] or row["allowance"])  # never reached: the whole allowance
    assert totals["cases"] == 1 and totals["trainings"] == row["trainings"]
    assert (row["to_target"] is not None) == row["reached_target"] and (row["to_target"] or 0) <= row["trainings"]
    assert isinstance(row["cause_matched"], bool) and row["cause_matched"] == ("step_too_large" in row["findings"] + row["symptoms"])
    assert row["matched_as_cause"] == ("step_too_large" in row["findings"]) and totals["matched_as_cause"] == row["matched_as_cause"]


def test_tpe_without_optuna_is_a_clear_refusal(monkeypatch):
    import builtins

    from core.cases.scenarios import get
    from core.doctor import baselines

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name)) if name == "optuna"
                        else real(name, *a, **k))
    spec = get("parabola").spec()
    with pytest.raises(SpecError, match="pip install optuna"):
        baselines.tpe_search(spec, get("parabola").criterion_for("regression"), None, [0, 1], 4)


def test_a_shown_seed_that_succeeds_does_not_silence_the_doctor_while_others_fail():
    """Issue 24: the spiral with 8-8 tanh units succeeds on seed 0 (the run shown) and fails on seed 2 of 0..3, so the
    findings are read again from the failing seed, and the mixed rate is a finding of its own."""
    done = cli("doctor", "playground", "--preset", "spiral-big", "--seeds", "4", "--seconds", "3", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["control"]["successes"] == 3 and report["diagnosed_seed"] == 2, (report["control"], report["note"])
    assert "seed 2, a typical failing one" in report["note"]
    assert report["posted_fix"] is None  # the Playground's answer preset is XOR's: it says nothing about the spiral
    assert "seed_dependent" in [f["id"] for f in report["findings"]]
    assert report["trainings"] >= 4 and isinstance(report["tried"], list)
    assert report["control"]["stage"] == "control" and all(m["stage"] for m in report["tried"])  # every setup says which stage measured it
