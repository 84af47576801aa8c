"""Trainings in worker processes: submit a spec, stream progress, stop, get the plain result back.

The process that asks (the Streamlit server, the command line) never imports TensorFlow: a worker
is a `spawn`ed Python process (safe next to the asker's threads) that imports the engine, trains
each job in a thread of its own and sends back progress and the typed result (core/results.py),
which pickles. A worker whose memory passes a limit is retired once its jobs are done and replaced
on the next request; a worker that dies mid-run fails its jobs with `WorkerDied`, whose message
says what happened, and the next request gets a fresh worker.

Example:
    >>> pool = WorkerPool(workers=1)
    >>> job = pool.submit(spec, progress=lambda epoch, logs: print(epoch, logs))
    >>> result = job.wait()          # a RunResult; job.stop() ends it early, keeping what it learned
    >>> restarts = pool.submit(spec, members=64).wait()   # a RestartsResult
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from core.errors import SpecError
from core.specs import RunSpec

CONTEXT = mp.get_context("spawn")
PROGRESS_INTERVAL = 0.1  # seconds between progress messages of one job (the live charts redraw at 4 per second)
POLL_SECONDS = 0.2  # how often a worker's reader looks whether its process is still alive


class WorkerDied(RuntimeError):
    """The worker process ended while it trained this job (killed, out of memory, a crash in a library)."""


class TrainingError(RuntimeError):
    """The training raised inside the worker; `kind` is the exception's class name there."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Inside the worker process


def _worker_main(inbox, outbox) -> None:
    """The worker's loop: run jobs in threads, pass stop requests on, report memory with each result."""
    import core  # noqa: F401  (XLA's flags before TensorFlow)
    from core.callbacks import StopFlag
    from core.training import train, train_restarts

    flags: dict[int, StopFlag] = {}

    def run(job_id: int, spec: RunSpec, members: int, seeds, seconds: float | None) -> None:
        last = [0.0]

        def progress(epoch: int, logs: dict) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or epoch >= spec.train.epochs:
                last[0] = now
                outbox.put(("progress", job_id, epoch, dict(logs)))

        try:
            flag = flags[job_id]
            flag.limit(seconds)
            if members:
                result = train_restarts(spec, members, seeds=seeds, progress=progress, stop=flag)
            else:
                result = train(spec, progress=progress, stop=flag)
            outbox.put(("done", job_id, result, rss_mb(os.getpid())))
        except SpecError as err:
            outbox.put(("spec_error", job_id, (err.field, err.value, err.allowed), rss_mb(os.getpid())))
        except Exception as err:  # reported to the asker, who shows it with the run's settings
            outbox.put(("error", job_id, (type(err).__name__, str(err)), rss_mb(os.getpid())))
        finally:
            flags.pop(job_id, None)

    outbox.put(("ready", os.getpid()))
    threads: list[threading.Thread] = []
    while True:
        message = inbox.get()
        if message is None:
            break
        kind, job_id, *payload = message
        if kind == "run":
            flags[job_id] = StopFlag()
            thread = threading.Thread(target=run, args=(job_id, *payload), daemon=True, name=f"job-{job_id}")
            thread.start()
            threads = [t for t in threads if t.is_alive()] + [thread]
        elif kind == "stop" and job_id in flags:
            flags[job_id].set()
    for thread in threads:  # a retired worker finishes what it runs: no run is cut
        thread.join()


# ---------------------------------------------------------------------------------------------
# In the asking process


class Job:
    """One training submitted to a worker: its progress, its end, and a way to stop it."""

    def __init__(self, job_id: int, worker: Worker, progress: Callable[[int, dict], None] | None):
        self.id, self.worker, self._progress = job_id, worker, progress
        self.epoch, self.logs = 0, {}
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def stop(self) -> None:
        """Ask the training to end after its current chunk; it keeps what it learned."""
        self.worker.send(("stop", self.id))

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None):
        """The result (RunResult or RestartsResult); raises WorkerDied, SpecError or TrainingError."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.id}: no result after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    def _on_progress(self, epoch: int, logs: dict) -> None:
        self.epoch, self.logs = epoch, logs
        if self._progress is not None:
            self._progress(epoch, logs)

    def _finish(self, result=None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self._done.set()


class Worker:
    """One spawned worker process, the jobs it runs, and a thread that reads what it sends."""

    def __init__(self):
        self._inbox, self._outbox = CONTEXT.Queue(), CONTEXT.Queue()
        self.process = CONTEXT.Process(target=_worker_main, args=(self._inbox, self._outbox), daemon=True, name="tinynet-worker")
        self.process.start()
        self.jobs: dict[int, Job] = {}
        self.rss_mb: float | None = None
        self.retiring = False
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"worker-{self.process.pid}-reader")
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message) -> None:
        if self.alive:
            self._inbox.put(message)

    def run(self, job: Job, spec: RunSpec, members: int, seeds, seconds: float | None) -> None:
        with self._lock:
            self.jobs[job.id] = job
        self._inbox.put(("run", job.id, spec, members, seeds, seconds))

    def close(self) -> None:
        """End the process after its jobs (a retired worker) or now (shutdown)."""
        self.send(None)

    def _read(self) -> None:
        while True:
            try:
                message = self._outbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self.alive:
                    self._died()
                    return
                continue
            except (EOFError, OSError):
                self._died()
                return
            kind = message[0]
            if kind == "ready":
                self.ready.set()
                continue
            job = self.jobs.get(message[1])
            if job is None:
                continue
            if kind == "progress":
                job._on_progress(message[2], message[3])
                continue
            with self._lock:
                self.jobs.pop(job.id, None)
            self.rss_mb = message[3]
            if kind == "done":
                job._finish(result=message[2])
            elif kind == "spec_error":
                job._finish(error=SpecError(*message[2]))
            else:
                job._finish(error=TrainingError(*message[2]))

    def _died(self) -> None:
        code = self.process.exitcode
        how = f"it was killed by signal {-code}" if code is not None and code < 0 else f"it exited with code {code}"
        with self._lock:
            jobs, self.jobs = list(self.jobs.values()), {}
        for job in jobs:
            job._finish(error=WorkerDied(f"the training process stopped ({how}, e.g. out of memory or killed)"))


class WorkerPool:
    """Workers that train specs: each request goes to the least busy live worker; full ones are recycled.

    Args:
        workers: how many worker processes at most.
        max_rss_mb: a worker whose resident memory passes this after a job is retired once its
            other jobs are done, and a fresh one takes its place on the next request.
    """

    def __init__(self, workers: int = 1, max_rss_mb: float = 1200.0):
        self.size, self.max_rss_mb = workers, max_rss_mb
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.started = 0  # workers started so far (recycling and deaths start new ones)

    def warm(self) -> Worker:
        """Start a worker now (if none is live) so the first request does not also pay the import."""
        with self._lock:
            return self._pick()

    def submit(self, spec: RunSpec, members: int = 0, seeds: list[int] | None = None, seconds: float | None = None,
               progress: Callable[[int, dict], None] | None = None) -> Job:
        """Train `spec` (or `members` seeds of it) in a worker; `seconds` is its wall-clock budget."""
        with self._lock:
            worker = self._pick()
            job = Job(next(self._ids), worker, progress)
            worker.run(job, spec, members, list(seeds) if seeds is not None else None, seconds)
        return job

    def _pick(self) -> Worker:
        for worker in list(self._workers):
            full = worker.rss_mb is not None and worker.rss_mb > self.max_rss_mb
            if full and not worker.retiring:
                worker.retiring = True  # no new jobs; it ends once its queue is done
                worker.close()
            if not worker.alive or (worker.retiring and not worker.jobs):
                self._workers.remove(worker)
        live = [w for w in self._workers if w.alive and not w.retiring]
        if len(live) < self.size:
            worker = Worker()
            self.started += 1
            self._workers.append(worker)
            return worker
        return min(live, key=lambda w: len(w.jobs))

    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.alive]

    def shutdown(self) -> None:
        with self._lock:
            for worker in self._workers:
                worker.close()
            for worker in self._workers:
                worker.process.join(timeout=5)
                if worker.alive:
                    worker.process.kill()
            self._workers = []
