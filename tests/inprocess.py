"""Trainings in the test process itself: a pool with WorkerPool's interface, `python -m core` through `main(argv)`,
and exported scripts run as __main__.

The fast tier tests what a page or a command does with a training, not how a worker process runs
it: `InProcessPool` trains with core.engine.training in a thread of this process (the same results
bit for bit, see tests/test_workers.py) and streams the same progress a worker sends, so no test
pays for a fresh interpreter that imports TensorFlow. `cli(...)` runs the command line in-process
with that pool and returns what a subprocess would (exit code, stdout, stderr); `script(path)` does
the same for a script the lab exported. The real processes,
the real server and the browser are tested once each in the `system` tier (tests/test_workers.py,
tests/test_cli.py's process tests, tests/test_browser.py, tests/test_load.py, tests/test_soak.py).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import runpy
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from unittest import mock

PROGRESS_INTERVAL = 0.1  # seconds between progress calls of one job, as core.runner.workers sends them


class InProcessWorker:
    """Stands in for a worker process: always ready, never dies; `send` is how a job's stop reaches it."""

    def __init__(self):
        self.ready = threading.Event()
        self.ready.set()
        self.pid = os.getpid()
        self.jobs: dict = {}
        self.alive = True
        self.retiring = False

    def send(self, message) -> None:  # the real worker's stop message; InProcessJob.stop sets its flag directly
        pass


class InProcessJob:
    """One training in a thread of this process, read like core.runner.workers.Job.

    While a single run trains, `epoch`, `logs` and `weights` are its latest state and `history` maps
    each log name to one value per epoch so far (`epochs` lists those epochs); restarts report
    `epoch` and `logs` only. `wait(timeout)` raises TimeoutError, SpecError or TrainingError as a
    worker's job does.
    """

    def __init__(self, job_id: int, worker: InProcessWorker, progress=None):
        from core.engine.stopping import StopFlag

        self.id, self.worker, self._progress = job_id, worker, progress
        self.epoch, self.logs = 0, {}
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.weights: list | None = None
        self.started = time.monotonic()
        self.flag = StopFlag()
        self._done = threading.Event()
        self._result = None
        self._error: BaseException | None = None

    def stop(self) -> None:
        self.flag.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None):
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.id}: no result after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    def report(self, epoch: int, logs: dict, rows: list[tuple[int, dict]], weights) -> None:
        for row_epoch, row_logs in rows:
            self.epochs.append(row_epoch)
            for name, value in row_logs.items():
                self.history.setdefault(name, []).append(value)
        if weights is not None:
            self.weights = weights
        self.epoch, self.logs = epoch, logs
        if self._progress is not None:
            self._progress(epoch, logs)

    def finish(self, result=None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self.worker.jobs.pop(self.id, None)
        self._done.set()


def _stream(job: InProcessJob, epochs: int):
    """The progress a worker streams for a single run: the initial weights, then every epoch's logs and the latest weights."""
    from core.engine.callbacks import LabCallback

    class Stream(LabCallback):
        def __init__(self):
            super().__init__()
            self.pending: list[tuple[int, dict]] = []
            self.last_sent, self.epoch, self.logs = 0.0, 0, {}

        def flush(self) -> None:
            weights = [w.copy() for w in self.probe.weights()] if self.probe is not None else None
            job.report(self.epoch, self.logs, self.pending, weights)
            self.pending, self.last_sent = [], time.monotonic()

        def on_train_begin(self, logs=None):
            self.flush()

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self.epoch, self.logs = epoch + 1, logs
            self.pending.append((epoch + 1, logs))
            if time.monotonic() - self.last_sent >= PROGRESS_INTERVAL or epoch + 1 >= epochs:
                self.flush()

        def on_train_end(self, logs=None):
            if self.pending:
                self.flush()

    return Stream()


def _train(job: InProcessJob, spec, members: int, seeds, seconds: float | None, path: str) -> None:
    from core.engine.training import train, train_restarts
    from core.runner.workers import TrainingError
    from core.settings.errors import SpecError

    last = [0.0]

    def progress(epoch: int, logs: dict) -> None:  # restarts: the epoch and the median loss
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL or epoch >= spec.train.epochs:
            last[0] = now
            job.report(epoch, dict(logs), [], None)

    try:
        job.flag.limit(seconds)
        if members:
            result = train_restarts(spec, members, seeds=seeds, progress=progress, stop=job.flag)
        else:
            result = train(spec, callbacks=[_stream(job, spec.train.epochs)], stop=job.flag, path=path)
        job.finish(result=result)
    except SpecError as err:
        job.finish(error=err)
    except Exception as err:  # as a worker reports it: the kind, the text and the traceback
        job.finish(error=TrainingError(type(err).__name__, str(err), traceback.format_exc()))


class InProcessPool:
    """core.runner.workers.WorkerPool's interface, training in threads of this process (one worker that never dies).

    `submitted` counts the trainings asked for, so a test can tell a cached result from a new training.
    """

    def __init__(self, workers: int = 1, max_rss_mb: float = float("inf"), keep_warm: bool = False):
        self.size, self.max_rss_mb, self.keep_warm = int(workers), float(max_rss_mb), keep_warm
        self.worker = InProcessWorker()
        self._ids = itertools.count(1)
        self.started, self.retired, self.closed = 1, 0, False
        self.submitted = 0

    def warm(self) -> InProcessWorker:
        return self.worker

    def submit(self, spec, members: int = 0, seeds=None, seconds: float | None = None, progress=None, path: str = "fast") -> InProcessJob:
        if self.closed:
            raise RuntimeError("the worker pool is shut down")
        seconds = None if seconds is None or seconds == float("inf") else float(seconds)
        job = InProcessJob(next(self._ids), self.worker, progress)
        self.worker.jobs[job.id] = job
        self.submitted += 1
        seeds = list(seeds) if seeds is not None else None
        threading.Thread(target=_train, args=(job, spec, members, seeds, seconds, path), daemon=True, name=f"inprocess-job-{job.id}").start()
        return job

    def model_bytes(self, spec, weights, timeout: float = 120.0) -> bytes:
        from core.io import export

        return export.model_bytes(spec, list(weights))

    def pids(self) -> list[int]:
        return [self.worker.pid]

    def workers(self) -> list[InProcessWorker]:
        return [self.worker]

    def drain(self) -> list[InProcessWorker]:
        self.closed = True
        return [self.worker]

    def shutdown(self) -> None:
        """Take no more requests and stop what still trains (a test's long run ends with the test)."""
        self.drain()
        for job in list(self.worker.jobs.values()):
            job.stop()


@dataclass
class Completed:
    """What `python -m core ARGS` would have returned: its exit code and what it printed."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _inprocess_worker(workers: int = 1):
    pool = InProcessPool(workers)
    try:
        yield pool
    finally:
        pool.shutdown()


def script(path, cwd=None) -> Completed:
    """`python PATH` for a script the lab exported, run in this process as __main__ (a fresh namespace), its output captured.

    The script imports numpy and Keras only, which this process holds already; an exception ends it
    with exit code 1 and its traceback on stderr, as in a process of its own. The system tier runs one
    exported script in a fresh interpreter without the lab on its path (tests/test_export.py).
    """
    path = os.fspath(path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.chdir(cwd if cwd is not None else os.path.dirname(os.path.abspath(path))))
        stack.enter_context(mock.patch.object(sys, "argv", [path]))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            runpy.run_path(path, run_name="__main__")
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except Exception:
            traceback.print_exc()
            code = 1
    return Completed([path], code, out.getvalue(), err.getvalue())


def cli(*args, env: dict | None = None, cwd=None, timeout: float | None = None) -> Completed:
    """`python -m core ARGS` run as `core.cli.main.main(ARGS)` in this process, its training in an InProcessPool.

    `env` adds environment variables for the call (TINYNET_MAX_SECONDS and friends), `cwd` is the
    folder it runs in; `timeout` is accepted for the subprocess form's sake and ignored.
    """
    from core.cli import common
    from core.cli import main as command

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, {k: str(v) for k, v in (env or {}).items()}))
        stack.enter_context(mock.patch.object(common, "worker", _inprocess_worker))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = command.main(argv)
        except SystemExit as exit:  # argparse's --help and --version end this way
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if exit.code is not None and not isinstance(exit.code, int):
                print(exit.code, file=sys.stderr)
    return Completed(argv, code, out.getvalue(), err.getvalue())
