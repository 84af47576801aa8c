"""Training from a page: a job in a worker process, live progress, a clean stop, and a result cache.

The Streamlit server never imports TensorFlow: each run goes to a worker process (core/runner/workers.py)
through the server's one WorkerPool, which streams its progress back, so the page can redraw several
times a second while a background thread of the session waits for the result. A Stop click (which
reruns the page) reaches the run through the job's StopFlag, which this thread passes on to the
worker; the engine then returns everything learned so far. A worker that dies mid-run is answered with
a message and replaced; the session keeps its earlier results. A job has one purpose (RunJob,
RestartsJob, DoctorJob). Finished runs are cached by their settings (RunSpec.key) with st.cache_data
(bounded), so repeating a demo is instant; a stopped run and a user's data file are never cached.
Results are plain data: no Keras model lives in the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.engine.stopping import StopFlag
from core.outcomes.results import Finding, RestartsResult, RunResult
from core.runner.budget import Budget, BudgetError, predicted_seconds
from core.runner.workers import Job as WorkerJob
from core.runner.workers import WorkerDied, WorkerPool
from core.settings.criteria import Criterion
from core.settings.specs import RunSpec, SpecError
from ui import errors
from ui.state import keys

if TYPE_CHECKING:
    from core.doctor import DoctorReport, Measured, SearchProgress

CACHE_ENTRIES = 16  # finished runs kept per server; a run holds up to about 6 MB (noisy-sine), so at most ~100 MB


class StoppedEarly(Exception):
    """Carries the partial result of a stopped run out of the cached function, so it is not cached."""

    def __init__(self, result):
        super().__init__("stopped")
        self.result = result


@dataclass
class Job:
    """One request from a page, trained in worker processes by a thread of the session: what every purpose shares.

    A RunJob trains one spec or two (as asked, then as answered), a RestartsJob many seeds of each spec at
    once, a DoctorJob the fix search; `start` runs any of them. A bare Job trains nothing (a finished job's error).
    """

    scenario: str
    specs: list[RunSpec]
    stop: StopFlag = field(default_factory=StopFlag)
    live: WorkerJob | None = None  # the current spec's run in its worker: epoch, logs, history and weights so far
    error: str | None = None  # the whole message for the page, once the job has failed
    index: int = 0  # which spec is training
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    thread: threading.Thread | None = None
    budget: Budget = field(default_factory=Budget)
    waiting: bool = False  # queued for a training slot (see `slot`)

    what = "Training"  # what a failure message calls the job
    after_death = "Your earlier results are kept; press Train to try again."  # what a dead worker's message adds

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def current(self) -> RunSpec:
        return self.specs[min(self.index, len(self.specs) - 1)]

    @property
    def starting(self) -> bool:
        """The run waits for its worker process to load TensorFlow (a cold start or a fresh worker)."""
        return self.live is not None and not self.live.worker.ready.is_set()

    def follow(self, live: WorkerJob):
        """Wait for the worker's result, passing a Stop click on; the live state is readable meanwhile."""
        self.live = live
        stopped = False
        while not live.done:
            if self.stop.requested and not stopped:
                live.stop()
                stopped = True
            time.sleep(0.05)
        return live.wait()

    def work(self) -> None:
        """The thread's body: train what the job is for; a failure becomes the page's message and earlier results stay."""
        try:
            self._work()
        except WorkerDied as err:  # the process is gone, not the session: a fresh one takes the next request
            errors.LOG.warning("the training process stopped (%s) during %s", err.how, self._during())
            self.error = f"The training process stopped: {err.how}. {self.after_death}"
        except Exception as err:  # shown on the page (no traceback: that goes to the log); the previous results stay
            self.error = errors.report(self.what, err, self.current) + " The previous results are kept."
        finally:
            self.finished = time.perf_counter()

    def _work(self) -> None:
        """Train what the job is for (each purpose its own)."""

    def _during(self) -> str:
        return errors.settings_line(self.current)

    def _each(self, results: list, train_one) -> None:
        """Train the specs in turn with `train_one(spec)`: a stopped run keeps what it learned; Stop while waiting for a
        training slot ends the job with nothing more to show."""
        for index, spec in enumerate(self.specs):
            if self.stop.requested:
                break
            self.index, self.live = index, None
            try:
                results.append(train_one(spec))
            except StoppedEarly as stopped:
                results.append(stopped.result)
            except Cancelled:
                break


@dataclass
class RunJob(Job):
    """Single runs: the form's spec, or the posted setup and the posted fix with one seed (`compare`: the first becomes A)."""

    compare: bool = False
    results: list[RunResult] = field(default_factory=list)

    def _work(self) -> None:
        # A user's file is trained for this session only, never in the shared cache.
        self._each(self.results, lambda spec: train_now(spec, 0, self) if spec.data.table is not None
                   else _labelled(posted_run(spec, self.budget) or cached_train(spec.key(), spec, self), spec))


@dataclass
class RestartsJob(Job):
    """Restarts: `members` seeds of each spec (its seed and the next ones), trained at once."""

    members: int = 1
    results: list[RestartsResult] = field(default_factory=list)

    @property
    def what(self) -> str:
        return f"Restarts ({self.members} seeds)"

    def _work(self) -> None:
        self._each(self.results, lambda spec: train_now(spec, self.members, self) if spec.data.table is not None
                   else _labelled(cached_restarts(spec.key(), self.members, spec, self), spec))


@dataclass(frozen=True)
class DoctorRequest:
    """What a fix search is asked: the run it starts from, its findings, the criterion, seeds per setup, and the
    posted fix (or a page's preset) to measure beside the control under `posted_label`."""

    result: RunResult
    findings: tuple[Finding, ...]
    criterion: Criterion
    seeds: int
    posted: RunSpec | None = None
    posted_label: str = "the posted fix"

    def key(self, seconds: float) -> str:
        """The search's identity in the shared cache: its settings (RunSpec.key), seeds, criterion, posted fix and budget."""
        rule = self.criterion
        return json.dumps({"spec": self.result.spec.key(), "seeds": self.seeds, "criterion": [rule.kind, rule.threshold],
                           "posted": self.posted.key() if self.posted is not None else None, "posted_label": self.posted_label,
                           "seconds": seconds}, sort_keys=True)


@dataclass
class DoctorJob(Job):
    """The fix search: every candidate is a restarts request in the worker, one training slot at a time."""

    request: DoctorRequest | None = None
    state: SearchProgress | None = None  # the search's progress: stage, candidate, share done, time left
    measured: list[Measured] = field(default_factory=list)  # the setups measured so far
    report: DoctorReport | None = None  # once done
    drawn_measured: int | None = None  # how many measured setups this script run's live table shows

    what = "The fix search"
    after_death = "The fix search ended; what it measured before is shown. Press Find a fix to try again."

    def _during(self) -> str:
        return "the doctor on " + errors.settings_line(self.current)

    def _work(self) -> None:
        from core.outcomes.restarts import check as check_restarts

        def measure(spec, seeds, progress, stop):
            self.live = None
            with slot(self):
                epochs = spec.train.epochs
                live = pool().submit(spec, members=len(seeds), seeds=seeds, seconds=self.budget.seconds_for(len(seeds)),
                                     progress=lambda epoch, logs: progress(min(epoch / epochs, 1.0)))
                return self.follow(live)

        def progress(state: SearchProgress) -> None:
            self.state = state
            if state.measured is not None:
                self.measured.append(state.measured)

        def check(spec, members):
            self.budget.check(spec, members)
            check_restarts(spec, members)

        own = self.specs[0].data.table is not None  # a user's file: not in the shared cache
        try:
            search = search_now if own else cached_doctor
            self.report = _labelled(search(self.request.key(self.budget.max_doctor_seconds), self, measure, progress, check),
                                    self.specs[0])
        except StoppedEarly as stopped:
            self.report = stopped.result


def _labelled(outcome, spec: RunSpec):
    """A cached outcome under the labels (scenario, preset) of the spec asked for: the cache keys settings, not labels."""
    if outcome.spec is None or (outcome.spec.scenario, outcome.spec.preset) == (spec.scenario, spec.preset):
        return outcome
    return dataclasses.replace(outcome, spec=dataclasses.replace(outcome.spec, scenario=spec.scenario, preset=spec.preset))


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_doctor(key: str, _job: DoctorJob, _measure, _progress, _check):
    """One fix search, cached by DoctorRequest.key (a stopped search is not cached)."""
    return search_now(key, _job, _measure, _progress, _check)


def search_now(key: str, _job: DoctorJob, _measure, _progress, _check):
    """One fix search, not cached (a user's data file stays in its session)."""
    from core import doctor

    ask = _job.request

    def rediagnose(seeds: list[int]):
        """The control's failing seeds, one run each, trained and read: the evidence the findings count."""
        with slot(_job):  # one after another: this session's slot holds one training at a time
            runs = [_job.follow(pool().submit(_job.specs[0].with_values({"seed": seed}), seconds=_job.budget.seconds_for()))
                    for seed in seeds]
        return [(again, doctor.findings(again, ask.criterion)) for again in runs]

    report = doctor.find_fixes(_job.specs[0], list(ask.findings), ask.result, ask.criterion, _measure, seeds=ask.seeds,
                               posted=ask.posted, seconds=_job.budget.max_doctor_seconds, progress=_progress,
                               stop=_job.stop, check=_check, posted_label=ask.posted_label, rediagnose=rediagnose)
    if report.stopped:
        raise StoppedEarly(report)
    return report


class Cancelled(Exception):
    """A job stopped before it got a training slot."""


class _Slots:
    """A count of trainings that may run at once, and how many do."""

    def __init__(self, size: int):
        self.size = size
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.busy = 0

    def acquire(self, timeout: float | None = None) -> bool:
        got = self._free.acquire(timeout=timeout) if timeout is not None else self._free.acquire(blocking=False)
        if got:
            with self._lock:
                self.busy += 1
        return got

    def release(self) -> None:
        with self._lock:
            self.busy -= 1
        self._free.release()


_SLOTS: dict[int, _Slots] = {}
_SLOTS_LOCK = threading.Lock()


def slots(size: int) -> _Slots:
    """The server's training slots for the configured count (made once per count, shared by all sessions)."""
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(size, _Slots(size))


@contextlib.contextmanager
def slot(job: Job):
    """Hold one of the server's training slots while training; the wall-clock budget starts once it is held.

    At most `budget.max_trainings` runs train at once (more would only share the same cores more
    thinly and add their memory); later ones wait here, visibly, and a Stop click while waiting
    cancels them. Each run's wall-clock budget is kept by its worker, from the moment it starts there.
    """
    pool = slots(job.budget.max_trainings)
    if not pool.acquire():
        job.waiting = True
        try:
            while not pool.acquire(timeout=0.2):
                if job.stop.requested:
                    raise Cancelled()
        finally:
            job.waiting = False
    try:
        yield
    finally:
        pool.release()


def busy_slots(job: Job) -> int:
    return slots(job.budget.max_trainings).busy


def train_now(spec: RunSpec, members: int, job: Job):
    """Train `spec` (or `members` seeds of it) for this session only: a user's data is never a key of the shared cache."""
    with slot(job):
        live = pool().submit(spec, members=members, seconds=job.budget.seconds_for(members) if members else job.budget.seconds_for())
        result = job.follow(live)
    if result.stopped:
        raise StoppedEarly(result)
    return result


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_train(key: str, _spec: RunSpec, _job: Job) -> RunResult:
    """Train `_spec`, cached by its `key()` (its settings); `_job` supplies live recorders."""
    with slot(_job):
        result = _job.follow(pool().submit(_spec, seconds=_job.budget.seconds_for()))
    if result.stopped:
        raise StoppedEarly(result)
    return result


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_restarts(key: str, members: int, _spec: RunSpec, _job: Job) -> RestartsResult:
    """`members` seeds of `_spec` (its seed and the following ones), cached like single runs."""
    with slot(_job):
        result = _job.follow(pool().submit(_spec, members=members, seconds=_job.budget.seconds_for(members)))
    if result.stopped:
        raise StoppedEarly(result)
    return result


def budget() -> tuple[Budget, str | None]:
    """This server's budget (environment, then secrets [budget], then defaults) and a problem with it, if any.

    A misconfigured limit is reported and the defaults are used, so a typo does not lift the budget.
    """
    try:
        table = st.secrets.get("budget") or {}
    except Exception:  # no secrets file, or one that does not parse: the environment and defaults apply
        table = {}
    try:
        return Budget.from_sources(os.environ, dict(table)), None
    except SpecError as err:
        return Budget(), f"The server's budget setting is wrong ({err}); the default budget applies."


def refusal(specs: list[RunSpec], members: int = 0) -> str | None:
    """Why these runs may not start (over the budget), or None."""
    limits, _ = budget()
    for spec in specs:
        try:
            limits.check(spec, members)
        except BudgetError as err:
            return str(err)
    return None


def start(job: Job) -> Job:
    """Run `job` in a thread of this session under this server's budget; the page follows it as `active(scenario)`."""
    job.budget = budget()[0]
    job.thread = threading.Thread(target=job.work, name=f"train-{job.scenario}", daemon=True)
    # The cache needs the session's context; the worker draws nothing itself.
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(job.thread, ctx)
    st.session_state[keys(job.scenario).job] = job
    job.thread.start()
    return job


def active(scenario: str) -> Job | None:
    return st.session_state.get(keys(scenario).job)


def finish(scenario: str) -> Job | None:
    """Drop the finished job from the session and return it."""
    return st.session_state.pop(keys(scenario).job, None)


@st.cache_data(max_entries=8, show_spinner=False)
def posted_result(scenario_id: str) -> RunResult:
    """The posted setup ("question" preset) of a case at full length, for the home page's cards; kept by its settings too,
    so Train on the case page shows the run its card has just trained instead of training it again."""
    from core.cases import scenarios

    spec = scenarios.get(scenario_id).spec("question")
    result = pool().submit(spec, seconds=budget()[0].seconds_for()).wait()
    if not result.stopped:
        _POSTED[spec.key()] = result
    return result


_POSTED: dict[str, RunResult] = {}  # the home cards' runs by their settings (four posted setups: plain data, shared)


def posted_run(spec: RunSpec, limits) -> RunResult | None:
    """The home card's run of these settings, if it trained them within this server's time per run."""
    result = _POSTED.get(spec.key())
    return result if result is not None and result.wall_s <= limits.seconds_for() else None


def model_file(result: RunResult) -> bytes:
    """The trained model as a .keras file, saved by a worker (the server has no Keras)."""
    return pool().model_bytes(result.spec, result.final_weights)


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> WorkerPool:
    """The server's worker processes (one pool for all sessions), sized by the budget's `workers` and `worker_memory_mb`;
    a worker that passes `worker_limit_mb` during a job is stopped (its job fails with OverMemory) and replaced.

    The first call starts a worker at once, so that TensorFlow loads while the first page draws. A
    changed setting drains the old pool (its running jobs finish) and starts a new one.
    """
    global _POOL
    limits = budget()[0]
    with _POOL_LOCK:
        wanted = (limits.workers, limits.worker_memory_mb, limits.worker_limit_mb)
        if _POOL is None or _POOL.closed or (_POOL.size, _POOL.max_rss_mb, _POOL.limit_mb) != wanted:
            if _POOL is not None:
                _POOL.drain()
            _POOL = WorkerPool(workers=limits.workers, max_rss_mb=limits.worker_memory_mb, limit_mb=limits.worker_limit_mb)
            _POOL.warm()
        return _POOL


# How fast this server trains restarts, as ratios of measured to predicted seconds (server-wide:
# every session's timed runs make the next estimate better).
_PACE: deque[float] = deque(maxlen=16)
_PACE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # what the estimate rests on, in words


def record_time(spec: RunSpec, members: int, seconds: float) -> None:
    """A finished restarts run's training time, for the next estimates."""
    predicted = predicted_seconds(spec, members)
    if seconds > 0 and predicted > 0:
        with _PACE_LOCK:
            _PACE.append(seconds / predicted)


def estimate_seconds(spec: RunSpec, members: int) -> Estimate:
    """About how long `members` seeds of `spec` take on this server, before they start."""
    predicted = predicted_seconds(spec, members)
    with _PACE_LOCK:
        seen = list(_PACE)
    if not seen:
        return Estimate(predicted, "the lab's measured pace on 2 cores; this server has not timed a restart yet")
    factor = statistics.median(seen)
    return Estimate(predicted * factor, f"this server's pace over its last {len(seen)} timed restart run{'s' if len(seen) != 1 else ''}")
