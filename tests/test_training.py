"""Training: the fast path gives model.fit's numbers, the posted outcomes hold, runs end cleanly."""

import json
import pickle

import numpy as np
import pytest

from core import scenarios, training
from core.callbacks import HistoryRecorder, StopFlag, WeightRecorder
from core.training import resolve_record_every, train

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
    metric = training.metric_name(spec.data.task)
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
    assert r.readout["crossings"] == []
    assert 0.5 < r.final["loss"] < 0.7


def test_segments_as_answered_reaches_full_accuracy_with_seed_0():
    r = train(scenarios.get("segments").spec("answer", seed=0))
    assert r.final["accuracy"] == 1.0
    low, high = r.readout["crossings"]
    assert 10 < low < 11 and 20 < high < 21  # the 0.5 crossings fall in the gaps between the classes
    assert r.final["loss"] < 0.2


def test_parabola_as_answered_recovers_the_coefficients_and_as_asked_does_not():
    answered = train(scenarios.get("parabola").spec("answer", seed=0))
    assert answered.steps == 999 * 999  # batch size 1: one sample per optimizer step
    assert np.max(np.abs(np.subtract(answered.readout["coefficients"], [1, 2, 2]))) < 0.01
    asked = train(scenarios.get("parabola").spec("question", seed=0))
    assert np.max(np.abs(np.subtract(asked.readout["coefficients"], [1, 2, 2]))) > 0.1
    assert asked.final["max_abs_error"] > 10 * answered.final["max_abs_error"]


def test_sine_relu_as_asked_is_relu_shaped_and_sigmoid_fits():
    relu = train(scenarios.get("sine-relu").spec("question"))
    assert relu.spec.seed == 7
    assert relu.readout["extrema"] == {"fit": 0, "target": 2}
    assert relu.readout["dead_units"]
    assert relu.final["max_abs_error"] > 0.5
    sigmoid = train(scenarios.get("sine-relu").spec("sigmoid"))
    assert sigmoid.readout["extrema"] == {"fit": 2, "target": 2}
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
    json.dumps(r.to_json_dict())  # no NaN sneaks into the JSON


def test_both_paths_diverge_in_the_same_epoch():
    spec = scenarios.get("parabola").spec("question").with_values(DIVERGING)
    assert train(spec, path="fast").diverged_at == train(spec, path="fit").diverged_at


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
    key = training._POOL.key(spec, 300, 32)
    assert len(training._POOL._free[key]) == 1  # the same compiled loop served all three runs
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


def test_result_is_plain_data():
    r = train(scenarios.get("parabola").spec("one-neuron").with_value("train.epochs", 3))
    again = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(again.final_weights[0], r.final_weights[0])
    out = json.loads(json.dumps(r.to_json_dict(full=True)))
    assert out["readout"]["model"] == "one-neuron"
    assert out["readout"]["family"]["target_gap"] == pytest.approx(-4.0)
    assert len(out["history"]["loss"]) == 3
    # The parabola post's 100 test points (seed 43) and the model's answers on them.
    assert len(out["test"]["x"]) == len(out["test"]["prediction"]) == 100
