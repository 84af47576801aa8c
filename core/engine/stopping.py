"""A request to stop a training, from another thread or a wall-clock deadline: plain Python, no TensorFlow.

The engine polls it between chunks; the dashboard and the worker processes hold one per job.
"""

from __future__ import annotations

import math
import threading
import time


class StopFlag:
    """Asks a running training to stop after the current chunk: another thread's request, or a deadline.

    `limit(seconds)` starts a wall-clock budget; once it has passed, `is_set()` is true and `reason`
    says "budget". A request (`set()`) says "request". `limit` may be called again for the next run.
    """

    def __init__(self):
        self._event = threading.Event()
        self._deadline: float | None = None
        self.seconds: float | None = None

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def limit(self, seconds: float | None) -> None:
        """Start a wall-clock budget of `seconds` from now (None or infinity: no budget)."""
        self.seconds = seconds
        self._deadline = None if seconds is None or math.isinf(seconds) else time.monotonic() + seconds

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def over_budget(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def is_set(self) -> bool:
        return self.requested or self.over_budget

    @property
    def reason(self) -> str | None:
        """Why is_set() is true: "request", "budget", or None."""
        return "request" if self.requested else "budget" if self.over_budget else None
