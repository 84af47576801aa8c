"""The home page's "what the lab found works" is what the doctor measures: check the shipped file against fresh runs.

A case whose whole search took under REGENERATE_S when the file was written is searched again from
scratch; a heavier one (noisy-sine's search takes minutes) has its control, posted fix and best fix
trained again on the shipped seeds. Either way the shipped success counts must come out again.
"""

from __future__ import annotations

import time

import pytest

from core.cases import fixes, scenarios
from core.engine.training import train_restarts
from core.outcomes.restarts import seeds_for, summarize_sweep

TOLERANCE = 2  # seeds within float32 rounding of the threshold may flip between CPUs (as in test_claims)
REGENERATE_S = 90

SHIPPED = fixes.load()


def test_the_shipped_table_covers_every_posted_case():
    assert SHIPPED is not None, "core/cases/fixes.json is missing: python -m core fixes --write core/cases/fixes.json"
    assert [c["scenario"] for c in SHIPPED["cases"]] == scenarios.POSTED


def _successes(spec, seeds, criterion) -> int:
    return summarize_sweep(train_restarts(spec, len(seeds), seeds=list(seeds)), criterion).successes


@pytest.mark.system  # minutes of training: the shipped table against a fresh measurement, in the system tier
@pytest.mark.parametrize("row", SHIPPED["cases"] if SHIPPED else [], ids=lambda row: row["scenario"])
def test_shipped_fixes_match_a_fresh_measurement(row):
    began = time.perf_counter()
    case = scenarios.get(row["scenario"])
    if row["wall_s"] < REGENERATE_S:
        # The search goes on past the shipped table's stage when time is left (the usual knobs), so it gets a few times the
        # shipped search's time: it must find the shipped best again or better, and the same control and posted fix.
        fresh = fixes.measure_case(row["scenario"], row["seeds"], seconds=max(30.0, 3 * row["wall_s"]))
        for name in ("control", "posted_fix", "best"):
            if row[name] is None:
                assert fresh[name] is None or name == "best"
                continue
            if name == "best":
                assert fresh[name]["successes"] >= row[name]["successes"] - TOLERANCE, (name, fresh[name], row[name])
                continue
            assert abs(fresh[name]["successes"] - row[name]["successes"]) <= TOLERANCE, (name, fresh[name], row[name])
        assert [f["id"] for f in fresh["findings"] if f["role"] == "cause"] == [f["id"] for f in row["findings"] if f["role"] == "cause"]
    else:
        spec = case.spec("question")
        seeds = seeds_for(spec, row["seeds"])
        for name in ("control", "posted_fix", "best"):
            if row[name] is None:
                continue
            if name == "posted_fix":
                candidate = case.spec("answer", seed=spec.seed)
            else:
                candidate = spec.with_values(row[name]["changes"]) if row[name]["changes"] else spec
            count = _successes(candidate, seeds, case.criterion)
            assert abs(count - row[name]["successes"]) <= TOLERANCE, (name, count, row[name])
    print(f"{row['scenario']}: checked in {time.perf_counter() - began:.0f} s")


def test_the_doctor_meets_the_bar_on_every_posted_case():
    """What the issue asks of each case, read from the shipped (and above, re-measured) table."""
    rows = {row["scenario"]: row for row in SHIPPED["cases"]}
    parabola, segments, sine, noisy = (rows[k] for k in ("parabola", "segments", "sine-relu", "noisy-sine"))
    assert parabola["best"]["successes"] >= parabola["posted_fix"]["successes"]
    assert segments["best"]["success_rate"] >= 0.9 and sine["best"]["success_rate"] >= 0.9
    assert noisy["best"]["success_rate"] >= 0.75 and noisy["posted_fix"]["successes"] == 0
    assert len(noisy["best"]["changes"]) >= 3  # no single change does it: the doctor combined them
    causes = {k: {f["id"] for f in row["findings"] if f["role"] == "cause"} for k, row in rows.items()}
    assert "step_too_large" in causes["parabola"] and "unscaled_input" in causes["segments"]
    assert {"dead_units", "bends_outside_data"} <= causes["sine-relu"] and {"no_bias", "step_too_small"} <= causes["noisy-sine"]
