"""Restarts read as plain data: success rates with Wilson intervals, the best seed, and one seed's record.

Training M seeds at once is core.engine.training.train_restarts; this module reads its RestartsResult
and imports no TensorFlow, so pages and the command line can summarise without the engine.

Example:
    >>> report = summarize_sweep(train_restarts(spec, 64), scenario.criterion)
    >>> report["successes"], report["interval"]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.outcomes.results import MemberResult, RestartsResult, RunResult
from core.settings.errors import SpecError
from core.settings.specs import MAX_SEEDS, RunSpec

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


def _badness(member: MemberResult, success: bool, metric: str) -> tuple:
    """Sort key of the best-of-N choice: succeeded first, then the better metric, then the lower loss."""
    final = member.final
    if not final:
        return (1, math.inf, math.inf)
    parabola = member.readout.parabola
    if parabola is not None and parabola.target is not None:
        score = parabola.worst_error
    else:
        score = -final[metric] if metric == "accuracy" else final[metric]
    return (0 if success else 1, score, final["loss"])


def summarize_sweep(result: RestartsResult, criterion) -> dict[str, Any]:
    """Success of every seed under `criterion`, the rate with its Wilson interval, and the best seed (JSON-ready)."""
    verdicts = [bool(criterion.met(member.final, member.readout)) for member in result.members]
    runs = [{**member.to_json(), "success": ok} for member, ok in zip(result.members, verdicts)]
    successes = sum(verdicts)
    n = len(runs)
    best = None
    if runs:
        index = min(range(n), key=lambda i: _badness(result.members[i], verdicts[i], result.metric))
        best = runs[index]
    return {
        "scenario": result.spec.scenario,
        "preset": result.spec.preset,
        "seeds": n,
        "epochs": result.epochs_run,
        "criterion": {"kind": criterion.kind, "threshold": criterion.threshold, "text": criterion.describe()},
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "interval": list(wilson_interval(successes, n)),
        "best": best,
        "runs": runs,
        "diverged": sum(1 for member in result.members if member.diverged_at),
        "wall_s": result.wall_s,
        "stopped": result.stopped,
        "stop_reason": result.stop_reason,
        "config": result.spec.to_dict(),
    }


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
        if outcome.spec.with_value("seed", result.spec.seed).to_dict() != result.spec.to_dict():
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
