"""The asker's end of the worker processes: submit a spec, stream progress, stop, get the plain result back.

The process that asks (the Streamlit server, the command line) never imports TensorFlow: a worker
is a fresh Python interpreter (started like multiprocessing's spawn, so safe next to the asker's
threads, and talking over a socket pair) that imports the engine, trains each job in a thread of
its own (core/runner/worker.py) and sends back progress (the epoch, its logs, every epoch's history
and the latest weights) and the typed result (core/outcomes/results.py), which pickles. What the
two ends say to each other is typed in core/runner/messages.py.

Why processes: XLA keeps every compiled training loop until its process ends (about 10-20 MB per
new architecture), so a long-lived server that trains in-process grows without bound. A worker whose
resident memory passes `max_rss_mb` after a job is retired once its other jobs are done (no run is
cut) and a fresh one is started in its place, ready before the next request. A worker that dies
mid-run (killed, out of memory, a crash in a library) fails its jobs with `WorkerDied`, whose message
says what happened, and is replaced the same way. A hard limit (`limit_mb`) is watched during the jobs:
a watchdog thread reads each busy worker's resident memory from /proc a few times a second and kills a
worker that passes it; its jobs fail with `OverMemory` (what to shrink) and it is replaced as after a
death, the other workers and the asker untouched. A worker whose asker has gone exits by itself.

Example:
    >>> pool = WorkerPool(workers=1)
    >>> job = pool.submit(spec, progress=lambda epoch, logs: print(epoch, logs))
    >>> result = job.wait()          # a RunResult; job.stop() ends it early, keeping what it learned
    >>> restarts = pool.submit(spec, members=64).wait()   # a RestartsResult
    >>> keras_file = pool.model_bytes(spec, result.final_weights)   # the .keras file, made in a worker
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from core.runner.budget import LIMITS
from core.runner.messages import (
    REQUESTS,
    Channel,
    Done,
    Failed,
    ModelRequest,
    Progress,
    Ready,
    Reply,
    Request,
    RestartsRequest,
    RetireRequest,
    RunRequest,
    SpecRefused,
    StopRequest,
    not_understood,
)
from core.runner.worker import rss_mb
from core.settings.errors import SpecError
from core.settings.specs import RunSpec

LOG = logging.getLogger(__name__)
JOB_REQUESTS = (RunRequest, RestartsRequest, ModelRequest)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder that holds the `core` package
POLL_SECONDS = 0.2  # how often a worker's reader looks whether its process is still alive
HARD_LIMIT = 1.25  # a busy worker is retired only past this multiple of its limit; an idle one at the limit
REPLACE_JOIN_SECONDS = 30.0  # how long a replacement waits for the retired worker to end (so both are not resident at once)
WATCH_SECONDS = 0.2  # how often the watchdog reads the busy workers' resident memory
LIMIT_SETTING = LIMITS["worker_limit_mb"].variable  # where a server sets the hard limit (its one home: core/runner/budget.py)


class WorkerDied(RuntimeError):
    """The worker process ended while it trained this job (killed, out of memory, a crash in a library).

    `how` says how it ended, e.g. "it ended on signal SIGKILL: killed, for example for lack of memory".
    """

    def __init__(self, how: str):
        super().__init__(f"the training process stopped: {how}")
        self.how = how


class OverMemory(WorkerDied):
    """The pool stopped the worker because its resident memory passed the hard limit (`limit_mb`) during this job."""

    def __init__(self, limit_mb: float, rss_mb: float):
        super().__init__(f"it passed its memory limit of {limit_mb:,.0f} MB ({LIMIT_SETTING}) during this job ({rss_mb:,.0f} MB), "
                         f"so the job was stopped; fewer or narrower hidden layers, fewer samples, fewer seeds or a larger "
                         f"record_every need less memory")
        self.limit_mb, self.rss_mb = limit_mb, rss_mb


def over_limit(workers: list[Worker], limit_mb: float, read: Callable[[int], float | None] = rss_mb) -> list[tuple[Worker, float]]:
    """The live workers with a job whose resident memory (`read(pid)`, MB; None: the process is gone) passes `limit_mb`."""
    found = []
    for worker in workers:
        if not worker.jobs or not worker.alive or worker.over_memory is not None:
            continue
        rss = read(worker.pid)
        if rss is not None and rss > limit_mb:
            found.append((worker, rss))
    return found


class TrainingError(RuntimeError):
    """The training raised inside the worker.

    `kind` is the exception's class name there, `message` its text and `details` its traceback (for
    the server log; never for a page).
    """

    def __init__(self, kind: str, message: str, details: str = ""):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.details = kind, message, details


def job_outcome(reply: Done | SpecRefused | Failed) -> tuple[Any, BaseException | None]:
    """What a job's last reply means to its asker: (result, None), or (None, the error to raise from `Job.wait`)."""
    match reply:
        case Done():
            return reply.result, None
        case SpecRefused():
            return None, SpecError(reply.field, reply.value, reply.allowed)
        case Failed():
            return None, TrainingError(reply.kind, reply.message, reply.details)
    raise TypeError(not_understood(reply, (Done, SpecRefused, Failed)))




class Job:
    """One request to a worker: its live progress, its end, and a way to stop it.

    While a single run trains, `epoch`, `logs` and `weights` are its latest state and `history` maps
    each log name to one value per epoch so far (`epochs` lists those epochs); a restarts request
    reports `epoch` and `logs` ({"median_loss": ...}) only.
    """

    def __init__(self, job_id: int, worker: Worker, progress: Callable[[int, dict], None] | None = None):
        self.id, self.worker, self._progress = job_id, worker, progress
        self.epoch, self.logs = 0, {}
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.weights: list | None = None
        self.started = time.monotonic()
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def stop(self) -> None:
        """Ask the training to end after its current chunk; it keeps what it learned."""
        self.worker.send(StopRequest(self.id))

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None):
        """The result; raises WorkerDied (OverMemory: past the pool's hard memory limit), SpecError or TrainingError
        (TimeoutError if `timeout` passes first)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.id}: no result after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    def _on_progress(self, progress: Progress) -> None:
        for row_epoch, row_logs in progress.rows:
            self.epochs.append(row_epoch)
            for name, value in row_logs.items():
                self.history.setdefault(name, []).append(value)
        if progress.weights is not None:
            self.weights = progress.weights
        self.epoch, self.logs = progress.epoch, progress.logs
        if self._progress is not None:
            self._progress(progress.epoch, progress.logs)

    def _finish(self, result=None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self._done.set()


class Worker:
    """One spawned worker process, the jobs it runs, and a thread that reads what it sends.

    `on_idle(worker)` is called (from the reader thread) after each job ends and when the process dies.
    """

    def __init__(self, on_idle: Callable[[Worker], None] | None = None):
        ours, theirs = socket.socketpair()
        self.started = time.monotonic()
        self.process = _Process(theirs.fileno())
        theirs.close()
        self._channel = Channel(ours.detach())
        self.jobs: dict[int, Job] = {}
        self.rss_mb: float | None = None
        self.retiring = False
        self.over_memory: tuple[float, float] | None = None  # (limit, resident MB) once the pool killed it for its memory
        self.ready = threading.Event()  # set once the engine is imported (or the process has died)
        self.ready_s: float | None = None  # seconds from start to ready
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"worker-{self.process.pid}-reader")
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message: Request) -> None:
        """Send a request; anything else is a mistake of the asker's code (TypeError)."""
        if not isinstance(message, REQUESTS):
            raise TypeError(not_understood(message, REQUESTS))
        if self.alive:
            with contextlib.suppress(OSError):  # it died meanwhile: its reader fails the jobs
                self._channel.put(message)

    def start(self, job: Job, message: RunRequest | RestartsRequest | ModelRequest) -> None:
        if not isinstance(message, JOB_REQUESTS):
            raise TypeError(not_understood(message, JOB_REQUESTS))
        with self._lock:
            self.jobs[job.id] = job
        self.send(message)

    def close(self) -> None:
        """End the process once its jobs are done (they keep receiving stop requests until then)."""
        self.send(RetireRequest())

    def stop_for_memory(self, limit_mb: float, rss: float) -> None:
        """Kill the process now: it passed the hard memory limit; its jobs fail with OverMemory."""
        self.over_memory = (limit_mb, rss)
        self.process.kill()

    def _read(self) -> None:
        while True:
            try:
                message = self._channel.get(timeout=POLL_SECONDS)
            except (EOFError, OSError):  # the process has ended
                self.process.join(5)
                self._died()
                return
            if message is None:
                if not self.alive:
                    self._died()
                    return
                continue
            self._receive(message)

    def _receive(self, reply: Reply) -> None:
        match reply:
            case Ready():
                self.rss_mb, self.ready_s = reply.rss_mb, time.monotonic() - self.started
                self.ready.set()
            case Progress() if reply.job_id in self.jobs:
                self.jobs[reply.job_id]._on_progress(reply)
            case Done() | SpecRefused() | Failed() if reply.job_id in self.jobs:
                with self._lock:
                    job = self.jobs.pop(reply.job_id)
                self.rss_mb = reply.rss_mb
                if self._on_idle is not None:  # before the asker hears of the result, so its next request sees a retirement
                    self._on_idle(self)
                result, error = job_outcome(reply)
                job._finish(result=result, error=error)
            case Failed():  # about no job of ours: a message the worker could not read
                LOG.error("worker %s: %s: %s", self.pid, reply.kind, reply.message)

    def _died(self) -> None:
        self._channel.close()
        code = self.process.exitcode
        how = self.how_it_ended()
        with self._lock:
            jobs, self.jobs = list(self.jobs.values()), {}
        self.ready.set()
        for job in jobs:
            job._finish(error=OverMemory(*self.over_memory) if self.over_memory is not None else WorkerDied(how))
        if self._on_idle is not None and (jobs or not self.retiring or code != 0):
            self._on_idle(self)

    def how_it_ended(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            why = {"SIGKILL": "killed, for example for lack of memory", "SIGSEGV": "a crash in a library"}.get(name, "")
            return f"it ended on signal {name}" + (f": {why}" if why else "")
        return f"it exited with code {code}"


class _Process:
    """A worker's process: a fresh Python interpreter (like multiprocessing's spawn, safe next to threads) that serves `fd`.

    Not multiprocessing.Process: under Streamlit, `__main__` is the page script, which a spawned child
    would run again; here the child runs nothing but `core.runner.worker.serve`.
    """

    def __init__(self, fd: int):
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self._popen = subprocess.Popen([sys.executable, "-c", f"from core.runner.worker import serve; serve({fd})"], pass_fds=(fd,),
                                       env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
        self.pid = self._popen.pid

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    @property
    def exitcode(self) -> int | None:
        """None while it runs; minus the signal's number when a signal ended it."""
        return self._popen.poll()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._popen.kill()


class WorkerPool:
    """Workers that train specs: a request goes to an idle live worker, else a new one (up to `workers`), else the least busy.

    Args:
        workers: how many worker processes at most (each holds its own TensorFlow).
        max_rss_mb: a worker whose resident memory passes this after a job, with no other job
            running, is retired and a fresh one takes its place (a busy one at HARD_LIMIT times
            this; it still finishes its running jobs). `math.inf`: never recycled.
        keep_warm: start a worker ahead of the first request (see `warm`) and start the replacement
            of a retired or dead worker at once, so the next request does not also pay TensorFlow's import.
        limit_mb: the hard limit: a worker whose resident memory passes it while it has a job is killed at
            once (read every WATCH_SECONDS; Linux /proc, elsewhere not watched), its jobs fail with
            OverMemory and it is replaced as after a death. `math.inf`: not watched.
    """

    def __init__(self, workers: int = 1, max_rss_mb: float = 850.0, keep_warm: bool = True, limit_mb: float = math.inf):
        self.size, self.max_rss_mb, self.keep_warm = int(workers), float(max_rss_mb), keep_warm
        self.limit_mb = float(limit_mb)
        self.stopped_for_memory = 0  # workers killed at the hard limit
        self._watchdog: threading.Thread | None = None
        self._wake = threading.Event()  # set when a job starts (and on drain): the watchdog looks again
        self._draining: list[Worker] = []  # drained workers still finishing their jobs: still watched
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.started = 0  # workers started so far (recycling and deaths start new ones)
        self.retired = 0  # workers retired for their memory
        self.closed = False

    def warm(self) -> Worker:
        """A live worker: an existing one, or one started now (it imports TensorFlow in the background)."""
        with self._lock:
            self._prune()
            live = self._live()
            return live[0] if live else self._start()

    def submit(self, spec: RunSpec, members: int = 0, seeds: list[int] | None = None, seconds: float | None = None,
               progress: Callable[[int, dict], None] | None = None, path: str = "fast") -> Job:
        """Train `spec` (or `members` seeds of it) in a worker; `seconds` is its wall-clock budget there."""
        seconds = None if seconds is None or math.isinf(seconds) else float(seconds)
        seeds = tuple(seeds) if seeds is not None else None
        if members:
            return self._send(lambda job_id: RestartsRequest(job_id, spec, members, seeds, seconds), progress)
        return self._send(lambda job_id: RunRequest(job_id, spec, seconds, path), progress)

    def model_bytes(self, spec: RunSpec, weights, timeout: float = 120.0) -> bytes:
        """The .keras file of `spec` with `weights`, made in a worker (Keras saves it)."""
        return self._send(lambda job_id: ModelRequest(job_id, spec, tuple(weights))).wait(timeout)

    def _send(self, message: Callable[[int], RunRequest | RestartsRequest | ModelRequest], progress=None) -> Job:
        with self._lock:
            if self.closed:
                raise RuntimeError("the worker pool is shut down")
            worker = self._pick()
            job = Job(next(self._ids), worker, progress)
            worker.start(job, message(job.id))
            self._watch_start()
        return job

    def _watch_start(self) -> None:
        """Wake the watchdog (started on the first job) to watch the busy workers' memory; nothing to do without /proc."""
        if math.isinf(self.limit_mb) or not os.path.isdir("/proc"):
            return
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True, name="worker-watchdog")
            self._watchdog.start()
        self._wake.set()

    def _watch(self) -> None:
        """Every WATCH_SECONDS while a worker has a job: kill a worker past `limit_mb`. Sleeps while none has a job."""
        while True:
            self._wake.clear()  # before looking: a job started after this look sets it again
            with self._lock:
                workers = [w for w in self._workers + self._draining if w.alive]
                self._draining = [w for w in self._draining if w.alive]
                closed = self.closed
            busy = [w for w in workers if w.jobs]
            if not busy:
                if closed:
                    return
                self._wake.wait()
                continue
            for worker, rss in over_limit(busy, self.limit_mb):
                LOG.warning("worker %s passed its memory limit (%.0f MB > %.0f MB) during a job: stopped", worker.pid, rss, self.limit_mb)
                with self._lock:
                    self.stopped_for_memory += 1
                worker.stop_for_memory(self.limit_mb, rss)
            time.sleep(WATCH_SECONDS)

    def _live(self) -> list[Worker]:
        return [w for w in self._workers if w.alive and not w.retiring]

    def _prune(self) -> None:
        self._workers = [w for w in self._workers if w.alive]

    def _start(self) -> Worker:
        worker = Worker(on_idle=self._idle)
        self.started += 1
        self._workers.append(worker)
        return worker

    def _pick(self) -> Worker:
        self._prune()
        live = self._live()
        idle = [w for w in live if not w.jobs]
        if idle:
            return idle[0]
        if len(live) < self.size:
            return self._start()
        return min(live, key=lambda w: len(w.jobs))

    def _idle(self, worker: Worker) -> None:
        """After a job (or a death): retire a worker over the memory limit, and warm its replacement.

        A worker still running other jobs keeps taking requests up to HARD_LIMIT times the limit, so a
        busy server does not hold two TensorFlows at once; once idle (or past that) it is retired.
        """
        with self._lock:
            if self.closed:
                return
            rss = worker.rss_mb
            over = rss is not None and (rss > self.max_rss_mb * HARD_LIMIT or (rss > self.max_rss_mb and not worker.jobs))
            if worker.alive and not worker.retiring and over:
                worker.retiring = True  # no new jobs; it ends once its running ones are done
                self.retired += 1
                worker.close()
            # A worker that never got ready (it cannot import the engine) is not restarted in a loop.
            replace = self.keep_warm and worker.ready_s is not None and (not worker.alive or (worker.retiring and not worker.jobs))
        if replace:
            threading.Thread(target=self._replace, args=(worker,), daemon=True, name="worker-replace").start()

    def _replace(self, old: Worker) -> None:
        old.process.join(REPLACE_JOIN_SECONDS)  # its memory is given back before the new one imports
        with self._lock:
            self._prune()
            if not self.closed and not self._live():
                self._start()

    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.alive]

    def workers(self) -> list[Worker]:
        return list(self._workers)

    def drain(self) -> list[Worker]:
        """Take no more requests; every worker ends once its running jobs are done (their results still arrive)."""
        with self._lock:
            self.closed = True
            workers, self._workers = self._workers, []
            self._draining = list(workers)
        self._wake.set()
        for worker in workers:
            worker.close()
        return workers

    def shutdown(self) -> None:
        """Drain, wait a little for the jobs, and kill what is left."""
        workers = self.drain()
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.alive:
                worker.process.kill()
