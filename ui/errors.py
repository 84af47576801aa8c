"""No traceback on a page: failures become a clear message there, and the traceback goes to the server log.

`report()` logs an exception with its traceback on the "tinynet" logger (stderr of `streamlit run`,
which is the log on Community Cloud) and returns the sentence the page shows. `guard()` wraps a whole
page, so that even an unforeseen error while drawing leaves the sidebar, the settings and the session's
results in place and says what happened. Streamlit's own control flow (st.rerun, st.stop) derives from
BaseException and passes through untouched.
"""

from __future__ import annotations

import contextlib
import logging
import sys

import streamlit as st

from core.settings.errors import bounded
from core.settings.specs import RunSpec
from ui.controls import architecture
from ui.display import md

LOG = logging.getLogger("tinynet")


def _setup() -> None:
    if not any(getattr(h, "_tinynet", False) for h in LOG.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._tinynet = True  # type: ignore[attr-defined]
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)


_setup()


def settings_line(spec: RunSpec) -> str:
    """The settings a user needs to recognise (and reproduce) a run, in one line."""
    t, d = spec.train, spec.data
    return (f"{spec.scenario or 'run'} / preset {spec.preset or 'custom'}: {architecture(spec.model)}, {t.optimizer} "
            f"lr {t.learning_rate:g}, loss {t.loss}, batch size {t.batch_size}, {t.epochs:,} epochs, seed {spec.seed}, "
            f"{d.n_samples:,} samples of {d.function}" + (f" {d.expression!r}" if d.function == "custom" else ""))


def report(what: str, error: BaseException, spec: RunSpec | None = None) -> str:
    """Log `error` with its traceback; return the message for the page (no traceback in it)."""
    settings = settings_line(spec) if spec is not None else None
    # An error raised in a worker process arrives as a TrainingError: its kind, its text, its traceback there.
    kind, message = getattr(error, "kind", type(error).__name__), getattr(error, "message", str(error))
    details = getattr(error, "details", "")
    LOG.error("%s failed%s%s", what, f" ({settings})" if settings else "", f"\nIn the worker process:\n{details}" if details else "",
              exc_info=(type(error), error, error.__traceback__))
    text = f"{what} failed: {kind}: {bounded(message)}."
    if settings:
        text += f" Settings: {settings}."
    return text + " The details are in the server log."


@contextlib.contextmanager
def guard(page: str):
    """Draw a page; an exception becomes a message on it (and a traceback in the log), never a traceback."""
    try:
        yield
    except Exception as error:
        st.error(md(report(f"Drawing the page {page!r}", error))
                 + " Your settings and results in this session are kept: change a setting or reload the page.",
                 icon=":material/error:")
