"""The worker process's end of the pipe: `serve(fd)` imports the engine, runs each request in a thread of its own and
answers with typed progress and results (core/runner/messages.py).

The process is started by the asker (core/runner/workers.py) as
`python -c "from core.runner.worker import serve; serve(FD)"`. This module itself imports no TensorFlow: `serve`
does, once, before it says Ready. A worker whose asker has gone exits by itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.engine.stopping import StopFlag
from core.runner.messages import (
    PROGRESS_INTERVAL,
    REQUESTS,
    Channel,
    Done,
    Failed,
    ModelRequest,
    Progress,
    Ready,
    Reply,
    RestartsRequest,
    RetireRequest,
    RunRequest,
    SpecRefused,
    StopRequest,
    not_understood,
)
from core.settings.errors import SpecError

PARENT_POLL_SECONDS = 1.0  # how often an idle worker looks whether its asker is still there


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


@dataclass(frozen=True)
class Engine:
    """What a worker runs: the trainers, the .keras writer and the progress callback (injected, so the loop is testable)."""

    train: Callable[..., Any]
    train_restarts: Callable[..., Any]
    model_bytes: Callable[..., bytes]
    stream: Callable[..., Any]  # (send, job_id, epochs) -> a Keras callback that sends Progress


def import_engine() -> Engine:
    """The engine, imported quietly (this is where TensorFlow loads)."""
    with quiet_native_stderr():
        import core  # noqa: F401  (XLA's flags before TensorFlow)
        from core.engine.training import train, train_restarts
        from core.io.export import model_bytes
        from core.runner.stream import ProgressStream
    return Engine(train=train, train_restarts=train_restarts, model_bytes=model_bytes, stream=ProgressStream)


class Outbox:
    """The worker's sending end: once the asker is gone there is nobody to tell, so the process ends quietly."""

    def __init__(self, channel: Channel):
        self._channel = channel

    def put(self, message: Reply) -> None:
        try:
            self._channel.put(message)
        except OSError:  # a broken pipe: the asker exited or was killed
            os._exit(0)


def serve(fd: int) -> None:
    """The worker process's entry point: import the engine, say Ready, then serve requests until retired or orphaned."""
    channel = Channel(fd)
    outbox = Outbox(channel)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the asker, which stops its jobs
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    loop = WorkerLoop(outbox.put, import_engine())
    outbox.put(Ready(os.getpid(), rss_mb(os.getpid())))
    loop.serve(channel)


class WorkerLoop:
    """Runs each job request in a thread of its own, passes stop requests on, and ends once retired and idle.

    Args:
        send: where the replies go.
        engine: what the jobs run (see `import_engine`).
    """

    def __init__(self, send: Callable[[Reply], None], engine: Engine):
        self.send, self.engine = send, engine
        self.flags: dict[int, StopFlag] = {}
        self.threads: list[threading.Thread] = []
        self.closing = False

    def serve(self, channel: Channel) -> None:
        while True:
            self.threads = [t for t in self.threads if t.is_alive()]
            if self.closing and not self.threads:
                return
            try:
                message = channel.get(timeout=PARENT_POLL_SECONDS)
            except (EOFError, OSError):  # the asker is gone (killed): nobody reads what this would send
                os._exit(0)
            except (pickle.UnpicklingError, AttributeError, ImportError) as err:  # bytes that do not unpickle here: refused
                self.send(Failed(None, type(err).__name__, f"a message could not be read: {err}", traceback.format_exc(), None))
                continue
            if message is not None:
                self.handle(message)

    def handle(self, message: Any) -> None:
        """Start, stop or retire as `message` asks; anything else is refused with a Failed reply that says what is allowed."""
        match message:
            case RunRequest() | RestartsRequest():
                self.flags[message.job_id] = StopFlag()
                self._start(self._train, message)
            case ModelRequest():
                self._start(self._model, message)
            case StopRequest(job_id=job_id) if job_id in self.flags:
                self.flags[job_id].set()
            case StopRequest():
                pass  # the job has ended already
            case RetireRequest():  # finish what runs (stop requests still arrive), then end; no run is cut
                self.closing = True
            case _:
                job_id = getattr(message, "job_id", None)
                self._finish(Failed, job_id if isinstance(job_id, int) else None, "ProtocolError",
                             "the worker refused " + not_understood(message, REQUESTS), "")

    def _start(self, target: Callable[[Any], None], request: RunRequest | RestartsRequest | ModelRequest) -> None:
        thread = threading.Thread(target=target, args=(request,), daemon=True, name=f"job-{request.job_id}")
        thread.start()
        self.threads.append(thread)

    def _finish(self, reply: type, job_id: int | None, *fields) -> None:
        self.send(reply(job_id, *fields, rss_mb(os.getpid())))

    def _train(self, request: RunRequest | RestartsRequest) -> None:
        try:
            flag = self.flags[request.job_id]
            flag.limit(request.seconds)
            if isinstance(request, RestartsRequest):
                seeds = list(request.seeds) if request.seeds is not None else None
                result = self.engine.train_restarts(request.spec, request.members, seeds=seeds,
                                                    progress=self._restarts_progress(request), stop=flag)
            else:
                stream = self.engine.stream(self.send, request.job_id, request.spec.train.epochs)
                result = self.engine.train(request.spec, callbacks=[stream], stop=flag, path=request.path)
            self._finish(Done, request.job_id, result)
        except SpecError as err:
            self._finish(SpecRefused, request.job_id, err.field, err.value, err.allowed)
        except Exception as err:  # reported to the asker, who shows it with the run's settings
            self._finish(Failed, request.job_id, type(err).__name__, str(err), traceback.format_exc())
        finally:
            self.flags.pop(request.job_id, None)

    def _restarts_progress(self, request: RestartsRequest) -> Callable[[int, dict], None]:
        """Restarts report the epoch and the median loss, at most every PROGRESS_INTERVAL seconds (and the last epoch)."""
        last = [0.0]

        def progress(epoch: int, logs: dict) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or epoch >= request.spec.train.epochs:
                last[0] = now
                self.send(Progress(request.job_id, epoch, dict(logs)))

        return progress

    def _model(self, request: ModelRequest) -> None:
        try:
            self._finish(Done, request.job_id, self.engine.model_bytes(request.spec, list(request.weights)))
        except Exception as err:
            self._finish(Failed, request.job_id, type(err).__name__, str(err), traceback.format_exc())
