"""Worker processes: the same results as in-process training, progress, stop, recycling, and a killed worker."""

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from core.cases import scenarios
from core.runner.messages import (
    REPLIES,
    REQUESTS,
    Done,
    Failed,
    ModelRequest,
    Progress,
    Ready,
    RestartsRequest,
    RetireRequest,
    RunRequest,
    SpecRefused,
    StopRequest,
)
from core.runner.worker import WorkerLoop
from core.runner.workers import Job, TrainingError, WorkerDied, WorkerPool, job_outcome

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = {"train.epochs": 20000}  # segments at 20,000 epochs: long enough to stop or kill mid-run


@pytest.fixture(scope="module")
def pool():
    pool = WorkerPool(workers=1)
    yield pool
    pool.shutdown()


def test_a_worker_trains_exactly_what_the_process_itself_would(pool):
    from core.engine.training import train

    spec = scenarios.get("sine-relu").spec("question").with_value("train.epochs", 20)
    seen = []
    job = pool.submit(spec, progress=lambda epoch, logs: seen.append(epoch))
    result = job.wait(timeout=300)
    alone = train(spec)
    assert pool.pids() and pool.pids()[0] != os.getpid()
    for a, b in zip(result.final_weights, alone.final_weights):
        np.testing.assert_array_equal(a, b)
    assert result.readout.units.kinks == alone.readout.units.kinks
    assert seen and seen == sorted(seen) and seen[-1] == 20
    # What the live charts draw while it trains: every epoch's logs, and the weights of the last one.
    assert job.epochs == list(range(1, 21)) and job.history["loss"] == pytest.approx(list(alone.history["loss"]), rel=1e-6)
    for a, b in zip(job.weights, alone.final_weights):
        np.testing.assert_array_equal(a, b)
    restarts = pool.submit(spec, members=3).wait(timeout=300)
    assert restarts.seeds == (spec.seed, spec.seed + 1, spec.seed + 2)
    np.testing.assert_allclose(restarts.losses[:, 0], alone.history["loss"], rtol=1e-4)


def test_stop_ends_a_run_in_the_worker_and_keeps_what_it_learned(pool):
    spec = scenarios.get("segments").spec("answer").with_values(LONG)
    started = threading.Event()
    job = pool.submit(spec, progress=lambda epoch, logs: epoch >= 1 and started.set())  # an epoch done, not only begun
    assert started.wait(timeout=120)
    job.stop()
    result = job.wait(timeout=120)
    assert result.stopped and result.stop_reason == "request" and 0 < result.epochs_run < 20000
    assert len(result.history["loss"]) == result.epochs_run


def test_a_wall_clock_budget_stops_the_run_as_on_the_server(pool):
    spec = scenarios.get("segments").spec("answer").with_values(LONG)
    result = pool.submit(spec, seconds=1.0).wait(timeout=120)
    assert result.stopped and result.stop_reason == "budget"


@pytest.mark.system  # starts, kills or recycles worker processes of its own
def test_a_killed_worker_fails_its_job_clearly_and_the_next_request_gets_a_fresh_one():
    pool = WorkerPool(workers=1)
    try:
        spec = scenarios.get("segments").spec("answer").with_values(LONG)
        started = threading.Event()
        job = pool.submit(spec, progress=lambda epoch, logs: started.set())
        assert started.wait(timeout=120)
        victim = job.worker.pid
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(WorkerDied, match=r"the training process stopped: it ended on signal SIGKILL: killed"):
            job.wait(timeout=60)
        _wait_for(lambda: pool.pids() and victim not in pool.pids())  # the replacement starts at once, before a request
        again = pool.submit(spec.with_value("train.epochs", 3)).wait(timeout=300)
        assert again.epochs_run == 3 and victim not in pool.pids()
        assert pool.started == 2
    finally:
        pool.shutdown()


@pytest.mark.system  # starts, kills or recycles worker processes of its own
def test_a_worker_over_its_memory_limit_is_replaced_after_its_job():
    pool = WorkerPool(workers=1, max_rss_mb=1.0)  # every worker is over 1 MB: each request gets a fresh one
    try:
        spec = scenarios.get("segments").spec("answer").with_value("train.epochs", 2)
        first = pool.submit(spec)
        first.wait(timeout=300)
        _wait_for(lambda: pool.pids() and first.worker.pid not in pool.pids())  # retired, and a warm one in its place
        second = pool.submit(spec)
        assert second.wait(timeout=300).epochs_run == 2
        assert first.worker.pid != second.worker.pid and pool.started == 2 and pool.retired >= 1
        first.worker.process.join(timeout=30)
        assert not first.worker.alive  # the retired worker ended once its job was done
    finally:
        pool.shutdown()


@pytest.mark.system  # starts, kills or recycles worker processes of its own
def test_a_job_still_running_on_a_retired_worker_finishes_and_can_be_stopped():
    pool = WorkerPool(workers=1, max_rss_mb=1.0)
    try:
        segments = scenarios.get("segments").spec("answer")
        started = threading.Event()
        long = pool.submit(segments.with_values(LONG), progress=lambda epoch, logs: started.set())
        assert started.wait(timeout=300)
        short = pool.submit(segments.with_value("train.epochs", 2))  # same worker: it has one slot only
        assert short.worker is long.worker and short.wait(timeout=120).epochs_run == 2
        assert long.worker.retiring  # over its limit after the short job, but the long run is not cut
        long.stop()
        result = long.wait(timeout=120)
        assert result.stopped and result.stop_reason == "request"
        long.worker.process.join(timeout=30)
        assert not long.worker.alive
    finally:
        pool.shutdown()


def test_the_keras_file_is_made_in_a_worker(pool, tmp_path):
    spec = scenarios.get("sine-relu").spec("question").with_value("train.epochs", 2)
    result = pool.submit(spec).wait(timeout=300)
    data = pool.model_bytes(spec, result.final_weights)
    path = tmp_path / "model.keras"
    path.write_bytes(data)
    import keras

    model = keras.models.load_model(path, safe_mode=False)  # here, not in a worker: the file stands alone
    value = float(np.asarray(model(np.array([[0.5]], dtype="float32"))).ravel()[0])
    assert len(model.layers) == len(spec.model.units) + 3 and np.isfinite(value)  # scale_x, the Dense layers, unscale_y


@pytest.mark.system  # starts, kills or recycles worker processes of its own
def test_a_worker_ends_when_its_asker_is_killed():
    code = ("import os, sys; from core.runner.workers import WorkerPool; pool = WorkerPool(); w = pool.warm(); w.ready.wait(300); "
            "print(w.pid, flush=True); os.kill(os.getpid(), 9)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                         capture_output=True, text=True, timeout=300)
    worker = int(out.stdout.split()[0])
    _wait_for(lambda: not _running(worker), seconds=20)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return "State:\tZ" not in handle.read()
    except OSError:
        return False


def _wait_for(condition, seconds: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.1)


@pytest.mark.system  # starts, kills or recycles worker processes of its own
def test_the_asking_process_never_imports_tensorflow():
    code = ("import sys; from core.cases import scenarios; from core.runner.workers import WorkerPool; pool = WorkerPool(); "
            "r = pool.submit(scenarios.get('parabola').spec('answer').with_value('train.epochs', 2)).wait(300); "
            "pool.shutdown(); print(r.epochs_run, r.readout.parabola is not None, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2", "True", "False", "False"]


# ---------------------------------------------------------------------------------------------
# The protocol: typed messages, and what is not one of them


def test_every_worker_message_is_frozen_and_round_trips_through_pickle():
    spec = scenarios.get("sine-relu").spec("question")
    weights = (np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(3, dtype=np.float32))
    examples = [
        RunRequest(1, spec, 2.5, "fit"), RestartsRequest(2, spec, 8, tuple(range(8)), None), ModelRequest(3, spec, weights),
        StopRequest(4), RetireRequest(),
        Ready(123, 456.5), Progress(1, 3, {"loss": 0.5}, ((3, {"loss": 0.5}),), list(weights)), Done(1, b"PK\x03\x04", 800.0),
        SpecRefused(2, "train.clipnorm", 1.0, "empty for restarts", None), Failed(3, "RuntimeError", "it broke", "Traceback", 700.0),
    ]
    assert {type(m) for m in examples} == set(REQUESTS) | set(REPLIES)  # every kind of message is tried
    for message in examples:
        again = pickle.loads(pickle.dumps(message))
        assert type(again) is type(message)
        for field in dataclasses.fields(message):
            np.testing.assert_equal(getattr(again, field.name), getattr(message, field.name))
        with pytest.raises(dataclasses.FrozenInstanceError):
            message.job_id = 99
    assert examples[0].spec.key() == pickle.loads(pickle.dumps(examples[0])).spec.key()


def test_the_worker_refuses_a_message_outside_the_protocol_and_names_what_is_allowed():
    sent = []
    loop = WorkerLoop(sent.append, engine=None)  # nothing is trained: no engine is needed to refuse
    spec = scenarios.get("segments").spec("answer")
    loop.handle(("run", 7, spec, 0, None, None, "fast"))  # the tuples of the old protocol
    loop.handle(Progress(5, 1, {"loss": 0.1}))  # a reply, sent the wrong way: it names job 5
    loop.handle(StopRequest(6))  # a stop for a job that has ended is no mistake
    assert not loop.threads and not loop.flags and len(sent) == 2
    old, wrong_way = sent
    allowed = "is not allowed; allowed: RunRequest, RestartsRequest, ModelRequest, StopRequest, RetireRequest"
    assert isinstance(old, Failed) and old.kind == "ProtocolError" and old.job_id is None
    assert old.message.startswith("the worker refused the message tuple ('run', 7, RunSpec(") and allowed in old.message
    assert len(old.message) < 300  # the message is shortened, not the whole spec
    assert wrong_way.job_id == 5 and allowed in wrong_way.message
    result, error = job_outcome(wrong_way)  # what the asker's Job.wait raises
    assert result is None and isinstance(error, TrainingError)
    assert str(error).startswith("ProtocolError: the worker refused the message Progress(job_id=5, epoch=1")


def test_a_real_worker_answers_a_stray_message_with_an_error_and_keeps_working(pool):
    worker = pool.warm()
    assert worker.ready.wait(300)
    with pytest.raises(TypeError, match=r"the message tuple \('stop', 1\) is not allowed; allowed: RunRequest, "):
        worker.send(("stop", 1))  # the asker refuses to send anything else
    stray = Job(10_000, worker)
    worker.jobs[stray.id] = stray
    worker._channel.put(Progress(stray.id, 1, {}))  # past that check, straight down the pipe
    with pytest.raises(TrainingError, match=r"ProtocolError: the worker refused the message Progress\(job_id=10000"):
        stray.wait(timeout=60)
    spec = scenarios.get("segments").spec("answer").with_value("train.epochs", 2)
    assert pool.submit(spec).wait(timeout=300).epochs_run == 2
