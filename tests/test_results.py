"""Typed results: plain data without TensorFlow, one JSON form, and one seed's record across restarts."""

import dataclasses
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from core.cases import scenarios
from core.engine.training import train, train_restarts
from core.outcomes.restarts import seed_record
from core.outcomes.results import (
    JSON_MAX_EPOCHS,
    JSON_VALUE_BUDGET,
    Readout,
    RestartsResult,
    float32_values,
    json_epoch_limit,
    thinned_epochs,
    thinning_note,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readouts_results_and_charts_import_without_tensorflow():
    code = ("import sys, core.outcomes.readout, core.outcomes.results, core.outcomes.restarts, core.settings.network, "
            "core.runner.budget, core.runner.messages, core.runner.worker, core.runner.workers, core.doctor, core.io.kerasfile, "
            "ui.charts, ui.charts.plane; "
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


def test_the_full_json_of_a_long_wide_run_is_small_and_keeps_what_reproduces_it():
    # Noisy-sine as asked: 3000 epochs of a 1-128-1 net, every epoch recorded; its full JSON was 29 MB.
    r = train(scenarios.get("noisy-sine").spec("question"))
    assert len(r.weight_epochs) == 3001
    text = json.dumps(r.to_json(full=True))
    print(f"full JSON: {len(text) / 1e6:.2f} MB")
    assert len(text) < 2_000_000
    out = json.loads(text)
    assert out["config"] == r.spec.to_dict()
    assert out["history"]["loss"] == r.history["loss"].tolist()  # every epoch, at full precision
    assert len(out["history"]["loss"]) == 3000 and len(out["history"][r.metric]) == 3000
    for name, final in zip(r.weight_names, r.final_weights):
        assert out["weights"][name] == final.tolist()  # exactly the trained float32 values
    epochs = out["weight_epochs"]
    assert epochs[0] == 0 and epochs[-1] == 3000 and len(epochs) <= JSON_MAX_EPOCHS
    assert out["weight_epochs_recorded"] == 3001
    assert out["weight_epochs_note"].startswith(f"{len(epochs)} of 3001 recorded epochs: every 16th recorded epoch from epoch 0 "
                                                "and the last (epoch 3000), floats at float32 precision")
    rows = [r.weight_epochs.tolist().index(e) for e in epochs]
    for name, history in zip(r.weight_names, r.weight_history):
        kept = np.asarray(out["weight_history"][name], dtype=np.float32)
        np.testing.assert_array_equal(kept, history[rows])  # written at float32 precision: read back bit for bit
    assert out["replay"]["epochs"] == epochs and len(out["replay"]["predictions"]) == len(epochs)
    np.testing.assert_array_equal(np.asarray(out["replay"]["predictions"], dtype=np.float32), r.replay_predictions[rows])
    contributions = out["readout"]["contributions"]["units"]
    np.testing.assert_allclose(contributions, r.readout.units.contributions.units, rtol=1e-7, atol=1e-12)
    assert len(json.dumps(r.to_json())) < 600_000  # without the histories


def test_thinned_epochs_keep_the_first_and_the_last_at_one_stride():
    for count in (0, 1, 2, 3, 10, 199, 200, 201, 202, 999, 3001, 100_001):
        for limit in (2, 3, 7, JSON_MAX_EPOCHS):
            keep = thinned_epochs(count, limit)
            assert len(keep) <= max(limit, 0) and len(set(keep.tolist())) == len(keep)
            if count <= limit:
                assert keep.tolist() == list(range(count))
                continue
            assert keep[0] == 0 and keep[-1] == count - 1
            gaps = np.diff(keep)
            assert np.all(gaps[:-1] == gaps[0]) and 0 < gaps[-1] <= gaps[0]  # every Nth, then the last
    assert json_epoch_limit(457) == JSON_MAX_EPOCHS  # noisy-sine: 256 weights and 201 replay points per epoch
    assert json_epoch_limit(JSON_VALUE_BUDGET // 10) == 10 and json_epoch_limit(10**7) == 2  # a wide net keeps fewer
    note = thinning_note(np.arange(0, 50, 5), np.arange(10))
    assert note == "all 10 recorded epochs, floats at float32 precision"
    note = thinning_note(np.arange(0, 50, 5), thinned_epochs(10, 2))
    assert note == "2 of 10 recorded epochs: the first (epoch 0) and the last (epoch 45), floats at float32 precision"


def test_float32_values_read_back_bit_for_bit_and_write_none_where_not_finite():
    values = np.array([[0.1, -1e-30, 3.4e38], [np.nan, np.inf, 1e39]])
    out = float32_values(values)
    assert out[1] == [None, None, None]  # 1e39 is beyond float32
    assert out[0][0] == 0.1 and len(json.dumps(out)) < 60
    np.testing.assert_array_equal(np.asarray(out[0], np.float32), values[0].astype(np.float32))
    wide = np.random.default_rng(1).standard_normal((50, 7)).astype(np.float32) * np.float32(1e-3)
    np.testing.assert_array_equal(np.asarray(float32_values(wide), np.float32), wide)
