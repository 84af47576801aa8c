"""Training from a page: a background job with live progress, a clean stop, and a result cache.

The engine runs in a worker thread so that the page can redraw progress several times a second and a
Stop click (which reruns the page) reaches the job through its StopFlag instead of killing the run:
the engine then returns everything learned so far. Finished runs are cached by their full
configuration with st.cache_data (bounded), so repeating a demo is instant; a stopped run is never
cached. Results are plain data: no Keras model is shared between sessions.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from core.budget import Budget, BudgetError
from core.callbacks import HistoryRecorder, LatestState, StopFlag
from core.results import RestartsResult, RunResult
from core.specs import RunSpec, SpecError
from core.training import train, train_restarts
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
    history: HistoryRecorder = field(default_factory=HistoryRecorder)
    latest: LatestState = field(default_factory=LatestState)
    results: list[RunResult] = field(default_factory=list)
    error: str | None = None
    index: int = 0  # which spec is training
    epoch: int = 0  # restarts: epochs done of the current spec
    logs: dict = field(default_factory=dict)  # restarts: the latest progress report
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    thread: threading.Thread | None = None
    budget: Budget = field(default_factory=Budget)
    waiting: bool = False  # queued for a training slot (see `slot`)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def current(self) -> RunSpec:
        return self.specs[min(self.index, len(self.specs) - 1)]

    def work(self) -> None:
        try:
            for index, spec in enumerate(self.specs):
                if self.stop.requested:
                    break
                self.index = index
                self.history, self.latest, self.epoch, self.logs = HistoryRecorder(), LatestState(), 0, {}
                key = json.dumps(spec.to_dict(), sort_keys=True)
                try:
                    if self.members:
                        self.results.append(cached_restarts(key, self.members, self))
                    else:
                        self.results.append(cached_train(key, self))
                except StoppedEarly as stopped:
                    self.results.append(stopped.result)
                except Cancelled:  # stopped while waiting for a training slot: nothing to show
                    break
        except Exception as err:  # shown on the page (no traceback: that goes to the log); the previous results stay
            self.error = errors.report("Training" if not self.members else f"Restarts ({self.members} seeds)", err, self.current)
        finally:
            self.finished = time.perf_counter()


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
    cancels them.
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
        job.stop.limit(job.budget.seconds_for(job.members))  # each run gets its own wall-clock budget
        yield
    finally:
        pool.release()


def busy_slots(job: Job) -> int:
    return slots(job.budget.max_trainings).busy


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_train(spec_json: str, _job: Job) -> RunResult:
    """Train the spec given as canonical JSON (the cache key); `_job` supplies live recorders."""
    spec = RunSpec.from_dict(json.loads(spec_json))
    with slot(_job):
        result = train(spec, callbacks=[_job.history, _job.latest], stop=_job.stop)
    if result.stopped:
        raise StoppedEarly(result)
    return result


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def cached_restarts(spec_json: str, members: int, _job: Job) -> RestartsResult:
    """`members` seeds of the spec (its seed and the following ones), cached like single runs."""
    spec = RunSpec.from_dict(json.loads(spec_json))

    def progress(epoch, logs):
        _job.epoch, _job.logs = epoch, logs

    with slot(_job):
        result = train_restarts(spec, members, progress=progress, stop=_job.stop)
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


def start(scenario: str, specs: list[RunSpec], purpose: str = "run", members: int = 0) -> Job:
    job = Job(scenario, specs, purpose, members, budget=budget()[0])
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
    from core import scenarios

    return train(scenarios.get(scenario_id).spec("question"))
