"""Restarts: many seeds in one compiled model follow the trajectories they would follow alone."""

import json
import math

import numpy as np
import pytest
from inprocess import cli  # `python -m core` through main(argv), in this process

from core.cases import scenarios
from core.engine.training import train, train_restarts
from core.outcomes.restarts import summarize_sweep, wilson_interval
from core.outcomes.results import ParabolaReadout, Readout
from core.settings.criteria import Criterion
from core.settings.specs import SpecError


@pytest.mark.parametrize("scenario, preset, epochs, members, l2", [
    ("segments", "question", None, 4, 0),   # the full posted run: 200 epochs of batches of 32
    ("segments", "answer", None, 4, 0.01),  # the full posted fix (standardised x, Adam(0.1), 20 epochs), with an L2 penalty
    ("parabola", "answer", 3, 3, 0),        # batch size 1
    ("noisy-sine", "question", 15, 2, 0),   # full batch, summed squared error, no biases
    ("sine-relu", "answer", 2, 2, 0.001),   # 32 x 32 layers: the einsum path, with an L2 penalty
])
def test_members_follow_their_single_runs(scenario, preset, epochs, members, l2):
    spec = scenarios.get(scenario).spec(preset).with_value("model.l2", l2)
    if epochs:
        spec = spec.with_value("train.epochs", epochs)
    ensemble = train_restarts(spec, members)
    assert ensemble.seeds == tuple(spec.seed + i for i in range(members))
    assert ensemble.epochs_run == spec.train.epochs
    for m, seed in enumerate(ensemble.seeds):
        alone = train(spec.with_value("seed", seed))
        for together, single in zip(ensemble.final_weights[m], alone.final_weights):
            np.testing.assert_allclose(together, single, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(ensemble.losses[:, m], alone.history["loss"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ensemble.metrics[:, m], alone.history[alone.metric], rtol=1e-4, atol=1e-4)
        assert ensemble.members[m].final[alone.metric] == pytest.approx(alone.final[alone.metric], rel=1e-4, abs=1e-4)
    # Different seeds really are different runs.
    assert not np.allclose(ensemble.final_weights[0][0], ensemble.final_weights[1][0])
    if l2:  # the penalty is in the loss, and it shrinks the weights against the same run without it
        plain = train_restarts(spec.with_value("model.l2", 0.0), members)
        assert not np.allclose(ensemble.losses[0], plain.losses[0], rtol=1e-4)
        squares = [sum(float(np.sum(w ** 2)) for w in member[::2]) for member in (ensemble.final_weights[0], plain.final_weights[0])]
        assert squares[0] < squares[1]


def test_wilson_interval_by_hand():
    low, high = wilson_interval(57, 64)
    p, n, z = 57 / 64, 64, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(0, 32)[0] == 0.0 and 0.09 < wilson_interval(0, 32)[1] < 0.12
    assert wilson_interval(10, 10)[1] == 1.0
    a, b = wilson_interval(3, 10)
    c, d = wilson_interval(7, 10)
    assert a == pytest.approx(1 - d) and b == pytest.approx(1 - c)


def test_criteria():
    accuracy = Criterion("accuracy_at_least", 1.0)
    assert accuracy.met({"loss": 0.1, "accuracy": 1.0}, Readout())
    assert not accuracy.met({"loss": 0.1, "accuracy": 0.9967}, Readout())
    assert not accuracy.met({}, Readout())  # a run that diverged in its first epoch
    within = Criterion("coefficients_within", 0.01)
    def parabola(*coefficients):
        return Readout(parabola=ParabolaReadout("two-neuron", coefficients, target=(1.0, 2.0, 2.0)))

    assert within.met({"loss": 0}, parabola(1.005, 1.995, 2.009))
    assert not within.met({"loss": 0}, parabola(1.0, 2.02, 2.0))
    assert not within.met({"loss": 0}, Readout())  # no x^2 model: nothing to read
    below = Criterion("max_abs_error_below", 0.1).with_threshold("0.5")
    assert below.threshold == 0.5 and below.met({"max_abs_error": 0.4}, Readout()) and not below.met({"max_abs_error": 0.6}, Readout())
    with pytest.raises(SpecError, match="criterion.threshold: 'x' is not allowed"):
        below.with_threshold("x")


def test_segments_answer_succeeds_far_more_often_than_the_question():
    case = scenarios.get("segments")
    asked = summarize_sweep(train_restarts(case.spec("question"), 32), case.criterion)
    answered = summarize_sweep(train_restarts(case.spec("answer"), 32), case.criterion)
    assert asked.success_rate == 0.0  # no seed of the posted setup separates the classes
    assert answered.success_rate >= 0.75
    assert answered.successes == sum(run.success for run in answered.runs)
    low, high = answered.interval
    assert low <= answered.success_rate <= high
    best = answered.best
    assert best.success and best.final["accuracy"] == 1.0
    assert best.final["loss"] == min(r.final["loss"] for r in answered.runs if r.success)
    assert len(best.member.readout.classifier.crossings) == 2


def test_restarts_refuse_settings_that_couple_the_seeds():
    spec = scenarios.get("segments").spec("answer").with_value("train.clipnorm", "1")
    with pytest.raises(SpecError, match="train.clipnorm: 1.0 is not allowed; allowed: empty for restarts"):
        train_restarts(spec, 4)
    with pytest.raises(SpecError, match="seeds: 300 is not allowed"):
        train_restarts(scenarios.get("segments").spec(), 300)


def test_sweep_command_json_and_vary():
    out = cli("sweep", "segments", "--preset", "answer", "--seeds", "16", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("success_rate", "runs", "best", "wall_s", "interval", "criterion"):
        assert key in data
    assert len(data["runs"]) == 16 and {"seed", "final", "readout", "success"} <= set(data["runs"][0])
    assert data["success_rate"] == sum(r["success"] for r in data["runs"]) / 16
    out = cli("sweep", "segments", "--seeds", "8", "--vary", "train.learning_rate=0.01,0.1", "--json")
    data = json.loads(out.stdout)
    assert [r["vary"]["value"] for r in data["results"]] == ["0.01", "0.1"]
    assert [r["config"]["train"]["learning_rate"] for r in data["results"]] == [0.01, 0.1]


@pytest.mark.parametrize("args, message", [
    (["sweep", "segments", "--seeds", "0"], "error: --seeds: '0' is not allowed; allowed: a whole number from 1 to 256"),
    (["sweep", "segments", "--threshold", "-1"], "error: --threshold: '-1' is not allowed"),
    (["sweep", "segments", "--vary", "train.epochs"], "error: --vary: 'train.epochs' is not allowed"),
    (["sweep", "segments", "--vary", "train.epochs=5,x"], "error: train.epochs: 'x' is not allowed"),
    (["sweep", "segments", "--set", "train.clipnorm=1"], "error: train.clipnorm: 1.0 is not allowed; allowed: empty for restarts"),
])
def test_sweep_mistakes_exit_2_with_one_line(args, message):
    out = cli(*args)
    assert out.returncode == 2 and out.stderr.startswith(message) and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr
