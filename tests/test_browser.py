"""The dashboard in a real browser: `streamlit run dashboard.py` driven by headless Chromium.

The browser is for what AppTest (tests/test_pages.py) cannot see: the layout at a laptop's and a
narrow window's width, charts drawn by Vega, live redraws while a run trains, Stop clicked mid-run,
uploads, text rendered as typed, and the real server (no TensorFlow in its process or its terminal).
The flows AppTest can see (presets and the URL, a bad URL value, the best seed, find a fix and load
it, a killed worker) are tested there, once. One Streamlit server and one Chromium serve the whole
module. Screenshots land in artifacts/screenshots/, the server's log in artifacts/streamlit-browser.log
(its tail is added to every failure message).

Marked `system` (pytest.ini): `python -m pytest -m "not system"` leaves them out. Needs Debian's Chromium
(`apt-get install chromium`, or TINYNET_CHROMIUM=/path/to/chromium) and the playwright package
(`pip install -r requirements-dev.txt`). Without them the tests skip, except under CI (CI set and not
"false"), where they fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Shared with the load test (tests/load.py, a standalone script next to this file): the pages, the viewport,
# Chromium's flags, the contract with the pages (the Train button, "Trained in <digit>"), server helpers.
from load import (
    _HIDDEN_HEIGHT_JS,
    CASE_PAGES,
    CHROMIUM_ARGS,
    DISCONNECTED_LIMIT_S,
    IDLE_QUIET_S,
    TRAIN_BUTTON,
    TRAINED_TEXT,
    VIEWPORT,
    descendants,
    free_port,
    health,
    maps_tensorflow,
)

pytestmark = pytest.mark.system  # the real server and a browser: the system tier (see pytest.ini)

PAGES = (*CASE_PAGES, "data", "playground")  # every case page; the load test cycles through the first five
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
SERVER_LOG = ARTIFACTS / "streamlit-browser.log"

SERVER_START_TIMEOUT_S = 60
PAGE_IDLE_TIMEOUT_S = 60
TRAIN_TIMEOUT_S = 90
MIN_CHARTS = 3

# The contract with the case pages: a form submit button named "Train"; a finished run says
# "Trained in 1.2 s" (case-sensitive, a digit after it, so a story saying "trained in Keras" does
# not count).

# The app's run state as the browser sees it: stApp carries the script's run state and the
# connection state; while a run is under way the status widget shows a running icon and a Stop
# button (the same widget also offers "File change. Rerun", which is not a run).
_APP_STATE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  return {
    app: !!app,
    script: app ? app.getAttribute('data-test-script-state') : null,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    running_indicator: !!status && (
      !!status.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
      || /Running|Stop/.test(status.innerText)),
  };
}"""

# Charts drawn by Vega-Lite: Streamlit's chart element (itself the .vega-embed in current versions),
# counted once even if one selector's element wraps the other's. A chart in a hidden tab is not drawn
# until its tab is shown, so each chart is marked (data-tinynet-drawn) once Vega has drawn it.
_CHART_STATE_JS = """() => {
  const all = [...document.querySelectorAll('[data-testid="stVegaLiteChart"], .vega-embed')];
  const charts = all.filter(c => !all.some(o => o !== c && o.contains(c)));
  for (const c of charts) if (c.querySelector('canvas, svg.marks')) c.setAttribute('data-tinynet-drawn', '');
  const visible = charts.filter(c => c.getBoundingClientRect().width > 0);
  const drawn = list => list.filter(c => c.hasAttribute('data-tinynet-drawn')).length;
  return {charts: charts.length, drawn: drawn(charts), visible: visible.length, visible_drawn: drawn(visible)};
}"""


def _log_tail(lines: int = 60) -> str:
    try:
        text = SERVER_LOG.read_text(errors="replace")
    except OSError as error:
        return f"(no server log: {error})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(server log is empty)"


@dataclasses.dataclass
class Server:
    url: str
    process: subprocess.Popen

    def describe(self) -> str:
        code = self.process.poll()
        state = "still running" if code is None else f"EXITED with code {code} (a negative code is the signal that ended it)"
        return f"Streamlit server (pid {self.process.pid}) {state}; log tail ({SERVER_LOG}):\n{_log_tail()}"


@pytest.fixture(scope="module")
def server(chromium):
    """A real `streamlit run dashboard.py` on a free localhost port."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    url = f"http://localhost:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        # The files may be edited while the tests run: no reloads, no "File change. Rerun" prompt.
        "--server.fileWatcherType", "none",
    ]
    # As a user starts it: no TF_CPP_MIN_LOG_LEVEL of ours (the last test checks the terminal stays quiet).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | {"NO_COLOR": "1"}  # a plain-text log
    with open(SERVER_LOG, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while health(url) != "ok":
                if process.poll() is not None:
                    pytest.fail(f"streamlit exited with code {process.returncode} before answering on {url}.\n"
                                f"Log tail ({SERVER_LOG}):\n{_log_tail()}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not answer 'ok' on {url}/_stcore/health within "
                                f"{SERVER_START_TIMEOUT_S} s.\nLog tail ({SERVER_LOG}):\n{_log_tail()}", pytrace=False)
                time.sleep(0.25)
            yield Server(url, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium_browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium_browser
        finally:
            chromium_browser.close()


@contextlib.contextmanager
def visit(browser, server: Server, path: str, name: str, viewport: dict | None = None):
    """Open path in a fresh browser context (a new Streamlit session) and wait until the app is idle.

    Any failure inside the block is re-raised with the page's text, a screenshot
    (artifacts/screenshots/<name>-failure.png) and the tail of the server log.
    """
    context = browser.new_context(viewport=viewport or VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    failure = None
    failure_shot = SCREENSHOTS / f"{name}-failure.png"
    failure_shot.unlink(missing_ok=True)  # a stale one from an earlier run would mislead
    try:
        try:
            page.goto(f"{server.url}/{path}")
            page.locator('[data-testid="stApp"]').wait_for(state="attached")
            wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
            yield page
        except Exception as error:
            failure = f"{type(error).__name__} on /{path}: {error}"
            with contextlib.suppress(Exception):
                screenshot(page, failure_shot.stem)
            text = "(unavailable)"
            with contextlib.suppress(Exception):
                text = page.locator('[data-testid="stApp"]').inner_text(timeout=2_000)[:1_500]
            failure += (
                f"\n\nPage URL: {page.url}\nScreenshot: {failure_shot}\nPage text (start):\n{text}\n\n"
                f"{server.describe()}"
            )
    finally:
        context.close()
    if failure is not None:
        try:
            pytest.fail(failure, pytrace=False)
        except pytest.fail.Exception as failed:
            raise failed from None  # one message, not "during handling of the above exception"


def wait_until_idle(page, timeout_s: float) -> None:
    """Wait until the script has run and stayed finished (not running, no running indicator) for IDLE_QUIET_S."""
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    connected_at = time.monotonic()
    while True:
        state = page.evaluate(_APP_STATE_JS)
        now = time.monotonic()
        if state["connection"] == "CONNECTED":
            connected_at = now
        elif now - connected_at > DISCONNECTED_LIMIT_S:
            raise AssertionError(f"the page lost its connection to the server (last state: {state})")
        idle = state["app"] and state["script"] == "notRunning" and state["connection"] == "CONNECTED" and not state["running_indicator"]
        if not idle:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= IDLE_QUIET_S:
            return
        if now > deadline:
            raise AssertionError(f"the app did not finish running within {timeout_s:.0f} s (last state: {state})")
        page.wait_for_timeout(100)


def assert_no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    if exceptions.count():
        raise AssertionError(f"the page shows {exceptions.count()} exception(s): {exceptions.first.inner_text()[:1_000]}")
    if "Traceback" in page.locator('[data-testid="stApp"]').inner_text():
        raise AssertionError("the page shows a Traceback")


def assert_on_page(page, path: str) -> None:
    """Streamlit answers an unknown url path with the home page and a "Page not found" notice."""
    if page.get_by_text("Page not found").count():
        raise AssertionError(f"Streamlit says page not found: no page has url path {path!r}")


# Streamlit scrolls inside its main element, not the document, so a "full page" screenshot would
# stop at the viewport: how much taller the viewport must be to show every scrolled element whole.
def screenshot(page, name: str) -> None:
    """A screenshot of the whole page, however long, at artifacts/screenshots/<name>.png."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size or VIEWPORT
    hidden = page.evaluate(_HIDDEN_HEIGHT_JS)
    if hidden > 0:
        page.set_viewport_size({"width": viewport["width"], "height": min(viewport["height"] + hidden, 16_000)})
        page.wait_for_timeout(500)  # let the layout and the charts settle at the new size
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if hidden > 0:
            page.set_viewport_size(viewport)


def draw_visible_charts(page, timeout_s: float = 15, quiet_s: float = 1.0) -> dict:
    """Wait until Vega has drawn every chart on show (it draws a moment after the script finishes).

    With no chart on show, return once none has appeared for `quiet_s` (a tab of text, not a chart still mounting).
    """
    deadline = time.monotonic() + timeout_s
    none_since = time.monotonic()
    while True:
        state = page.evaluate(_CHART_STATE_JS)
        now = time.monotonic()
        if state["visible"]:
            none_since = now
            if state["visible_drawn"] == state["visible"]:
                return state
        elif now - none_since >= quiet_s:  # nothing to draw here (a tab of text), not a chart still mounting
            return state
        if now > deadline:
            return state
        page.wait_for_timeout(200)


def draw_every_chart(page) -> dict:
    """Show each tab of the main area in turn so each chart gets drawn, then return to the first tab."""
    state = draw_visible_charts(page)
    tabs = page.locator('[data-testid="stMain"] [role="tab"]')
    for index in range(tabs.count()):
        tabs.nth(index).click()
        state = draw_visible_charts(page)
    if tabs.count():
        tabs.first.click()
        wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)  # in case a tab switch reruns the script
    return state



# The widths of a demo: a laptop (1366 x 768) and a narrow window or tablet (800 x 1000).
LAYOUTS = {"1366": {"width": 1366, "height": 768}, "800": {"width": 800, "height": 1000}, "390": {"width": 390, "height": 844}}
MIN_CHART_PX = 200
MIN_INPUT_PX = 90
SETTINGS_QUIET_S = 0.2  # the settings' tabs draw no chart: a moment after the click is enough to measure them

# What looks broken at a width, measured on what is on show: the main area scrolling sideways, a chart
# wider than the column it sits in or narrower than MIN_CHART_PX, a text box, number box or select box
# narrower than MIN_INPUT_PX or cutting its value, text cut with an ellipsis (a button label, a tab, a
# select's value), a formula clipped by its box.
_LAYOUT_JS = r"""([minChart, minInput]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const out = [];
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const sideways = Math.max(main.scrollWidth - main.clientWidth, document.documentElement.scrollWidth - window.innerWidth);
  if (sideways > 1) out.push(`the page scrolls sideways by ${sideways} px`);
  for (const chart of main.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    const drawn = chart.querySelector('canvas, svg.marks');
    if (!shown(chart) || !drawn) continue;
    const width = drawn.getBoundingClientRect().width;
    const holder = chart.closest('[data-testid="stElementContainer"]');
    const column = (holder ? holder.parentElement : chart.parentElement).getBoundingClientRect().width;
    const before = holder && holder.previousElementSibling ? holder.previousElementSibling.innerText.trim() : '';
    const name = (before || chart.getAttribute('aria-label') || 'a chart').split('\n')[0].slice(0, 60);
    if (width > column + 2) out.push(`chart "${name}" is ${Math.round(width)} px wide in a ${Math.round(column)} px column`);
    if (width < minChart) out.push(`chart "${name}" is only ${Math.round(width)} px wide`);
  }
  const boxes = '[data-testid="stTextInput"] input, [data-testid="stNumberInput"] input, [data-testid="stSelectbox"] [data-baseweb="select"]';
  for (const box of main.querySelectorAll(boxes)) {
    if (!shown(box)) continue;
    const widget = box.closest('[data-testid="stTextInput"], [data-testid="stNumberInput"], [data-testid="stSelectbox"]');
    const label = (widget.innerText || '').split('\n')[0];
    const width = box.getBoundingClientRect().width;
    if (width < minInput) out.push(`input "${label}" is only ${Math.round(width)} px wide`);
    if (box.tagName === 'INPUT' && box.scrollWidth > box.clientWidth + 1) out.push(`input "${label}" cuts its value "${box.value}"`);
  }
  for (const el of main.querySelectorAll('*')) {
    if (el.scrollWidth <= el.clientWidth + 1 || !shown(el)) continue;
    if (getComputedStyle(el).textOverflow === 'ellipsis' && el.innerText.trim()) out.push(`text cut short: "${el.innerText.trim().slice(0, 60)}"`);
  }
  for (const formula of main.querySelectorAll('.katex-display')) {
    if (shown(formula) && formula.scrollWidth > formula.clientWidth + 1)
      out.push(`a formula is clipped (${formula.scrollWidth} px in ${formula.clientWidth} px)`);
  }
  return [...new Set(out)];
}"""


def layout_problems(page) -> list[str]:
    return page.evaluate(_LAYOUT_JS, [MIN_CHART_PX, MIN_INPUT_PX])


def tabs_of(page, where: str):
    return page.locator(f'{where} [role="tab"]')


def check_every_tab(page, where: str, what: str, shots: str | None = None, quiet_s: float = 1.0) -> tuple[list[str], list[str], dict]:
    """Open each tab under `where` in turn, wait for its charts, and collect what looks broken there.

    With `shots`, each tab's panel is also saved as artifacts/screenshots/<shots>-<tab>.png. Returns the
    problems, the tab names and the chart count once every tab has been shown. `quiet_s`: how long a tab
    without a chart is watched for one (the settings' tabs hold inputs only: a moment is enough).
    """
    problems, names, charts = [], [], {}
    tabs = tabs_of(page, where)
    for index in range(tabs.count()):
        tab = tabs.nth(index)
        name = tab.inner_text().strip()
        tab.click()
        charts = draw_visible_charts(page, quiet_s=quiet_s)
        names.append(name)
        problems += [f"{what} / {name}: {p}" for p in layout_problems(page)]
        if shots:
            shoot_tab(page, tab, f"{shots}-{name}")
    return problems, names, charts


def shoot_tab(page, tab, name: str) -> None:
    """The panel of the tabs `tab` belongs to, at artifacts/screenshots/<folder>/<name as a slug>.png."""
    folder, _, stem = name.rpartition("/")
    path = SCREENSHOTS / folder / (re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    tab.locator("xpath=ancestor::*[@data-testid='stTabs'][1]").screenshot(path=str(path))


def resize(page, width: str) -> None:
    """The window at one of LAYOUTS' widths (the page reflows; the script does not run again)."""
    if page.viewport_size != LAYOUTS[width]:
        page.set_viewport_size(LAYOUTS[width])
        page.wait_for_timeout(500)  # let the layout and the charts settle at the new size


@pytest.mark.parametrize("path", PAGES)
def test_every_case_trains_and_every_tab_fits_the_window(browser, server, path):
    """Train each case at a laptop's width, open every tab, then resize the same page to a narrow window and look again.

    Fails on what looks broken at either width. Screenshots of every result tab land in
    artifacts/screenshots/layout/<case>-<width>-<tab>.png.
    """
    with visit(browser, server, path, f"layout/{path}", viewport=LAYOUTS["1366"]) as page:
        assert_on_page(page, path)
        assert_no_exception(page)
        screenshot(page, path)  # as it loads, before training
        form = '[data-testid="stForm"]'
        results = f'[data-testid="stMain"] .st-key-{path}-tabs'
        problems, _, _ = check_every_tab(page, form, "1366 px / settings", quiet_s=SETTINGS_QUIET_S)
        tabs_of(page, form).first.click()
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        page.get_by_text(TRAINED_TEXT).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        compare = page.get_by_role("button", name="Compare as asked with as answered")
        posted = compare.count() > 0  # a posted case: two runs in the Compare tab, its fits and both losses
        for width in LAYOUTS:
            resize(page, width)
            if width != "1366":  # the settings at the narrow width too (the laptop's were seen before training)
                found, _, _ = check_every_tab(page, form, f"{width} px / settings", quiet_s=SETTINGS_QUIET_S)
                problems += found
                tabs_of(page, form).first.click()
            draw_visible_charts(page)
            problems += [f"{width} px / after training: {p}" for p in layout_problems(page)]
            found, names, charts = check_every_tab(page, results, f"{width} px / results", shots=f"layout/{path}-{width}")
            problems += found
            assert len(names) >= 6, f"expected the result tabs, found {names}"
            assert charts["drawn"] >= MIN_CHARTS, f"{width} px: {charts['drawn']} chart(s) drawn after training, every tab shown"
            assert_no_exception(page)
            if posted:
                if width == "1366":
                    compare.click()
                    page.get_by_text(TRAINED_TEXT).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
                    wait_until_idle(page, TRAIN_TIMEOUT_S)
                tab = tabs_of(page, results).last
                tab.click()
                page.get_by_text("Fits: A against B (current)").first.wait_for(state="visible")
                draw_visible_charts(page)
                problems += [f"{width} px / results / Compare with A and B: {p}" for p in layout_problems(page)]
                shoot_tab(page, tab, f"layout/{path}-{width}-compare")
                assert_no_exception(page)
            screenshot(page, f"layout/{path}-{width}")  # the whole page at the window's width
        assert not problems, "\n".join(problems)


def test_home_page_loads_and_fits_the_window(browser, server):
    """The home page trains its four cards; at a laptop's width, then resized to a narrow window, nothing looks broken."""
    problems = []
    with visit(browser, server, "", "home", viewport=LAYOUTS["1366"]) as page:
        assert_no_exception(page)
        if not page.locator('[data-testid="stMain"]').inner_text().strip():
            raise AssertionError("the home page shows nothing")
        page.locator('[data-testid="stVegaLiteChart"]').nth(3).wait_for(timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        for width in LAYOUTS:
            resize(page, width)
            draw_visible_charts(page)
            problems += [f"{width} px: {p}" for p in layout_problems(page)]
            screenshot(page, f"layout/home-{width}")
        assert_no_exception(page)
    assert not problems, "\n".join(problems)


def test_the_address_follows_every_preset_click_at_once(browser, server):
    """Issue 25: the URL a user copies is the settings on screen. Read from the page (location.href): Playwright's own
    page.url lags history.replaceState by one click, which had looked like the lab's URL being one click behind."""
    with visit(browser, server, "parabola", "url-follows") as page:
        for button, wanted in (("As answered", "preset=answer"), ("As asked", None), ("One x^2 neuron", "preset=one-neuron")):
            page.get_by_role("button", name=button, exact=True).first.click()
            deadline = time.monotonic() + 5
            href = page.evaluate("location.href")
            while (wanted not in href if wanted else "preset=" in href) and time.monotonic() < deadline:
                page.wait_for_timeout(100)
                href = page.evaluate("location.href")
            assert (wanted in href) if wanted else ("preset=" not in href), f"after {button}: the address is {href}"


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    height = page.evaluate("window.innerHeight")
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


@pytest.mark.parametrize("width", ["1366", "390"])
def test_long_work_shows_its_progress_and_stop_where_the_button_was_pressed(browser, server, width):
    """Issue 25: after Train N seeds and Find a fix, the progress line and Stop sit in the window, beside the button
    pressed, at a laptop's width and on a phone, and the rest of the page is not faded while the work runs."""
    with visit(browser, server, "parabola", f"progress-{width}", viewport=LAYOUTS[width]) as page:
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        page.get_by_text(TRAINED_TEXT).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        seeds = page.get_by_label("Seeds", exact=True)
        seeds.fill("256")  # long enough to be seen running
        seeds.press("Tab")
        wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
        for button, stop in ((re.compile(r"^Train 256 seeds$"), "Stop training"), (re.compile("^Find a fix$"), "Stop the search")):
            pressed = page.get_by_role("button", name=button).first
            pressed.scroll_into_view_if_needed()
            pressed.click()
            stopper = page.get_by_role("button", name=stop)
            stopper.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
            page.wait_for_timeout(300)
            assert _in_view(page, stopper), f"{width} px: after {button.pattern}, {stop} is outside the window"
            bar = page.locator('[data-testid="stProgress"]').first
            assert _in_view(page, bar), f"{width} px: after {button.pattern}, the progress bar is outside the window"
            faded = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stElementContainer"]')]
                .filter(e => e.getBoundingClientRect().height > 0 && parseFloat(getComputedStyle(e).opacity) < 0.9).length""")
            assert faded == 0, f"{width} px: {faded} element(s) faded while {button.pattern} runs"
            screenshot(page, f"layout/progress-{width}-{'restarts' if 'seeds' in button.pattern else 'doctor'}")
            began = time.monotonic()
            stopper.click()
            stopper.wait_for(state="detached", timeout=TRAIN_TIMEOUT_S * 1000)
            assert time.monotonic() - began < 15, f"{width} px: {stop} took {time.monotonic() - began:.1f} s to end the work"
            wait_until_idle(page, TRAIN_TIMEOUT_S)
            assert_no_exception(page)


def test_stop_training_ends_the_run_and_keeps_what_was_learned(browser, server):
    # The deeper noisy-sine net runs 3000 full-batch epochs (several seconds): long enough to stop.
    with visit(browser, server, "noisy-sine?preset=deep&epochs=20000", "noisy-sine-stopped") as page:
        assert_on_page(page, "noisy-sine")
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        stop = page.get_by_role("button", name="Stop training")
        stop.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        page.get_by_text(re.compile(r"epoch [1-9][\d,]* of 20,000")).first.wait_for(timeout=TRAIN_TIMEOUT_S * 1000)
        stop.click()
        summary = page.get_by_text(re.compile(r"Trained in \d.*stopped on request after [\d,]+ of 20,000 epochs"))
        summary.first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        screenshot(page, "noisy-sine-stopped")
        assert page.get_by_text(re.compile(r"Stopped on request after [\d,]+ of 20,000 epochs")).count() >= 1
        assert draw_every_chart(page)["drawn"] >= MIN_CHARTS
        assert_no_exception(page)


def test_stop_the_search_keeps_what_was_measured(browser, server):
    with visit(browser, server, "noisy-sine", "noisy-sine-doctor-stopped") as page:
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        page.get_by_text(TRAINED_TEXT).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        seeds = page.get_by_role("spinbutton", name="Seeds per candidate")
        seeds.fill("2")
        seeds.press("Enter")
        wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
        page.get_by_role("button", name="Find a fix").click()
        page.get_by_text(re.compile(r"Finding a fix · .* · 2 measured")).first.wait_for(timeout=TRAIN_TIMEOUT_S * 1000)
        page.get_by_role("button", name="Stop the search").click()
        page.get_by_text("Stopped on request: the table holds what was measured").first.wait_for(timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        assert page.get_by_text(re.compile(r"As it is, 0 of 2 seeds succeed")).count() >= 1
        screenshot(page, "noisy-sine-doctor-stopped")
        assert_no_exception(page)


def test_a_refused_formula_is_quoted_exactly_as_typed(browser, server):
    with visit(browser, server, "custom", "refused-formula") as page:
        for formula in ("x**x", "__import__('os')", ":smile: *x* [a](b) $x$"):  # one page, each typed in turn
            page.get_by_role("textbox", name="Target f(x)").fill(formula)
            page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
            wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
            alert = page.locator('[data-testid="stAlertContentError"], [data-testid="stAlert"]').filter(has_text="Nothing was trained")
            alert.first.wait_for(state="visible")
            text = alert.first.inner_text().replace("\u200b", "")  # the invisible space that keeps ":smile:" from becoming an emoji
            assert repr(formula) in text, f"the message does not quote {formula!r} as typed: {text!r}"
            assert not alert.first.locator("strong, em, a, .katex").count(), "part of the typed text was read as Markdown"
            assert_no_exception(page)


def test_your_data_uploads_a_csv_trains_it_and_refuses_a_bad_file_keeping_the_result(browser, server, tmp_path):
    good = tmp_path / "income.csv"
    good.write_text("income,bought\n" + "".join(f"{10_000 + i * 500},{int(20 <= i < 40)}\n" for i in range(60)))
    bad = tmp_path / "broken.csv"
    bad.write_text("x,y\n1,2\n2,oops\n3,4\n4,5\n")
    with visit(browser, server, "data", "your-data", viewport=LAYOUTS["1366"]) as page:
        page.get_by_text("Training on the example").first.wait_for(state="visible")
        page.locator('.st-key-data-upload input[type="file"]').set_input_files(str(good))
        page.get_by_text("Training on your data").first.wait_for(state="visible", timeout=PAGE_IDLE_TIMEOUT_S * 1000)
        wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
        caption = page.get_by_text("Training on your data").first.inner_text()
        assert "income.csv" in caption and "60 rows" in caption and "classification of 2 classes" in caption, caption
        # A Keras model of the user's: its Dense stack and compile settings fill the form.
        page.locator('.st-key-data-model_upload input[type="file"]').set_input_files(str(keras_file(tmp_path)))
        page.get_by_text("The settings of 'mine.keras' are in the form").first.wait_for(
            state="visible", timeout=PAGE_IDLE_TIMEOUT_S * 1000)
        wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
        page.get_by_role("tab", name="Network").click()
        assert page.get_by_role("textbox", name="Hidden layer widths", exact=True).input_value() == "5"
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        page.get_by_text(TRAINED_TEXT).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        trained = page.get_by_text(TRAINED_TEXT).first.inner_text()
        assert "accuracy" in trained and "1-5-1 tanh/sigmoid" in trained, trained
        assert draw_visible_charts(page)["drawn"] >= 2  # the Fit tab: the fit with its test points, and its error
        page.locator('.st-key-data-upload input[type="file"]').set_input_files(str(bad))
        page.get_by_text("was not used").first.wait_for(state="visible", timeout=PAGE_IDLE_TIMEOUT_S * 1000)
        wait_until_idle(page, PAGE_IDLE_TIMEOUT_S)
        message = page.locator('[data-testid="stAlert"]').filter(has_text="was not used").first.inner_text()
        assert "The file 'broken.csv' was not used: line 3, column 1 ('y'): 'oops' is not allowed" in message, message
        assert page.get_by_text(trained).count() >= 1  # the result from before is still shown
        assert "income.csv" in page.get_by_text("Training on your data").first.inner_text()
        screenshot(page, "your-data-refused")
        assert_no_exception(page)


def keras_file(folder: Path) -> Path:
    """A user's .keras file: 1-5-1 tanh/sigmoid, SGD with Nesterov momentum, binary cross-entropy (made here, as Keras saves it)."""
    import keras

    path = folder / "mine.keras"
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True), loss="binary_crossentropy")
    model.save(path)
    return path


# The Playground page in the browser: a dataset trains from a link and draws its surface and unit maps. Each dataset
# trains in the engine's tests (tests/test_playground.py) and on the page under AppTest (tests/test_pages.py); the
# browser sees the drawing once, here on a regression (the layout pass draws the classification of XOR, the live test
# the spiral's unit maps).
def test_a_playground_dataset_trains_from_a_link_and_draws_its_surface_and_unit_maps(browser, server):
    dataset, path = "multi_gauss", "playground?preset=answer&dataset=multi_gauss&out=linear&loss=mse&units=8&epochs=30"
    with visit(browser, server, path, f"playground-{dataset}") as page:
        assert_on_page(page, "playground")
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        page.get_by_text(TRAINED_TEXT).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        page.get_by_text("The output over the square", exact=True).first.wait_for(state="visible")
        assert draw_visible_charts(page)["drawn"] >= 1
        results = '[data-testid="stMain"] .st-key-playground-tabs'
        tabs_of(page, results).filter(has_text="Hidden units").first.click()
        page.get_by_text("What each hidden unit computes", exact=True).first.wait_for(state="visible")
        assert draw_visible_charts(page)["drawn"] >= 1
        screenshot(page, f"playground-{dataset}")
        assert_no_exception(page)


def test_the_playground_draws_the_unit_maps_live_while_it_trains(browser, server):
    # 100,000 epochs of the spiral's 8-8 tanh net with Adam: long enough to watch (about a minute) and to stop.
    with visit(browser, server, "playground?preset=spiral-big&epochs=100000", "playground-live") as page:
        assert_on_page(page, "playground")
        page.get_by_role("button", name=TRAIN_BUTTON, exact=True).click()
        live = page.get_by_text(re.compile(r"Hidden units at epoch [1-9][\d,]*"))
        live.first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        first = live.first.inner_text()
        page.get_by_text(re.compile(r"The output at epoch [1-9]")).first.wait_for(state="visible")
        time.sleep(1.0)
        assert page.get_by_text(re.compile(r"Hidden units at epoch [1-9][\d,]*")).first.inner_text() != first  # redrawn
        screenshot(page, "playground-live")
        page.get_by_role("button", name="Stop training").click()
        page.get_by_text(re.compile(r"Trained in \d.*stopped on request")).first.wait_for(state="visible", timeout=TRAIN_TIMEOUT_S * 1000)
        wait_until_idle(page, TRAIN_TIMEOUT_S)
        assert_no_exception(page)


TF_CHATTER = re.compile(r"tensorflow|oneDNN|cuda|cuDNN|cpu_feature_guard|absl|XLA service|^[IWE]0000", re.IGNORECASE | re.MULTILINE)


def test_the_server_never_maps_tensorflow_and_its_terminal_shows_no_tensorflow_chatter(browser, server):
    # Runs last: by now the home page has trained its cards and every page has trained in the server's worker processes.
    with visit(browser, server, "", "home-after-all") as page:
        page.locator('[data-testid="stVegaLiteChart"]').nth(3).wait_for(timeout=TRAIN_TIMEOUT_S * 1000)
    assert descendants(server.process.pid), "no worker process under the server"
    assert not maps_tensorflow(server.process.pid), "a TensorFlow library is mapped in the Streamlit server process"
    log = SERVER_LOG.read_text(errors="replace")
    chatter = [line for line in log.splitlines() if TF_CHATTER.search(line)]
    assert not chatter, "the terminal of `streamlit run dashboard.py` shows TensorFlow's chatter:\n" + "\n".join(chatter[:20])
