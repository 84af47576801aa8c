"""What the lab found works: for each posted case, the doctor's best measured fix beside the posted fix.

`python -m core fixes --write core/cases/fixes.json` runs the doctor on every posted case's setup as asked
(its findings, then the candidates over the same seeds) and writes the file the home page shows. A
test checks the shipped file against a fresh measurement. Reading it (`load`) needs no TensorFlow.

Each case is measured over 16 seeds, or 8 when one run of it costs more than 1e9 samples seen times
parameters (core.doctor.default_seeds), so that the whole table regenerates in minutes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from core.cases import scenarios
from core.doctor import default_seeds

FIXES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixes.json")


def in_process_measure(spec, seeds, progress=None, stop=None):
    from core.engine.training import train_restarts

    return train_restarts(spec, len(seeds), seeds=list(seeds), stop=stop)


def measure_case(scenario_id: str, seeds: int | None = None, seconds: float | None = None) -> dict:
    """The doctor on one posted case as asked: findings, control, posted fix and best fix (JSON-ready)."""
    from core import doctor
    from core.engine.training import train

    case = scenarios.get(scenario_id)
    spec = case.spec("question")
    seeds = seeds or default_seeds(spec)
    began = time.perf_counter()
    result = train(spec)
    found = doctor.findings(result, case.criterion)
    posted = case.spec("answer", seed=spec.seed) if "answer" in case.preset_names() else None
    report = doctor.find_fixes(spec, found, result, case.criterion, in_process_measure, seeds=seeds, posted=posted, seconds=seconds)
    out = report.to_json()
    return {"scenario": scenario_id, "title": case.title, "claim": case.claim, "first_seed": spec.seed,
            "seeds": seeds, "criterion": out["criterion"], "findings": [{"id": f["id"], "role": f["role"]} for f in out["findings"]],
            "control": out["control"], "posted_fix": out["posted_fix"], "best": out["best"], "tried": len(out["tried"]),
            "summary": out["summary"], "target": out["target"], "wall_s": time.perf_counter() - began}


def measure(ids: list[str] | None = None, report: Callable[[str], None] | None = None) -> dict:
    import keras

    rows = []
    began = time.perf_counter()
    for sid in ids or scenarios.POSTED:
        row = measure_case(sid)
        rows.append(row)
        if report:
            best = row["best"]
            report(f"{sid}: as asked {row['control']['successes']}/{row['seeds']}, posted fix "
                   f"{row['posted_fix']['successes'] if row['posted_fix'] else '-'}/{row['seeds']}, best "
                   + (f"{best['successes']}/{row['seeds']} ({best['label']})" if best else "none") + f" in {row['wall_s']:.0f} s")
    return {"keras": keras.__version__, "wall_s": time.perf_counter() - began, "cases": rows}


def load(path: str = FIXES_FILE) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write(table: dict, path: str = FIXES_FILE) -> None:
    with open(path, "w") as handle:
        json.dump(table, handle, indent=1)
        handle.write("\n")
