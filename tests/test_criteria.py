"""One score for every verdict and sort: the best seed of a sweep is the one with the best number under its criterion.

The members here are built by hand (no training), so each criterion is checked on seeds whose
numbers are known: R² and accuracy are better high, max error and coefficient error better low, and
equal scores fall back to the lower loss. One command-line sweep on a user's CSV checks the same end to end.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.cases import scenarios
from core.outcomes.restarts import summarize_sweep
from core.outcomes.results import MemberResult, ParabolaReadout, Readout, RestartsResult
from core.settings.criteria import Criterion


def sweep(finals: list[dict], scenario: str = "sine-relu", readouts: list[Readout] | None = None, diverged=()) -> RestartsResult:
    spec = scenarios.get(scenario).spec()
    readouts = readouts or [Readout() for _ in finals]
    members = tuple(MemberResult(seed=spec.seed + i, final=final, diverged_at=(5 if i in diverged else None), readout=readout,
                                 weights=()) for i, (final, readout) in enumerate(zip(finals, readouts)))
    n = len(members)
    return RestartsResult(spec=spec, seeds=tuple(m.seed for m in members), epochs_run=10, wall_s=1.0,
                          losses=np.zeros((10, n)), metrics=np.zeros((10, n)), members=members)


@pytest.mark.parametrize(("kind", "threshold", "metric", "values", "best"), [
    ("max_abs_error_below", 0.1, "max_abs_error", [0.5, 0.02, 0.3, 0.09], 1),  # lower is better
    ("max_abs_error_below", 0.01, "max_abs_error", [0.5, 0.02, 0.3, 0.09], 1),  # no success: still the lowest error
    ("accuracy_at_least", 0.99, "accuracy", [0.5, 0.75, 1.0, 0.66], 2),  # higher is better
    ("accuracy_at_least", 0.999, "accuracy", [0.5, 0.75, 0.9, 0.66], 2),
    ("r2_at_least", 0.9, "r2", [0.004, 0.95, 0.5, 0.99], 3),  # the bug: the worst R² was named best
    ("r2_at_least", 0.999, "r2", [0.004, 0.95, 0.5, 0.99], 3),
])
def test_the_best_seed_has_the_best_score_under_its_criterion(kind, threshold, metric, values, best):
    rule = Criterion(kind, threshold)
    finals = [{"loss": 1.0 - 0.01 * i, metric: v} for i, v in enumerate(values)]  # the loss alone would pick the last seed
    summary = summarize_sweep(sweep(finals), rule)
    assert summary.best.seed == summary.runs[best].seed
    assert summary.best.score == values[best] == rule.score(finals[best], Readout())
    assert summary.successes == sum(rule.met(f, Readout()) for f in finals)
    assert [run.success for run in summary.runs] == [rule.met(f, Readout()) for f in finals]


def test_coefficients_rank_by_the_worst_coefficient_error_not_by_the_fit():
    rule = scenarios.get("parabola").criterion
    target = (1.0, 2.0, 2.0)
    learned = [(1.3, 2.0, 2.0), (1.0, 2.05, 2.0), (1.0, 2.0, 1.5)]  # worst errors 0.3, 0.05, 0.5
    readouts = [Readout(parabola=ParabolaReadout("two-neuron", c, target)) for c in learned]
    finals = [{"loss": 0.001, "max_abs_error": 0.01}, {"loss": 0.5, "max_abs_error": 0.9}, {"loss": 0.002, "max_abs_error": 0.02}]
    summary = summarize_sweep(sweep(finals, "parabola", readouts), rule)
    assert summary.best.seed == summary.runs[1].seed
    assert summary.best.score == pytest.approx(0.05)
    assert summary.median_score() == pytest.approx(0.3)


def test_equal_scores_fall_back_to_the_lower_loss_and_a_seed_without_numbers_comes_last():
    rule = Criterion("accuracy_at_least", 0.99)
    finals = [{}, {"loss": 0.4, "accuracy": 1.0}, {"loss": 0.1, "accuracy": 1.0}, {"loss": 0.05, "accuracy": 0.5}]
    summary = summarize_sweep(sweep(finals, "segments"), rule)
    assert summary.best.seed == summary.runs[2].seed
    assert math.isnan(summary.runs[0].score) and not summary.runs[0].success
    order = sorted(summary.runs, key=lambda r: rule.rank(r.final, r.member.readout))
    assert [r.seed for r in order] == [summary.runs[i].seed for i in (2, 1, 3, 0)]


def test_the_median_leaves_out_diverged_seeds_and_the_json_keeps_its_keys():
    rule = Criterion("max_abs_error_below", 0.1)
    finals = [{"loss": 1.0, "max_abs_error": 0.01}, {"loss": 0.5, "max_abs_error": 0.2}, {"loss": 0.2, "max_abs_error": 0.3}]
    summary = summarize_sweep(sweep(finals, diverged=(0,)), rule)
    assert summary.median_score() == pytest.approx(0.25) and summary.diverged == 1
    data = json.loads(json.dumps(summary.to_json()))
    assert {"seeds", "successes", "success_rate", "interval", "best", "runs", "diverged", "criterion", "config"} <= set(data)
    assert data["best"]["seed"] == summary.best.seed and data["runs"][0]["score"] == 0.01


def test_sweep_on_a_csv_names_the_seed_with_the_highest_r2_best(tmp_path):
    from tests.inprocess import cli

    x = np.linspace(0, 3, 40)
    path = tmp_path / "curve.csv"
    path.write_text("x,y\n" + "".join(f"{a:.4f},{np.sin(2 * a) + 0.1 * a:.4f}\n" for a in x))
    out = cli("sweep", "data", "--data", path, "--seeds", "6", "--set", "train.epochs=150", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["criterion"]["kind"] == "r2_at_least"
    r2 = [run["final"]["r2"] for run in data["runs"]]
    assert len(set(r2)) > 1  # the seeds differ, so the choice matters
    assert data["best"]["final"]["r2"] == max(r2)
