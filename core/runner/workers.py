"""Trainings in worker processes: submit a spec, stream progress, stop, get the plain result back.

The process that asks (the Streamlit server, the command line) never imports TensorFlow: a worker
is a fresh Python interpreter (started like multiprocessing's spawn, so safe next to the asker's
threads, and talking over a socket pair) that imports the engine, trains
each job in a thread of its own and sends back progress (the epoch, its logs, every epoch's history
and the latest weights) and the typed result (core/outcomes/results.py), which pickles.

Why processes: XLA keeps every compiled training loop until its process ends (about 10-20 MB per
new architecture), so a long-lived server that trains in-process grows without bound. A worker whose
resident memory passes `max_rss_mb` after a job is retired once its other jobs are done (no run is
cut) and a fresh one is started in its place, ready before the next request. A worker that dies
mid-run (killed, out of memory, a crash in a library) fails its jobs with `WorkerDied`, whose message
says what happened, and is replaced the same way. A worker whose asker has gone exits by itself.

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
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from core.settings.errors import SpecError
from core.settings.specs import RunSpec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the folder that holds the `core` package
PROGRESS_INTERVAL = 0.1  # seconds between progress messages of one job (the live charts redraw at 4 per second)
POLL_SECONDS = 0.2  # how often a worker's reader looks whether its process is still alive
PARENT_POLL_SECONDS = 1.0  # how often an idle worker looks whether its asker is still there
HARD_LIMIT = 1.25  # a busy worker is retired only past this multiple of its limit; an idle one at the limit
REPLACE_JOIN_SECONDS = 30.0  # how long a replacement waits for the retired worker to end (so both are not resident at once)


class WorkerDied(RuntimeError):
    """The worker process ended while it trained this job (killed, out of memory, a crash in a library).

    `how` says how it ended, e.g. "it ended on signal SIGKILL: killed, for example for lack of memory".
    """

    def __init__(self, how: str):
        super().__init__(f"the training process stopped: {how}")
        self.how = how


class TrainingError(RuntimeError):
    """The training raised inside the worker.

    `kind` is the exception's class name there, `message` its text and `details` its traceback (for
    the server log; never for a page).
    """

    def __init__(self, kind: str, message: str, details: str = ""):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.details = kind, message, details


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


@contextlib.contextmanager
def quiet_native_stderr():
    """TensorFlow's C++ start-up notes go to fd 2 whatever the log level; keep them off the server's terminal."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _Channel:
    """Both ends of a worker's socket: pickled messages, sent whole by any thread, read by one."""

    def __init__(self, fd: int):
        self._connection = Connection(fd)
        self._lock = threading.Lock()

    def put(self, message) -> None:
        with self._lock:
            self._connection.send(message)

    def get(self, timeout: float):
        """The next message, or None after `timeout` seconds; EOFError once the other end is gone."""
        return self._connection.recv() if self._connection.poll(timeout) else _NOTHING

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()


_NOTHING = object()


def serve(fd: int) -> None:
    """The worker process's entry point (`python -c "from core.runner.workers import serve; serve(FD)"`)."""
    _worker_main(_Channel(fd))


class _Outbox:
    """The worker's sending end: once the asker is gone there is nobody to tell, so the process ends quietly."""

    def __init__(self, channel: _Channel):
        self._channel = channel

    def put(self, message) -> None:
        try:
            self._channel.put(message)
        except OSError:  # a broken pipe: the asker exited or was killed
            os._exit(0)


def _worker_main(channel: _Channel) -> None:
    """The worker's loop: run jobs in threads, pass stop requests on, report memory with each result."""
    outbox = _Outbox(channel)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the asker, which stops its jobs
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native_stderr():
        import core  # noqa: F401  (XLA's flags before TensorFlow)
        from core.engine.callbacks import LabCallback
        from core.engine.training import train, train_restarts
        from core.io import export
        from core.runner.stopping import StopFlag

    class Stream(LabCallback):
        """Sends a single run's progress: the latest epoch and weights, and every epoch's logs since the last message."""

        def __init__(self, job_id: int, epochs: int):
            super().__init__()
            self.job_id, self.epochs = job_id, epochs
            self.pending: list[tuple[int, dict]] = []
            self.last_sent, self.epoch, self.logs = 0.0, 0, {}

        def flush(self) -> None:
            weights = [w.copy() for w in self.probe.weights()] if self.probe is not None else None
            outbox.put(("progress", self.job_id, self.epoch, self.logs, self.pending, weights))
            self.pending, self.last_sent = [], time.monotonic()

        def on_train_begin(self, logs=None):
            self.flush()  # the initial weights, before the first epoch

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self.epoch, self.logs = epoch + 1, logs
            self.pending.append((epoch + 1, logs))
            if time.monotonic() - self.last_sent >= PROGRESS_INTERVAL or epoch + 1 >= self.epochs:
                self.flush()

        def on_train_end(self, logs=None):
            if self.pending:
                self.flush()

    flags: dict[int, StopFlag] = {}

    def finish(kind: str, job_id: int, payload) -> None:
        outbox.put((kind, job_id, payload, rss_mb(os.getpid())))

    def run(job_id: int, spec: RunSpec, members: int, seeds, seconds: float | None, path: str) -> None:
        last = [0.0]

        def progress(epoch: int, logs: dict) -> None:  # restarts: the epoch and the median loss
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or epoch >= spec.train.epochs:
                last[0] = now
                outbox.put(("progress", job_id, epoch, dict(logs), [], None))

        try:
            flag = flags[job_id]
            flag.limit(seconds)
            if members:
                result = train_restarts(spec, members, seeds=seeds, progress=progress, stop=flag)
            else:
                result = train(spec, callbacks=[Stream(job_id, spec.train.epochs)], stop=flag, path=path)
            finish("done", job_id, result)
        except SpecError as err:
            finish("spec_error", job_id, (err.field, err.value, err.allowed))
        except Exception as err:  # reported to the asker, who shows it with the run's settings
            finish("error", job_id, (type(err).__name__, str(err), traceback.format_exc()))
        finally:
            flags.pop(job_id, None)

    def model(job_id: int, spec: RunSpec, weights) -> None:
        try:
            finish("done", job_id, export.model_bytes(spec, weights))
        except Exception as err:
            finish("error", job_id, (type(err).__name__, str(err), traceback.format_exc()))

    outbox.put(("ready", os.getpid(), rss_mb(os.getpid())))
    threads: list[threading.Thread] = []
    closing = False
    while True:
        threads = [t for t in threads if t.is_alive()]
        if closing and not threads:
            break
        try:
            message = channel.get(timeout=PARENT_POLL_SECONDS)
        except (EOFError, OSError):  # the asker is gone (killed): nobody reads what this would send
            os._exit(0)
        if message is _NOTHING:
            continue
        if message is None:  # retire: finish what runs (stop requests still arrive), then end; no run is cut
            closing = True
            continue
        kind, job_id, *payload = message
        if kind in ("run", "model"):
            if kind == "run":
                flags[job_id] = StopFlag()
            target = run if kind == "run" else model
            thread = threading.Thread(target=target, args=(job_id, *payload), daemon=True, name=f"job-{job_id}")
            thread.start()
            threads.append(thread)
        elif kind == "stop" and job_id in flags:
            flags[job_id].set()


# ---------------------------------------------------------------------------------------------
# In the asking process


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
        self.worker.send(("stop", self.id))

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None):
        """The result; raises WorkerDied, SpecError or TrainingError (TimeoutError if `timeout` passes first)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.id}: no result after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    def _on_progress(self, epoch: int, logs: dict, rows: list[tuple[int, dict]], weights) -> None:
        for row_epoch, row_logs in rows:
            self.epochs.append(row_epoch)
            for name, value in row_logs.items():
                self.history.setdefault(name, []).append(value)
        if weights is not None:
            self.weights = weights
        self.epoch, self.logs = epoch, logs
        if self._progress is not None:
            self._progress(epoch, logs)

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
        self._channel = _Channel(ours.detach())
        self.jobs: dict[int, Job] = {}
        self.rss_mb: float | None = None
        self.retiring = False
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

    def send(self, message) -> None:
        if self.alive:
            with contextlib.suppress(OSError):  # it died meanwhile: its reader fails the jobs
                self._channel.put(message)

    def start(self, job: Job, message: tuple) -> None:
        with self._lock:
            self.jobs[job.id] = job
        self.send(message)

    def close(self) -> None:
        """End the process once its jobs are done (they keep receiving stop requests until then)."""
        self.send(None)

    def _read(self) -> None:
        while True:
            try:
                message = self._channel.get(timeout=POLL_SECONDS)
            except (EOFError, OSError):  # the process has ended
                self.process.join(5)
                self._died()
                return
            if message is _NOTHING:
                if not self.alive:
                    self._died()
                    return
                continue
            kind = message[0]
            if kind == "ready":
                self.rss_mb, self.ready_s = message[2], time.monotonic() - self.started
                self.ready.set()
                continue
            job = self.jobs.get(message[1])
            if job is None:
                continue
            if kind == "progress":
                job._on_progress(*message[2:])
                continue
            with self._lock:
                self.jobs.pop(job.id, None)
            self.rss_mb = message[3]
            if self._on_idle is not None:  # before the asker hears of the result, so its next request sees a retirement
                self._on_idle(self)
            if kind == "done":
                job._finish(result=message[2])
            elif kind == "spec_error":
                job._finish(error=SpecError(*message[2]))
            else:
                job._finish(error=TrainingError(*message[2]))

    def _died(self) -> None:
        self._channel.close()
        code = self.process.exitcode
        how = self.how_it_ended()
        with self._lock:
            jobs, self.jobs = list(self.jobs.values()), {}
        self.ready.set()
        for job in jobs:
            job._finish(error=WorkerDied(how))
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
    would run again; here the child runs nothing but `core.runner.workers.serve`.
    """

    def __init__(self, fd: int):
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self._popen = subprocess.Popen([sys.executable, "-c", f"from core.runner.workers import serve; serve({fd})"], pass_fds=(fd,),
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
    """

    def __init__(self, workers: int = 1, max_rss_mb: float = 850.0, keep_warm: bool = True):
        self.size, self.max_rss_mb, self.keep_warm = int(workers), float(max_rss_mb), keep_warm
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
        seeds = list(seeds) if seeds is not None else None
        return self._send(lambda job_id: ("run", job_id, spec, members, seeds, seconds, path), progress)

    def model_bytes(self, spec: RunSpec, weights, timeout: float = 120.0) -> bytes:
        """The .keras file of `spec` with `weights`, made in a worker (Keras saves it)."""
        return self._send(lambda job_id: ("model", job_id, spec, list(weights))).wait(timeout)

    def _send(self, message: Callable[[int], tuple], progress=None) -> Job:
        with self._lock:
            if self.closed:
                raise RuntimeError("the worker pool is shut down")
            worker = self._pick()
            job = Job(next(self._ids), worker, progress)
            worker.start(job, message(job.id))
        return job

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
