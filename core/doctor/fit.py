"""The doctor's rules about the fit itself: one class everywhere, boundaries, extra bumps, learned coefficients, seeds.

Each rule reads `Facts` and returns a `Finding` or None; `seed_dependent` also reads a restarts
summary of the same settings. core/doctor/registry.py lists them with their titles.
"""

from __future__ import annotations

import numpy as np

from core.doctor.facts import Facts, crossings, pct, xs_text
from core.outcomes.restarts import SweepSummary
from core.outcomes.results import Finding


def majority_class(f: Facts) -> Finding | None:
    c = f.result.readout.classifier
    if c is None or not f.result.final or c.majority_share is None:
        return None
    acc = f.result.final.get("accuracy", 0.0)
    if round(acc * len(f.y)) != round(c.majority_share * len(f.y)):
        return None
    text = (f"Majority class: the accuracy, {acc:.4f}, is exactly the share of the commonest class, so the network predicts one "
            f"class everywhere, as a constant would.")
    return Finding("majority_class", "symptom", text, {"accuracy": acc, "majority_share": c.majority_share})


def crossings_note(f: Facts) -> Finding | None:
    c = f.result.readout.classifier
    if c is None or f.inputs > 1:
        return None
    fit = list(c.crossings)
    if f.spec.model.output_units > 1 or f.spec.data.n_classes > 2:  # classes, not a probability
        from core.outcomes.readout import class_changes

        target = class_changes(np.asarray(f.result.grid_x, float), np.rint(np.asarray(f.result.grid_target, float)))
        what = "The predicted class changes"
    else:
        target = crossings(f.result.grid_x, f.result.grid_target)
        what = "The predicted probability crosses 0.5"
    never = "The predicted class never changes" if what.startswith("The predicted class") else "The predicted probability never crosses 0.5"
    text = ((f"{what} at {len(fit)} place{'s' if len(fit) != 1 else ''} ({xs_text(fit)})" if fit else never)
            + (f"; the target changes class at {len(target)} place{'s' if len(target) != 1 else ''} ({xs_text(target)})."
               if target else "; the target never changes class."))
    role = "symptom" if len(fit) != len(target) else "note"
    return Finding("crossings", role, text, {"fit_crossings": fit, "target_crossings": target})


def extra_bumps(f: Facts) -> Finding | None:
    e = f.result.readout.extrema
    if e is None or e.fit <= e.target:
        return None
    text = f"The fit has {e.fit} local extrema where the clean target has {e.target}: it is wigglier than the function."
    return Finding("extra_bumps", "symptom", text, {"fit_extrema": e.fit, "target_extrema": e.target})


def learned_coefficients(f: Facts) -> Finding | None:
    p = f.result.readout.parabola
    if p is None or p.target is None:
        return None
    a, b, c = p.coefficients
    text = f"Learned {a:.6g} x^2 {b:+.6g} x {c:+.6g}; the largest coefficient error is {p.worst_error:.3g}."
    return Finding("coefficients", "note", text, {"coefficients": list(p.coefficients), "target": list(p.target),
                                                  "worst_error": p.worst_error})


def seed_dependent(f: Facts, report: SweepSummary) -> Finding | None:
    successes, n = report.successes, report.seeds
    if n < 2 or successes in (0, n):
        return None
    low, high = report.interval
    text = (f"It depends on the seed: with these settings {successes} of {n} seeds succeed ({pct(successes / n)}, 95% "
            f"interval {pct(low)} to {pct(high)}), so one run says little; the restarts' rate is the number to go by.")
    return Finding("seed_dependent", "symptom", text, {"successes": successes, "seeds": n, "interval": [low, high]})
