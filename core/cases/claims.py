"""The claims table: for each case, what the post's answer claimed, and how often the posted setup
and the posted fix actually succeed over many seeds, measured by the lab itself.

`python -m core claims --write core/cases/claims.json` regenerates the file the home page shows; a test
regenerates it and checks that it matches. Reading the table (`load`) needs no TensorFlow: the home
page reads it in the server, which never imports TensorFlow; only `measure` trains.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from core.cases import scenarios
from core.outcomes.restarts import SweepSummary, summarize_sweep
from core.settings.rules import DEFAULT_SEEDS

CLAIMS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "claims.json")
SEEDS = DEFAULT_SEEDS


def _rate(summary: SweepSummary) -> dict:
    rate = {key: summary.to_json()[key] for key in ("successes", "seeds", "success_rate", "interval", "diverged", "wall_s")}
    # Which seeds succeeded, in order from the first: a test re-measures the first few and compares them one by one.
    rate["succeeded"] = [run.success for run in summary.runs]
    return rate


def measure(seeds: int = SEEDS, ids: list[str] | None = None, report: Callable[[str], None] | None = None) -> dict:
    """Success rates of "question" and "answer" for every case, `seeds` seeds each (from each preset's seed)."""
    import keras

    from core.engine.training import train_restarts

    rows = []
    began = time.perf_counter()
    for sid in ids or scenarios.POSTED:
        case = scenarios.get(sid)
        row = {"scenario": sid, "title": case.title, "claim": case.claim, "criterion": case.criterion.describe()}
        for preset, name in (("question", "asked"), ("answer", "answered")):
            spec = case.spec(preset)
            row[name] = _rate(summarize_sweep(train_restarts(spec, seeds), case.criterion))
            row[name]["first_seed"] = spec.seed
            if report:
                r = row[name]
                report(f"{sid} {preset}: {r['successes']}/{r['seeds']} in {r['wall_s']:.1f} s")
        rows.append(row)
    return {"seeds": seeds, "keras": keras.__version__, "wall_s": time.perf_counter() - began, "cases": rows}


def load(path: str = CLAIMS_FILE) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write(table: dict, path: str = CLAIMS_FILE) -> None:
    with open(path, "w") as handle:
        json.dump(table, handle, indent=1)
        handle.write("\n")
