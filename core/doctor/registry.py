"""Every finding the doctor can make, in one table: its id, its title, the rule that reads it and the changes it proposes.

`findings(result, criterion)` runs the rules in the table's order over a finished run; `candidates`
collects the changes the run's causes and symptoms propose. The page and the command line take each
finding's title from `TITLES`, so a new rule is one row here and one function beside its kind.

Example:
    >>> found = findings(result, scenario.criterion)
    >>> [(TITLES[f.id], f.role) for f in found]
    [('Steps too large', 'cause'), ...]
    >>> [c.name for c in candidates(result, found)]
    ['learning rate ÷10', ...]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.doctor import changes as ch
from core.doctor import fit, shape, steps, units
from core.doctor.facts import Facts
from core.outcomes.restarts import SweepSummary
from core.outcomes.results import Finding, RunResult
from core.settings.criteria import Criterion

ROLE_ORDER = {role: i for i, role in enumerate(Finding.ROLES)}


@dataclass(frozen=True)
class Rule:
    """One finding the doctor can make.

    Args:
        id: the finding's id, in every Finding, JSON and URL.
        title: how the page and the command line name it.
        read: reads it from a run's facts (None for the two the doctor makes itself: unexplained, seed_dependent).
        propose: the changes it asks for when it is a cause or a symptom (a note proposes nothing).
    """

    id: str
    title: str
    read: Callable[[Facts], Finding | None] | None
    propose: ch.Proposal = ch.nothing


RULES: tuple[Rule, ...] = (
    Rule("diverged", "Diverged", steps.diverged, ch.propose_after_divergence),
    Rule("step_too_large", "Steps too large", steps.step_too_large, ch.propose_smaller_steps),
    Rule("step_too_small", "Steps too small", steps.step_too_small, ch.propose_larger_steps),
    Rule("no_bias", "No biases", units.no_bias, ch.propose_biases),
    Rule("unscaled_input", "Input not scaled", shape.unscaled_input, ch.propose_scaled_input),
    Rule("unscaled_target", "Target not scaled", shape.unscaled_target, ch.propose_scaled_target),
    Rule("output_range", "Output range", shape.output_range, ch.propose_output),
    Rule("loss_mismatch", "Loss unsuited to the task", shape.loss_mismatch, ch.propose_loss_for_task),
    Rule("strong_penalty", "L2 penalty too strong", steps.strong_penalty, ch.propose_weaker_penalty),
    Rule("capacity", "Capacity", shape.capacity, ch.propose_capacity),
    Rule("dead_units", "Dead units", units.dead_units, ch.propose_for_dead_units),
    Rule("bends_outside_data", "Bends outside the data", units.bends_outside_data, ch.propose_bends_inside),
    Rule("merged_units", "Merged units", units.merged_units, ch.propose_more_directions),
    Rule("unit_boundaries", "Unit boundaries and the data", units.unit_boundaries, ch.propose_boundaries_inside),
    Rule("too_few_bends", "Too few bends", units.too_few_bends, ch.propose_more_bends),
    Rule("saturated_units", "Saturated units", units.saturated_units, ch.propose_for_saturation),
    Rule("undertrained", "Undertrained", steps.undertrained, ch.propose_more_epochs),
    Rule("plateau", "Plateau", steps.plateau, ch.propose_unstick),
    Rule("majority_class", "Majority class", fit.majority_class, ch.propose_unstick),
    Rule("crossings", "Class boundaries", fit.crossings_note),
    Rule("extra_bumps", "Extra bumps", fit.extra_bumps),
    Rule("coefficients", "Learned coefficients", fit.learned_coefficients),
    Rule("stopped", "Stopped early", steps.stopped_early),
    Rule("seed_dependent", "Depends on the seed", None, ch.propose_wider),
    Rule("unexplained", "No rule explains it", None, ch.propose_anything),
)
BY_ID = {rule.id: rule for rule in RULES}
TITLES = {rule.id: rule.title for rule in RULES}
READERS = tuple(rule for rule in RULES if rule.read is not None)


def findings(result: RunResult, criterion: Criterion, restarts: SweepSummary | None = None) -> list[Finding]:
    """What the doctor reads from `result`, causes first; `restarts` summarises restarts of the same settings."""
    facts = Facts(result, criterion)
    found: list[Finding] = []
    for rule in READERS:
        with np.errstate(all="ignore"):
            item = rule.read(facts)
        if item is not None:
            found.append(item)
    if restarts is not None:
        item = fit.seed_dependent(facts, restarts)
        if item is not None:
            found.append(item)
    if not facts.met and not any(f.role == "cause" for f in found):
        # A symptom, not a note: it proposes what it promises (a note proposes nothing), and the search goes on to the usual knobs.
        found.append(Finding("unexplained", "symptom", (
            "None of the doctor's checks explains this failure from the run's numbers (no divergence, no step too large or "
            "too small, no dead or saturated units, no scaling or output-range problem). The search tries more capacity, "
            "other learning rates and more epochs, then the usual knobs."), {"checks": len(READERS)}))
    if facts.met:  # nothing explains a failure that did not happen
        found = [Finding(f.id, "note", f.text, f.evidence) if f.role != "note" else f for f in found]
    elif any(f.id == "capacity" and f.role == "cause" and f.evidence.get("proved") for f in found):
        # The best network of this architecture, computed exactly, fails: nothing but the architecture can explain it.
        found = [Finding(f.id, "note", f.text, f.evidence) if f.role == "cause" and f.id != "capacity" else f for f in found]
    return sorted(found, key=lambda f: ROLE_ORDER[f.role])


def candidates(result: RunResult, found: list[Finding]) -> list[ch.Change]:
    """The changes the findings propose for this run's spec, causes' first, each once (with every finding that asked for it)."""
    active = [f for f in found if f.role != "note"]  # a note is not the problem: it proposes nothing
    situation = ch.Situation(result, frozenset(f.id for f in active), {f.id: f.evidence for f in active})
    out: dict[str, ch.Change] = {}
    for finding in active:
        for proposed in BY_ID[finding.id].propose(situation):
            known = out.get(proposed.key)
            because = (*known.because, finding.id) if known else (finding.id,)
            out[proposed.key] = ch.Change(proposed.key, (known or proposed).name, proposed.group, (known or proposed).apply, because)
    return list(out.values())
