"""The doctor's fix search: the settings as they are, the posted fix and every candidate change, measured on the same seeds.

`FixSearch` trains the control, then the single changes the findings propose, then pairs and triples
of the best singles, until one succeeds on `target` of the seeds, the time budget is spent or Stop is
pressed; it reports each step as a typed `SearchProgress` and returns a `DoctorReport`, its fixes ranked
by success rate, then by how small the change is, then by the criterion's median score.

The training is a `measure(spec, seeds, progress, stop) -> RestartsResult` callable (a worker process on
the page and on the command line), so nothing here imports TensorFlow.

Example:
    >>> report = find_fixes(result.spec, found, result, scenario.criterion, measure, seeds=16)
    >>> report.best.changes, report.best.successes
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.doctor.changes import Change, combine, knob_changes, refine_learning_rate, shown_value, textbook_changes
from core.doctor.facts import pct
from core.doctor.registry import candidates
from core.outcomes.restarts import SuccessRate, seeds_for, summarize_sweep
from core.outcomes.results import Finding, RestartsResult, RunResult
from core.settings.criteria import Criterion
from core.settings.specs import RunSpec, SpecError

DEFAULT_SEEDS = 16  # seeds per candidate (paired: every candidate trains on the same ones)
HEAVY_SEEDS = 8  # ... for a setup whose one run costs more than HEAVY_WORK samples seen x parameters
HEAVY_WORK = 1e9
TARGET_RATE = 0.9  # the search stops once a candidate succeeds on this share of the seeds
TOP_SINGLES = 4  # the best single changes that are combined into pairs and triples
SCREEN_SEEDS = 4  # seeds a usual-knob candidate is screened on before the promising are confirmed on every seed


def default_seeds(spec: RunSpec) -> int:
    """16 seeds per candidate, or 8 for a heavy setup (noisy-sine's 3000 full-batch epochs), so a search takes minutes."""
    from core.runner.budget import cost

    return HEAVY_SEEDS if cost(spec).sample_params > HEAVY_WORK else DEFAULT_SEEDS


@dataclass(frozen=True)
class Measured(SuccessRate):
    """One setup measured over the doctor's seeds: the control, a candidate, or the posted fix."""

    label: str
    changes: dict[str, Any]  # dotted field -> new value, against the control
    successes: int
    seeds: int
    median_metric: float | None
    metric: str
    wall_s: float
    stopped: bool = False
    diverged: int = 0
    because: tuple[str, ...] = ()
    stage: str = ""  # the search's stage that measured it ("single changes", "usual knobs (screening)", ...)

    @property
    def size(self) -> int:
        return len(self.changes)

    def to_json(self) -> dict[str, Any]:
        low, high = self.interval
        return {"label": self.label, "changes": _plain(self.changes), "successes": self.successes, "seeds": self.seeds,
                "success_rate": self.success_rate, "interval": [low, high], "median_metric": self.median_metric,
                "metric": self.metric, "diverged": self.diverged, "wall_s": round(self.wall_s, 2), "stopped": self.stopped,
                "because": list(self.because), "stage": self.stage}


@dataclass(frozen=True)
class DoctorReport:
    """What the doctor found and measured; `fixes` are ranked best first, `best` is the first or None."""

    findings: tuple[Finding, ...]
    criterion: Criterion
    seeds: tuple[int, ...]
    control: Measured | None
    fixes: tuple[Measured, ...]
    posted_fix: Measured | None
    tried: tuple[Measured, ...]  # every candidate in the order it was measured
    skipped: tuple[str, ...]  # candidates not measured, with why
    target: float
    wall_s: float
    stopped: bool = False
    spec: RunSpec | None = None  # the control's settings
    screened: tuple[Measured, ...] = ()  # setups measured on a few seeds only, to choose which to confirm on all
    diagnosed_seed: int | None = None  # the failing seed the findings were read from, when the run shown succeeded
    note: str = ""  # why the findings come from another seed than the run shown
    seeds_read: tuple[int, ...] = ()  # the control's failing seeds trained once more to read their findings
    to_target: int | None = None  # trainings spent when a setup first reached the target (the control's, if it did)

    @property
    def trainings(self) -> int:
        """Trainings spent: every seed of every setup measured, screened ones included, and the seeds read for findings."""
        return sum(m.seeds for m in (self.control, self.posted_fix, *self.tried, *self.screened) if m is not None) + len(self.seeds_read)

    @property
    def best(self) -> Measured | None:
        return self.fixes[0] if self.fixes else None

    @property
    def found_fix(self) -> bool:
        return self.best is not None and self.best.success_rate >= self.target

    def summary(self) -> str:
        """The answer in one or two sentences."""
        if self.control is None:
            return "Nothing was measured."
        control = self.control
        n = len(self.seeds)
        head = f"As it is, {control.successes} of {n} seeds succeed."
        best = self.best
        if control.success_rate >= self.target and best is None:
            return f"{head} These settings already work on {pct(control.success_rate)} of the seeds: there is nothing to fix."
        if not self.tried and not self.skipped and not self.stopped:
            return f"{head} The findings propose no change to try: none of them is a cause or a symptom of a failure."
        if best is None:
            tried = len(self.tried)
            text = (f"{head} None of the {tried} changes tried did better" + (f" (the best reached {best.successes} of {n})" if best else "")
                    + "." + (" Stopped before the search was done." if self.stopped else ""))
            return text
        low, high = best.interval
        rate = f"{best.successes} of {n} seeds ({pct(best.success_rate)}, 95% interval {pct(low)} to {pct(high)})"
        if best.success_rate >= self.target:
            return f"{head} What fixes it: {best.label} ({label_changes(best.changes)}) succeeds on {rate}."
        return (f"{head} The best found, {best.label} ({label_changes(best.changes)}), succeeds on {rate}: short of the "
                f"{pct(self.target)} goal" + (", stopped before the search was done." if self.stopped else "."))

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "criterion": {"kind": self.criterion.kind, "threshold": self.criterion.threshold, "text": self.criterion.describe()},
            "seeds": list(self.seeds),
            "target": self.target,
            "control": None if self.control is None else self.control.to_json(),
            "fixes": [m.to_json() for m in self.fixes],
            "best": None if self.best is None else self.best.to_json(),
            "posted_fix": None if self.posted_fix is None else self.posted_fix.to_json(),
            "tried": [m.to_json() for m in self.tried],
            "screened": [m.to_json() for m in self.screened],
            "trainings": self.trainings,
            "diagnosed_seed": self.diagnosed_seed,
            "seeds_read": list(self.seeds_read),
            "to_target": self.to_target,
            "note": self.note,
            "skipped": list(self.skipped),
            "summary": self.summary(),
            "wall_s": round(self.wall_s, 2),
            "stopped": self.stopped,
        }


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()}


def describe_changes(control: RunSpec, spec: RunSpec) -> dict[str, Any]:
    """The fields `spec` changes against `control`, with their new values (dotted names)."""
    return {k: b for k, (a, b) in control.differences(spec).items()}


def label_changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.', 1)[-1]}={shown_value(v)}" for k, v in changes.items()) or "no change"


Measure = Callable[[RunSpec, list[int], Callable[[float], None] | None, Any], RestartsResult]


@dataclass(frozen=True)
class SearchProgress:
    """Where a fix search is: its stage, the setup being measured, the share of its epochs done, and what just finished."""

    stage: str  # control | posted fix | single changes | pairs | triples | usual knobs ... | done
    label: str
    share: float = 0.0
    left_s: float | None = None  # an estimate of the time left in this stage
    measured: Measured | None = None  # set once, when a setup has just been measured


class FixSearch:
    """Measures the control, the posted fix and the findings' candidates (then pairs, then triples) on the same seeds.

    Args:
        spec: the settings as they are (the control).
        criterion: what counts as a success for one seed.
        measure: `measure(spec, seeds, progress, stop)` trains the seeds of one spec at once and returns the
            RestartsResult; its `progress(share)` reports the share of epochs done.
        seeds: seeds per setup, the same ones for every setup.
        posted: the posted fix, measured beside the control (optional).
        target: the success rate that ends the search.
        seconds: the wall-clock budget; a candidate that would not fit is skipped and said so.
        progress: called with a `SearchProgress` at every step.
        stop: a StopFlag; the search ends after the candidate in progress, keeping what was measured.
        check: `check(spec, seeds)` raises SpecError for a candidate over the budget (skipped and said so).
        rediagnose: `rediagnose(seeds)` trains those seeds of the control, one run each, and returns each one's result
            and findings: the failing seeds' findings are counted (core/doctor/seeds.py), and when the run shown succeeds
            while other seeds fail, the findings shown are a typical failing seed's.
        parallel: how many candidates of a stage are measured at once (the workers `measure` can keep busy).

    Example:
        >>> search = FixSearch(result.spec, criterion, measure, seeds=16, seconds=300, progress=print)
        >>> report = search.run(found, result)
    """

    def __init__(self, spec: RunSpec, criterion: Criterion, measure: Measure, seeds: int = DEFAULT_SEEDS,
                 posted: RunSpec | None = None, posted_label: str = "the posted fix", target: float = TARGET_RATE,
                 seconds: float | None = None, progress: Callable[[SearchProgress], None] | None = None, stop=None,
                 check: Callable[[RunSpec, int], None] | None = None,
                 rediagnose: Callable[[list[int]], list[tuple[RunResult, list[Finding]]]] | None = None, parallel: int = 1):
        if seconds is None:  # the budget's default (core/runner/budget.py is its one home)
            from core.runner.budget import LIMITS

            seconds = LIMITS["max_doctor_seconds"].default
        self.spec, self.criterion, self.measure = spec, criterion, measure
        self.seeds, self.seed_list = seeds, seeds_for(spec, seeds)
        self.posted, self.posted_label, self.target, self.seconds = posted, posted_label, target, seconds
        self.progress, self.stop, self.check, self.rediagnose = progress, stop, check, rediagnose
        self.parallel = max(1, int(parallel))
        self.diagnosed_seed: int | None = None  # the seed the findings were read from, when not the run shown
        self.seeds_read: list[int] = []  # failing seeds of the control trained again to read their findings
        self.spent = 0  # trainings so far: every seed of every setup measured, and the seeds read
        self.to_target: int | None = None  # `spent` when a setup first reached the target
        self.note = ""
        self._outcome: RestartsResult | None = None  # the last setup's outcome, seed by seed
        self.tried: list[Measured] = []
        self.screened: list[Measured] = []  # setups measured on the first SCREEN_SEEDS seeds only, to choose what to confirm
        self._combos: dict[tuple, tuple[Measured, tuple[Change, ...]]] = {}  # every setup measured on every seed, by key
        self.skipped: list[str] = []
        self.seen = {spec.key()}
        self.found_fix = False
        self.began = time.perf_counter()
        self._pace: list[float] = []  # seconds per unit of work measured so far, for the estimates
        self._state = SearchProgress("control", "as it is")
        self._control: Measured | None = None
        self._proposed: list[Change] = []  # the findings' changes, which the climb tries on top of the best too

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop.requested

    def run(self, found: list[Finding], result: RunResult) -> DoctorReport:
        control = self._measure(self.spec, "as it is")
        self._control = control
        control_outcome = self._outcome
        if control is not None and control.success_rate >= self.target:
            self.to_target = self.spent
        if self.stopped:
            control = None
        self._report(measured=control)
        posted_fix = None
        if self.posted is not None and not self.stopped:
            self._report(stage="posted fix", label=self.posted_label, share=0.0)
            posted_fix = self._measure(self.posted, self.posted_label)
            if self.stopped:
                posted_fix = None
            self._report(measured=posted_fix)
        if control is not None and control_outcome is not None:
            found, result = self._seeds_not_a_seed(found, result, summarize_sweep(control_outcome, self.criterion))
        if control is not None:
            self._search(found, result, control)
        fixes = sorted((m for m in self.tried if control is not None and m.successes > control.successes),
                       key=lambda m: (-m.successes, m.size, self.criterion.badness(m.median_metric)))
        self._report(stage="done", label="", share=1.0, left_s=0.0)
        return DoctorReport(findings=tuple(found), criterion=self.criterion, seeds=tuple(self.seed_list), control=control,
                            fixes=tuple(fixes), posted_fix=posted_fix, tried=tuple(self.tried), skipped=tuple(self.skipped),
                            screened=tuple(self.screened), diagnosed_seed=self.diagnosed_seed, note=self.note, seeds_read=tuple(self.seeds_read),
                            to_target=self.to_target,
                            target=self.target, wall_s=time.perf_counter() - self.began, stopped=self.stopped, spec=self.spec)

    def _search(self, found: list[Finding], result: RunResult, control: Measured) -> None:
        """The findings' changes one at a time, then the textbook setups (a leap over every knob at once); from whatever
        beats the control, a climb; otherwise pairs and triples of those, then the usual knobs (`_explore`)."""
        causes = {f.id for f in found if f.role == "cause"}
        proposed = candidates(result, found)
        self._proposed = proposed
        singles = self._level("single changes", [(c,) for c in proposed], stop_on_success=False)
        if self._going_on(control):
            singles += self._level("the textbook setup", [(c,) for c in textbook_changes(self.spec)], stop_on_success=True)
        if not self._going_on(control):
            return
        if self._ahead_of_control():  # something already beats the setup as it is: climb from it rather than from the start
            self._climb(len(self.seed_list) > SCREEN_SEEDS)
            return
        self._build(singles, causes)
        if self._going_on(control):
            self._explore(singles, causes)

    def _going_on(self, control: Measured) -> bool:
        return not self.found_fix and not self.stopped and control.success_rate < self.target

    def _build(self, singles: list[tuple[Measured, tuple[Change, ...]]], causes: set[str],
               stages: tuple[str, ...] = ("pairs", "triples")) -> list[tuple[Measured, tuple[Change, ...]]]:
        """Pairs of the best singles, then triples on the best two pairs (a cause's change kept among them)."""
        ranked = sorted(singles, key=self._rank)
        top = [combo[0] for _, combo in ranked[:TOP_SINGLES]]
        top += [combo[0] for _, combo in ranked[TOP_SINGLES:] if set(combo[0].because) & causes][:2]
        rank = {c.key: i for i, c in enumerate(top)}
        previous = ranked
        for size, stage in zip((2, 3), stages):
            if self.found_fix or self.stopped or len(top) < size:
                break
            if size == 2:
                combos = [(a, b) for i, a in enumerate(top) for b in top[i + 1:] if a.group != b.group]
            else:
                best_pairs = [combo for _, combo in sorted(previous, key=self._rank)[:2]]
                combos = [(*pair, c) for pair in best_pairs for c in top if c not in pair and all(c.group != p.group for p in pair)]
            combos.sort(key=lambda combo: sum(rank[c.key] for c in combo))
            previous = self._level(stage, combos, stop_on_success=True)
        return singles

    def _seeds_not_a_seed(self, found: list[Finding], result: RunResult, control) -> tuple[list[Finding], RunResult]:
        """The control's seeds are the evidence: the findings of its failing seeds are read (every one when cheap, else the
        worst and a typical one) and each finding says how many show it; when the run shown succeeded, the findings shown
        are a typical failing seed's; a rate between none and all adds `seed_dependent`."""
        from core.doctor.facts import Facts
        from core.doctor.fit import seed_dependent
        from core.doctor.seeds import seeds_to_read, tally

        failing = sorted((r for r in control.runs if not r.success), key=lambda r: self.criterion.badness(r.score))
        shown_met = bool(self.criterion.met(result.final, result.readout))
        if failing and self.rediagnose is not None and control.success_rate < self.target and not self.stopped:
            seeds, every = seeds_to_read([r.seed for r in failing], self.spec.seed, result.wall_s, self.seconds)
            if seeds:
                self._report(stage="failing seeds", label=f"reading the findings of {len(seeds)} failing seeds", share=0.0)
            others = list(self.rediagnose(seeds)) if seeds else []
            self.seeds_read = [r.spec.seed for r, _ in others]
            self.spent += len(self.seeds_read)
            readings = ([] if shown_met else [(result, found)]) + others
            if shown_met and others:
                typical = failing[len(failing) // 2].seed
                result, found = next(((r, f) for r, f in others if r.spec.seed == typical), others[0])
                self.diagnosed_seed = result.spec.seed
                self.note = (f"The run shown (seed {self.spec.seed}) succeeded, but {len(failing)} of {control.seeds} seeds "
                             f"fail: the findings are read from seed {self.diagnosed_seed}, a typical failing one.")
            found = tally(readings, list(found), len(failing), every)
        if not any(f.id == "seed_dependent" for f in found):
            with_seeds = seed_dependent(Facts(result, self.criterion), control)
            if with_seeds is not None:
                found = [*found, with_seeds]
        return found, result

    def _explore(self, found_singles: list[tuple[Measured, tuple[Change, ...]]], causes: set[str]) -> None:
        """When nothing beats the control yet: the usual knobs (core/doctor/space.py), each screened on the first
        SCREEN_SEEDS seeds, the promising third confirmed on every seed; pairs and triples of the best confirmed, found and
        textbook changes; then the best's learning rate refined, random combinations of the best, and the climb."""
        import random

        pool = knob_changes(self.spec)
        screen = len(self.seed_list) > SCREEN_SEEDS
        screened = self._level("usual knobs (screening)" if screen else "usual knobs", [(c,) for c in pool], stop_on_success=not screen,
                               screen=screen)
        keep = max(3, len(screened) // 3)
        promising = [combo for _, combo in sorted(screened, key=self._rank)[:keep]]
        confirmed = screened
        if screen:  # the screened setups are seen already: confirm them by their plans
            plans = [(combo, combine(self.spec, list(combo))) for combo in promising]
            confirmed = self._level("usual knobs", promising, stop_on_success=True, plans=plans)
        if self.found_fix or self.stopped:
            return
        singles = found_singles + confirmed
        self._build(singles, causes, ("pairs of the best", "triples of the best"))
        if self._combos and not self.found_fix and not self.stopped:
            _, combo = min(self._combos.values(), key=self._rank)
            ladder = [(*combo, step) for step in refine_learning_rate()]
            self._level("learning rate of the best", ladder, stop_on_success=True)
        rng = random.Random(self.seed_list[0])
        ranked = [combo[0] for _, combo in sorted(singles, key=self._rank)][:6]
        for _ in range(200):
            if self.found_fix or self.stopped or len(ranked) < 2 or time.perf_counter() - self.began > self.seconds:
                break
            picked = rng.sample(ranked, rng.choice((2, 3)) if len(ranked) > 2 else 2)
            if len({c.group for c in picked}) < len(picked):
                continue
            plans = self._plan([tuple(picked)])
            if plans and self._out_of_time(plans[0][1]):
                break
            self._level("combinations of the best", [], stop_on_success=True, plans=plans)
        self._climb(screen)

    def _climb(self, screen: bool, rounds: int = 12) -> None:
        """Never stop for lack of ideas: around the best setup so far, the usual knobs again (screened, the promising
        confirmed), round after round, until a fix, Stop or the end of the budget."""
        for round_ in range(1, rounds + 1):
            if self.found_fix or self.stopped or not self._combos or time.perf_counter() - self.began > self.seconds:
                return
            _, best = min(self._combos.values(), key=self._rank)
            around = [(*best, k) for k in [*knob_changes(combine(self.spec, list(best))), *self._proposed]]
            stage = f"around the best, round {round_}"
            plans = self._plan(around)
            if not plans:
                return
            tried = self._level(stage + (" (screening)" if screen else ""), [], stop_on_success=not screen, screen=screen, plans=plans)
            if screen and not self.found_fix and not self.stopped:
                promising = sorted(tried, key=self._rank)[:3]
                self._level(stage, [], stop_on_success=True, plans=[(combo, combine(self.spec, list(combo))) for _, combo in promising])

    def _ahead_of_control(self) -> bool:
        """Whether the best setup measured so far succeeds on more seeds than the control."""
        if not self._combos or self._control is None:
            return False
        best, _ = min(self._combos.values(), key=self._rank)
        return best.successes > self._control.successes

    def _rank(self, item: tuple[Measured, tuple[Change, ...]]) -> tuple:
        """Best first: more successes, then the better median score."""
        m = item[0]
        return (-m.successes, self.criterion.badness(m.median_metric))

    def _plan(self, combos: list[tuple[Change, ...]]) -> list[tuple[tuple[Change, ...], RunSpec]]:
        """Each combination's spec, once: invalid ones and ones already measured are left out (invalid ones said so)."""
        plans = []
        for combo in combos:
            try:
                s = combine(self.spec, list(combo))
            except SpecError as err:
                self.skipped.append(f"{' + '.join(c.name for c in combo)}: {err}")
                continue
            key = s.key()
            if key not in self.seen:
                self.seen.add(key)
                plans.append((combo, s))
        return plans

    def _level(self, stage: str, combos: list[tuple[Change, ...]], stop_on_success: bool, screen: bool = False,
               plans: list | None = None) -> list[tuple[Measured, tuple[Change, ...]]]:
        """Measure each new combination on every seed (or, `screen`, on the first SCREEN_SEEDS), in order, within the time;
        `parallel` of them at once, side by side, when the pool has that many workers."""
        plans = self._plan(combos) if plans is None else plans
        seeds = self.seed_list[:SCREEN_SEEDS] if screen else self.seed_list
        measured: list[tuple[Measured, tuple[Change, ...]]] = []
        batch: list[tuple[tuple[Change, ...], RunSpec, str]] = []
        for index, (combo, s) in enumerate(plans):
            if self.stopped:
                break
            name = " + ".join(c.name for c in combo)
            if self._out_of_time(s, len(seeds)):
                self.skipped.append(f"{name}: not tried, it would not finish within the doctor's {self.seconds:g} s")
            else:
                self._report(stage=stage, label=name, share=0.0, left_s=self._remaining([p[1] for p in plans[index:]]))
                batch.append((combo, s, name))
            if batch and (len(batch) >= self.parallel or index == len(plans) - 1):
                done = self._keep(self._measure_batch(batch, seeds), screen)
                measured += done
                batch = []
                if self.stopped or (stop_on_success and self.found_fix):
                    break
        return measured

    def _measure_batch(self, batch: list[tuple[tuple[Change, ...], RunSpec, str]], seeds: list[int]) -> list:
        """Each (combination, spec, name) of `batch` measured, side by side when there are several: (Measured or None, combo,
        name, spec) each."""
        def one(item):
            combo, s, name = item
            return self._measure(s, name, because=sorted({b for c in combo for b in c.because}), seeds=seeds), combo, name, s

        if len(batch) == 1:
            return [one(batch[0])]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(batch)) as side_by_side:
            return list(side_by_side.map(one, batch))

    def _keep(self, results: list, screen: bool) -> list[tuple[Measured, tuple[Change, ...]]]:
        """Record what a batch measured, in its order; a measurement cut short by Stop is not kept."""
        kept = []
        for m, combo, name, s in results:
            if m is None:
                continue
            if self.stopped:  # cut short by Stop: a half-trained rate is not a measurement
                self.skipped.append(f"{name}: stopped before it finished")
                break
            if screen:
                self.screened.append(m)
            else:
                self.tried.append(m)
                self._combos[s.key()] = (m, combo)
            self._report(measured=m)
            kept.append((m, combo))
            if not screen and m.success_rate >= self.target:
                self.found_fix = True
                if self.to_target is None:
                    self.to_target = self.spent
        return kept

    def _measure(self, s: RunSpec, label: str, because=(), seeds: list[int] | None = None) -> Measured | None:
        seeds = self.seed_list if seeds is None else seeds
        if self.check is not None:
            try:
                self.check(s, len(seeds))
            except SpecError as err:
                self.skipped.append(f"{label}: {err}")
                return None
        m, outcome = measure_setup(self.measure, self.spec, s, seeds, self.criterion, label, because,
                                   lambda share: self._report(share=float(share)), self.stop, stage=self._state.stage)
        self._outcome = outcome
        self.spent += m.seeds
        if outcome.epochs_run >= s.train.epochs:  # a run cut short (diverged, stopped) is mostly start-up: no pace to go by
            self._pace.append(m.wall_s / self._work(s) * self.seeds / len(seeds))
        return m

    def _report(self, **changes) -> None:
        """Move the progress on (`measured` is reported once, then cleared) and tell the listener."""
        state = {**self._state.__dict__, "measured": None, **changes}
        self._state = SearchProgress(**state)
        if self.progress is not None:
            self.progress(self._state)

    def _work(self, s: RunSpec) -> float:
        from core.runner.budget import cost

        c = cost(s, self.seeds)
        return float(c.sample_params + c.step_params * 0.02)

    def _estimate(self, s: RunSpec) -> float | None:
        import numpy as np

        return float(np.median(self._pace) * self._work(s)) if self._pace else None

    def _remaining(self, planned: list[RunSpec]) -> float | None:
        values = [self._estimate(s) for s in planned]
        return float(sum(values)) if values and all(v is not None for v in values) else None

    def _out_of_time(self, s: RunSpec, seeds: int | None = None) -> bool:
        share = (seeds or self.seeds) / self.seeds
        return time.perf_counter() - self.began + (self._estimate(s) or 0.0) * share > self.seconds


def measure_setup(measure: Measure, control: RunSpec, spec: RunSpec, seeds: list[int], criterion: Criterion, label: str,
                  because=(), progress=None, stop=None, stage: str = "") -> tuple[Measured, RestartsResult]:
    """`spec` trained on `seeds` and judged by `criterion`: its Measured (changes described against `control`) and the outcome."""
    began = time.perf_counter()
    outcome = measure(spec, list(seeds), progress, stop)
    summary = summarize_sweep(outcome, criterion)
    return Measured(label=label, changes=describe_changes(control, spec), successes=summary.successes, seeds=len(seeds),
                    median_metric=summary.median_score(), metric=criterion.name, wall_s=time.perf_counter() - began,
                    stopped=outcome.stopped, diverged=summary.diverged, because=tuple(because), stage=stage), outcome


FIX_MAY_CHANGE = ("x_scaling", "y_scaling", "features")  # the data settings a fix may change: the rest is the question's data


def same_question(answer: RunSpec, spec: RunSpec) -> bool:
    """Whether `answer` trains on the same data as `spec` (scaling and features aside), so its rate on the same seeds says
    something about `spec`: a case's answer preset for another dataset (the Playground's XOR answer beside its spiral) does not."""
    import dataclasses

    def plain(data):
        return dataclasses.replace(data, **{name: getattr(answer.data, name) for name in FIX_MAY_CHANGE})

    return plain(answer.data) == plain(spec.data)


def find_fixes(spec: RunSpec, found: list[Finding], result: RunResult, criterion: Criterion, measure: Measure,
               seeds: int = DEFAULT_SEEDS, posted: RunSpec | None = None, target: float = TARGET_RATE, seconds: float | None = None,
               progress: Callable[[SearchProgress], None] | None = None, stop=None,
               check: Callable[[RunSpec, int], None] | None = None, posted_label: str = "the posted fix",
               rediagnose: Callable[[list[int]], list[tuple[RunResult, list[Finding]]]] | None = None,
               parallel: int = 1) -> DoctorReport:
    """A `FixSearch` of `spec` run once over the findings of `result` (see FixSearch for the arguments)."""
    return FixSearch(spec, criterion, measure, seeds=seeds, posted=posted, posted_label=posted_label, target=target, seconds=seconds,
                     progress=progress, stop=stop, check=check, rediagnose=rediagnose, parallel=parallel).run(found, result)


def measure_with(pool, seconds: float | None = None) -> Measure:
    """A `measure` that trains in a WorkerPool's worker (core/runner/workers.py), passing Stop on; `seconds` per candidate."""

    def measure(spec: RunSpec, seeds: list[int], progress=None, stop=None) -> RestartsResult:
        epochs = spec.train.epochs
        job = pool.submit(spec, members=len(seeds), seeds=seeds, seconds=seconds,
                          progress=None if progress is None else lambda epoch, logs: progress(min(epoch / epochs, 1.0)))
        stopped = False
        while True:
            try:
                return job.wait(timeout=0.1)
            except TimeoutError:
                if stop is not None and stop.requested and not stopped:
                    job.stop()
                    stopped = True
            except KeyboardInterrupt:
                job.stop()
                raise

    return measure
