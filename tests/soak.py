"""Soak test: browser sessions train many distinct architectures against a real server; the memory of its whole process tree over time.

    python tests/soak.py --sessions N --architectures K [--epochs E] [--worker-memory-mb MB] [--json out.json]
    python tests/soak.py --cold-start [--json out.json]

Soak, in order:

1. Starts its own `streamlit run dashboard.py` on a free port (log: artifacts/soak-server.log), with
   TINYNET_WORKER_MEMORY_MB when --worker-memory-mb is given (else the server's default applies).
2. Samples the VmRSS of the server and of all its descendants (its worker processes) every 0.2 s,
   and checks the server's own /proc/PID/maps for any TensorFlow library.
3. One headless Chromium, N browser contexts. Session i opens `/custom?units=W,8&epochs=E&seed=S`
   for K distinct first-layer widths W (no two sessions or architectures share one), presses Train
   and waits for "Trained in"; every architecture is a new compiled loop in the worker.
4. After each result: the tree's and the server's RSS and the live worker processes.

Reported: every training's memory in completion order, the peak and the end, the growth from the
10th to the 40th result (the issue's measure), the slope after the first recycle (MiB per result,
least squares: no upward trend means near zero), the workers started and the most alive at once.

--cold-start instead measures a fresh server three times: when it answers /_stcore/health, when the
home page shows its text, its first chart and all four; then (a new server each) the first Train on
/sine-relu pressed as soon as the button shows, and pressed 10 s after the page loaded (the worker
started with the first page has loaded TensorFlow by then).

Exit code 0 when every training succeeded and the server never mapped TensorFlow, 1 otherwise;
--max-tree-mb makes a tree peak above it a failure too. Needs Chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load

SERVER_LOG = load.ARTIFACTS / "soak-server.log"
FIRST_WIDTH = 2
TRAIN_TIMEOUT_S = 180
WARM_WAIT_S = 10.0


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def workers_of(pid: int) -> list[int]:
    return load.descendants(pid)


class Record:
    """The server tree after each result, and the worker processes seen over the run."""

    def __init__(self, pid: int):
        self.pid = pid
        self.rows: list[dict] = []
        self.seen: set[int] = set()
        self.most_alive = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="worker-watch")
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            alive = workers_of(self.pid)
            with self._lock:
                self.seen.update(alive)
                self.most_alive = max(self.most_alive, len(alive))
            self._stop.wait(0.2)

    def result(self, session: int, width: int, seconds: float) -> None:
        tree, server = load.tree_kib(self.pid), load.proc_status_kib(self.pid).get("VmRSS")
        with self._lock:
            row = {"n": len(self.rows) + 1, "session": session, "units": f"{width},8", "click_to_result_s": round(seconds, 2),
                   "tree_mib": load.mib(tree), "server_mib": load.mib(server), "workers": workers_of(self.pid)}
            self.rows.append(row)
        log(f"#{row['n']:>3} session {session} units {width},8: {seconds:.1f} s, tree {row['tree_mib']} MiB "
            f"(server {row['server_mib']}), workers {row['workers']}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def soak_session(index: int, context, url: str, widths: list[int], epochs: int, record: Record) -> None:
    page = await context.new_page()
    for width in widths:
        try:
            await page.goto(f"{url}/custom?units={width},8&epochs={epochs}&seed={index}")
            deadline = time.monotonic() + TRAIN_TIMEOUT_S
            await load.wait_until_idle(page, deadline)
            button = page.get_by_role("button", name=load.TRAIN_BUTTON, exact=True)
            await button.wait_for(state="visible")
            clicked = time.monotonic()
            await button.click()
            while True:
                state = await load.page_state(page)
                wrong = load.problems(state)
                if wrong:
                    raise AssertionError(wrong)
                line = next((t for t in state["trained"] if f" · 1-{width}-8-1 " in t), None)
                if line is not None:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no 'Trained in' line for units {width},8 within {TRAIN_TIMEOUT_S} s")
                await asyncio.sleep(0.2)
            record.result(index, width, time.monotonic() - clicked)
        except Exception as error:
            record.failures.append(f"session {index} units {width},8: {type(error).__name__}: {str(error).splitlines()[0][:300]}")
            log(f"FAILED {record.failures[-1]}")


async def soak(url: str, chromium: str, sessions: int, architectures: int, epochs: int, record: Record) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True, args=load.CHROMIUM_ARGS)
        try:
            contexts = [await browser.new_context(viewport=load.VIEWPORT) for _ in range(sessions)]
            plans = [[FIRST_WIDTH + j * sessions + i for j in range(architectures)] for i in range(sessions)]
            await asyncio.gather(*(soak_session(i, c, url, plans[i], epochs, record) for i, c in enumerate(contexts)))
        finally:
            await browser.close()


def slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return None if var == 0 else sum((x - mx) * (y - my) for x, y in points) / var


def analyse(record: Record, memory: load.MemoryWatch) -> dict:
    rows = record.rows
    first_workers = set(rows[0]["workers"]) if rows else set()
    recycled_at = next((r["n"] for r in rows if set(r["workers"]) - first_workers), None)
    after = [(r["n"], r["tree_mib"]) for r in rows if recycled_at is not None and r["n"] >= recycled_at]
    at = {r["n"]: r["tree_mib"] for r in rows}
    trend = slope(after)
    return {
        "results": len(rows),
        "failures": record.failures,
        "tree_peak_mib": load.mib(memory.peak_kib()),
        "tree_end_mib": rows[-1]["tree_mib"] if rows else None,
        "server_peak_mib": load.mib(max((rss for _, rss in memory.server_samples), default=None)),
        "server_tensorflow_mapped": memory.server_tensorflow,
        "growth_10_to_40_mib": round(at[40] - at[10], 1) if 10 in at and 40 in at else None,
        "first_recycle_at_result": recycled_at,
        "slope_after_first_recycle_mib_per_result": None if trend is None else round(trend, 2),
        "workers_started": len(record.seen),
        "most_workers_alive": record.most_alive,
        "click_to_result_median_s": sorted(r["click_to_result_s"] for r in rows)[len(rows) // 2] if rows else None,
        "rows": rows,
        "timeline_mib": [(t, round(rss / 1024, 1)) for t, rss in memory.samples[::5]],
    }


# ---------------------------------------------------------------------------------------------
# Cold start


async def cold_home(url: str, chromium: str, started: float) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True, args=load.CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport=load.VIEWPORT)).new_page()
            opened = time.monotonic()
            await page.goto(url)
            await page.get_by_text("Why won't a tiny neural network fit").wait_for(timeout=120_000)
            text = time.monotonic()
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            await charts.first.wait_for(timeout=180_000)
            first = time.monotonic()
            while await charts.count() < 4:
                await asyncio.sleep(0.1)
            every = time.monotonic()
            return {"home_text_s": round(text - started, 2), "first_chart_s": round(first - started, 2),
                    "all_charts_s": round(every - started, 2), "page_opened_at_s": round(opened - started, 2)}
        finally:
            await browser.close()


async def cold_train(url: str, chromium: str, started: float, wait_s: float) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True, args=load.CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport=load.VIEWPORT)).new_page()
            await page.goto(f"{url}/sine-relu")
            button = page.get_by_role("button", name=load.TRAIN_BUTTON, exact=True)
            await button.wait_for(timeout=120_000)
            shown = time.monotonic()
            await asyncio.sleep(wait_s)
            clicked = time.monotonic()
            await button.click()
            await page.get_by_text(re.compile(r"Trained in \d")).first.wait_for(timeout=180_000)
            done = time.monotonic()
            return {"button_shown_s": round(shown - started, 2), "waited_s": wait_s, "click_to_result_s": round(done - clicked, 2)}
        finally:
            await browser.close()


def fresh_server(extra_env: dict) -> tuple:
    port = load.free_port()
    url = f"http://localhost:{port}"
    started = time.monotonic()
    process = load.start_server(port, extra_env, SERVER_LOG)
    load.wait_healthy(process, url, load.SERVER_START_TIMEOUT_S)
    return process, url, started, time.monotonic() - started


def cold_start(chromium: str, extra_env: dict) -> dict:
    report = {}
    process, url, started, answering = fresh_server(extra_env)
    try:
        report["home"] = {"server_answering_s": round(answering, 2), **asyncio.run(cold_home(url, chromium, started))}
        report["home"]["server_tensorflow_mapped"] = load.maps_tensorflow(process.pid)
    finally:
        load.stop_server(process)
    log(f"home: {report['home']}")
    for name, wait in (("train_at_once", 0.0), ("train_after_wait", WARM_WAIT_S)):
        process, url, started, answering = fresh_server(extra_env)
        try:
            report[name] = {"server_answering_s": round(answering, 2), **asyncio.run(cold_train(url, chromium, started, wait))}
        finally:
            load.stop_server(process)
        log(f"{name}: {report[name]}")
    return report


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--architectures", type=int, default=40, help="distinct architectures per session (default 40)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--worker-memory-mb", type=float, help="TINYNET_WORKER_MEMORY_MB for the server (default: its own)")
    parser.add_argument("--max-tree-mb", type=float, help="fail when the process tree's peak RSS passes this many MiB")
    parser.add_argument("--cold-start", action="store_true", help="measure the start-up instead of soaking")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--chromium", default=os.environ.get("TINYNET_CHROMIUM") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.architectures < 1:
        parser.error("--sessions and --architectures must be at least 1")
    signal.signal(signal.SIGTERM, _interrupted)
    load.ARTIFACTS.mkdir(exist_ok=True)
    extra_env = {"TINYNET_WORKER_MEMORY_MB": f"{args.worker_memory_mb:g}"} if args.worker_memory_mb else {}
    began = time.monotonic()
    if args.cold_start:
        report = {"cold_start": cold_start(args.chromium, extra_env), "total_s": round(time.monotonic() - began, 1)}
        ok = not report["cold_start"]["home"]["server_tensorflow_mapped"]
    else:
        port = load.free_port()
        url = f"http://localhost:{port}"
        process = load.start_server(port, extra_env, SERVER_LOG)
        memory = load.MemoryWatch(process.pid)
        record = None
        try:
            load.wait_healthy(process, url, load.SERVER_START_TIMEOUT_S)
            memory.start()
            record = Record(process.pid)
            asyncio.run(soak(url, args.chromium, args.sessions, args.architectures, args.epochs, record))
        finally:
            if record is not None:
                record.stop()
            memory.finish()
            load.stop_server(process)
        report = {"sessions": args.sessions, "architectures": args.architectures, "epochs": args.epochs,
                  "worker_memory_mb": args.worker_memory_mb, **analyse(record, memory), "total_s": round(time.monotonic() - began, 1)}
        ok = (not report["failures"] and report["results"] == args.sessions * args.architectures
              and not report["server_tensorflow_mapped"])
        if args.max_tree_mb is not None and (report["tree_peak_mib"] or 0) > args.max_tree_mb:
            ok = False
        summary = {k: v for k, v in report.items() if k not in ("rows", "timeline_mib")}
        print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
