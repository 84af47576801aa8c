"""Training from a page: a job in a worker process, live progress, a clean stop, and a result cache.

The Streamlit server never imports TensorFlow: each run goes to a worker process (core/runner/workers.py)
through the server's one WorkerPool, which streams its progress back, so the page can redraw several
times a second while a background thread of the session waits for the result. A Stop click (which
reruns the page) reaches the run through the job's StopFlag, which this thread passes on to the
worker; the engine then returns everything learned so far. A worker that dies mid-run is answered with
a message and replaced; the session keeps its earlier results. Finished runs are cached by their full
configuration with st.cache_data (bounded), so repeating a demo is instant; a stopped run is never
cached. Results are plain data: no Keras model lives in the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.outcomes.results import RestartsResult, RunResult
from core.runner.budget import Budget, BudgetError, predicted_seconds
from core.runner.stopping import StopFlag
from core.runner.workers import Job as WorkerJob
from core.runner.workers import WorkerDied, WorkerPool
from core.settings.specs import RunSpec, SpecError
from ui import errors

CACHE_ENTRIES = 16  # finished runs kept per server; a run holds up to about 6 MB (noisy-sine), so at most ~100 MB


class StoppedEarly(Exception):
    """Carries the partial result of a stopped run out of the cached function, so it is not cached."""

    def __init__(self, result):
        super().__init__("stopped")
        self.result = result


@dataclass
class Job:
    """One request from a page: one spec, or two (as asked, then as answered)."""

    scenario: str
    specs: list[RunSpec]
    purpose: str = "run"  # run | compare | restarts
    members: int = 0  # restarts: seeds per spec (0: single runs)
    stop: StopFlag = field(default_factory=StopFlag)
    live: WorkerJob | None = None  # the current spec's run in its worker: epoch, logs, history and weights so far
    results: list[RunResult] = field(default_factory=list)
    error: str | None = None  # the whole message for the page, once the job has failed
    index: int = 0  # which spec is training
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    thread: threading.Thread | None = None
    budget: Budget = field(default_factory=Budget)
    waiting: bool = False  # queued for a training slot (see `slot`)
    doctor: dict | None = None  # purpose "doctor": {"result", "findings", "criterion", "seeds", "posted"}
    state: object | None = None  # the doctor's progress (core.doctor.SearchProgress): stage, candidate, share done, time left
    measured: list = field(default_factory=list)  # the doctor's setups measured so far (core.doctor.Measured)
    report: object | None = None  # the doctor's DoctorReport, once done
    drawn_measured: int | None = None  # how many measured setups this script run's live table shows

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
        if self.purpose == "doctor":
            return self.work_doctor()
        try:
            for index, spec in enumerate(self.specs):
                if self.stop.requested:
                    break
                self.index, self.live = index, None
                key = json.dumps(spec.to_dict(), sort_keys=True)
                try:
                    if spec.data.table is not None:  # a user's file: trained for this session only, never in the shared cache
                        self.results.append(train_now(spec, self.members, self))
                    elif self.members:
                        self.results.append(cached_restarts(key, self.members, self))
                    else:
                        self.results.append(cached_train(key, self))
                except StoppedEarly as stopped:
                    self.results.append(stopped.result)
                except Cancelled:  # stopped while waiting for a training slot: nothing to show
                    break
        except WorkerDied as err:  # the process is gone, not the session: a fresh one takes the next request
            errors.LOG.warning("the training process stopped (%s) during %s", err.how, errors.settings_line(self.current))
            self.error = f"The training process stopped: {err.how}. Your earlier results are kept; press Train to try again."
        except Exception as err:  # shown on the page (no traceback: that goes to the log); the previous results stay
            what = "Training" if not self.members else f"Restarts ({self.members} seeds)"
            self.error = errors.report(what, err, self.current) + " The previous results are kept."
        finally:
            self.finished = time.perf_counter()


    def work_doctor(self) -> None:
        """The fix search: every candidate is a restarts request in the worker, one training slot at a time."""
        from core.outcomes.restarts import check as check_restarts

        cfg = self.doctor

        def measure(spec, seeds, progress, stop):
            self.live = None
            with slot(self):
                epochs = spec.train.epochs
                live = pool().submit(spec, members=len(seeds), seeds=seeds, seconds=self.budget.seconds_for(len(seeds)),
                                     progress=lambda epoch, logs: progress(min(epoch / epochs, 1.0)))
                return self.follow(live)

        def progress(state) -> None:  # a core.doctor.SearchProgress
            self.state = state
            if state.measured is not None:
                self.measured.append(state.measured)

        def check(spec, members):
            self.budget.check(spec, members)
            check_restarts(spec, members)

        try:
            rule = cfg["criterion"]
            key = json.dumps({"spec": self.specs[0].to_dict(), "seeds": cfg["seeds"], "criterion": [rule.kind, rule.threshold],
                              "posted": cfg["posted"].to_dict() if cfg["posted"] is not None else None,
                              "seconds": self.budget.max_doctor_seconds}, sort_keys=True)
            try:
                own = self.specs[0].data.table is not None  # a user's file: not in the shared cache
                self.report = (search_now if own else cached_doctor)(key, self, measure, progress, check)
            except StoppedEarly as stopped:
                self.report = stopped.result
        except WorkerDied as err:
            errors.LOG.warning("the training process stopped (%s) during the doctor on %s", err.how, errors.settings_line(self.current))
            self.error = (f"The training process stopped: {err.how}. The fix search ended; what it measured before is shown. "
                          "Press Find a fix to try again.")
        except Exception as err:
            self.error = errors.report("The fix search", err, self.current) + " The previous results are kept."
        finally:
            self.finished = time.perf_counter()


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_doctor(key: str, _job: Job, _measure, _progress, _check):
    """One fix search, cached by the spec, the seeds, the criterion and the budget (a stopped search is not cached)."""
    return search_now(key, _job, _measure, _progress, _check)


def search_now(key: str, _job: Job, _measure, _progress, _check):
    """One fix search, not cached (a user's data file stays in its session)."""
    from core import doctor

    cfg = _job.doctor
    report = doctor.find_fixes(_job.specs[0], cfg["findings"], cfg["result"], cfg["criterion"], _measure, seeds=cfg["seeds"],
                               posted=cfg["posted"], seconds=_job.budget.max_doctor_seconds, progress=_progress,
                               stop=_job.stop, check=_check, posted_label=cfg.get("posted_label", "the posted fix"))
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
def cached_train(spec_json: str, _job: Job) -> RunResult:
    """Train the spec given as canonical JSON (the cache key); `_job` supplies live recorders."""
    spec = RunSpec.from_dict(json.loads(spec_json))
    with slot(_job):
        result = _job.follow(pool().submit(spec, seconds=_job.budget.seconds_for()))
    if result.stopped:
        raise StoppedEarly(result)
    return result


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_restarts(spec_json: str, members: int, _job: Job) -> RestartsResult:
    """`members` seeds of the spec (its seed and the following ones), cached like single runs."""
    spec = RunSpec.from_dict(json.loads(spec_json))
    with slot(_job):
        result = _job.follow(pool().submit(spec, members=members, seconds=_job.budget.seconds_for(members)))
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


def start(scenario: str, specs: list[RunSpec], purpose: str = "run", members: int = 0, doctor: dict | None = None) -> Job:
    job = Job(scenario, specs, purpose, members, budget=budget()[0], doctor=doctor)
    job.thread = threading.Thread(target=job.work, name=f"train-{scenario}", daemon=True)
    # The cache needs the session's context; the worker draws nothing itself.
    ctx = get_script_run_ctx()
    if ctx is not None:
        add_script_run_ctx(job.thread, ctx)
    st.session_state[f"{scenario}.job"] = job
    job.thread.start()
    return job


def active(scenario: str) -> Job | None:
    return st.session_state.get(f"{scenario}.job")


def finish(scenario: str) -> Job | None:
    """Drop the finished job from the session and return it."""
    return st.session_state.pop(f"{scenario}.job", None)


@st.cache_data(max_entries=8, show_spinner=False)
def posted_result(scenario_id: str) -> RunResult:
    """The posted setup ("question" preset) of a case at full length, for the home page's cards."""
    from core.cases import scenarios

    return pool().submit(scenarios.get(scenario_id).spec("question"), seconds=budget()[0].seconds_for()).wait()


def model_file(result: RunResult) -> bytes:
    """The trained model as a .keras file, saved by a worker (the server has no Keras)."""
    return pool().model_bytes(result.spec, result.final_weights)


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> WorkerPool:
    """The server's worker processes (one pool for all sessions), sized by the budget's `workers` and `worker_memory_mb`.

    The first call starts a worker at once, so that TensorFlow loads while the first page draws. A
    changed setting drains the old pool (its running jobs finish) and starts a new one.
    """
    global _POOL
    limits = budget()[0]
    with _POOL_LOCK:
        if _POOL is None or _POOL.closed or (_POOL.size, _POOL.max_rss_mb) != (limits.workers, limits.worker_memory_mb):
            if _POOL is not None:
                _POOL.drain()
            _POOL = WorkerPool(workers=limits.workers, max_rss_mb=limits.worker_memory_mb)
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
