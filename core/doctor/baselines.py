"""Plain searches the doctor must beat: random search and TPE over the usual knobs, with a given number of trainings.

A repair tool earns its place only if it does better than a search that knows nothing of the run but
spends the same trainings (a random baseline matched or beat published repair tools, "Repairing DNN
Architecture: Are We There Yet?", 2023). Both searches draw from `core/doctor/space.knobs(spec)`: a
candidate changes one to three knobs (random) or any subset of them (TPE, Optuna's sampler), and each
candidate trains on every seed, as the doctor's do. A candidate that is no valid setup, or over the
budget (`check`), is drawn again and costs nothing.

Example:
    >>> tried = random_search(spec, criterion, measure, seeds=list(range(16)), trainings=160)
    >>> best(tried, criterion).successes
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from core.doctor.search import Measure, Measured, label_changes, measure_setup
from core.doctor.space import Change, apply, knobs
from core.settings.criteria import Criterion
from core.settings.specs import RunSpec, SpecError

DRAWS = 200  # attempts at a valid candidate before a search gives up
Check = Callable[[RunSpec, int], None]


def best(tried: list[Measured], criterion: Criterion) -> Measured | None:
    """The best of `tried`: most successes, then the better median score."""
    return min(tried, key=lambda m: (-m.successes, criterion.badness(m.median_metric)), default=None)


def random_search(spec: RunSpec, criterion: Criterion, measure: Measure, seeds: list[int], trainings: int, rng_seed: int = 0,
                  check: Check | None = None, extra: int = 0, target: float = 1.0) -> list[Measured]:
    """Candidates of one to three random knob changes, each trained on every seed, until `trainings` are spent; then up
    to `extra` more while no candidate has reached `target` (to count the trainings a search needs to reach it)."""
    space = knobs(spec)
    rng = random.Random(rng_seed)
    tried: list[Measured] = []
    seen: set[tuple] = {spec.key()}
    while _going_on(tried, len(seeds), trainings, extra, target):
        candidate = _draw(spec, space, rng, seen, len(seeds), check)
        if candidate is None:
            break
        changed, changes = candidate
        tried.append(measure_setup(measure, spec, changed, seeds, criterion, "random: " + label_changes(changes),
                                   stage="random search")[0])
    return tried


def tpe_search(spec: RunSpec, criterion: Criterion, measure: Measure, seeds: list[int], trainings: int, rng_seed: int = 0,
               check: Check | None = None, extra: int = 0, target: float = 1.0) -> list[Measured]:
    """Optuna's TPE sampler over every knob (keep it, or one of its changes), each trial trained on every seed, until
    `trainings` are spent; then up to `extra` more while no trial has reached `target`."""
    try:
        import optuna
    except ImportError:
        raise SpecError("--baselines", "tpe", "random, or tpe once Optuna is installed (pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = knobs(spec)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=rng_seed))
    tried: list[Measured] = []
    refused = 0
    while refused < DRAWS and _going_on(tried, len(seeds), trainings, extra, target):
        trial = study.ask()
        changes: Change = {}
        for name, options in space.items():
            pick = trial.suggest_categorical(name, list(range(-1, len(options))))
            if pick >= 0:
                changes.update(options[pick])
        changed = apply(spec, changes) if changes else None
        if changed is None or not _fits(changed, len(seeds), check):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            refused += 1
            continue
        m = measure_setup(measure, spec, changed, seeds, criterion, "TPE: " + label_changes(changes), stage="TPE")[0]
        tried.append(m)
        study.tell(trial, m.successes - _tie(criterion, m.median_metric))
    return tried


def _going_on(tried: list[Measured], seeds: int, trainings: int, extra: int, target: float) -> bool:
    """Whether a search may train one more candidate on `seeds` seeds: within `trainings`, or within `extra` more while
    nothing has reached `target`."""
    spent = len(tried) * seeds
    if spent + seeds <= trainings:
        return True
    return spent + seeds <= trainings + extra and not any(m.success_rate >= target for m in tried)


def _draw(spec: RunSpec, space: dict[str, list[Change]], rng: random.Random, seen: set[tuple], seeds: int,
          check: Check | None) -> tuple[RunSpec, Change] | None:
    names = sorted(space)
    for _ in range(DRAWS):
        count = rng.choice((1, 1, 2, 2, 3))
        changes: Change = {}
        for name in rng.sample(names, min(count, len(names))):
            changes.update(rng.choice(space[name]))
        changed = apply(spec, changes)
        if changed is None or changed.key() in seen or not _fits(changed, seeds, check):
            continue
        seen.add(changed.key())
        return changed, changes
    return None


def _fits(spec: RunSpec, seeds: int, check: Check | None) -> bool:
    if check is None:
        return True
    try:
        check(spec, seeds)
    except SpecError:
        return False
    return True


def _tie(criterion: Criterion, median: float | None) -> float:
    """A tie-break worth less than one success: the median score's badness mapped monotonically into [0, 1)."""
    bad = criterion.badness(median)
    return 0.999 if not math.isfinite(bad) else 0.999 / (1 + math.exp(-bad))

