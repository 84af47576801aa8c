"""Every page under Streamlit's AppTest: presets fill controls, Train draws results, bad input is answered.

The flows a page shows (presets and the URL, a bad URL value, the best seed, find a fix and load it) are
tested here, once; the browser (tests/test_browser.py) only sees what AppTest cannot. The pages train in
this process through an InProcessPool (tests/inprocess.py, the same results as a worker's); the tests
about worker processes (a killed worker) use the real pool and are marked `system`.
"""

import re
import threading

import pytest
from streamlit.testing.v1 import AppTest

PAGES = {name: f"../pages/{name}.py" for name in ("sine-relu", "noisy-sine", "parabola", "segments", "custom", "data", "playground")}
TIMEOUT = 180


@pytest.fixture(autouse=True)
def inprocess_pool(request, monkeypatch):
    """The pages train in this process (tests/inprocess.py), except in the tests about worker processes (marked system)."""
    if request.node.get_closest_marker("system"):
        yield None
        return
    from inprocess import InProcessPool

    import ui.run

    pool = InProcessPool()
    monkeypatch.setattr(ui.run, "pool", lambda: pool)
    yield pool
    pool.shutdown()


def page(scenario: str, **query) -> AppTest:
    at = AppTest.from_file(PAGES[scenario], default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def charts(at: AppTest) -> list:
    return at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")


def train(at: AppTest, scenario: str, **settings) -> AppTest:
    for name, value in settings.items():
        at.text_input(key=f"{scenario}.{name}").set_value(value)
    return at.button(key=f"{scenario}.train").click().run()


def shown(markdown: str) -> str:
    """A message as the reader sees it: the page escapes Markdown in what a user typed (a backslash before * _ ` ...)."""
    return re.sub(r"\\([\\`*_\[\]#$~|<>])", r"\1", markdown).replace("\u200b", "")  # and the space that breaks :emoji:


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def warnings(at: AppTest) -> list[str]:
    return [shown(w.value) for w in at.warning]


def successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


@pytest.mark.parametrize("scenario", PAGES)
def test_page_loads_with_the_posted_setup_and_no_exception(scenario):
    at = page(scenario)
    assert not at.exception
    assert at.title[0].value
    assert at.button(key=f"{scenario}.preset.question")
    assert at.text_input(key=f"{scenario}.epochs").value  # the posted length is filled in
    assert not successes(at)  # nothing is trained before Train is pressed


@pytest.mark.parametrize("scenario", PAGES)
def test_every_preset_fills_the_controls_with_its_own_values(scenario):
    from core.cases import scenarios
    from ui.controls import controls_for, key, value_of, widget_value

    case = scenarios.get(scenario)
    at = page(scenario)
    for preset in case.presets:
        at.button(key=f"{scenario}.preset.{preset.name}").click().run()
        spec = case.spec(preset.name)
        for control in controls_for(case):
            assert at.session_state[key(case, control)] == widget_value(control.path, value_of(spec, control.path)), (preset.name, control.path)
        for path in preset.changes:  # what makes the preset differ is on screen, in its widget
            control = next(c for c in controls_for(case) if c.path == path)
            assert at.get_by_key(key(case, control)).value == widget_value(path, value_of(spec, path))


@pytest.mark.parametrize("scenario", PAGES)
def test_bad_input_on_every_page_is_an_error_not_an_exception(scenario):
    at = train(page(scenario), scenario, lr="abc", units="4,x", epochs="-3")
    assert not at.exception
    message = errors(at)[0]
    assert "Learning rate (train.learning_rate): 'abc' is not allowed" in message
    assert "Hidden layer widths (model.units): '4,x' is not allowed" in message
    assert "Epochs (train.epochs): '-3' is not allowed" in message
    assert not successes(at)


def test_home_page_shows_every_case_with_its_posted_failure():
    at = AppTest.from_file("../dashboard.py", default_timeout=TIMEOUT).run()  # the router opens Home
    assert not at.exception
    assert len(charts(at)) == 4
    captions = " ".join(c.value for c in at.caption)
    assert "accuracy 0.667" in captions  # segments as posted, trained here
    links = [link.label for link in at.get("page_link")]
    assert len(links) == 7 and links[:3] == ["Your function", "Your data", "Playground 2-D"], links  # a case of one's own, then the four
    assert "What the lab found works" in [h.value for h in at.subheader]
    found = next(m.value for m in at.markdown if "the lab's best fix" in m.value)
    assert "`unscaled_input`" in found and "`no_bias`" in found and "`data.x_scaling=standard`" in found
    # A cold start says what it waits for, then what it did: one status box, not four silent spinners.
    assert any(s.label.startswith("The four posted setups, trained live in") or s.label.endswith("from this server's cache")
               for s in at.get("status")), [s.label for s in at.get("status")]
    assert "segments: trained (loss 0.637, accuracy 0.667)." in [m.value for m in at.markdown]
    # Issue 25: the case page's Train shows the run its card has just trained, not a second training of it.
    line = next(s.value for s in train(page("segments"), "segments").success if s.value.startswith("Trained in"))
    assert "(shown from the cache)" in line and "preset As asked" in line


def test_restarts_say_how_long_they_will_take_before_they_start():
    at = page("noisy-sine")
    estimate = next(c.value for c in at.caption if c.value.startswith("64 seeds of the form's settings (as asked): about"))
    assert "the lab's measured pace on 2 cores" in estimate or "this server's pace" in estimate
    assert "min" in estimate.split(";")[0] or " s" in estimate.split(";")[0]
    at.number_input(key="noisy-sine.seeds").set_value(2).run()
    at.text_input(key="noisy-sine.epochs").set_value("30")
    at.button(key="noisy-sine.restart").click().run()
    assert not at.exception
    after = next(c.value for c in at.caption if c.value.startswith("2 seeds of the form's settings ("))
    assert "this server's pace over its last" in after  # the run it just timed now informs the estimate
    at = page("noisy-sine", epochs="100000")  # one run fits the budget; 64 of them do not
    over = next(c.value for c in at.caption if c.value.startswith("64 seeds of the form's settings"))
    assert "over this server's budget, so it would be refused" in over, over


def test_presets_fill_every_control():
    at = page("sine-relu")
    assert at.text_input(key="sine-relu.units").value == "4"
    assert at.text_input(key="sine-relu.init").value == "uniform"
    at.button(key="sine-relu.preset.answer").click().run()
    assert at.text_input(key="sine-relu.units").value == "32,32"
    assert at.text_input(key="sine-relu.init").value == "he_normal"
    assert at.text_input(key="sine-relu.lr").value == "0.001"
    at.button(key="sine-relu.preset.sigmoid").click().run()
    assert at.text_input(key="sine-relu.units").value == "4"
    assert at.text_input(key="sine-relu.act").value == "sigmoid"
    assert at.text_input(key="sine-relu.init").value == "uniform"


@pytest.mark.parametrize("scenario, settings", [
    ("sine-relu", {"epochs": "20"}),
    ("noisy-sine", {"epochs": "50"}),
    ("segments", {}),
])
def test_train_draws_the_results(scenario, settings):
    at = train(page(scenario), scenario, **settings)
    assert not at.exception
    assert any(s.startswith("Trained in") for s in successes(at))
    assert len(charts(at)) >= 5  # fit, residual, loss, weights, units (and more)
    assert at.get("download_button")


def test_parabola_shows_the_learned_coefficients():
    at = page("parabola")
    at.button(key="parabola.preset.answer").click().run()
    at = train(at, "parabola")
    assert not at.exception
    latex = [element.value for element in at.latex]
    assert any("x^2" in text for text in latex)
    table = at.dataframe[0].value
    learned = dict(zip(table["coefficient"], table["learned"]))
    assert learned["A (x²)"] == pytest.approx(1, abs=0.01)
    assert learned["B (x)"] == pytest.approx(2, abs=0.01)
    assert learned["C"] == pytest.approx(2, abs=0.01)


def test_bad_input_gives_an_error_and_keeps_the_previous_result():
    at = train(page("segments"), "segments", epochs="5")
    assert any(s.startswith("Trained in") for s in successes(at))
    at = train(at, "segments", lr="abc", bs="0")
    assert not at.exception
    message = errors(at)[0]
    assert "Learning rate (train.learning_rate): 'abc' is not allowed; allowed: a number from 1e-08 to 10" in message
    assert "Batch size (train.batch_size): '0' is not allowed" in message
    assert any(s.startswith("Trained in") for s in successes(at))  # the earlier run is still shown


def test_bad_url_values_fall_back_with_a_warning():
    at = page("parabola", lr="abc", units="2", colour="red", preset="nope")
    assert not at.exception
    said = " ".join(warnings(at))
    assert "lr='abc'" in said and "Using the default '0.1'" in said
    assert "colour='red'" in said
    assert "preset='nope'" in said
    assert at.text_input(key="parabola.lr").value == "0.1"
    assert at.text_input(key="parabola.units").value == "2"  # a good value from the URL is kept


def test_url_reproduces_settings():
    at = page("segments", preset="answer", epochs="7", seed="3")
    assert at.text_input(key="segments.epochs").value == "7"
    assert at.selectbox(key="segments.xscale").value == "standard"
    at = train(at, "segments")
    assert "epochs · " in successes(at)[0] and "7 epochs" in successes(at)[0] and "seed 3" in successes(at)[0]
    assert at.query_params["preset"] == "answer" or at.query_params["preset"] == "answer"


def test_asked_versus_answered_compares_both_with_one_seed():
    at = page("segments")
    at.button(key="segments.asked_vs_answered").click().run()
    assert not at.exception
    assert at.selectbox(key="segments.xscale").value == "standard"  # the controls now show the answer
    table = at.dataframe[-1].value
    settings = set(table["setting"])
    assert {"data.x_scaling", "train.optimizer", "train.learning_rate", "train.epochs"} <= settings
    assert "seed" not in settings


def test_restarts_panel_trains_many_seeds_and_reports_the_success_rate():
    at = page("segments")
    at.number_input(key="segments.seeds").set_value(16).run()
    at.button(key="segments.restart_compare").click().run()
    assert not at.exception
    texts = " ".join(m.value for m in at.markdown)
    assert "**As asked**: **0 of 16** seeds succeeded" in texts
    answered = [m.value for m in at.markdown if m.value.startswith("**As answered**")]
    assert answered and "of 16** seeds succeeded" in answered[0] and "95% interval" in answered[0]
    assert len(charts(at)) >= 5  # rates, and per setup: loss curves and histogram
    # A stricter threshold can only lower the answered success count.
    before = int(answered[0].split("**")[3].split(" of ")[0])
    at.number_input(key="segments.threshold").set_value(1.01).run()  # accuracy can never reach 1.01
    after = [m.value for m in at.markdown if m.value.startswith("**As answered**")][0]
    assert "**0 of 16**" in after and before >= 0


def test_a_seed_loaded_from_restarts_says_whether_it_ends_as_it_did_there():
    at = page("segments")
    at.number_input(key="segments.seeds").set_value(4).run()
    at.button(key="segments.restart").click().run()
    best = at.button(key="segments.load_best.0")
    seed = int(best.label.split("(")[1].split(")")[0])
    best.click().run()
    at.button(key="segments.train").click().run()
    assert not at.exception
    said = [c.value for c in at.caption] + [i.value for i in at.info]
    record = [text for text in said if text.startswith(f"Seed {seed} ")]
    assert record, said
    assert "ends as it did in the restarts" in record[0] or "ended differently inside the restarts" in record[0]


def test_the_best_seed_of_a_two_setup_restart_loads_into_its_own_setup():
    at = page("parabola")
    at.number_input(key="parabola.seeds").set_value(3).run()
    at.button(key="parabola.restart_compare").click().run()
    assert not at.exception
    answered = at.button(key="parabola.load_best.1")
    assert "of As answered" in answered.label
    seed = int(answered.label.split("(")[1].split(")")[0])
    answered.click().run()
    # The fix's seed trains the fix: its learning rate, preset and URL, not the seed alone on "as asked".
    assert at.text_input(key="parabola.lr").value == "0.001"
    assert at.text_input(key="parabola.seed").value == str(seed)
    assert at.query_params["preset"] == "answer"
    assert at.button(key="parabola.preset.answer").proto.type == "primary"
    at = at.button(key="parabola.train").click().run()
    assert not at.exception
    assert any(re.search(rf"^Trained in .*seed {seed} · preset As answered", s) for s in successes(at)), successes(at)


def test_a_preset_click_and_the_compare_button_put_their_settings_in_the_url():
    at = page("sine-relu")
    at.button(key="sine-relu.preset.answer").click().run()
    assert at.query_params["preset"] == "answer"
    assert at.text_input(key="sine-relu.units").value == "32,32"
    at.button(key="sine-relu.preset.question").click().run()
    assert "preset" not in at.query_params  # "as asked" is the page's default: a bare link
    at = page("sine-relu", seed="5")
    at.button(key="sine-relu.asked_vs_answered").click().run()
    assert not at.exception
    assert at.query_params["preset"] == "answer" and at.query_params["seed"] == "5"  # the run B it trained last
    # The link reproduces run B: opened afresh, it fills the form with the posted fix and seed 5.
    opened = page("sine-relu", **{name: at.query_params[name] for name in at.query_params})
    assert opened.text_input(key="sine-relu.seed").value == "5" and opened.text_input(key="sine-relu.units").value == "32,32"
    kinds = {name: opened.button(key=f"sine-relu.preset.{name}").proto.type for name in ("question", "answer")}
    assert kinds == {"question": "secondary", "answer": "primary"}, kinds


def test_a_link_with_its_own_settings_highlights_no_preset():
    at = page("sine-relu", lr="0.5")
    assert not any(b.proto.type == "primary" for b in at.button if b.key and ".preset." in b.key)
    assert any("your own" in c.value for c in at.caption)
    assert at.button(key="sine-relu.preset.question").proto.type == "secondary"
    plain = page("sine-relu")
    assert plain.button(key="sine-relu.preset.question").proto.type == "primary"


def test_changing_the_number_of_layers_carries_one_activation_along():
    at = page("custom", units="3")  # one layer under the default "tanh,tanh"
    assert not at.exception and not warnings(at)
    assert at.text_input(key="custom.act").value == "tanh"
    at = train(at, "custom", epochs="3")
    assert any(s.startswith("Trained in") and "1-3-1 tanh/linear" in s for s in successes(at))
    at = train(at, "custom", units="8,8,8", epochs="3")
    assert any("1-8-8-8-1 tanh/linear" in s for s in successes(at))
    at = train(at, "custom", units="8,8", act="tanh,relu,elu", epochs="3")
    assert any("'tanh,relu,elu' is not allowed" in e and "2 names (one per hidden layer)" in e for e in errors(at)), errors(at)


def test_every_result_says_whether_it_met_the_success_criterion():
    at = train(page("segments"), "segments", epochs="5")
    verdicts = [m.value for m in at.markdown if "Success criterion" in m.value]
    assert verdicts and "final accuracy at least 1" in verdicts[0] and "not met" in verdicts[0]


def test_your_function_page_takes_a_formula_and_refuses_code():
    at = page("custom", f="abs(x)", epochs="20")
    assert not at.exception
    keys = [b.key for b in at.button]
    assert "custom.asked_vs_answered" not in keys and "custom.restart_compare" not in keys  # no posted fix here
    at = train(at, "custom")
    assert any(s.startswith("Trained in") for s in successes(at))
    at = train(at, "custom", f="__import__('os').system('id')")
    assert not at.exception
    assert "Target f(x) (data.expression): \"__import__" in errors(at)[0] and "only the listed math functions can be called" in errors(at)[0]
    assert any(s.startswith("Trained in") for s in successes(at))  # the previous result stays


def test_a_failed_training_is_reported_after_the_rerun_and_the_result_stays():
    from core.cases import scenarios
    from ui.run import Job

    at = train(page("segments"), "segments", epochs="3")
    failed = Job("segments", [scenarios.get("segments").spec()], error="Training failed: RuntimeError: out of memory. The previous results are kept.")
    at.session_state["segments.job"] = failed  # a finished job (no thread) that ended in an error
    at.run()
    assert not at.exception
    assert any("Training failed: RuntimeError: out of memory. The previous results are kept." in e for e in errors(at))
    assert any(s.startswith("Trained in") for s in successes(at))


def test_a_crashing_training_shows_its_settings_and_logs_the_traceback(monkeypatch, caplog):
    import ui.run
    from core.runner.workers import Job as WorkerJob
    from core.runner.workers import TrainingError

    class BrokenEngine:  # the worker's answer when the engine raises: a TrainingError with the worker's traceback
        def submit(self, spec, **_):
            worker = type("Worker", (), {"ready": threading.Event(), "send": lambda self, message: None})()
            worker.ready.set()
            job = WorkerJob(1, worker)
            job._finish(error=TrainingError("RuntimeError", "the engine broke", 'Traceback (most recent call last):\n  File "x"\nRuntimeError'))
            return job

    at = train(page("segments"), "segments", epochs="3")
    monkeypatch.setattr(ui.run, "pool", BrokenEngine)
    with caplog.at_level("ERROR", logger="tinynet"):
        at = train(at, "segments", epochs="4")
    assert not at.exception
    message = next(e for e in errors(at) if "the engine broke" in e)
    assert message.startswith("Training failed: RuntimeError: the engine broke. Settings: segments / preset ")
    assert "1-2-1 sigmoid/sigmoid, sgd lr" in message and "4 epochs, seed 0" in message and "server log" in message
    assert "Traceback" not in message and 'File "' not in message
    logged = [r for r in caplog.records if r.name == "tinynet"]
    assert logged and logged[-1].exc_info and "the engine broke" in str(logged[-1].exc_info[1])
    assert "In the worker process:\nTraceback" in logged[-1].getMessage()  # the worker's own traceback, for the log only
    assert any(s.startswith("Trained in") and "3 epochs" in s for s in successes(at))  # the earlier result stays


def test_an_error_while_drawing_is_a_message_not_a_traceback(monkeypatch, caplog):
    import ui.charts

    def broken(*_, **__):
        raise ValueError("no chart today")

    monkeypatch.setattr(ui.charts, "fit_chart", broken)
    with caplog.at_level("ERROR", logger="tinynet"):
        at = train(page("segments"), "segments", epochs="3")
    assert not at.exception
    assert any("Drawing the page 'segments' failed: ValueError: no chart today" in e for e in errors(at))
    assert any(r.name == "tinynet" and r.exc_info for r in caplog.records)
    assert at.text_input(key="segments.epochs").value == "3"  # the settings are still there


def test_an_over_budget_run_is_refused_and_the_result_stays(monkeypatch):
    at = train(page("parabola"), "parabola", epochs="5")
    at = train(at, "parabola", epochs="100000", n="100000", units="4")
    assert not at.exception
    refusal = next(e for e in errors(at) if "Over the budget" in e)
    assert refusal.startswith("Nothing was trained. Over the budget: this run needs") and "train.epochs" in refusal
    assert any(s.startswith("Trained in") and "5 epochs" in s for s in successes(at))
    monkeypatch.setenv("TINYNET_MAX_STEP_PARAMS", "1e4")
    at = train(at, "parabola", epochs="5", n="999")
    assert any("set by TINYNET_MAX_STEP_PARAMS" in e for e in errors(at))
    monkeypatch.setenv("TINYNET_MAX_STEP_PARAMS", "lots")
    at.run()
    assert any("TINYNET_MAX_STEP_PARAMS: 'lots' is not allowed" in w for w in warnings(at))


def test_the_budget_can_come_from_streamlit_secrets():
    at = AppTest.from_file(PAGES["segments"], default_timeout=TIMEOUT)
    at.secrets["budget"] = {"max_sample_params": 1000}
    at = train(at.run(), "segments")
    assert not at.exception
    assert any("Over the budget" in e and "set by secrets [budget] max_sample_params" in e for e in errors(at))
    assert any("1,000 samples seen × parameters" in c.value for c in at.caption)


def test_a_link_over_the_budget_is_flagged_on_arrival():
    at = page("parabola", epochs="100000", n="100000", units="4")
    assert not at.exception
    assert any(w.startswith("This link's settings are over this server's budget") for w in warnings(at))
    assert not any("over this server's budget" in w for w in warnings(page("parabola", epochs="50")))


def test_a_run_stopped_by_the_wall_clock_budget_says_so_and_keeps_its_result(monkeypatch):
    monkeypatch.setenv("TINYNET_MAX_SECONDS", "1")
    at = train(page("noisy-sine"), "noisy-sine")
    assert not at.exception
    assert any("Stopped at the wall-clock budget of 1 s (set by TINYNET_MAX_SECONDS)" in w for w in warnings(at))
    line = next(i.value for i in at.info if i.value.startswith("Trained in"))
    assert "(stopped by the wall-clock budget after " in line and " of 3,000 epochs)" in line
    assert charts(at)


def test_a_diverged_run_says_where_and_the_likely_cause():
    at = page("parabola")
    at.selectbox(key="parabola.opt").set_value("sgd")
    at = train(at, "parabola", lr="0.5", xmax="5", epochs="50")
    assert not at.exception
    box = next(e for e in errors(at) if "Training diverged" in e)
    assert "**Training diverged** in epoch 1, at optimizer step" in box and "**Likely cause**" in box and "batch size 1" in box
    assert "(train.learning_rate)" in box.split("**Try**")[1]
    assert any(i.value.startswith("Trained in") and "diverged in epoch 1" in i.value for i in at.info)
    assert "The parabola at the last finite state (the starting weights)" in [h.value for h in at.subheader]


def test_trainings_beyond_the_server_slots_wait_their_turn_and_can_be_cancelled():
    import threading
    import time

    from core.runner.budget import Budget
    from ui import run

    budget = Budget(max_trainings=1, max_seconds=30)
    first, second, third = (run.Job("segments", [], budget=budget) for _ in range(3))
    order = []

    def queued():
        with run.slot(second):
            order.append("second trains")

    with run.slot(first):
        assert run.busy_slots(first) == 1
        waiter = threading.Thread(target=queued)
        waiter.start()
        time.sleep(0.5)
        assert second.waiting and not order  # queued while the slot is held
        order.append("first done")
    waiter.join(timeout=5)
    assert order == ["first done", "second trains"] and not second.waiting
    with run.slot(first):
        third.stop.set()
        with pytest.raises(run.Cancelled), run.slot(third):
            pass
    assert run.busy_slots(first) == 0


@pytest.mark.system
def test_a_training_process_killed_mid_run_is_answered_and_the_next_train_works():
    import os
    import signal
    import time

    import ui.run

    at = train(page("segments"), "segments", epochs="3")
    killed: dict = {}

    def kill_the_worker_once_it_trains():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            pool = ui.run._POOL
            for worker in pool.workers() if pool else []:
                if any(job.epoch > 0 for job in list(worker.jobs.values())):
                    killed["pid"] = worker.pid
                    os.kill(worker.pid, signal.SIGKILL)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_worker_once_it_trains, daemon=True)
    killer.start()
    at = train(at, "segments", epochs="50000")
    killer.join(timeout=10)
    assert killed, "the run ended before the worker could be killed"
    assert not at.exception
    assert any(e == "The training process stopped: it ended on signal SIGKILL: killed, for example for lack of memory. "
                          "Your earlier results are kept; press Train to try again." for e in errors(at)), errors(at)
    assert any(s.startswith("Trained in") and " 3 epochs" in s for s in successes(at))  # the earlier result stays
    assert at.text_input(key="segments.epochs").value == "50000"  # and so do the settings
    at = train(at, "segments", epochs="4")
    assert not at.exception and not at.error
    assert any(s.startswith("Trained in") and " 4 epochs" in s for s in successes(at))
    assert killed["pid"] not in ui.run.pool().pids()


def test_why_and_find_a_fix_on_the_page_then_load_the_best_into_the_settings():
    at = train(page("segments"), "segments")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**Why it fails**" in text and "(`unscaled_input`)" in text and "**What the failure looks like**" in text
    at = at.button(key="segments.find_fix").click().run()
    assert not at.exception
    verdicts = [s.value for s in at.success if "What fixes it" in s.value]
    assert verdicts and re.search(r"What fixes it: .* succeeds on 1[5-6] of 16 seeds", verdicts[0]), verdicts
    assert "The posted fix on the same seeds" in " ".join(m.value for m in at.markdown)
    table = at.dataframe[-1].value if at.dataframe else None
    assert table is not None and {"setup", "changes", "succeeded", "rate"} <= set(table.columns)
    assert "as it is (control)" in set(table["setup"]) and "the posted fix" in set(table["setup"])
    at = at.button(key="segments.doctor_load").click().run()
    assert not at.exception
    assert at.session_state["segments.xscale"] == "standard"
    assert at.query_params["xscale"] == "standard" and at.query_params["opt"] == "adam"  # the link carries the fix
    at = at.button(key="segments.train").click().run()  # the loaded fix trains and meets the criterion
    assert any("**met**" in m.value for m in at.markdown)


def test_a_working_run_gets_notes_and_no_cause_on_the_page():
    at = page("segments")
    at.button(key="segments.preset.answer").click().run()
    at = train(at, "segments", epochs="200")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**met**" in text and "**Why it fails**" not in text
    assert "**Also true, but not the problem**" in text


ROWS = "income,bought\n" + "".join(f"{10_000 + i * 500},{int(20 <= i < 40)}\n" for i in range(60))


def test_your_data_trains_pasted_rows_and_a_bad_file_keeps_the_results():
    at = page("data")
    assert any("Training on the example: **house-prices.csv**" in c.value for c in at.caption)
    at.text_area(key="data.paste").set_value(ROWS)
    at.button(key="data.use_paste").click().run()
    assert not at.exception and not errors(at)
    caption = shown(next(c.value for c in at.caption if "Training on" in c.value))
    assert "Training on your data: **pasted rows**, 60 rows" in caption
    assert "Input **income**, target **bought** (classification of 2 classes)." in caption  # every row trains: no hold-out asked for
    for name, value in (("out", "sigmoid"), ("loss", "binary_crossentropy"), ("xscale", "standard")):
        at.selectbox(key=f"data.{name}").set_value(value)
    at = train(at, "data", lr="0.05")
    assert not at.exception
    trained = next(s for s in successes(at) if s.startswith("Trained in"))
    assert "accuracy" in trained and len(charts(at)) >= 5
    # A bad file: one message with its line and column; the data and the result from before stay.
    at.text_area(key="data.paste").set_value("x,y\n1,2\n2,abc\n3,4\n4,5\n")
    at.button(key="data.use_paste").click().run()
    assert not at.exception
    assert errors(at) == ["The pasted rows were not used: line 3, column 1 ('y'): 'abc' is not allowed; allowed: a number in every "
                          "cell (at most 100 characters; a header is allowed only on the first line). The data and results from "
                          "before are kept."]
    assert trained in successes(at)
    assert any("Training on your data: **pasted rows**, 60 rows" in shown(c.value) for c in at.caption)
    for text, where in (("", "an empty file"), ("a,b,c,y\n" + "1,2,3,0\n2,3,4,1\n" * 3, "data.x_columns"),
                        ("x,y\n1,1\n2,1\n3,1\n4,1\n", "one class"), ("x,y\n1,inf\n2,1\n3,1\n4,1\n", "a finite number")):
        at.text_area(key="data.paste").set_value(text)
        at.button(key="data.use_paste").click().run()
        assert not at.exception and any(where in e for e in errors(at) + warnings(at)), (text, errors(at), warnings(at))
        assert trained in successes(at)


def test_your_data_says_a_link_carries_the_settings_not_the_file():
    at = page("data", lr="0.01", test="0.3")
    assert not at.exception and not warnings(at)
    assert any("A link carries the settings, never the file" in c.value for c in at.caption)
    assert at.text_input(key="data.lr").value == "0.01" and at.text_input(key="data.test").value == "0.3"


def test_your_data_never_reaches_the_shared_cache_and_the_doctor_and_restarts_work_on_it(monkeypatch):
    import ui.run

    def shared(*args, **kwargs):
        raise AssertionError("a user's data file went into the server's shared cache")

    for name in ("cached_train", "cached_restarts", "cached_doctor"):
        monkeypatch.setattr(ui.run, name, shared)
    monkeypatch.setenv("TINYNET_MAX_DOCTOR_SECONDS", "10")  # the search now spends its budget; the flow is what is tested here
    at = page("data")
    at.text_area(key="data.paste").set_value(ROWS)
    at.button(key="data.use_paste").click().run()
    at = train(at, "data", epochs="60")
    assert not at.exception and not errors(at), errors(at)
    at.number_input(key="data.doctor_seeds").set_value(4).run()
    at = at.button(key="data.find_fix").click().run()
    assert not at.exception and not errors(at), errors(at)
    verdicts = [s.value for s in [*at.success, *at.info] if "of 4 seeds" in s.value]
    assert verdicts, [s.value for s in [*at.success, *at.info, *at.warning]]
    table = at.dataframe[-1].value
    assert "as it is (control)" in set(table["setup"]) and "the preset Scaled" in set(table["setup"])  # on the same file
    at.number_input(key="data.seeds").set_value(3).run()
    at = at.button(key="data.restart").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert any(m.value.startswith("**Your settings**: **") and " of 3** seeds succeeded" in m.value for m in at.markdown)


def test_your_data_with_three_classes_trains_one_softmax_unit_per_class():
    rows = "x,label\n" + "".join(f"{i * 250},{min(i // 40, 2)}\n" for i in range(120))
    at = page("data", outunits="3", out="softmax", loss="sparse_categorical_crossentropy", xscale="standard", units="8", act="tanh",
              lr="0.05", epochs="150")
    at.text_area(key="data.paste").set_value(rows)
    at.button(key="data.use_paste").click().run()
    assert any("classification of 3 classes" in shown(c.value) for c in at.caption)
    at = at.button(key="data.train").click().run()
    assert not at.exception and not errors(at), errors(at)
    trained = next(s for s in successes(at) if s.startswith("Trained in"))
    assert "1-8-3 tanh/softmax" in trained and "accuracy" in trained, trained
    assert any("The predicted class changes at" in m.value for m in at.markdown)
    at.text_input(key="data.outunits").set_value("1")
    at = at.button(key="data.train").click().run()  # three classes on one unit: refused, naming what to set
    assert any("Output units (model.output_units): 1 is not allowed; allowed: 3 (one per class" in e for e in errors(at)), errors(at)
    assert trained in successes(at)


# The Playground page: a dataset of each task trains and draws its surface, its unit maps and its network. The page
# draws every dataset of a task alike; each of the six trains in the engine's tests (tests/test_playground.py).
PLANE_SETTINGS = {"circle": {}, "plane": {"out": "linear", "loss": "mse"}}


@pytest.mark.parametrize("dataset", PLANE_SETTINGS)
def test_the_playground_trains_a_dataset_of_each_task_and_draws_its_surface_and_units(dataset):
    at = page("playground", preset="answer")
    at.selectbox(key="playground.dataset").set_value(dataset)
    for name, value in PLANE_SETTINGS[dataset].items():
        at.selectbox(key=f"playground.{name}").set_value(value)
    at = train(at, "playground", epochs="20")
    assert not at.exception, at.exception
    assert any(s.startswith("Trained in") and "2-4-1 tanh" in s for s in successes(at)), successes(at)
    text = "\n".join(c.spec for c in charts(at))
    assert '"description": "surface"' in text and '"description": "units of hidden_1"' in text and '"description": "weights"' in text
    assert '"description": "test points"' in text  # the held-out points on the surface
    assert any(m.value.startswith("**The output over the square**") for m in at.markdown)
    assert at.dataframe  # the weights as a table
    task = "accuracy" if dataset in ("circle", "xor", "gauss", "spiral") else "max abs error"
    assert any(task in s for s in successes(at))


def test_the_playground_no_hidden_layer_xor_is_a_proved_capacity_cause_with_a_measured_fix():
    at = train(page("playground"), "playground")
    assert not at.exception
    causes = [m.value for m in at.markdown if "cannot separate these classes" in m.value]
    assert causes and "straight line" in causes[0]
    at = at.button(key="playground.find_fix").click().run()
    assert not at.exception
    verdicts = [s.value for s in at.success if "What fixes it" in s.value]
    # A measured fix that changes the architecture's reach: features it can draw curves with, or a hidden layer.
    assert verdicts and "16 of 16 seeds" in verdicts[0] and ("features" in verdicts[0] or "hidden layer" in verdicts[0]), verdicts


def test_the_playground_url_carries_the_dataset_and_features_and_a_bad_feature_is_named():
    at = page("playground", dataset="circle", features="x1^2,x2^2")
    assert at.selectbox(key="playground.dataset").value == "circle"
    assert at.text_input(key="playground.features").value == "x1^2,x2^2"
    at = page("playground", features="cos(x1)")
    assert any("features=" in w and "cos(x1)" in w and "sin(x1)" in w for w in warnings(at)), warnings(at)


def test_your_data_with_two_input_columns_trains_and_draws_the_playground_views():
    rs = __import__("numpy").random.RandomState(4)
    x = rs.uniform(-3, 3, (160, 2))
    rows = "x1,x2,label\n" + "\n".join(f"{a:.4f},{b:.4f},{int(a * b > 0)}" for a, b in x)
    at = page("data")
    at.text_area(key="data.paste").set_value(rows)
    at.button(key="data.use_paste").click().run()
    assert not at.exception and not errors(at), errors(at)
    caption = shown(next(c.value for c in at.caption if "Training on" in c.value))
    assert "Inputs **x1**, **x2**, target **label** (classification of 2 classes)" in caption, caption
    for name, value in (("out", "sigmoid"), ("loss", "binary_crossentropy"), ("xscale", "standard")):
        at.selectbox(key=f"data.{name}").set_value(value)
    at = train(at, "data", units="8", act="tanh", lr="0.01", epochs="100")
    assert not at.exception
    assert any(s.startswith("Trained in") and "2-8-1 tanh" in s for s in successes(at)), successes(at)
    text = "\n".join(c.spec for c in charts(at))
    assert '"description": "surface"' in text and '"description": "units of hidden_1"' in text


def test_the_playground_compares_xor_without_and_with_a_hidden_layer_side_by_side():
    at = page("playground")
    at = at.button(key="playground.asked_vs_answered").click().run()
    assert not at.exception
    text = "\n".join(c.spec for c in charts(at))
    assert text.count('"description": "surface"') >= 3  # the result's surface, and A's and B's in Compare
    assert any(m.value == "**Loss: A against B (current)**" for m in at.markdown)
    assert "model.units" in at.dataframe[-1].value["setting"].tolist()


def test_find_a_fix_reads_the_findings_from_a_failing_seed_when_the_run_shown_succeeds(monkeypatch):
    """Issue 24: the spiral with 8-8 tanh units succeeds on seed 0, the run shown, and fails on seed 2 of 0..3: the page
    says so and gives the causes read from the failing seed, instead of 'the findings propose no change'."""
    monkeypatch.setenv("TINYNET_MAX_DOCTOR_SECONDS", "5")
    at = train(page("playground", preset="spiral-big"), "playground")
    assert not at.exception
    at.number_input(key="playground.doctor_seeds").set_value(4).run()
    at = at.button(key="playground.find_fix").click().run()
    assert not at.exception and not errors(at), errors(at)
    notes = [i.value for i in at.info if "a typical failing one" in i.value]
    assert notes and "seed 2" in notes[0], [i.value for i in at.info]
    assert any(e.label.startswith("The findings over the failing seeds (1 read again)") for e in at.expander)
    assert not any("propose no change" in i.value for i in [*at.info, *at.success])


def test_a_refused_train_shows_its_refusal_and_no_hint_to_press_train():
    """The worst link of issue 23: refused at Train for its memory, with no 'Press Train' under the refusal and no crash."""
    at = page("playground", units="1024,1024", act="tanh", n="50", ntest="200000", epochs="1", bs="full")
    at = at.button(key="playground.train").click().run()
    assert not at.exception
    assert any("Over the memory budget" in e for e in errors(at)), errors(at)
    assert not any("Press **Train**" in i.value for i in at.info)


def test_a_finding_is_not_titled_twice():
    """Issue 25: 'Dead units (dead_units). Dead units: 17 of 32 ...' on the page; the title is said once."""
    from core.outcomes.results import Finding
    from ui.doctor import _body

    assert _body(Finding("dead_units", "cause", "Dead units: 17 of 32 ReLU units in hidden_1 output 0.")) == \
        "17 of 32 ReLU units in hidden_1 output 0."
    assert _body(Finding("plateau", "symptom", "The loss has been flat.")) == "The loss has been flat."
