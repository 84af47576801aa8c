"""Load test and memory check: N browser sessions train on the dashboard at the same time.

    python tests/load.py --sessions N [--timeout S] [--json out.json] [--max-rss-mb MIB]

What it does, in order:

1. Starts its own `streamlit run dashboard.py` on a free port (log: artifacts/load-server.log).
2. Reference runs, in this process, while the server starts and before any browser exists (so they
   distort no timing): for each session, `core.cases.scenarios.get(page).spec("question", seed=k)` trained
   by `core.engine.training.train`. Their final numbers are what each page must show. Once the server
   answers /_stcore/health, the VmRSS of its whole process tree (the server and its worker processes)
   is sampled from /proc every 0.2 s, and the server's own maps are checked for TensorFlow.
3. One headless Chromium, N browser contexts (N Streamlit sessions). Session i opens the case page
   CASE_PAGES[i % 5] with `?seed=<seed-base + i>`; all pages load at once, then all press Train at
   once, and each waits for "Trained in <digit>".
4. Each session is right when: no exception and no "Training failed" on the page; the success line
   names its own seed and preset "question" and is not "shown from the cache"; its final numbers
   (loss, and the metric after it, formatted :.4g as the page does) equal the reference run's.
5. A table per session (page, seed, load time, click-to-result time, ok or why not), the slowest
   session, and the server tree's RSS: at start, after the first page load (a worker has loaded TensorFlow), with all
   pages loaded (the baseline, before Train), after training, and the peak. Memory is in MiB
   (1 MiB = 2**20 bytes); the budget is 1.2 GB = 1144.4 MiB. Screenshots go to artifacts/load/.

Exit code 0 when every session is right, 1 otherwise. A peak RSS over the budget is reported, not an
exit failure, unless --max-rss-mb is given (then it is the budget and exceeding it fails).

Needs Chromium (/usr/bin/chromium or TINYNET_CHROMIUM) and the playwright package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "load"
SERVER_LOG = ARTIFACTS / "load-server.log"

CASE_PAGES = ("sine-relu", "noisy-sine", "parabola", "segments", "custom")
VIEWPORT = {"width": 1400, "height": 1000}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 90
DEFAULT_SESSION_TIMEOUT_S = 240
DEFAULT_SEED_BASE = 101  # none of the presets' own seeds (7, 1, 0), so no run matches the home page's cache
RSS_BUDGET_MIB = round(1.2e9 / 2**20, 1)  # the 1.2 GB (decimal): 1144.4 MiB
SAMPLE_INTERVAL_S = 0.2
IDLE_QUIET_S = 1.0  # Streamlit shows its running indicator only after a moment: idle means idle this long
DISCONNECTED_LIMIT_S = 15
POLL_S = 0.25
ACTION_TIMEOUT_MS = 30_000

TRAIN_BUTTON = "Train"
TRAINED_TEXT = re.compile(r"Trained in \d")
SUCCESS_LINE = re.compile(
    r"Trained in (?P<wall>[\d.]+) s(?P<how>.*?) · (?P<arch>[^·]+?) · (?P<epochs>[\d,]+) epochs · "
    r"(?P<steps>[\d,]+) optimizer steps · seed (?P<seed>-?\d+) · preset (?P<preset>[^·]+?) · (?P<final>.+)$"
)

# The run state, the connection, the running indicator, exceptions, and the lines that matter, in one call.
_PAGE_STATE_JS = r"""() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const text = app ? app.innerText : '';
  const lines = re => text.split('\n').map(s => s.trim()).filter(s => re.test(s));
  return {
    app: !!app,
    script: app ? app.getAttribute('data-test-script-state') : null,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    running_indicator: !!status && (
      !!status.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
      || /Running|Stop/.test(status.innerText)),
    exceptions: [...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText.slice(0, 600)),
    errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText.trim().slice(0, 600)),
    warnings: [...document.querySelectorAll('[data-testid="stAlertContentWarning"]')].map(e => e.innerText.trim().slice(0, 300)),
    traceback: text.includes('Traceback'),
    not_found: text.includes('Page not found'),
    failures: lines(/Training failed/),
    trained: lines(/Trained in \d/),
  };
}"""

# Streamlit scrolls inside its main element, so a full-page screenshot needs a taller viewport.
_HIDDEN_HEIGHT_JS = """() => Math.max(0, ...[...document.querySelectorAll('*')]
  .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowY))
  .map(e => e.scrollHeight - e.clientHeight))"""


def log(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Sessions and reference runs


@dataclass
class Session:
    index: int
    page: str
    seed: int
    expected_final: str = ""  # e.g. "loss 0.04 · max abs error 1.122", as the page formats it
    expected_loss: str = ""
    reference_s: float | None = None
    reference_error: str | None = None  # the in-process reference run failed: the page cannot be checked
    ok: bool = False
    reason: str = ""
    load_s: float | None = None  # goto until the app is idle
    click_to_result_s: float | None = None  # Train click until "Trained in" shows
    engine_wall_s: float | None = None  # "Trained in X s" as the page says
    page_seed: int | None = None
    page_preset: str | None = None
    page_loss: str | None = None
    page_final: str | None = None
    success_line: str | None = None
    screenshot: str | None = None
    warnings: list[str] = field(default_factory=list)  # st.warning boxes seen on the page
    events: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"session {self.index} ({self.page}, seed {self.seed})"

    def fail(self, reason: str) -> None:
        if not self.reason:  # the first reason is the cause; later ones are consequences
            self.reason = reason
        self.ok = False


def final_text(final: dict) -> str:
    """The final numbers exactly as the page's success line formats them (ui/case.py)."""
    return " · ".join(f"{k.replace('_', ' ')} {v:.4g}" for k, v in final.items())


def plan(n: int, seed_base: int) -> list[Session]:
    return [Session(i, CASE_PAGES[i % len(CASE_PAGES)], seed_base + i) for i in range(n)]


def reference_runs(sessions: list[Session]) -> None:
    from core.cases import scenarios
    from core.engine import training

    for s in sessions:
        began = time.perf_counter()
        try:
            result = training.train(scenarios.get(s.page).spec("question", seed=s.seed))
        except Exception as error:
            s.reference_error = f"{type(error).__name__}: {error}"[:500]
            log(f"reference {s.page} seed {s.seed} FAILED: {s.reference_error}")
            continue
        s.reference_s = time.perf_counter() - began
        s.expected_final = final_text(result.final)
        s.expected_loss = f"{result.final['loss']:.4g}"
        log(f"reference {s.page} seed {s.seed}: {s.expected_final} ({s.reference_s:.1f} s)")


# ---------------------------------------------------------------------------------------------
# Server and its memory


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def health(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode(errors="replace").strip()
    except OSError:
        return ""


def log_tail(lines: int = 40) -> str:
    try:
        tail = SERVER_LOG.read_text(errors="replace").splitlines()[-lines:]
    except OSError as error:
        return f"(no server log: {error})"
    return "\n".join(tail) if tail else "(server log is empty)"


try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here, not in the forked child
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the server's child process: get SIGTERM if this script dies, even by SIGKILL (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_server(port: int, extra_env: dict[str, str] | None = None, log_path: Path = SERVER_LOG) -> subprocess.Popen:
    ARTIFACTS.mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1", **(extra_env or {})}
    with open(log_path, "w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def wait_healthy(process: subprocess.Popen, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while health(url) != "ok":
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode} before answering on {url}.\n"
                               f"Log tail ({SERVER_LOG}):\n{log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not answer 'ok' on {url}/_stcore/health within {timeout_s:.0f} s.\n"
                               f"Log tail ({SERVER_LOG}):\n{log_tail()}")
        time.sleep(0.25)


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def proc_status_kib(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM and friends of a process, in KiB (what /proc calls kB)."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Vm"):
                    name, _, rest = line.partition(":")
                    values[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (its worker processes and theirs), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_kib(pid: int) -> int | None:
    """VmRSS of `pid` and all its descendants, in KiB (the server's whole process tree)."""
    own = proc_status_kib(pid).get("VmRSS")
    if own is None:
        return None
    return own + sum(proc_status_kib(child).get("VmRSS", 0) for child in descendants(pid))


def maps_tensorflow(pid: int) -> bool:
    """Whether the process has any TensorFlow library mapped (/proc/PID/maps)."""
    try:
        with open(f"/proc/{pid}/maps") as handle:
            return "tensorflow" in handle.read().lower()
    except OSError:
        return False


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


class MemoryWatch:
    """Samples the RSS of a process and of its whole tree (the server and its workers) every SAMPLE_INTERVAL_S; marks moments.

    `samples`, `marks` and the peak are of the whole tree; `server_samples` of the server process alone.
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.began = time.monotonic()
        self.samples: list[tuple[float, int]] = []  # (seconds since start, KiB of the tree)
        self.server_samples: list[tuple[float, int]] = []  # (seconds since start, KiB of the server alone)
        self.marks: dict[str, int] = {}
        self.hwm_kib: int | None = None
        self.server_tensorflow = False  # any TensorFlow library ever seen mapped in the server process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> MemoryWatch:
        self.began = time.monotonic()  # the timeline counts from the first sample
        self._thread.start()
        return self

    def _run(self) -> None:
        checked = 0.0
        while not self._stop.is_set():
            now = round(time.monotonic() - self.began, 2)
            server, tree = proc_status_kib(self.pid).get("VmRSS"), tree_kib(self.pid)
            if server is not None and tree is not None:
                self.server_samples.append((now, server))
                self.samples.append((now, tree))
            if now - checked >= 2.0:  # reading the maps costs more than a status line
                checked = now
                self.server_tensorflow = self.server_tensorflow or maps_tensorflow(self.pid)
            self._stop.wait(SAMPLE_INTERVAL_S)

    def mark(self, name: str) -> None:
        rss = tree_kib(self.pid)
        if rss is not None and name not in self.marks:
            self.marks[name] = rss
            log(f"server tree RSS {name}: {rss / 1024:.0f} MiB (server alone {proc_status_kib(self.pid).get('VmRSS', 0) / 1024:.0f})")

    def finish(self) -> None:
        """Read the server's high-water mark (while the process still lives) and stop sampling."""
        status = proc_status_kib(self.pid)
        self.hwm_kib = status.get("VmHWM")
        self.server_tensorflow = self.server_tensorflow or maps_tensorflow(self.pid)
        self.mark("end")
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def peak_kib(self) -> int | None:
        candidates = [rss for _, rss in self.samples] + list(self.marks.values())
        return max(candidates) if candidates else None

    def report(self, budget_mib: float) -> dict:
        peak = self.peak_kib()
        return {
            "unit": "MiB (2**20 bytes); the whole process tree (server and workers) unless named server_",
            "pid": self.pid,
            "server_peak_rss_mib": mib(max((rss for _, rss in self.server_samples), default=None)),
            "server_tensorflow_mapped": self.server_tensorflow,
            "startup_rss_mib": mib(self.marks.get("at start")),
            "first_load_rss_mib": mib(self.marks.get("after the first page load")),
            "baseline_rss_mib": mib(self.marks.get("with every page loaded (baseline)")),
            "after_training_rss_mib": mib(self.marks.get("after training")),
            "max_sampled_rss_mib": mib(max((rss for _, rss in self.samples), default=None)),
            "server_vmhwm_mib": mib(self.hwm_kib),
            "peak_rss_mib": mib(peak),
            "budget_mib": budget_mib,
            "within_budget": None if peak is None else peak / 1024 <= budget_mib,
            "samples": len(self.samples),
            # One sample a second is plenty for a plot.
            "timeline_mib": [(t, round(rss / 1024, 1)) for t, rss in self.samples[::5]],
        }


# ---------------------------------------------------------------------------------------------
# Browser sessions


async def page_state(page, session: Session | None = None) -> dict:
    state = await page.evaluate(_PAGE_STATE_JS)
    if session is not None:
        for warning in state["warnings"]:
            if warning not in session.warnings:
                session.warnings.append(warning)
    return state


def problems(state: dict) -> str:
    """Why a page state is wrong, or ''."""
    if state["exceptions"]:
        return f"the page shows an exception: {state['exceptions'][0]}"
    if state["traceback"]:
        return "the page shows a Traceback"
    if state["failures"]:
        return f"the page says: {state['failures'][0]}"
    if state["errors"]:  # an st.error box: a failed run, a refused run, an error while drawing
        return f"the page shows an error: {state['errors'][0]}"
    if state["not_found"]:
        return "Streamlit says 'Page not found'"
    return ""


async def wait_until_idle(page, deadline: float, session: Session | None = None) -> dict:
    """Until the script has finished and stayed finished for IDLE_QUIET_S; fails on an exception or a lost connection."""
    quiet_since = None
    connected_at = time.monotonic()
    while True:
        state = await page_state(page, session)
        now = time.monotonic()
        wrong = problems(state)
        if wrong:
            raise AssertionError(wrong)
        if state["connection"] == "CONNECTED":
            connected_at = now
        elif now - connected_at > DISCONNECTED_LIMIT_S:
            raise AssertionError(f"the page lost its connection to the server (state {state['connection']})")
        idle = state["app"] and state["script"] == "notRunning" and state["connection"] == "CONNECTED" and not state["running_indicator"]
        if not idle:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= IDLE_QUIET_S:
            return state
        if now > deadline:
            raise TimeoutError(f"the app was not idle in time (script {state['script']}, connection {state['connection']})")
        await asyncio.sleep(0.1)


async def screenshot(page, path: Path) -> None:
    hidden = await page.evaluate(_HIDDEN_HEIGHT_JS)
    if hidden > 0:
        await page.set_viewport_size({"width": VIEWPORT["width"], "height": min(VIEWPORT["height"] + hidden, 16_000)})
        await asyncio.sleep(0.5)
    try:
        await page.screenshot(path=str(path), full_page=True)
    finally:
        if hidden > 0:
            await page.set_viewport_size(VIEWPORT)


async def load(session: Session, page, url: str, deadline: float) -> None:
    began = time.monotonic()
    await page.goto(f"{url}/{session.page}?seed={session.seed}")
    await page.locator('[data-testid="stApp"]').wait_for(state="attached")
    state = await wait_until_idle(page, deadline, session)
    session.load_s = round(time.monotonic() - began, 2)
    if state["trained"]:
        raise AssertionError(f"a result shows before Train was pressed: {state['trained'][0]}")
    session.events.append(f"loaded in {session.load_s} s")


async def train(session: Session, page, deadline: float) -> None:
    button = page.get_by_role("button", name=TRAIN_BUTTON, exact=True)
    await button.wait_for(state="visible")
    clicked = time.monotonic()
    await button.click()
    connected_at = clicked
    while True:
        state = await page_state(page, session)
        now = time.monotonic()
        wrong = problems(state)
        if wrong:
            raise AssertionError(wrong)
        if state["trained"]:
            session.click_to_result_s = round(now - clicked, 2)
            break
        if state["connection"] == "CONNECTED":
            connected_at = now
        elif now - connected_at > DISCONNECTED_LIMIT_S:
            raise AssertionError(f"the page lost its connection to the server (state {state['connection']})")
        if now > deadline:
            raise TimeoutError(f"no 'Trained in' line {now - clicked:.0f} s after the click")
        await asyncio.sleep(POLL_S)
    log(f"{session.name}: result {session.click_to_result_s} s after the click")
    state = await wait_until_idle(page, deadline, session)
    check_result(session, state)


def check_result(session: Session, state: dict) -> None:
    lines = list(dict.fromkeys(state["trained"]))
    session.success_line = lines[0]
    if len(lines) > 1:
        session.fail(f"{len(lines)} different 'Trained in' lines: {lines}")
        return
    match = SUCCESS_LINE.search(lines[0])
    if not match:
        session.fail(f"the success line does not have the expected form: {lines[0]!r}")
        return
    session.engine_wall_s = float(match["wall"])
    session.page_seed = int(match["seed"])
    session.page_preset = match["preset"]
    session.page_final = match["final"].strip()
    loss = re.search(r"(?:^|· )loss (\S+)", session.page_final)
    session.page_loss = loss[1] if loss else None
    wrong = []
    if session.reference_error:
        wrong.append(f"no reference to compare with (the in-process run failed: {session.reference_error})")
    if session.page_seed != session.seed:
        wrong.append(f"seed {session.page_seed} on the page, {session.seed} asked for")
    from core.cases import scenarios

    asked = scenarios.get(session.page).preset("question").label  # the page names a preset by its button's label
    if session.page_preset != asked:
        wrong.append(f"preset {session.page_preset!r} on the page, {asked!r} expected")
    if "from the cache" in match["how"]:
        wrong.append("the result was shown from the cache, not trained")
    elif match["how"].strip():  # stopped (on request or by the server's time budget), diverged
        wrong.append(f"the run did not end as asked: {match['how'].strip()}"
                     + (f" (the page warns: {' | '.join(session.warnings)})" if session.warnings else ""))
    if session.reference_error:
        pass
    elif session.page_loss != session.expected_loss:
        wrong.append(f"loss {session.page_loss} on the page, {session.expected_loss} in the reference run")
    elif session.page_final != session.expected_final:
        wrong.append(f"final numbers {session.page_final!r} on the page, {session.expected_final!r} in the reference run")
    if wrong:
        session.fail("; ".join(wrong))
    else:
        session.ok = True


async def describe_failure(session: Session, page) -> None:
    """Add a screenshot and the start of the page text to a failed session (best effort, bounded)."""
    path = SCREENSHOTS / f"session{session.index}-{session.page}-seed{session.seed}-failure.png"
    with contextlib.suppress(Exception):
        await asyncio.wait_for(screenshot(page, path), 20)
        session.screenshot = str(path.relative_to(ROOT))
    with contextlib.suppress(Exception):
        text = await asyncio.wait_for(page.locator('[data-testid="stMain"]').inner_text(timeout=3_000), 5)
        session.events.append("page text (start): " + " | ".join(text.split("\n")[:25])[:1_200])


async def bounded(session: Session, page, step, deadline: float, phase: str, budget_s: float) -> bool:
    """Run one phase of a session until its deadline; a failure or a timeout marks the session failed."""
    try:
        await asyncio.wait_for(step, max(1.0, deadline - time.monotonic()) + 5)
        return True
    except TimeoutError as error:  # asyncio's is the same class since Python 3.11
        session.fail(f"timed out while {phase}: {error or 'no answer'} (each session has --timeout {budget_s:g} s "
                     "to load its page and train)")
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        session.fail(f"{phase}: {type(error).__name__}: {first}"[:800])
    log(f"{session.name} FAILED: {session.reason}")
    await describe_failure(session, page)
    return False


async def drive(sessions: list[Session], url: str, chromium: str, timeout_s: float, memory: MemoryWatch) -> None:
    from playwright.async_api import async_playwright

    launching = time.monotonic()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            log(f"chromium {browser.version} launched in {time.monotonic() - launching:.1f} s")
            pages = []
            for _ in sessions:
                context = await browser.new_context(viewport=VIEWPORT)
                context.set_default_timeout(ACTION_TIMEOUT_MS)
                pages.append(await context.new_page())
            log(f"{len(pages)} browser contexts ready {time.monotonic() - launching:.1f} s after the launch began")
            began = time.monotonic()
            deadlines = [began + timeout_s for _ in sessions]

            async def load_one(session, page, deadline):
                if await bounded(session, page, load(session, page, url, deadline), deadline, "loading the page", timeout_s):
                    memory.mark("after the first page load")
                    log(f"{session.name}: loaded in {session.load_s} s")
                    return True
                return False

            loaded = await asyncio.gather(*(load_one(s, p, d) for s, p, d in zip(sessions, pages, deadlines)))
            memory.mark("with every page loaded (baseline)")
            log(f"every page loaded; {sum(loaded)} of {len(sessions)} pressing Train at once")
            await asyncio.gather(*(
                bounded(s, p, train(s, p, d), d, "training", timeout_s) for s, p, d, ok in zip(sessions, pages, deadlines, loaded) if ok
            ))
            memory.mark("after training")
            for session, page in zip(sessions, pages):
                if session.ok:
                    path = SCREENSHOTS / f"session{session.index}-{session.page}-seed{session.seed}.png"
                    try:
                        await asyncio.wait_for(screenshot(page, path), 30)
                        session.screenshot = str(path.relative_to(ROOT))
                    except Exception as error:
                        session.events.append(f"no screenshot: {type(error).__name__}: {error}")
                    # The page must still be clean once the charts are drawn.
                    with contextlib.suppress(Exception):
                        wrong = problems(await asyncio.wait_for(page_state(page, session), 10))
                        if wrong:
                            session.fail(f"after the result: {wrong}")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 30)


# ---------------------------------------------------------------------------------------------
# Report


def table(sessions: list[Session]) -> str:
    def num(value, fmt="{:.2f}"):
        return "-" if value is None else fmt.format(value)

    rows = [("#", "page", "seed", "load s", "click→result s", "engine s", "loss page / expected", "result")]
    for s in sessions:
        rows.append((str(s.index), s.page, str(s.seed), num(s.load_s), num(s.click_to_result_s), num(s.engine_wall_s),
                     f"{s.page_loss or '-'} / {s.expected_loss or '-'}", "ok" if s.ok else f"FAILED: {s.reason}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * min(160, max(len(line) for line in lines)))
    return "\n".join(lines)


def summary(report: dict) -> str:
    memory, slowest = report["server_memory"], report["slowest"]
    out = [f"{report['ok_sessions']} of {report['sessions']} sessions ok"]
    if slowest:
        out.append(f"slowest: session {slowest['index']} ({slowest['page']}, seed {slowest['seed']}) "
                   f"{slowest['click_to_result_s']:.2f} s from click to result")
    if memory:
        verdict = {True: "within", False: "OVER", None: "unknown against"}[memory["within_budget"]]
        over = ""
        if memory["within_budget"] is False:
            over = f" by {memory['peak_rss_mib'] - memory['budget_mib']:.0f} MiB"
        out.append(
            f"server process tree RSS (MiB): at start {memory['startup_rss_mib']}, after the first page load {memory['first_load_rss_mib']}, "
            f"baseline (every page loaded) {memory['baseline_rss_mib']}, after training {memory['after_training_rss_mib']}, "
            f"peak {memory['peak_rss_mib']}: {verdict} the {memory['budget_mib']:.0f} MiB budget{over}; the server process "
            f"alone peaked at {memory['server_peak_rss_mib']} (VmHWM {memory['server_vmhwm_mib']}), TensorFlow "
            f"{'MAPPED' if memory['server_tensorflow_mapped'] else 'never mapped'} in it"
        )
    out.append(f"reference runs {report['reference_s']:.1f} s, browser phase {report['browser_s']:.1f} s, "
               f"total {report['total_s']:.1f} s")
    return "\n".join(out)


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help="browser sessions training at the same time (default 4)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_SESSION_TIMEOUT_S,
                        help=f"seconds each session may take to load its page and train (default {DEFAULT_SESSION_TIMEOUT_S})")
    parser.add_argument("--json", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--max-rss-mb", type=float,
                        help=f"fail (exit 1) when the server's peak RSS exceeds this many MiB (default: report against "
                             f"{RSS_BUDGET_MIB} MiB without failing)")
    parser.add_argument("--seed-base", type=int, default=DEFAULT_SEED_BASE, help="session i uses seed SEED_BASE + i")
    parser.add_argument("--chromium", default=os.environ.get("TINYNET_CHROMIUM") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")

    # A SIGTERM (e.g. from a test runner's timeout) ends the run through the finally blocks below.
    signal.signal(signal.SIGTERM, _interrupted)
    began = time.monotonic()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    sessions = plan(args.sessions, args.seed_base)
    budget = args.max_rss_mb if args.max_rss_mb is not None else RSS_BUDGET_MIB

    log(f"{args.sessions} session(s): " + ", ".join(f"{s.page}?seed={s.seed}" for s in sessions))
    port = free_port()
    url = f"http://localhost:{port}"
    # The server starts before this process imports TensorFlow (and so has threads): a fork is safe then.
    process = start_server(port)
    memory = MemoryWatch(process.pid)
    reference_s = browser_s = 0.0
    error = None
    try:
        # The reference runs, while the server starts and before any browser: they distort no timing.
        reference_began = time.monotonic()
        reference_runs(sessions)
        reference_s = time.monotonic() - reference_began
        wait_healthy(process, url, SERVER_START_TIMEOUT_S)
        log(f"server pid {process.pid} answers on {url} (log {SERVER_LOG.relative_to(ROOT)})")
        memory.start()
        memory.mark("at start")
        browser_began = time.monotonic()
        try:
            # Every session has its own deadline; this is the backstop should something hang regardless.
            asyncio.run(asyncio.wait_for(drive(sessions, url, args.chromium, args.timeout, memory), args.timeout + 120))
        except Exception as exc:
            error = f"the browser phase failed: {type(exc).__name__}: {exc}"
            log(error)
        browser_s = time.monotonic() - browser_began
        if process.poll() is not None:
            error = f"the server exited with code {process.returncode} during the run"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log(error)
    finally:
        memory.finish()
        stop_server(process)

    for s in sessions:
        if not s.ok and not s.reason:
            s.fail(error or "did not finish")
    done = [s for s in sessions if s.click_to_result_s is not None]
    slowest = max(done, key=lambda s: s.click_to_result_s, default=None)
    report = {
        "sessions": len(sessions),
        "ok_sessions": sum(s.ok for s in sessions),
        "all_ok": all(s.ok for s in sessions),
        "error": error,
        "url": url,
        "timeout_s": args.timeout,
        "slowest": None if slowest is None else {k: v for k, v in asdict(slowest).items() if k != "events"},
        "server_memory": memory.report(budget),
        "reference_s": round(reference_s, 2),
        "browser_s": round(browser_s, 2),
        "total_s": round(time.monotonic() - began, 2),
        "per_session": [asdict(s) for s in sessions],
        "server_log": str(SERVER_LOG.relative_to(ROOT)),
        "screenshots": str(SCREENSHOTS.relative_to(ROOT)),
    }
    print()
    print(table(sessions))
    print()
    print(summary(report))
    if error:
        print(f"\nerror: {error}\nserver log tail ({SERVER_LOG}):\n{log_tail(25)}")
    for s in sessions:
        for warning in s.warnings:
            print(f"  {s.name} saw a warning: {warning}")
    failed = [s for s in sessions if not s.ok]
    for s in failed:
        for event in s.events:
            print(f"  {s.name}: {event}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nJSON report: {args.json}")
    memory_failed = args.max_rss_mb is not None and report["server_memory"]["within_budget"] is False
    if memory_failed:
        print(f"FAILED: the server's peak RSS exceeds --max-rss-mb {args.max_rss_mb:g} MiB")
    return 0 if report["all_ok"] and not error and not memory_failed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupt:  # the server and the browser are already stopped (finally blocks)
        print(f"load test interrupted ({interrupt}); server and browser stopped", file=sys.stderr)
        sys.exit(130)
