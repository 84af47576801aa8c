"""What one request may cost: a cap on its work and a wall-clock budget, configurable per server.

A shared server (Community Cloud, a team demo) must not let one user's run hold a core for an hour.
Every run is checked before it starts against two measures of work, and stopped when it outlives the
wall-clock budget (its results up to then are kept and say so):

- optimizer steps x parameters: what every optimizer update costs (epochs * batches * weights);
- samples seen x parameters: what the forward and backward passes cost (epochs * samples * weights),
  which is what makes a full-batch run on many samples slow although it has few steps.

A restarts request of M seeds costs M times one run (the seeds train together, each does the work).
The limits come, first to last, from environment variables, Streamlit secrets (a `[budget]` table with
the same names in lower case and without the prefix) and the defaults below; `none` lifts a limit.
This module is plain Python: no TensorFlow, no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.runner import memory
from core.settings.errors import bounded
from core.settings.network import count_params
from core.settings.specs import RunSpec, SpecError


class Limit(NamedTuple):
    """One configurable limit: where it is set, its default, its smallest allowed value, what it measures."""

    variable: str
    default: float
    lowest: float
    what: str
    unit: str


LIMITS = {
    "max_step_params": Limit("TINYNET_MAX_STEP_PARAMS", 5e10, 1e3, "optimizer steps × parameters", ""),
    "max_sample_params": Limit("TINYNET_MAX_SAMPLE_PARAMS", 1e12, 1e3, "samples seen × parameters", ""),
    "max_seconds": Limit("TINYNET_MAX_SECONDS", 120.0, 1.0, "wall-clock seconds per run", " s"),
    "max_sweep_seconds": Limit("TINYNET_MAX_SWEEP_SECONDS", 300.0, 1.0, "wall-clock seconds per restarts request", " s"),
    "max_doctor_seconds": Limit("TINYNET_MAX_DOCTOR_SECONDS", 300.0, 1.0, "wall-clock seconds of one fix search (the doctor)", " s"),
    "max_trainings": Limit("TINYNET_MAX_TRAININGS", 4, 1, "trainings at once on the server (the dashboard; others wait)", ""),
    # The processes that train (core/runner/workers.py): how many, and the resident memory after which one is
    # replaced once its jobs are done. XLA never frees a compiled loop, so a worker grows by roughly
    # 10-20 MB per new architecture from about 700 MB after its first run; 850 MB recycles it every
    # ten or so architectures and keeps server + worker near 1.1 GB on a 2.7 GB Community Cloud box.
    "workers": Limit("TINYNET_WORKERS", 1, 1, "worker processes that train (each holds its own TensorFlow, ~0.7 GB)", ""),
    "worker_memory_mb": Limit("TINYNET_WORKER_MEMORY_MB", 850.0, 300.0, "MB of resident memory after which a worker is replaced", " MB"),
    # The hard limit: a request whose estimated peak would pass it is refused before it starts (core/runner/memory.py),
    # and a worker that passes it during a job is stopped and replaced. Server (~0.4 GB) + one worker at this
    # limit stay under Community Cloud's 2.7 GB.
    "worker_limit_mb": Limit("TINYNET_WORKER_LIMIT_MB", 2000.0, 500.0, "MB of resident memory a worker may reach during a job", " MB"),
}
WHOLE = ("max_trainings", "workers")  # counts: no 'none', no fractions
UNLIMITED = ("none", "inf", "unlimited")


class BudgetError(SpecError):
    """A request over the budget; `str(err)` says what it costs, what is allowed and how to shrink it."""

    def __init__(self, field_name: str, value: Any, allowed: str, message: str):
        super().__init__(field_name, value, allowed)
        self.message = message

    def __str__(self) -> str:
        return bounded(self.message)


@dataclass(frozen=True)
class Cost:
    """The work of one request: `members` seeds of `spec`."""

    steps: int  # optimizer steps of one seed
    samples: int  # samples seen by one seed (epochs * n_samples)
    params: int
    members: int

    @property
    def step_params(self) -> float:
        return float(self.steps) * self.params * self.members

    @property
    def sample_params(self) -> float:
        return float(self.samples) * self.params * self.members


# Seconds of one restarts run ~ a + b * steps + c * samples * parameters * seeds: least squares (on the
# relative error) over the 8 timed runs of core/cases/claims.json (64 seeds each, 2 cores); within a
# factor of 2 of every one of them. A server that has timed its own runs scales it by what it saw.
TIME_MODEL = (0.69, 3.3e-7, 4.5e-10)


def predicted_seconds(spec: RunSpec, members: int = 1) -> float:
    """About how long `members` seeds of `spec` train on 2 cores (the lab's own measured pace)."""
    work = cost(spec, members)
    a, b, c = TIME_MODEL
    return a + b * work.steps + c * work.sample_params


def cost(spec: RunSpec, members: int = 1) -> Cost:
    n = spec.data.n_samples
    steps = spec.train.epochs * spec.train.steps_per_epoch(n)
    return Cost(steps=steps, samples=spec.train.epochs * n, params=count_params(spec.model), members=max(1, int(members)))


@dataclass(frozen=True)
class Budget:
    max_step_params: float = LIMITS["max_step_params"].default
    max_sample_params: float = LIMITS["max_sample_params"].default
    max_seconds: float = LIMITS["max_seconds"].default
    max_sweep_seconds: float = LIMITS["max_sweep_seconds"].default
    max_doctor_seconds: float = LIMITS["max_doctor_seconds"].default
    max_trainings: int = LIMITS["max_trainings"].default
    workers: int = LIMITS["workers"].default
    worker_memory_mb: float = LIMITS["worker_memory_mb"].default
    worker_limit_mb: float = LIMITS["worker_limit_mb"].default
    sources: tuple[tuple[str, str], ...] = ()  # (limit, where it was set) for limits not at their default

    @classmethod
    def from_sources(cls, environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Budget:
        """Limits from environment variables, then a Streamlit secrets `[budget]` table, then defaults.

        A value that is not a number (or `none`) or is below the limit's minimum raises SpecError naming
        the variable, so a misconfigured server says so instead of running without a budget.
        """
        environ = environ if environ is not None else {}
        table = secrets or {}
        values: dict[str, float] = {}
        sources = []
        for name, limit in LIMITS.items():
            if environ.get(limit.variable, "").strip():
                raw, where = environ[limit.variable], limit.variable
            elif name in table:
                raw, where = table[name], f"secrets [budget] {name}"
            else:
                values[name] = limit.default
                continue
            values[name] = _parse_limit(where, raw, limit.lowest, limit.what, whole=name in WHOLE)
            sources.append((name, where))
        return cls(**values, sources=tuple(sources))

    def seconds_for(self, members: int = 0) -> float:
        """The wall-clock budget of a single run (members 0) or of a restarts request."""
        return self.max_sweep_seconds if members else self.max_seconds

    def check(self, spec: RunSpec, members: int = 0) -> Cost:
        """Raise BudgetError when `spec` (times `members` seeds for restarts) is over a work cap, or a SpecError when its
        estimated memory would pass the worker's limit (core/runner/memory.py)."""
        # Memory first: it is what would take the server down, and what fits it usually fits the work caps too.
        refused = memory.over(spec, members, self.worker_limit_mb, self.where("worker_limit_mb"))
        if refused is not None:
            part, needed, allowed, message = refused
            raise BudgetError(part.setting, needed, allowed, message)
        work = cost(spec, members or 1)
        for name, needed in (("max_step_params", work.step_params), ("max_sample_params", work.sample_params)):
            cap = getattr(self, name)
            if needed > cap:
                what = LIMITS[name].what
                message = (f"Over the budget: this {'restarts request' if members else 'run'} needs {_sci(needed)} {what} "
                           f"({_breakdown(work, name)}); the budget is {_sci(cap)} ({self.where(name)}). "
                           f"To fit it: {_shrink(spec, work, name, cap, members)}.")
                raise BudgetError("budget", f"{_sci(needed)} {what}", f"at most {_sci(cap)}", message)
        return work

    def where(self, name: str) -> str:
        for limit, where in self.sources:
            if limit == name:
                return f"set by {where}"
        return f"the default; set {LIMITS[name].variable} or secrets [budget] {name}"

    def describe(self) -> str:
        """One line for a page or the command line."""
        parts = [f"{_sci(self.max_step_params)} optimizer steps × parameters", f"{_sci(self.max_sample_params)} samples seen × parameters",
                 f"{_seconds(self.max_seconds)} per run", f"{_seconds(self.max_sweep_seconds)} per restarts request",
                 f"{self.max_trainings} training{'' if self.max_trainings == 1 else 's'} at once (more wait their turn)"]
        return "Budget: " + ", ".join(parts)

    def stop_message(self, epochs_run: int, epochs: int, members: int = 0) -> str:
        """What a run stopped by the wall-clock budget tells its user."""
        seconds = self.seconds_for(members)
        name = "max_sweep_seconds" if members else "max_seconds"
        fits = max(1, int(epochs_run * 0.9))
        return (f"Stopped at the wall-clock budget of {_seconds(seconds)} ({self.where(name)}) after {epochs_run:,} of "
                f"{epochs:,} epochs; what is shown is the network at that point. To finish within the budget: at most about "
                f"{fits:,} epochs at this speed, a larger batch size, fewer samples"
                + (", fewer seeds" if members else "") + " or a smaller network.")


def _parse_limit(where: str, raw: Any, lowest: float, what: str, whole: bool = False) -> float:
    text = str(raw).strip().lower()
    if whole:  # a count of threads or processes: no 'none', no fractions
        if not (text.isdigit() and 1 <= int(text) <= 64):
            raise SpecError(where, raw, f"a whole number of {what} from 1 to 64")
        return int(text)
    if text in UNLIMITED:
        return math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= lowest):
        raise SpecError(where, raw, f"a number of {what} of at least {lowest:g}, or 'none' for no limit")
    return value


def _sci(value: float) -> str:
    if math.isinf(value):
        return "no limit"
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3g}".replace("e+0", "e").replace("e+", "e")


def _seconds(value: float) -> str:
    return "no time limit" if math.isinf(value) else f"{value:g} s"


def _breakdown(work: Cost, name: str) -> str:
    first = f"{work.steps:,} optimizer steps" if name == "max_step_params" else f"{work.samples:,} samples seen"
    seeds = f" × {work.members} seeds" if work.members > 1 else ""
    return f"{first} × {work.params:,} parameters{seeds}"


def _shrink(spec: RunSpec, work: Cost, name: str, cap: float, members: int) -> str:
    """Concrete ways to bring the request under `cap`: each one alone would be enough."""
    needed = work.step_params if name == "max_step_params" else work.sample_params
    share = cap / needed  # the fraction of the work that fits
    ways = []
    epochs = int(spec.train.epochs * share)
    if epochs >= 1:
        ways.append(f"at most {epochs:,} epochs (train.epochs, now {spec.train.epochs:,})")
    if members > 1:
        seeds = int(members * share)
        if seeds >= 1:
            ways.append(f"at most {seeds} seeds (now {members})")
    n = spec.data.n_samples
    batch = spec.train.resolved_batch_size(n)
    if name == "max_step_params" and batch < n:
        wanted = math.ceil(batch / share)
        if wanted <= n:
            ways.append(f"a batch size of at least {wanted:,} (train.batch_size, now {batch:,})")
        else:
            ways.append(f"full-batch training (train.batch_size=full, now {batch:,})")
    if name == "max_sample_params":
        samples = int(n * share)
        if samples >= 3:
            ways.append(f"at most {samples:,} samples (data.n_samples, now {n:,})")
    ways = ways[:2] + [f"a network of at most about {max(1, int(work.params * share)):,} parameters (now {work.params:,})"]
    return "; or ".join(ways)
