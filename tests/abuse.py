"""Abuse test: one server, three browser sessions at once; two of them try to take it down, the third trains.

    python tests/abuse.py [--json out.json] [--timeout S] [--chromium PATH]

What it does, against ONE `streamlit run dashboard.py` started here (log: artifacts/abuse-server.log):

- Session A opens the worst link, WORST_LINK (a 1024 x 1024 tanh net on 200,000 test points, full batch),
  whose estimated peak in the worker is several times the worker's limit, then presses Train. The page must
  warn when it loads and refuse at Train ("Over the memory budget"), with no traceback, and nothing trains.
- Session B opens "Your data" and uploads two hostile CSVs through the file uploader: 10,000,000 lines of
  ",\\n" (20,000,000 bytes, just under the 20 MiB cap), then a header of 1,000,000 columns over 4 rows. Each
  must be refused in one message naming the lines (the rows allowed) or the columns, within seconds, the
  example data kept. Then a small good CSV: the session still works.
- Session C opens /parabola?seed=SEED_C and trains it as tests/load.py's sessions do (its final loss must
  equal an in-process reference run of the same spec).

A and B act while C's run is under way (all three load at once, then all three act at once). Throughout,
the server process alone (not its workers) and each worker process are sampled from /proc every 0.2 s
(resident memory and high-water mark). The report says the server's and the workers' peaks, how long each
refusal took to show, C's click-to-result time, and what is wrong (`failures`, empty when all is right).
Memory is in MB of 2**20 bytes, as the lab's own limits count it. Screenshots go to artifacts/abuse/.

Exit code 0 when nothing is wrong, 1 otherwise. Needs Chromium (/usr/bin/chromium or TINYNET_CHROMIUM)
and the playwright package. The server, the browser and the helpers come from tests/load.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import load
from load import (
    CHROMIUM_ARGS,
    DISCONNECTED_LIMIT_S,
    IDLE_QUIET_S,
    ROOT,
    SERVER_START_TIMEOUT_S,
    TRAIN_BUTTON,
    VIEWPORT,
    MemoryWatch,
    Session,
    descendants,
    free_port,
    page_state,
    problems,
    proc_status_kib,
    reference_runs,
    screenshot,
    start_server,
    stop_server,
    wait_healthy,
)

SHOTS = ROOT / "artifacts" / "abuse"
SERVER_LOG = ROOT / "artifacts" / "abuse-server.log"

# Session A: the costliest link a user can share (URL names: ui/controls.py CONTROLS).
WORST_LINK = "playground?units=1024,1024&act=tanh&n=50&ntest=200000&epochs=1&bs=full"
MEMORY_REFUSAL = "Over the memory budget"
# Session B: the files, their names (neither names a word the messages are checked for) and what each refusal names.
FLOOD_LINES = 10_000_000  # ",\n" each: 20,000,000 bytes, under the 20 MiB upload cap
WIDE_COLUMNS = 1_000_000
UPLOAD = '.st-key-data-upload input[type="file"]'
EXAMPLE_CAPTION = "Training on the example"
# Session C: a quick case page and a seed no preset uses (so no cache serves it).
PAGE_C, SEED_C = "parabola", 101

SERVER_LIMIT_MB = 400.0  # the Streamlit process alone
MESSAGE_LIMIT = 500  # characters of one refusal
DEFAULT_TIMEOUT_S = 120  # the browser phase, every session
SAMPLE_S = 0.2
LOG_WORDS = ("Traceback", "Error", "ERROR", "Exception", "passed its memory limit")

# Every alert box on the page: its kind and its message's whole text (without the icon's name, which is text too;
# the pages put zero-width spaces into a message so that typed text is not read as an emoji).
_ALERTS_JS = r"""() => [...document.querySelectorAll('[data-testid^="stAlertContent"]')].map(e => {
  const message = e.querySelector('[data-testid="stMarkdownContainer"]') || e;
  return {
    kind: e.getAttribute('data-testid').slice('stAlertContent'.length).toLowerCase(),
    text: message.innerText.replace(/\u200b/g, '').trim(),
  };
})"""


def log(message: str) -> None:
    print(f"[abuse {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def worker_limit_mb() -> float:
    """The worker's hard limit as this server reads it (TINYNET_WORKER_LIMIT_MB, else the default)."""
    from core.runner.budget import Budget

    return Budget.from_sources(os.environ, {}).worker_limit_mb


# ---------------------------------------------------------------------------------------------
# What each session saw


@dataclass
class Refusal:
    """A refusal the page must show: how long after the action it showed, and its text."""

    what: str
    seconds: float | None = None
    text: str = ""
    example_kept: bool | None = None  # B: the example data still in place after it


@dataclass
class Watched:
    """A browser session's end state."""

    name: str
    connected: bool = False
    problems: list[str] = field(default_factory=list)  # exceptions, tracebacks, lost connection, a failed step
    screenshot: str = ""


@dataclass
class LinkSession(Watched):
    """Session A: the worst link."""

    on_load: Refusal = field(default_factory=lambda: Refusal("the warning as the link loads"))
    on_train: Refusal = field(default_factory=lambda: Refusal("the refusal after Train"))
    trained_lines: list[str] = field(default_factory=list)  # "Trained in" or "Training failed": must stay empty
    workers_at_click_mb: float | None = None
    workers_max_after_mb: float | None = None  # the workers' largest total within JUMP_WINDOW_S of the click


@dataclass
class UploadSession(Watched):
    """Session B: the hostile uploads, then a good one."""

    example_before: str = ""
    refusals: list[Refusal] = field(default_factory=list)
    good_file: str = ""  # the caption once the good file is read


JUMP_WINDOW_S = 5.0


# ---------------------------------------------------------------------------------------------
# The workers' memory


class WorkerWatch:
    """Every process below the server (its workers), sampled every SAMPLE_S: the largest VmRSS and VmHWM of one, their total."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.pids: set[int] = set()
        self.peak_rss_kib = 0
        self.peak_hwm_kib = 0
        self.totals: list[tuple[float, int]] = []  # (time.monotonic(), KiB of every worker together)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-sampler", daemon=True)

    def start(self) -> WorkerWatch:
        self._thread.start()
        return self

    def sample(self) -> int:
        total = 0
        for pid in descendants(self.server_pid):
            status = proc_status_kib(pid)
            if "VmRSS" not in status:
                continue
            self.pids.add(pid)
            total += status["VmRSS"]
            self.peak_rss_kib = max(self.peak_rss_kib, status["VmRSS"])
            self.peak_hwm_kib = max(self.peak_hwm_kib, status.get("VmHWM", 0))
        self.totals.append((time.monotonic(), total))
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def max_total_between(self, began: float, ended: float) -> int:
        return max((kib for at, kib in self.totals if began <= at <= ended), default=0)

    def finish(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)


def mb(kib: float | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


# ---------------------------------------------------------------------------------------------
# Waiting on a page


def _broken(state: dict) -> str:
    """An exception or a traceback on the page, or a lost connection (an error box is allowed: A and B expect one)."""
    if state["exceptions"]:
        return f"the page shows an exception: {state['exceptions'][0]}"
    if state["traceback"]:
        return "the page shows a Traceback"
    return ""


async def settle(page, deadline: float) -> dict:
    """Until the script has finished and stayed finished for IDLE_QUIET_S, with no exception on the page."""
    quiet_since, connected_at = None, time.monotonic()
    while True:
        state = await page_state(page)
        now = time.monotonic()
        if _broken(state):
            raise AssertionError(_broken(state))
        if state["connection"] == "CONNECTED":
            connected_at = now
        elif now - connected_at > DISCONNECTED_LIMIT_S:
            raise AssertionError(f"the page lost its connection to the server (state {state['connection']})")
        idle = state["app"] and state["script"] == "notRunning" and state["connection"] == "CONNECTED" and not state["running_indicator"]
        quiet_since = (quiet_since or now) if idle else None
        if quiet_since is not None and now - quiet_since >= IDLE_QUIET_S:
            return state
        if now > deadline:
            raise TimeoutError(f"the app was not idle in time (script {state['script']}, connection {state['connection']})")
        await asyncio.sleep(0.1)


async def wait_alert(page, refusal: Refusal, kind: str, needles: tuple[str, ...], since: float, deadline: float) -> None:
    """Until an alert of `kind` holding every needle shows; its text and its time since `since` go into `refusal`."""
    while True:
        state = await page_state(page)
        if _broken(state):
            raise AssertionError(f"waiting for {refusal.what}: {_broken(state)}")
        alerts = await page.evaluate(_ALERTS_JS)
        found = next((a["text"] for a in alerts if a["kind"] == kind and all(n in a["text"] for n in needles)), None)
        if found is not None:
            refusal.seconds, refusal.text = round(time.monotonic() - since, 2), found
            log(f"{refusal.what}: {refusal.seconds} s, {len(found)} characters: {found[:160]}…")
            return
        if time.monotonic() > deadline:
            shown = "; ".join(f"{a['kind']}: {a['text'][:200]}" for a in alerts) or "none"
            raise TimeoutError(f"no {kind} box with {needles} for {refusal.what} after {time.monotonic() - since:.0f} s "
                               f"(alerts on show: {shown})")
        await asyncio.sleep(0.1)


async def shoot(page, watched: Watched, name: str) -> None:
    path = SHOTS / f"{name}.png"
    try:
        await asyncio.wait_for(screenshot(page, path), 30)
        watched.screenshot = str(path.relative_to(ROOT))
    except Exception as error:
        watched.problems.append(f"no screenshot {name}: {type(error).__name__}: {error}")


async def guarded(watched: Watched, page, step, name: str) -> bool:
    """Run one step of a session; a failure is recorded (with a screenshot), not raised, so the others go on."""
    try:
        await step
        return True
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        watched.problems.append(f"{name}: {type(error).__name__}: {first}"[:800])
        log(f"{watched.name} FAILED: {watched.problems[-1]}")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(screenshot(page, SHOTS / f"{watched.name.split()[1]}-failure.png"), 20)
        return False


# ---------------------------------------------------------------------------------------------
# The sessions


async def load_a(a: LinkSession, page, url: str, deadline: float) -> None:
    began = time.monotonic()
    await page.goto(f"{url}/{WORST_LINK}")
    await page.locator('[data-testid="stApp"]').wait_for(state="attached")
    await wait_alert(page, a.on_load, "warning", (MEMORY_REFUSAL,), began, deadline)
    await settle(page, deadline)
    await shoot(page, a, "a-worst-link-loaded")


async def act_a(a: LinkSession, page, workers: WorkerWatch, deadline: float) -> None:
    a.workers_at_click_mb = mb(workers.sample())
    clicked = time.monotonic()
    await page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
    await wait_alert(page, a.on_train, "error", ("Nothing was trained", MEMORY_REFUSAL), clicked, deadline)
    await settle(page, deadline)
    await asyncio.sleep(max(0.0, clicked + JUMP_WINDOW_S - time.monotonic()))  # would a run have started, it shows by now
    a.workers_max_after_mb = mb(workers.max_total_between(clicked, time.monotonic()))
    state = await page_state(page)
    a.trained_lines = [*state["trained"], *state["failures"]]
    await shoot(page, a, "a-worst-link-refused")


def hostile_files(folder: Path) -> list[tuple[Path, Refusal, tuple[str, ...]]]:
    """The two files of session B, written to `folder`, with what the refusal of each must say."""
    flood, wide = folder / "flood.csv", folder / "wide.csv"
    flood.write_bytes(b",\n" * FLOOD_LINES)
    wide.write_text(",".join(f"c{i}" for i in range(WIDE_COLUMNS)) + "\n" + "1,2\n" * 4)
    return [(flood, Refusal(f"the refusal of {flood.name} ({flood.stat().st_size:,} bytes, {FLOOD_LINES:,} lines)"),
             ("flood.csv", "was not used", "lines", "at most 200,000 rows")),
            (wide, Refusal(f"the refusal of {wide.name} ({wide.stat().st_size:,} bytes, a header of {WIDE_COLUMNS:,} columns)"),
             ("wide.csv", "was not used", "columns"))]


async def example_caption(page) -> str:
    caption = page.get_by_text(EXAMPLE_CAPTION).first
    await caption.wait_for(state="visible", timeout=10_000)
    return (await caption.inner_text()).strip()


async def load_b(b: UploadSession, page, url: str, deadline: float) -> None:
    await page.goto(f"{url}/data")
    await page.locator('[data-testid="stApp"]').wait_for(state="attached")
    await settle(page, deadline)
    b.example_before = await example_caption(page)


async def act_b(b: UploadSession, page, files: list, good: Path, deadline: float) -> None:
    for path, refusal, needles in files:
        b.refusals.append(refusal)
        began = time.monotonic()
        await page.locator(UPLOAD).set_input_files(str(path))
        await wait_alert(page, refusal, "error", needles, began, deadline)
        await settle(page, deadline)
        refusal.example_kept = await example_caption(page) == b.example_before
        await shoot(page, b, f"b-{path.stem}-refused")
    await page.locator(UPLOAD).set_input_files(str(good))
    mine = page.get_by_text("Training on your data").first
    await mine.wait_for(state="visible", timeout=max(1.0, deadline - time.monotonic()) * 1000)
    await settle(page, deadline)
    b.good_file = (await mine.inner_text()).strip()
    await shoot(page, b, "b-good-file-read")


async def final_state(watched: Watched, page) -> dict:
    """The end: connected, no exception, no traceback."""
    state = await asyncio.wait_for(page_state(page), 10)
    watched.connected = state["app"] and state["connection"] == "CONNECTED"
    if not watched.connected:
        watched.problems.append(f"at the end: not connected (state {state['connection']})")
    if _broken(state):
        watched.problems.append(f"at the end: {_broken(state)}")
    return state


async def drive(a: LinkSession, b: UploadSession, c: Session, url: str, chromium: str, timeout_s: float,
                workers: WorkerWatch, folder: Path) -> Watched:
    from playwright.async_api import async_playwright

    files = hostile_files(folder)
    good = folder / "good.csv"
    good.write_text("x,y\n" + "".join(f"{i},{i * i % 7}\n" for i in range(60)))
    cw = Watched(c.name)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(3):
                context = await browser.new_context(viewport=VIEWPORT)
                context.set_default_timeout(load.ACTION_TIMEOUT_MS)
                pages.append(await context.new_page())
            pa, pb, pc = pages
            deadline = time.monotonic() + timeout_s
            # All three load at once (C first: its page starts the worker), then all three act at once.
            loaded = await asyncio.gather(
                load.bounded(c, pc, load.load(c, pc, url, deadline), deadline, "loading the page", timeout_s),
                guarded(a, pa, load_a(a, pa, url, deadline), "loading the worst link"),
                guarded(b, pb, load_b(b, pb, url, deadline), "loading Your data"))
            log(f"loaded: C {loaded[0]}, A {loaded[1]}, B {loaded[2]}; all act at once")
            acts = []
            if loaded[0]:
                acts.append(load.bounded(c, pc, load.train(c, pc, deadline), deadline, "training", timeout_s))
            if loaded[1]:
                acts.append(guarded(a, pa, act_a(a, pa, workers, deadline), "Train on the worst link"))
            if loaded[2]:
                acts.append(guarded(b, pb, act_b(b, pb, files, good, deadline), "the uploads"))
            await asyncio.gather(*acts)
            for watched, page in ((a, pa), (b, pb), (cw, pc)):
                with contextlib.suppress(Exception):
                    await final_state(watched, page)
            with contextlib.suppress(Exception):
                state = await page_state(pc)
                if problems(state) or not state["trained"]:
                    cw.problems.append(f"at the end: {problems(state) or 'no result on show'}")
            await shoot(pc, cw, "c-parabola-trained")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 30)
    return cw


# ---------------------------------------------------------------------------------------------
# Verdict and report


def log_problems(path: Path) -> list[str]:
    """The server log's lines that say something broke: a traceback, an error, a worker stopped at its memory limit."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return [f"no server log: {error}"]
    return [line.strip()[:300] for line in lines if any(word in line for word in LOG_WORDS)][:10]


def failures(report: dict) -> list[str]:
    """Everything that is not as the abuse test expects, one line each."""
    out = [f"harness: {report['error']}"] if report["error"] else []
    memory, limit = report["memory"], report["memory"]["worker_limit_mb"]
    if memory["server_peak_mb"] is None or memory["server_peak_mb"] > SERVER_LIMIT_MB:
        out.append(f"the server process peaked at {memory['server_peak_mb']} MB (limit {SERVER_LIMIT_MB:g} MB)")
    if memory["server_vmhwm_mb"] is not None and memory["server_vmhwm_mb"] > SERVER_LIMIT_MB:
        out.append(f"the server process's high-water mark is {memory['server_vmhwm_mb']} MB (limit {SERVER_LIMIT_MB:g} MB)")
    if memory["server_tensorflow_mapped"]:
        out.append("the server process mapped TensorFlow")
    if not memory["worker_peak_hwm_mb"] or memory["worker_peak_hwm_mb"] >= limit:
        out.append(f"a worker peaked at {memory['worker_peak_hwm_mb']} MB (limit {limit:g} MB, or no worker was seen)")
    a, b, c = report["a"], report["b"], report["c"]
    for name, watched in (("A", a), ("B", b), ("C", report["c_end"])):
        out += [f"session {name}: {p}" for p in watched["problems"]]
        if not watched["connected"]:
            out.append(f"session {name} is not connected at the end")
    for refusal in (a["on_load"], a["on_train"], *b["refusals"]):
        if refusal["seconds"] is None:
            out.append(f"session A/B: {refusal['what']} never showed")
        elif len(refusal["text"]) > MESSAGE_LIMIT:
            out.append(f"{refusal['what']} is {len(refusal['text'])} characters (at most {MESSAGE_LIMIT})")
    if a["trained_lines"]:
        out.append(f"session A trained or failed instead of being refused: {a['trained_lines']}")
    if any("passed its memory limit" in r["text"] for r in (a["on_load"], a["on_train"])):
        out.append("session A's run was started and killed by the watchdog instead of being refused")
    if len(b["refusals"]) != 2:
        out.append(f"session B: {len(b['refusals'])} of the 2 hostile files were uploaded")
    out += [f"session B: the example data was not kept after {r['what']}" for r in b["refusals"] if r["example_kept"] is False]
    if "good.csv" not in b["good_file"] or "60 rows" not in b["good_file"]:
        out.append(f"session B could not use a good file after the refusals: {b['good_file']!r}")
    out += [f"the server's log: {line}" for line in report["server_log_problems"]]
    if not c["ok"]:
        out.append(f"session C: {c['reason'] or 'no result'}")
    return out


def summary(report: dict) -> str:
    memory, a, b, c = report["memory"], report["a"], report["b"], report["c"]
    lines = [
        f"server process alone: peak {memory['server_peak_mb']} MB sampled, VmHWM {memory['server_vmhwm_mb']} MB "
        f"(limit {SERVER_LIMIT_MB:g} MB)",
        f"workers: peak {memory['worker_peak_rss_mb']} MB sampled, VmHWM {memory['worker_peak_hwm_mb']} MB "
        f"(limit {memory['worker_limit_mb']:g} MB); {memory['worker_pids']} worker process(es) seen",
        f"A, the worst link: warned {a['on_load']['seconds']} s after opening; refused {a['on_train']['seconds']} s after Train; "
        f"the workers {a['workers_at_click_mb']} MB at the click, at most {a['workers_max_after_mb']} MB in the next {JUMP_WINDOW_S:g} s",
    ]
    lines += [f"B, {r['what']}: refused in {r['seconds']} s ({len(r['text'])} characters), example kept: {r['example_kept']}"
              for r in b["refusals"]]
    lines.append(f"B then read a good file: {b['good_file'][:100]!r}")
    lines.append(f"C, {c['page']} seed {c['seed']}: loaded in {c['load_s']} s, result {c['click_to_result_s']} s after Train "
                 f"(engine {c['engine_wall_s']} s), loss {c['page_loss']} (reference {c['expected_loss']}): "
                 f"{'ok' if c['ok'] else 'FAILED: ' + c['reason']}")
    lines.append(f"total {report['total_s']} s; screenshots in {SHOTS.relative_to(ROOT)}/, server log {SERVER_LOG.relative_to(ROOT)}")
    return "\n".join(lines)


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run(chromium: str, timeout_s: float) -> dict:
    began = time.monotonic()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    load.SCREENSHOTS, load.SERVER_LOG = SHOTS, SERVER_LOG  # load.py's failure screenshots and log tails: this test's
    a, b, c = LinkSession("session A (the worst link)"), UploadSession("session B (hostile uploads)"), Session(0, PAGE_C, SEED_C)
    port = free_port()
    url = f"http://localhost:{port}"
    process = start_server(port, log_path=SERVER_LOG)  # before this process imports TensorFlow
    server, workers = MemoryWatch(process.pid), WorkerWatch(process.pid)
    error, cw = None, Watched(c.name)
    try:
        reference_runs([c])  # while the server starts
        wait_healthy(process, url, SERVER_START_TIMEOUT_S)
        server.start()
        workers.start()
        log(f"server pid {process.pid} on {url}")
        with tempfile.TemporaryDirectory(prefix="abuse-") as folder:
            cw = asyncio.run(asyncio.wait_for(drive(a, b, c, url, chromium, timeout_s, workers, Path(folder)), timeout_s + 60))
        if process.poll() is not None:
            error = f"the server exited with code {process.returncode} during the run"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log(error)
    finally:
        server.finish()
        workers.finish()
        stop_server(process)
    memory = {
        "unit": "MB of 2**20 bytes",
        "server_peak_mb": mb(max((kib for _, kib in server.server_samples), default=None)),
        "server_vmhwm_mb": mb(server.hwm_kib),
        "server_samples": len(server.server_samples),
        "server_tensorflow_mapped": server.server_tensorflow,
        "worker_peak_rss_mb": mb(workers.peak_rss_kib),
        "worker_peak_hwm_mb": mb(workers.peak_hwm_kib),
        "worker_pids": len(workers.pids),
        "worker_limit_mb": worker_limit_mb(),
    }
    report = {"error": error, "url": url, "memory": memory, "a": asdict(a), "b": asdict(b),
              "c": asdict(c), "c_end": asdict(cw), "total_s": round(time.monotonic() - began, 1)}
    report["server_log_problems"] = log_problems(SERVER_LOG)
    report["failures"] = failures(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the report as JSON to this file")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds the three sessions may take")
    parser.add_argument("--chromium", default=os.environ.get("TINYNET_CHROMIUM") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)  # a test runner's timeout stops the server and the browser
    report = run(args.chromium, args.timeout)
    print(summary(report))
    for line in report["failures"]:
        print(f"FAILED: {line}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupt:
        print(f"abuse test interrupted ({interrupt}); server and browser stopped", file=sys.stderr)
        sys.exit(130)
