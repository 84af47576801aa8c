"""Shared test setup: quiet TensorFlow, the repository on sys.path, small helpers."""

import importlib.util
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import core  # noqa: F401  (sets the lab's XLA flags before any test module imports TensorFlow)


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "false", "0")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium for the browser and load tests; skips without it (or playwright), fails under CI."""
    path = os.environ.get("TINYNET_CHROMIUM") or "/usr/bin/chromium"
    missing = []
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        missing.append(f"no Chromium executable at {path}")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package is not installed")
    if missing:
        problem = "; ".join(missing)
        if under_ci():
            pytest.fail(
                f"Browser tests cannot run under CI: {problem}. CI must install Chromium "
                "(apt-get install chromium; .ci/run does it) and the playwright package "
                "(pip install -r requirements-dev.txt).",
                pytrace=False,
            )
        pytest.skip(
            f"Browser tests skipped: {problem}. Install Chromium with `apt-get install chromium` (Debian; "
            "or point TINYNET_CHROMIUM at a Chromium binary) and playwright with "
            "`pip install -r requirements-dev.txt`."
        )
    return path


def pytest_collection_modifyitems(config, items):
    """With two test processes (pytest-xdist, `-n 2 --dist loadgroup` in pytest.ini), the system tier runs in one of
    them, one test after another, as it would alone: its servers, browsers and worker processes never meet each
    other, and its memory and time checks see one of them at a time. The other process runs the fast tier."""
    for item in items:
        if item.get_closest_marker("system"):
            item.add_marker(pytest.mark.xdist_group("system"))
