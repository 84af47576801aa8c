"""Restarts read as plain data: success rates with Wilson intervals, the best seed, and one seed's record.

Training M seeds at once is core.engine.training.train_restarts; this module reads its RestartsResult
and imports no TensorFlow, so pages and the command line can summarise without the engine.

Example:
    >>> summary = summarize_sweep(train_restarts(spec, 64), scenario.criterion)
    >>> summary.successes, summary.interval, summary.best.seed
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.outcomes.results import MemberResult, RestartsResult, RunResult
from core.settings.criteria import Criterion
from core.settings.errors import SpecError
from core.settings.rules import MAX_SEEDS
from core.settings.specs import RunSpec

MAX_MEMBERS = MAX_SEEDS


def check(spec: RunSpec, members: int) -> None:
    """Raise SpecError when `members` seeds of `spec` cannot train together as they would alone."""
    if not 1 <= members <= MAX_MEMBERS:
        raise SpecError("seeds", members, f"a whole number from 1 to {MAX_MEMBERS}")
    for name in ("clipnorm", "global_clipnorm"):
        value = getattr(spec.train, name)
        if value is not None:
            raise SpecError(f"train.{name}", value, "empty for restarts: clipping by a norm over the stacked weights "
                            "would couple the seeds, so they would no longer train as they would alone")


def seeds_for(spec: RunSpec, members: int) -> list[int]:
    """The seeds of a restarts run: the spec's own seed first, then the next ones."""
    return [(spec.seed + i) % (2**31 - 1) for i in range(members)]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a success rate `successes` of `n`."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class SeedOutcome:
    """One seed of a restarts request read under a criterion: its final numbers, the criterion's score, the verdict."""

    member: MemberResult
    score: float  # the criterion's number (NaN: no finite epoch, or no coefficients)
    success: bool

    @property
    def seed(self) -> int:
        return self.member.seed

    @property
    def final(self) -> dict[str, float]:
        return self.member.final

    def to_json(self) -> dict[str, Any]:
        return {**self.member.to_json(), "score": self.score if math.isfinite(self.score) else None, "success": self.success}


class SuccessRate:
    """The rate of `successes` of `seeds` and its 95% Wilson interval, for anything that counts both."""

    successes: int
    seeds: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.seeds if self.seeds else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.seeds)


@dataclass(frozen=True)
class SweepSummary(SuccessRate):
    """A restarts request read under a criterion: every seed's verdict, the rate with its Wilson interval, the best seed.

    The best seed is the first under `criterion.rank` (a success first, then the better score, then the
    lower loss): the same order the doctor and the restarts table use.
    """

    spec: RunSpec
    criterion: Criterion
    runs: tuple[SeedOutcome, ...]
    epochs: int
    wall_s: float
    stopped: bool = False
    stop_reason: str | None = None

    @property
    def seeds(self) -> int:
        return len(self.runs)

    @property
    def successes(self) -> int:
        return sum(run.success for run in self.runs)

    @property
    def diverged(self) -> int:
        return sum(1 for run in self.runs if run.member.diverged_at)

    @property
    def best(self) -> SeedOutcome | None:
        if not self.runs:
            return None
        return min(self.runs, key=lambda run: self.criterion.rank(run.final, run.member.readout))

    def median_score(self) -> float | None:
        """The median score of the seeds that did not diverge (None when none is left)."""
        scores = [run.score for run in self.runs if math.isfinite(run.score) and not run.member.diverged_at]
        return float(np.median(scores)) if scores else None

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "scenario": self.spec.scenario,
            "preset": self.spec.preset,
            "seeds": self.seeds,
            "epochs": self.epochs,
            "criterion": {"kind": self.criterion.kind, "threshold": self.criterion.threshold, "text": self.criterion.describe()},
            "successes": self.successes,
            "success_rate": self.success_rate,
            "interval": list(self.interval),
            "best": None if best is None else best.to_json(),
            "runs": [run.to_json() for run in self.runs],
            "diverged": self.diverged,
            "wall_s": self.wall_s,
            "stopped": self.stopped,
            "stop_reason": self.stop_reason,
            "config": self.spec.to_dict(),
        }


def summarize_sweep(result: RestartsResult, criterion: Criterion) -> SweepSummary:
    """Every seed of `result` read under `criterion`, as the same seed trained alone would be (its last finite epoch)."""
    runs = [SeedOutcome(member, criterion.score(member.final, member.readout), criterion.met(member.final, member.readout))
            for member in result.members]
    return SweepSummary(spec=result.spec, criterion=criterion, runs=tuple(runs), epochs=result.epochs_run, wall_s=result.wall_s,
                        stopped=result.stopped, stop_reason=result.stop_reason)


@dataclass(frozen=True)
class SeedRecord:
    """How a single run compares with the same seed inside a restarts request of the same settings."""

    seed: int
    restarts_label: str
    recorded: dict[str, float]  # the member's final loss and metric inside the restarts
    alone: dict[str, float]  # the single run's
    agrees: bool

    def text(self) -> str:
        def show(final: dict[str, float]) -> str:
            return ", ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in final.items()) or "no finite epoch"

        if self.agrees:
            return (f"Seed {self.seed} ends as it did in the restarts ({self.restarts_label}): {show(self.alone)}.")
        return (f"Seed {self.seed} ended differently inside the restarts ({self.restarts_label}): {show(self.recorded)}; "
                f"trained alone it ends at {show(self.alone)}. Both start from the same weights and see the same "
                f"shuffles; the restarts train every seed in one batched model, which adds the same numbers in another "
                f"order, and on a run this sensitive those rounding differences (about 1e-7) grow into a different "
                f"ending. Each is a true run of these settings; the success rate counts the restarts' endings.")


AGREE_RTOL = 1e-3  # final loss and metric within 0.1% (or 1e-6) count as the same ending


def seed_record(result: RunResult, outcomes: list[RestartsResult]) -> SeedRecord | None:
    """The restarts member with the single run's settings and seed, compared with it; None if there is none."""
    for outcome in outcomes:
        if outcome.spec.with_value("seed", result.spec.seed).key() != result.spec.key():
            continue
        if outcome.epochs_run != result.epochs_run:
            continue
        member = outcome.member(result.spec.seed)
        if member is None:
            continue
        keys = [k for k in result.final if k in member.final]
        agrees = bool(keys) and len(member.final) == len(result.final) and all(
            np.isclose(member.final[k], result.final[k], rtol=AGREE_RTOL, atol=1e-6) for k in keys)
        agrees = agrees or (not member.final and not result.final)
        label = {"question": "as asked", "answer": "as answered"}.get(outcome.spec.preset or "", outcome.spec.preset or "custom")
        return SeedRecord(result.spec.seed, f"{label}, {len(outcome.seeds)} seeds", dict(member.final), dict(result.final), agrees)
    return None
