"""When a run counts as a success, and how good it is: one criterion, one score, read the same way by every verdict and sort.

A criterion reads one number from a finished run (its final metrics and readout): the accuracy, the
R², the max |fit - clean target| or the worst coefficient error. `score` is that number, `met` compares
it with the threshold, and `rank` orders runs best first, so a restarts table, the best seed, the
doctor's ranking and the command line can never disagree about which seed did best.

Example:
    >>> rule = Criterion("r2_at_least", 0.9)
    >>> rule.score({"loss": 0.1, "r2": 0.95}, readout)
    0.95
    >>> rule.met({"loss": 0.1, "r2": 0.95}, readout), rule.rank({"loss": 0.1, "r2": 0.95}, readout)
    (True, (0, -0.95, 0.1))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.settings.errors import SpecError


@dataclass(frozen=True)
class Criterion:
    """When a run counts as a success: a metric against a threshold, in original units."""

    kind: str  # accuracy_at_least | coefficients_within | max_abs_error_below | r2_at_least
    threshold: float

    KINDS = {
        "accuracy_at_least": "final accuracy at least {t:g}",
        "coefficients_within": "every learned coefficient within {t:g} of the target",
        "max_abs_error_below": "max |fit - clean target| on the data range at most {t:g}",
        "r2_at_least": "R² of the fit on the training points at least {t:g}",
    }
    METRICS = {"accuracy_at_least": "accuracy", "max_abs_error_below": "max_abs_error", "r2_at_least": "r2",
               "coefficients_within": "max_abs_error"}
    NAMES = {"accuracy_at_least": "accuracy", "max_abs_error_below": "max abs error", "r2_at_least": "R²",
             "coefficients_within": "worst coefficient error"}

    def __post_init__(self):
        if self.kind not in self.KINDS:
            raise SpecError("criterion.kind", self.kind, ", ".join(self.KINDS))
        if not (isinstance(self.threshold, (int, float)) and 0 <= self.threshold < 1e6):
            raise SpecError("criterion.threshold", self.threshold, "a number from 0 to 1e6")

    @property
    def metric(self) -> str:
        """The final metric this criterion reads (coefficients_within reads the readout's coefficients instead)."""
        return self.METRICS[self.kind]

    @property
    def name(self) -> str:
        """The number `score` returns, in words."""
        return self.NAMES[self.kind]

    @property
    def higher_is_better(self) -> bool:
        return self.kind in ("accuracy_at_least", "r2_at_least")

    def describe(self) -> str:
        return self.KINDS[self.kind].format(t=self.threshold)

    def with_threshold(self, threshold) -> Criterion:
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            raise SpecError("criterion.threshold", threshold, "a number from 0 to 1e6") from None
        return Criterion(self.kind, value)

    def score(self, final: dict, readout) -> float:
        """The number this criterion judges a run by (NaN when the run has none: it diverged, or has no coefficients)."""
        if not final:
            return math.nan
        if self.kind == "coefficients_within":
            parabola = getattr(readout, "parabola", None)
            if parabola is None or parabola.target is None:
                return math.nan
            return float(parabola.worst_error)
        value = final.get(self.metric)
        return float(value) if value is not None else math.nan

    def met(self, final: dict, readout) -> bool:
        """Whether a run with these final numbers and readout succeeded (a diverged run never does)."""
        value = self.score(final, readout)
        if not math.isfinite(value):
            return False
        if self.higher_is_better:
            return value >= self.threshold - 1e-9
        return value <= self.threshold

    def rank(self, final: dict, readout) -> tuple[int, float, float]:
        """Sort key, best first: a success before a failure, then the better score, then the lower loss."""
        return (0 if self.met(final, readout) else 1, self.badness(self.score(final, readout)),
                _finite_or_inf((final or {}).get("loss")))

    def badness(self, score: float | None) -> float:
        """A score turned so that lower is better (inf for none), for sorting medians and seeds alike."""
        value = _finite_or_inf(score)
        return -value if self.higher_is_better and math.isfinite(value) else value


def _finite_or_inf(value) -> float:
    return float(value) if value is not None and math.isfinite(value) else math.inf
