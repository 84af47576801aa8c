"""Home: what the lab is for, and a card per case with its posted failure."""

import time

import streamlit as st

from core.cases import claims, fixes
from core.cases.scenarios import POSTED, SCENARIOS
from core.runner.workers import WorkerDied
from ui import errors, run
from ui.charts.fit import mini_chart
from ui.display import draw_chart
from ui.layout import PAGES, SCRIPTS, keep_router

keep_router()


def home() -> None:
    st.title("Tiny Net Lab")
    st.write(
        "Why won't a tiny neural network fit a simple function? Each case below rebuilds a real question "
        "exactly in Keras, trains it at its full posted length in seconds, and shows why it fails. "
        "Press a preset, train, and watch the fit, the loss, every weight and every hidden unit; then try "
        "the posted fix and see whether it really is one."
    )
    st.caption("Every number on a page is computed from the run you see, and the URL reproduces its settings. "
               "The same engine runs from a terminal: `python -m core run parabola --preset answer`, "
               "`python -m core doctor segments`.")
    # The pages for a case of one's own (narrow windows fold them into the header's "more" menu).
    with st.container(horizontal=True, gap="small", key="home.own"):
        for script, title, icon, url in PAGES:
            if url in SCENARIOS and not SCENARIOS[url].posted:
                st.page_link(script, label=title, icon=icon, width="content")
    # Cards first, charts after: the posted runs train one by one (cached after the first visit). A cold
    # start loads TensorFlow in the training process first; the status box says so instead of four spinners.
    began = time.perf_counter()
    worker = run.pool().warm()
    cold = not worker.ready.is_set()
    status = st.status("Starting the training process: it loads TensorFlow once, about 10 s on a cold start" if cold
                       else "Training the four posted setups", expanded=cold)
    columns = st.columns(2, gap="medium")
    cards = {}
    for index, scenario in enumerate(SCENARIOS[sid] for sid in POSTED):
        with columns[index % 2].container(border=True):
            st.subheader(scenario.title)
            st.caption(scenario.question)
            cards[scenario.id] = (st.empty(), st.empty())
            st.page_link(SCRIPTS[scenario.id], label=f"Open the {scenario.id} case", icon=":material/arrow_forward:")
    for scenario_id, (chart_box, caption_box) in cards.items():
        if cold:
            worker.ready.wait(timeout=60)
            status.write(f"The training process is ready ({time.perf_counter() - began:.0f} s).")
            cold = False
        status.update(label=f"Training the posted setup of {scenario_id} (about a second each)")
        with chart_box, st.spinner(f"Training the posted setup of {scenario_id}..."):
            try:
                result = run.posted_result(scenario_id)
            except WorkerDied as err:
                chart_box.warning(f"The training process stopped ({err.how}); reload the page to train this card again.")
                continue
        draw_chart(mini_chart(result), chart_box)
        final = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in result.final.items())
        caption_box.caption(f"The posted setup, trained here (seed {result.spec.seed}): {final}.")
        status.write(f"{scenario_id}: trained ({final}).")
    elapsed = time.perf_counter() - began
    status.update(label="The four posted setups, " + (f"trained live in {elapsed:.1f} s" if elapsed >= 0.5 else "from this server's cache"),
                  state="complete", expanded=False)

    st.subheader("What the answers claimed, and how often they hold")
    table = claims.load()
    if table is None:
        st.info("No measured claims yet: run `python -m core claims --write core/cases/claims.json`.")
    else:
        def rate(r: dict) -> str:
            low, high = r["interval"]
            return f"{r['successes']}/{r['seeds']} ({r['success_rate']:.0%}; 95% {low:.0%}–{high:.0%})"

        lines = ["| case | the answer claimed | success means | as asked | as answered |", "|---|---|---|---|---|"]
        cell = lambda text: str(text).replace("|", "\\|")
        for row in table["cases"]:
            lines.append(f"| **{row['scenario']}** | {cell(row['claim'])} | {cell(row['criterion'])} | {rate(row['asked'])} | "
                         f"**{rate(row['answered'])}** |")
        st.markdown("\n".join(lines))
        st.caption(f"Measured by the lab itself: {table['seeds']} seeds per preset, each trained at its full posted length "
                   f"(`python -m core claims --write core/cases/claims.json`, Keras {table['keras']}); a test regenerates the table "
                   "and checks it matches. Each case page's Restarts panel measures any other setting the same way.")
    found_works()


def found_works() -> None:
    """The doctor's best measured fix for each case beside the posted fix, on the same seeds (core/cases/fixes.json)."""
    st.subheader("What the lab found works")
    table = fixes.load()
    if table is None:
        st.info("No measured fixes yet: run `python -m core fixes --write core/cases/fixes.json`.")
        return

    def rate(m: dict | None) -> str:
        if m is None:
            return "—"
        low, high = m["interval"]
        return f"{m['successes']}/{m['seeds']} ({low:.0%}–{high:.0%})"

    cell = lambda text: str(text).replace("|", "\\|")
    lines = ["| case | why it fails (the doctor's causes) | as asked | posted fix | the lab's best fix | its changes |",
             "|---|---|---|---|---|---|"]
    for row in table["cases"]:
        best = row["best"]
        why = ", ".join(f"`{f['id']}`" for f in row["findings"] if f["role"] == "cause") or "—"
        changes = (f"{best['label']}: " + ", ".join(_setting(k, v) for k, v in best["changes"].items())) if best else "nothing better found"
        lines.append(f"| **{row['scenario']}** | {why} | {rate(row['control'])} | {rate(row['posted_fix'])} | "
                     f"**{rate(best)}** | {cell(changes)} |")
    st.markdown("\n".join(lines))
    st.caption("Successes over the seeds, with the 95% Wilson interval of the rate. "
               "Measured by the lab's doctor on each case as asked: the setup, the posted fix and every candidate change on "
               "the same seeds (16, or 8 for the heaviest case), then pairs and triples of the best single changes "
               "(`python -m core fixes --write core/cases/fixes.json`); a test checks the table against a fresh measurement. "
               "Each case page's Find a fix does the same for any setting.")


WORD = 24  # characters: a longer setting gets break points after its = and commas, so a phone's column can wrap it


def _setting(name: str, value) -> str:
    """`name=value` as code; a long one may wrap after its = and its commas (a zero-width space there)."""
    text = f"{name}={_show(value)}"
    if len(text) > WORD:
        text = text.replace("=", "=\u200b").replace(",", ",\u200b")
    return f"`{text}`"


def _show(value) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return "default" if value is None else str(value)


with errors.guard("home"):
    home()
