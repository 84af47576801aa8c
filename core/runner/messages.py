"""The worker protocol: the messages an asker and a worker process send each other, as frozen dataclasses, and the
channel that carries them (each pickled whole over a socket).

An asker sends requests (RunRequest, RestartsRequest, ModelRequest, StopRequest, RetireRequest); a worker answers
Ready once its engine is imported, then per job any number of Progress messages and one end: Done, SpecRefused or
Failed, each with the worker's resident memory at that moment. Plain Python: no TensorFlow on either side of this module.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from core.settings.specs import RunSpec

PROGRESS_INTERVAL = 0.1  # seconds between progress messages of one job (the live charts redraw at 4 per second)


# ---------------------------------------------------------------------------------------------
# Requests: the asker -> a worker


@dataclass(frozen=True)
class RunRequest:
    """Train one run of `spec` and stream its progress; `seconds` is its wall-clock budget (None: none), `path` fast or fit."""

    job_id: int
    spec: RunSpec
    seconds: float | None = None
    path: str = "fast"


@dataclass(frozen=True)
class RestartsRequest:
    """Train `members` seeds of `spec` at once: `seeds`, or the spec's seed and those after it."""

    job_id: int
    spec: RunSpec
    members: int
    seeds: tuple[int, ...] | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class ModelRequest:
    """Make the .keras file of `spec` with `weights` (Keras saves it, so a worker does)."""

    job_id: int
    spec: RunSpec
    weights: tuple[Any, ...]


@dataclass(frozen=True)
class StopRequest:
    """End the job's training after its current chunk; it keeps what it learned."""

    job_id: int


@dataclass(frozen=True)
class RetireRequest:
    """Finish the running jobs (their stop requests still arrive), then end the process: no run is cut."""


REQUESTS = (RunRequest, RestartsRequest, ModelRequest, StopRequest, RetireRequest)
Request = RunRequest | RestartsRequest | ModelRequest | StopRequest | RetireRequest


# ---------------------------------------------------------------------------------------------
# Replies: a worker -> the asker


@dataclass(frozen=True)
class Ready:
    """The worker has imported its engine and takes requests."""

    pid: int
    rss_mb: float | None


@dataclass(frozen=True)
class Progress:
    """A job's latest state: its epoch and logs; for a single run also every epoch's logs since the last message
    (`rows`, (epoch, logs) pairs) and the latest weights (None for restarts, which report the median loss only)."""

    job_id: int
    epoch: int
    logs: dict[str, float]
    rows: tuple[tuple[int, dict[str, float]], ...] = ()
    weights: list | None = None


@dataclass(frozen=True)
class Done:
    """The job's result: a RunResult, a RestartsResult or the bytes of a .keras file."""

    job_id: int
    result: Any
    rss_mb: float | None


@dataclass(frozen=True)
class SpecRefused:
    """The engine refused a value of the spec (a SpecError there, raised again on the asker's side)."""

    job_id: int
    field: str
    value: Any
    allowed: str
    rss_mb: float | None


@dataclass(frozen=True)
class Failed:
    """The job raised in the worker: the exception's class name, its text and its traceback (for the log, not a page).

    `job_id` is None when the message that failed named no job (the worker could not tell which one it was).
    """

    job_id: int | None
    kind: str
    message: str
    details: str
    rss_mb: float | None


REPLIES = (Ready, Progress, Done, SpecRefused, Failed)
Reply = Ready | Progress | Done | SpecRefused | Failed


def describe(message: Any, limit: int = 160) -> str:
    """A message for an error text: its type and its repr, shortened."""
    text = repr(message)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(message).__name__} {text}" if not text.startswith(type(message).__name__) else text


def not_understood(message: Any, allowed: tuple[type, ...]) -> str:
    """The refusal of a message outside the protocol: what came, and what is allowed."""
    return f"the message {describe(message)} is not allowed; allowed: {', '.join(kind.__name__ for kind in allowed)}"


# ---------------------------------------------------------------------------------------------
# The channel


class Channel:
    """One end of a worker's socket: pickled messages, sent whole by any thread, read by one."""

    def __init__(self, fd: int):
        self._connection = Connection(fd)
        self._lock = threading.Lock()

    def put(self, message: Request | Reply) -> None:
        with self._lock:
            self._connection.send(message)

    def get(self, timeout: float) -> Request | Reply | None:
        """The next message, or None after `timeout` seconds; EOFError once the other end is gone."""
        return self._connection.recv() if self._connection.poll(timeout) else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()
