"""Typed results: plain data without TensorFlow, one JSON form, and one seed's record across restarts."""

import dataclasses
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from core import scenarios
from core.restarts import seed_record
from core.results import Readout, RestartsResult
from core.training import train, train_restarts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readouts_results_and_charts_import_without_tensorflow():
    code = ("import sys, core.readout, core.results, core.restarts, core.network, core.budget, core.workers, ui.charts; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_result_is_frozen_picklable_and_has_one_json_form():
    r = train(scenarios.get("sine-relu").spec("question").with_value("train.epochs", 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.final = {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.readout.units = None
    again = pickle.loads(pickle.dumps(r))
    assert again.readout.units.kinks == r.readout.units.kinks
    out = json.loads(json.dumps(r.to_json()))
    assert out["readout"]["kinks"] == [None if k is None else pytest.approx(k) for k in r.readout.units.kinks]
    assert out["readout"]["units_in_range"] == r.readout.units.units_in_range
    assert out["readout"]["extrema"] == {"fit": r.readout.extrema.fit, "target": r.readout.extrema.target}
    assert r.readout.parabola is None and r.readout.classifier is None


def test_restarts_members_carry_typed_readouts():
    outcome = train_restarts(scenarios.get("segments").spec("answer"), 4)
    assert isinstance(outcome, RestartsResult) and len(outcome.members) == 4
    for member in outcome.members:
        assert isinstance(member.readout, Readout) and member.readout.classifier is not None
        assert member.readout.units is None  # members keep what criteria and tables need
    json.dumps([m.to_json() for m in outcome.members])


def test_a_seed_trained_alone_is_compared_with_its_restarts_record():
    spec = scenarios.get("segments").spec("answer")
    outcome = train_restarts(spec, 3)
    alone = train(spec.with_value("seed", outcome.seeds[1]))
    record = seed_record(alone, [outcome])
    assert record is not None and record.seed == outcome.seeds[1]
    assert record.agrees and "ends as it did in the restarts" in record.text()
    # A recorded ending that differs is said plainly, with both numbers and the reason.
    member = outcome.members[1]
    changed = dataclasses.replace(member, final={**member.final, "loss": member.final["loss"] * 2})
    other = dataclasses.replace(outcome, members=(outcome.members[0], changed, outcome.members[2]))
    record = seed_record(alone, [other])
    assert not record.agrees
    text = record.text()
    assert f"loss {changed.final['loss']:.4g}" in text and f"loss {alone.final['loss']:.4g}" in text
    assert "another order" in text
    # Other settings or a seed outside the restarts: no record to compare with.
    assert seed_record(train(spec.with_value("seed", 99)), [outcome]) is None
    assert seed_record(train(spec.with_value("train.epochs", 5)), [outcome]) is None


def test_a_single_run_and_the_same_seed_in_restarts_start_alike():
    spec = scenarios.get("parabola").spec("question").with_value("train.epochs", 2)
    outcome = train_restarts(spec, 2)
    alone = train(spec)
    np.testing.assert_allclose(outcome.losses[:, 0], alone.history["loss"], rtol=1e-4)
