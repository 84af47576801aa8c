"""The doctor: why a run fails, read from its own numbers, and what fixes it, measured over seeds.

registry.py is the table of every finding (its rule, title and proposed changes); facts.py the numbers
the rules share; steps.py, units.py, shape.py and fit.py the rules by kind; changes.py the changes;
search.py the fix search over seeds. Nothing here is keyed to a scenario or a preset, and nothing
imports TensorFlow.

Example:
    >>> from core import doctor
    >>> found = doctor.findings(result, scenario.criterion)
    >>> report = doctor.find_fixes(result.spec, found, result, scenario.criterion, measure, seeds=16)
"""

from core.doctor.changes import Change, combine, learning_rate_times
from core.doctor.registry import RULES, TITLES, candidates, findings
from core.doctor.search import (
    DEFAULT_SEEDS,
    TARGET_RATE,
    DoctorReport,
    FixSearch,
    Measured,
    SearchProgress,
    default_seeds,
    find_fixes,
    label_changes,
    measure_with,
    same_question,
)

__all__ = ["DEFAULT_SEEDS", "RULES", "TARGET_RATE", "TITLES", "Change", "DoctorReport", "FixSearch", "Measured", "SearchProgress",
           "candidates", "combine", "default_seeds", "find_fixes", "findings", "label_changes", "learning_rate_times",
           "measure_with", "same_question"]
