"""The hard memory limit of the worker pool: a worker past it during a job is killed, the job says why, a fresh one takes over."""

import math
import time
from types import SimpleNamespace

import pytest

from core.cases import scenarios
from core.runner.workers import LIMIT_SETTING, OverMemory, WorkerDied, WorkerPool, over_limit


def _worker(pid: int, jobs: int = 1, alive: bool = True, killed: bool = False):
    return SimpleNamespace(pid=pid, jobs=dict.fromkeys(range(jobs)), alive=alive, over_memory=(1.0, 2.0) if killed else None)


def test_the_watchdog_picks_only_live_busy_workers_past_the_limit():
    resident = {1: 900.0, 2: 700.0, 3: 950.0, 4: 990.0, 5: 999.0, 6: None}  # 6: its /proc file has vanished
    workers = [_worker(1), _worker(2), _worker(3, jobs=0), _worker(4, alive=False), _worker(5, killed=True), _worker(6)]
    found = over_limit(workers, 800.0, read=resident.get)
    assert [(w.pid, rss) for w, rss in found] == [(1, 900.0)]
    assert over_limit(workers, math.inf, read=resident.get) == []


def test_the_over_memory_error_names_the_limit_its_setting_and_what_to_shrink():
    err = OverMemory(2000.0, 2013.4)
    assert isinstance(err, WorkerDied)
    assert "memory limit of 2,000 MB" in str(err) and LIMIT_SETTING in err.how and "2,013 MB" in err.how
    for shrink in ("hidden layers", "samples", "seeds", "record_every"):
        assert shrink in err.how


@pytest.mark.system  # starts worker processes and lets the pool kill one
def test_a_worker_past_its_hard_limit_is_stopped_during_the_job_and_replaced():
    pool = WorkerPool(workers=1, max_rss_mb=math.inf, keep_warm=True)
    try:
        first = pool.warm()
        assert first.ready.wait(timeout=120) and first.rss_mb is not None
        # About 600 MB after TensorFlow's import; a small run adds ~110 MB, an 8 x 1024 net on 20,000 rows ~300 MB in its
        # first second (measured): the limit sits between the two, relative to this machine's own footprint.
        pool.limit_mb = first.rss_mb + 250
        big = scenarios.get("sine-relu").spec().with_text({"model.units": ",".join(["1024"] * 8), "data.n_samples": "20000",
                                                             "train.epochs": "1000"})
        began = time.monotonic()
        job = pool.submit(big, seconds=60)
        with pytest.raises(OverMemory, match=rf"memory limit of {pool.limit_mb:,.0f} MB \({LIMIT_SETTING}\)"):
            job.wait(timeout=60)
        assert time.monotonic() - began < 20 and pool.stopped_for_memory == 1
        assert not first.alive
        small = pool.submit(scenarios.get("segments").spec("answer").with_value("train.epochs", 2))
        assert small.wait(timeout=120).epochs_run == 2
        assert small.worker is not first and pool.started == 2 and pool.stopped_for_memory == 1
    finally:
        pool.shutdown()
