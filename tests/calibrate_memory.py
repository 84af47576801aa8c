"""The memory estimate against real workers: each request trains in a fresh worker, whose peak resident memory
(VmHWM from /proc) is printed beside the estimate of core/runner/memory.py.

    python tests/calibrate_memory.py            # every request (a few minutes on 2 cores)
    python tests/calibrate_memory.py noisy 8x   # only those whose name contains one of the words

Linux only (/proc). The coefficients of core/runner/memory.py were fitted to this table; rerun it after a change
to the engine that holds more or less per weight, per point or per recorded epoch.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cases.scenarios import get
from core.runner import memory
from core.runner.workers import WorkerPool


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wide(units: int, layers: int) -> str:
    return ",".join([str(units)] * layers)


REQUESTS = [
    ("sine-relu as asked", "sine-relu", {}, 0),
    ("noisy-sine, 64 seeds, 300 epochs", "noisy-sine", {"train.epochs": 300}, 64),
    ("8x1024 units, 3 samples, 1 epoch", "sine-relu", {"model.units": wide(1024, 8), "train.batch_size": "full",
                                                       "data.n_samples": 3, "train.epochs": 1}, 0),
    ("2x512 units, 64 seeds, 2 epochs", "sine-relu", {"model.units": wide(512, 2), "train.epochs": 2}, 64),
    ("Playground 1024-1024 tanh, 20,000 test points", "playground", {"model.units": "1024,1024", "model.activation": "tanh",
                                                                     "data.n_samples": 50, "data.test_samples": 20_000,
                                                                     "train.epochs": 1, "train.batch_size": "full"}, 0),
    ("custom, 20,000 samples, 256-256", "custom", {"model.units": "256,256", "data.n_samples": 20_000, "train.epochs": 2}, 0),
    ("4x256 units, record_every 1, 300 epochs", "sine-relu", {"model.units": wide(256, 4), "record_every": 1,
                                                              "train.epochs": 300, "train.batch_size": "full"}, 0),
]


def main(words: list[str]) -> None:
    print(f"{'request':48s} {'estimate':>9s} {'measured':>9s} {'ratio':>6s} {'seconds':>8s}")
    for name, case, values, seeds in REQUESTS:
        if words and not any(w in name for w in words):
            continue
        spec = get(case).spec().with_values(values)
        pool = WorkerPool(workers=1, max_rss_mb=float("inf"), keep_warm=False)
        began = time.time()
        try:
            pool.submit(spec, members=seeds, seeds=list(range(seeds)) if seeds else None, seconds=600).wait()
            measured, estimated = peak_mb(pool.pids()[0]), memory.estimate(spec, seeds).peak_mb
            print(f"{name:48s} {estimated:7.0f} MB {measured:6.0f} MB {estimated / measured:6.2f} {time.time() - began:8.1f}", flush=True)
        finally:
            for worker in pool.drain():
                worker.process.join(10)


if __name__ == "__main__":
    main(sys.argv[1:])
