"""Training: the fast path gives model.fit's numbers, the posted outcomes hold, runs end cleanly."""

import json
import pickle

import numpy as np
import pytest

from core.cases import scenarios
from core.engine import loop as compiled_loop
from core.engine.callbacks import HistoryRecorder, WeightRecorder
from core.engine.stopping import StopFlag
from core.engine.training import resolve_record_every, train
from core.outcomes.recording import CHUNK_CAPACITY, RECORD_CHUNK_BYTES, record_capacity, recorded_values
from core.outcomes.results import metric_name

# Short runs: model.fit needs about 1.4 ms per parabola step, so the parabola gets 2 epochs.
SHORT = [
    ("parabola", "question", 2),
    ("parabola", "one-neuron", 2),
    ("sine-relu", "question", 3),
    ("sine-relu", "answer", 2),
    ("noisy-sine", "question", 30),
    ("segments", "question", 20),
    ("segments", "answer", 20),
]


@pytest.mark.parametrize("scenario, preset, epochs", SHORT)
def test_fast_path_equals_model_fit(scenario, preset, epochs):
    spec = scenarios.get(scenario).spec(preset).with_value("train.epochs", epochs)
    recorders = {path: WeightRecorder(every=1) for path in ("fast", "fit")}
    fast = train(spec, path="fast", callbacks=[recorders["fast"]])
    fit = train(spec, path="fit", callbacks=[recorders["fit"]])
    assert fast.epochs_run == fit.epochs_run == epochs
    assert fast.steps == fit.steps
    np.testing.assert_allclose(fast.history["loss"], fit.history["loss"], rtol=1e-4, atol=1e-7)
    metric = metric_name(spec.data.resolved_task)
    np.testing.assert_allclose(fast.history[metric], fit.history[metric], rtol=1e-4, atol=1e-5)
    for a, b in zip(fast.final_weights, fit.final_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # The user's own callback saw the same epochs and weights on both paths.
    assert recorders["fast"].epochs == recorders["fit"].epochs == list(range(epochs + 1))
    for wa, wb in zip(recorders["fast"].values[-1], recorders["fit"].values[-1]):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.replay_predictions, fit.replay_predictions, rtol=1e-4, atol=1e-4)
    # Training really changed the weights (a path that did nothing would also "agree").
    assert not np.allclose(fast.weight_history[0][0], fast.weight_history[0][-1])


def test_segments_as_asked_is_stuck_at_two_thirds():
    r = train(scenarios.get("segments").spec("question"))
    assert r.epochs_run == 200
    assert r.final["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert r.readout.classifier.crossings == ()
    assert 0.5 < r.final["loss"] < 0.7


def test_segments_as_answered_reaches_full_accuracy_with_seed_0():
    r = train(scenarios.get("segments").spec("answer", seed=0))
    assert r.final["accuracy"] == 1.0
    low, high = r.readout.classifier.crossings
    assert 10 < low < 11 and 20 < high < 21  # the 0.5 crossings fall in the gaps between the classes
    assert r.final["loss"] < 0.2


def test_parabola_as_answered_recovers_the_coefficients_and_as_asked_does_not():
    answered = train(scenarios.get("parabola").spec("answer", seed=0))
    assert answered.steps == 999 * 999  # batch size 1: one sample per optimizer step
    assert np.max(np.abs(np.subtract(answered.readout.parabola.coefficients, [1, 2, 2]))) < 0.01
    asked = train(scenarios.get("parabola").spec("question", seed=0))
    assert np.max(np.abs(np.subtract(asked.readout.parabola.coefficients, [1, 2, 2]))) > 0.1
    assert asked.final["max_abs_error"] > 10 * answered.final["max_abs_error"]


def test_sine_relu_as_asked_is_relu_shaped_and_sigmoid_fits():
    relu = train(scenarios.get("sine-relu").spec("question"))
    assert relu.spec.seed == 7
    assert (relu.readout.extrema.fit, relu.readout.extrema.target) == (0, 2)
    assert relu.readout.units.dead_units
    assert relu.final["max_abs_error"] > 0.5
    sigmoid = train(scenarios.get("sine-relu").spec("sigmoid"))
    assert (sigmoid.readout.extrema.fit, sigmoid.readout.extrema.target) == (2, 2)
    assert sigmoid.final["max_abs_error"] < 0.1


DIVERGING = {"train.optimizer": "sgd", "train.learning_rate": 0.2, "train.batch_size": "full", "train.epochs": 50,
             "model.kernel_initializer": "random_normal", "model.kernel_init_scale": 1.0}


@pytest.mark.parametrize("path", ["fast", "fit"])
def test_divergence_stops_the_run_and_keeps_what_came_before(path):
    spec = scenarios.get("parabola").spec("question").with_values(DIVERGING)
    r = train(spec, path=path)
    assert r.diverged_at is not None and 1 < r.diverged_at < 50
    assert r.epochs_run == r.diverged_at
    assert len(r.history["loss"]) == r.diverged_at - 1
    assert np.all(np.isfinite(r.history["loss"]))
    assert all(np.all(np.isfinite(w)) for w in r.final_weights)
    assert r.weight_epochs[-1] == r.diverged_at - 1
    np.testing.assert_array_equal(r.weight_history[0][-1], r.final_weights[0])
    json.dumps(r.to_json())  # no NaN sneaks into the JSON


def test_both_paths_diverge_in_the_same_epoch_and_step():
    spec = scenarios.get("parabola").spec("question").with_values(DIVERGING)
    fast, fit = train(spec, path="fast"), train(spec, path="fit")
    assert fast.diverged_at == fit.diverged_at
    assert fast.diverged_step == fit.diverged_step == fast.diverged_at  # full batch: one step per epoch


# Batch size 1 on an unscaled x^2 net with a large sgd step: blows up inside the first epoch.
BLOWS_UP_IN_EPOCH_1 = {"train.optimizer": "sgd", "train.learning_rate": 0.5, "data.x_max": 5, "train.epochs": 50}


@pytest.mark.parametrize("path", ["fast", "fit"])
def test_divergence_says_at_which_step_and_why(path):
    spec = scenarios.get("parabola").spec("question").with_values(BLOWS_UP_IN_EPOCH_1)
    r = train(spec, path=path)
    assert r.diverged_at == 1 and 1 <= r.diverged_step <= 999
    assert len(r.history["loss"]) == 0  # no finite epoch: nothing made up
    found = r.divergence
    assert found.step == r.diverged_step and found.step_in_epoch == r.diverged_step
    causes = " ".join(found.causes)
    assert "learning rate 0.5 is high for sgd" in causes and "batch size 1" in causes and "x² activation" in causes
    assert any("train.learning_rate" in fix for fix in found.fixes) and any("train.batch_size" in fix for fix in found.fixes)
    text = found.text()
    assert f"at optimizer step {r.diverged_step}" in text and "Likely cause" in text
    # The same net with the posted, small Adam step does not diverge: the cause named is the one that matters.
    assert train(spec.with_values({"train.optimizer": "adam", "train.learning_rate": 0.001, "train.epochs": 2})).diverged_at is None


def test_divergence_names_the_summed_loss_and_unscaled_input():
    spec = scenarios.get("segments").spec("question").with_values(
        {"train.optimizer": "sgd", "train.learning_rate": 0.5, "train.loss": "sse", "model.activation": "linear", "model.output_activation": "linear",
         "data.function": "sine", "data.sampling": "grid", "train.epochs": 20})
    r = train(spec)
    assert r.diverged_at is not None
    causes = " ".join(r.divergence.causes)
    assert "sum over each batch (sse)" in causes and "effective learning rate of 16" in causes
    assert "not scaled and reaches |x| = 30" in causes


def test_stop_flag_ends_the_run_cleanly_and_keeps_the_history():
    flag, seen = StopFlag(), []

    def progress(epoch, logs):
        seen.append((epoch, logs["loss"]))
        if len(seen) == 2:
            flag.set()

    spec = scenarios.get("noisy-sine").spec("question")
    r = train(spec, progress=progress, stop=flag)
    assert r.stopped
    assert 0 < r.epochs_run < spec.train.epochs
    assert len(r.history["loss"]) == r.epochs_run == seen[-1][0]
    assert r.weight_epochs[-1] == r.epochs_run


def test_progress_is_reported_in_order_up_to_the_last_epoch():
    seen = []
    live = HistoryRecorder()
    r = train(scenarios.get("segments").spec("question"), callbacks=[live], progress=lambda e, logs: seen.append((e, dict(logs))))
    epochs = [e for e, _ in seen]
    assert epochs == sorted(epochs) and epochs[-1] == 200
    assert set(seen[-1][1]) == {"loss", "accuracy"}
    assert live.history["loss"] == pytest.approx(list(r.history["loss"]))


@pytest.mark.parametrize("changes", [
    {},
    {"train.optimizer": "adagrad", "train.learning_rate": 0.05},
    {"train.optimizer": "sgd", "train.momentum": 0.9, "train.learning_rate": 0.01},
    {"train.optimizer": "rmsprop"},
])
def test_reused_compiled_loop_starts_from_scratch(changes):
    spec = scenarios.get("segments").spec("answer").with_values(changes)
    first = train(spec)
    other = train(spec.with_values({"seed": 5, "train.learning_rate": spec.train.learning_rate / 2}))
    again = train(spec)
    key = compiled_loop.POOL.key(spec, 1, 300, 32, True)
    assert len(compiled_loop.POOL._free[key]) == 1  # the same compiled loop served all three runs
    np.testing.assert_array_equal(first.history["loss"], again.history["loss"])
    for a, b in zip(first.final_weights, again.final_weights):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.history["loss"], other.history["loss"])


def test_record_every_and_its_automatic_choice():
    spec = scenarios.get("segments").spec("question").with_values({"train.epochs": 10, "record_every": 3})
    r = train(spec)
    assert r.weight_epochs.tolist() == [0, 3, 6, 9, 10]
    assert r.replay_epochs.tolist() == [0, 3, 6, 9, 10]
    assert r.weight_history[0].shape == (5, 1, 2)
    assert r.replay_predictions.shape == (5, len(r.replay_x))
    assert resolve_record_every(scenarios.get("noisy-sine").spec("question")) == 1
    assert resolve_record_every(scenarios.get("noisy-sine").spec("deep")) > 1
    # The result keeps the recorded epochs only: the final weights are not views into a chunk's every-epoch snapshots.
    assert all(w.base is None for w in r.final_weights)


def test_a_big_net_records_fewer_epochs_per_call():
    small = scenarios.get("sine-relu").spec()
    big = small.with_text({"model.units": ",".join(["256"] * 8)})
    assert record_capacity(small) == CHUNK_CAPACITY
    assert 1 <= record_capacity(big) < CHUNK_CAPACITY
    assert 4 * recorded_values(big) * record_capacity(big) <= RECORD_CHUNK_BYTES


def test_result_is_plain_data():
    r = train(scenarios.get("parabola").spec("one-neuron").with_value("train.epochs", 3))
    again = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(again.final_weights[0], r.final_weights[0])
    out = json.loads(json.dumps(r.to_json(full=True)))
    assert out["readout"]["model"] == "one-neuron"
    assert out["readout"]["family"]["target_gap"] == pytest.approx(-4.0)
    assert len(out["history"]["loss"]) == 3
    # The parabola post's 100 test points (seed 43) and the model's answers on them.
    assert len(out["test"]["x"]) == len(out["test"]["prediction"]) == 100


def test_wall_clock_budget_stops_the_run_and_says_so():
    flag = StopFlag()
    flag.limit(0.5)
    spec = scenarios.get("noisy-sine").spec("question")
    r = train(spec, stop=flag)
    assert r.stopped and r.stop_reason == "budget"
    assert 0 < r.epochs_run < spec.train.epochs
    assert len(r.history["loss"]) == r.epochs_run and r.weight_epochs[-1] == r.epochs_run
    from core import doctor

    assert "budget" in " ".join(f.text for f in doctor.findings(r, scenarios.get("sine-relu").criterion) if f.id == "stopped")
    requested = StopFlag()
    requested.set()
    assert train(spec.with_value("train.epochs", 5), stop=requested).stop_reason == "request"
    unlimited = StopFlag()
    unlimited.limit(None)
    short = train(spec.with_value("train.epochs", 5), stop=unlimited)
    assert not short.stopped and short.stop_reason is None


# ---------------------------------------------------------------------------------------------
# Concurrency: sessions training at once get exactly what they would get alone.

CONCURRENT = [("sine-relu", "question", {"train.epochs": 40}), ("parabola", "answer", {"train.epochs": 20}),
              ("segments", "answer", {}), ("noisy-sine", "question", {"train.epochs": 100})]


def _specs():
    return [scenarios.get(sid).spec(preset).with_values(changes) if changes else scenarios.get(sid).spec(preset)
            for sid, preset, changes in CONCURRENT]


def _in_threads(specs):
    import threading

    results, failures = [None] * len(specs), []

    def work(i):
        try:
            results[i] = train(specs[i])
        except BaseException as err:  # re-raised below, in the test's thread
            failures.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(specs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    return results


def _assert_identical(a, b):
    assert a.epochs_run == b.epochs_run
    for wa, wb in zip(a.final_weights, b.final_weights):
        assert wa.dtype == wb.dtype and np.array_equal(wa, wb), "weights differ"
    assert np.array_equal(a.history["loss"], b.history["loss"])
    assert np.array_equal(a.grid_prediction, b.grid_prediction)


def test_two_threads_with_the_same_configuration_get_bitwise_the_sequential_weights():
    for spec in _specs():
        alone = train(spec)
        first, second = _in_threads([spec, spec])
        _assert_identical(alone, first)
        _assert_identical(alone, second)


def test_threads_with_different_configurations_get_bitwise_the_sequential_weights():
    specs = _specs()
    sequential = [train(spec) for spec in specs]
    for alone, together in zip(sequential, _in_threads(specs + specs)[: len(specs)]):
        _assert_identical(alone, together)


def test_no_process_global_random_state_or_session_reset_in_the_code():
    """Seeds are per run (initializers, shuffles, data): a global seed or clear_session would leak across sessions."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    global_draws = {"rand", "randn", "normal", "uniform", "shuffle", "permutation", "choice", "randint", "random", "seed"}

    def dotted(node) -> str:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
        return ".".join(reversed(parts))

    files = [root / "dashboard.py"] + [p for d in ("core", "ui", "pages") for p in sorted((root / d).rglob("*.py"))]
    offenders, calls = [], 0
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            calls += 1
            name = dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            bad = (last in ("set_seed", "set_random_seed", "clear_session", "reset_default_graph")
                   or name in ("random.seed", "random.shuffle", "random.random")
                   or (name.startswith(("np.random.", "numpy.random.")) and last in global_draws))
            if bad:
                offenders.append(f"{path.relative_to(root)}:{node.lineno}: {name}(...)")
    assert calls > 500  # the scan saw the code
    assert not offenders, "process-global random state or session reset:\n" + "\n".join(offenders)


def test_compiled_loops_are_pooled_within_a_bound():
    pool = compiled_loop.LoopPool(max_loops=3)
    base = scenarios.get("segments").spec("question")
    loops = []
    for width in (1, 2, 3, 4, 5):
        spec = base.with_value("model.units", width)
        loop = pool.acquire(spec, 1, 300, 32, True)
        loops.append((spec, loop))
    for spec, loop in loops:
        pool.release(spec, loop)
    assert sum(len(v) for v in pool._free.values()) == 3  # the oldest two were dropped
    again = pool.acquire(base.with_value("model.units", 5), 1, 300, 32, True)
    assert again is loops[-1][1]  # the newest is reused, not rebuilt


# ---------------------------------------------------------------------------------------------
# XLA's CPU settings (core/engine/xla.py): small loops run as one kernel; every activation still compiles.


def test_xla_tuning_adds_its_flags_keeps_the_users_and_can_be_turned_off():
    from core.engine import xla

    env = {}
    assert "xla_cpu_small_while_loop_byte_threshold=65536" in xla.tune(env)
    mine = {"XLA_FLAGS": "--xla_backend_extra_options=mine"}
    flags = xla.tune(mine)
    assert "--xla_backend_extra_options=mine" in flags and "65536" not in flags
    assert xla.tune({"TINYNET_XLA_TUNING": "0"}) == ""
    import os

    assert "xla_cpu_small_while_loop_byte_threshold" in os.environ.get("XLA_FLAGS", "")  # the suite runs tuned


@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "swish", "softplus", "sigmoid",
                                 "tanh", "square"])
def test_every_activation_trains_alone_and_as_restarts_on_the_tuned_compiler(act):
    from core.engine.training import train_restarts

    spec = scenarios.get("sine-relu").spec("question").with_values(
        {"model.units": "3,2", "model.activation": act, "data.n_samples": 64, "train.epochs": 3})
    alone = train(spec)
    together = train_restarts(spec, 3)
    np.testing.assert_allclose(together.losses[:, 0], alone.history["loss"], rtol=1e-4, atol=1e-6)
    assert np.isfinite(alone.history["loss"]).all()
