"""The posted datasets, drawn exactly as the posts drew them, and the scalers between units.

Randomness follows the posts: numpy's legacy `RandomState` seeded with `data_seed`, x drawn first and
the noise after it, so `np.random.seed(42); x = np.random.rand(999)` is reproduced bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.expression import evaluate
from core.specs import DataSpec

FINE_GRID = 1001  # points on which the clean target and the fit are compared
REPLAY_STRIDE = 5  # every 5th fine-grid point (201 in all) is recorded per epoch for replay
# Segments as posted on a line from 0 to 30: 0..10 is class 0, 11..20 class 1, 21..30 class 0. The
# data range stands for that line: position p on it is x_min + p / SEGMENT_LINE * (x_max - x_min).
SEGMENT_LINE = 30
SEGMENT_BLOCKS = ((0, 10, 0), (11, 20, 1), (21, 30, 0))  # (start, end, label) on the posted line
SEGMENT_EDGES = (10.5, 20.5)  # class boundaries halfway across the gaps, on the posted line


# The scalers: (shift, scale) fitted on training values v, for scaled = (v - shift) / scale. They are
# plain functions of a numpy array so that core/export.py can copy them into its script as they are.
def scale_none(v):
    return 0.0, 1.0


def scale_minmax(v):  # -> [0, 1]
    return v.min(), v.max() - v.min()


def scale_symmetric(v):  # -> [-1, 1]
    return (v.max() + v.min()) / 2, (v.max() - v.min()) / 2


def scale_standard(v):  # z-score, as X.std() in the post
    return v.mean(), v.std()


SCALERS = {"none": scale_none, "minmax": scale_minmax, "symmetric": scale_symmetric, "standard": scale_standard}


@dataclass(frozen=True)
class Scaler:
    """An affine map fitted on training values: scaled = (value - shift) / scale."""

    kind: str
    shift: float
    scale: float

    @classmethod
    def fit(cls, kind: str, values: np.ndarray) -> Scaler:
        shift, scale = (float(v) for v in SCALERS[kind](np.asarray(values, dtype=np.float64)))
        return cls(kind, shift, scale if scale > 0 else 1.0)  # constant values are left unscaled

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.shift) / self.scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.scale + self.shift

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shift": self.shift, "scale": self.scale}


@dataclass(frozen=True)
class Dataset:
    """Training (and optional test) data in original units, with the scalers fitted on them."""

    spec: DataSpec
    x: np.ndarray  # (n, 1) float64, original units
    y: np.ndarray  # (n, 1) float64, original units (with noise)
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    x_scaler: Scaler
    y_scaler: Scaler
    trend: tuple[np.ndarray, np.ndarray] | None = None  # a data file's binned means (x, y): its stand-in for a clean target

    @property
    def task(self) -> str:
        return self.spec.resolved_task

    resolved_task = task

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def x_train(self) -> np.ndarray:
        return self.x_scaler.transform(self.x).astype(np.float32)

    @property
    def y_train(self) -> np.ndarray:
        return self.y_scaler.transform(self.y).astype(np.float32)

    @property
    def x_range(self) -> tuple[float, float]:
        return (self.spec.x_min, self.spec.x_max)

    def grid(self) -> np.ndarray:
        """The fine grid over the data range, original units, shape (FINE_GRID,)."""
        return np.linspace(self.spec.x_min, self.spec.x_max, FINE_GRID)

    def replay_grid(self) -> np.ndarray:
        return self.grid()[::REPLAY_STRIDE]

    def target(self, x: np.ndarray) -> np.ndarray:
        """The clean, noise-free target at x (original units); for a data file, the trend of its training points."""
        if self.trend is not None:
            x = np.asarray(x, dtype=np.float64)
            centres, values = self.trend
            if self.spec.n_classes > 2:  # classes are not a scale: the nearest bin's commonest class
                return values[np.abs(x[..., None] - centres).argmin(axis=-1)]
            return np.interp(x, centres, values)
        return clean_target(self.spec, x)


def clean_target(spec: DataSpec, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if spec.function == "sine":
        return spec.amplitude * np.sin(x)
    if spec.function == "parabola":
        return spec.coef_a * x**2 + spec.coef_b * x + spec.coef_c
    if spec.function == "custom":
        values = evaluate(spec.expression, x)
        return values if spec.classify_above is None else (values > spec.classify_above).astype(np.float64)
    t = (x - spec.x_min) / (spec.x_max - spec.x_min)
    return ((t >= SEGMENT_EDGES[0] / SEGMENT_LINE) & (t <= SEGMENT_EDGES[1] / SEGMENT_LINE)).astype(np.float64)


def _draw(spec: DataSpec, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rs = np.random.RandomState(seed)
    span = spec.x_max - spec.x_min
    if spec.sampling == "grid":
        x = np.linspace(spec.x_min, spec.x_max, n).reshape(-1, 1)
        y = clean_target(spec, x)
    elif spec.sampling == "uniform":
        # As posted: rand(n, 1) * 10 - 1 (noisy-sine), rand(999) (parabola).
        x = rs.rand(n, 1) * span + spec.x_min
        y = clean_target(spec, x)
    else:  # blocks: np.concatenate of three linspaces with their labels, as in the segments post
        blocks = len(SEGMENT_BLOCKS)
        sizes = [n // blocks + (1 if i < n % blocks else 0) for i in range(blocks)]
        xs, ys = [], []
        for size, (lo, hi, label) in zip(sizes, SEGMENT_BLOCKS):
            xs.append(np.linspace(spec.x_min + lo / SEGMENT_LINE * span, spec.x_min + hi / SEGMENT_LINE * span, size))
            ys.append(np.repeat(float(label), size))
        x, y = np.concatenate(xs).reshape(-1, 1), np.concatenate(ys).reshape(-1, 1)
    if spec.noise:
        y = y + rs.randn(n, 1) * spec.noise
    return x.astype(np.float64), y.astype(np.float64)


TREND_BINS = 60  # at most; a data file's trend averages at least 8 points a bin


def binned_trend(x: np.ndarray, y: np.ndarray, x_min: float, x_max: float, mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The mean of y in equal-width bins of x (non-empty bins only): what a smooth fit of the data should follow.

    For a classification of 0/1 labels this is the share of class 1 per bin, which the predicted
    probability should follow; with `mode` (several classes) it is each bin's commonest class.
    """
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    bins = int(np.clip(len(x) // 8, 4, TREND_BINS))
    edges = np.linspace(x_min, x_max, bins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=y, minlength=bins)
    xs = np.bincount(which, weights=x, minlength=bins)
    full = counts > 0
    if mode:
        labels = y.astype(int)
        table = np.zeros((bins, labels.max() + 1))
        np.add.at(table, (which, labels), 1)
        return xs[full] / counts[full], np.argmax(table[full], axis=1).astype(np.float64)
    return xs[full] / counts[full], sums[full] / counts[full]


def file_dataset(spec: DataSpec) -> Dataset:
    """A data file's rows split into training and test rows (the test share drawn with test_seed), labels as 0/1."""
    from core.errors import SpecError

    chosen = spec.chosen
    if chosen is None:
        raise SpecError("data.file", "none loaded", "a data file: --data PATH on the command line, or a file uploaded on the page")
    x, y = chosen.x[:, :1].astype(np.float64), chosen.y.astype(np.float64).reshape(-1, 1)
    if chosen.task == "classification":
        y = np.searchsorted(np.asarray(chosen.classes), y).astype(np.float64)  # class i of the sorted labels is i
    rows = np.arange(len(x))
    held = np.sort(np.random.RandomState(spec.test_seed).permutation(len(x))[:spec.test_samples]) if spec.test_samples else rows[:0]
    train = np.setdiff1d(rows, held)
    x_test = x[held] if len(held) else None
    y_test = y[held] if len(held) else None
    trend = binned_trend(x[train], y[train], spec.x_min, spec.x_max, mode=len(chosen.classes) > 2)
    return Dataset(spec, x[train], y[train], x_test, y_test, Scaler.fit(spec.x_scaling, x[train]), Scaler.fit(spec.y_scaling, y[train]),
                   trend)


def make_dataset(spec: DataSpec) -> Dataset:
    """Draw the training set (and the test set when `test_samples` > 0) and fit the scalers; a data file is read as it is."""
    if spec.function == "file":
        return file_dataset(spec)
    x, y = _draw(spec, spec.n_samples, spec.data_seed)
    x_test = y_test = None
    if spec.test_samples:
        x_test, y_test = _draw(spec, spec.test_samples, spec.test_seed)
    return Dataset(spec, x, y, x_test, y_test, Scaler.fit(spec.x_scaling, x), Scaler.fit(spec.y_scaling, y))
