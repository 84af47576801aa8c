"""The posted datasets, drawn exactly as the posts drew them, and the scalers between units.

Randomness follows the posts: numpy's legacy `RandomState` seeded with `data_seed`, x drawn first and
the noise after it, so `np.random.seed(42); x = np.random.rand(999)` is reproduced bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.expression import evaluate
from core.settings.rules import PLANE_FUNCTIONS
from core.settings.specs import DataSpec

FINE_GRID = 1001  # points on which the clean target and the fit are compared
REPLAY_STRIDE = 5  # every 5th fine-grid point (201 in all) is recorded per epoch for replay
# Two inputs: a square grid of PLANE_GRID x PLANE_GRID points over both ranges (the Playground draws
# its output on 100 x 100 and each unit on 10 x 10); every PLANE_STRIDE-th row and column (21 x 21)
# is recorded per epoch for replay and drawn for each hidden unit.
PLANE_GRID = 61
PLANE_STRIDE = 3
PLANE_SPAN = 6.0  # the Playground's datasets live on [-6, 6] in both inputs; the lab maps that square onto the data range
# Segments as posted on a line from 0 to 30: 0..10 is class 0, 11..20 class 1, 21..30 class 0. The
# data range stands for that line: position p on it is x_min + p / SEGMENT_LINE * (x_max - x_min).
SEGMENT_LINE = 30
SEGMENT_BLOCKS = ((0, 10, 0), (11, 20, 1), (21, 30, 0))  # (start, end, label) on the posted line
SEGMENT_EDGES = (10.5, 20.5)  # class boundaries halfway across the gaps, on the posted line


# The scalers: (shift, scale) fitted on training values v, for scaled = (v - shift) / scale. They are
# plain functions of a numpy array so that core/io/export.py can copy them into its script as they are.
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
    """An affine map fitted on training values: scaled = (value - shift) / scale; per column for two inputs."""

    kind: str
    shift: float | tuple[float, ...]
    scale: float | tuple[float, ...]

    @classmethod
    def fit(cls, kind: str, values: np.ndarray) -> Scaler:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] > 1:  # each input its own scaler, as a column of its own
            fitted = [cls.fit(kind, column) for column in values.T]
            return cls(kind, tuple(f.shift for f in fitted), tuple(f.scale for f in fitted))
        shift, scale = (float(v) for v in SCALERS[kind](values))
        return cls(kind, shift, scale if scale > 0 else 1.0)  # constant values are left unscaled

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - np.asarray(self.shift)) / np.asarray(self.scale)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * np.asarray(self.scale) + np.asarray(self.shift)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shift": _plain(self.shift), "scale": _plain(self.scale)}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


# The Playground's features of the scaled inputs (columns x1, x2): what its input nodes feed the first layer,
# as numpy source (the exported script writes the same expressions).
FEATURE_SOURCE = {
    "x": "x[:, 0]",
    "x1": "x[:, 0]",
    "x2": "x[:, 1]",
    "x1^2": "x[:, 0] ** 2",
    "x2^2": "x[:, 1] ** 2",
    "x1*x2": "x[:, 0] * x[:, 1]",
    "sin(x1)": "np.sin(x[:, 0])",
    "sin(x2)": "np.sin(x[:, 1])",
}
FEATURE_FUNCTIONS = {name: eval(f"lambda x: {source}", {"np": np}) for name, source in FEATURE_SOURCE.items()}


def features(names: tuple[str, ...], scaled: np.ndarray) -> np.ndarray:
    """The first layer's input: each named feature of the scaled inputs (n, inputs), as (n, features) float32."""
    scaled = np.asarray(scaled, dtype=np.float64).reshape(len(scaled), -1)
    return np.stack([FEATURE_FUNCTIONS[name](scaled) for name in names], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Dataset:
    """Training (and optional test) data in original units, with the scalers fitted on them."""

    spec: DataSpec
    x: np.ndarray  # (n, inputs) float64, original units
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
    def inputs(self) -> int:
        return self.x.shape[1]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """What the network is fed for inputs x in original units, (n, inputs): scaled, then made features."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.inputs)
        return features(self.spec.input_features, self.x_scaler.transform(x))

    @property
    def x_train(self) -> np.ndarray:
        return self.encode(self.x)

    @property
    def y_train(self) -> np.ndarray:
        return self.y_scaler.transform(self.y).astype(np.float32)

    @property
    def x_range(self) -> tuple[float, float]:
        return (self.spec.x_min, self.spec.x_max)

    def grid(self) -> np.ndarray:
        """The fine grid over the data range, original units: shape (FINE_GRID,) for one input; for two, the
        PLANE_GRID x PLANE_GRID points of the square over both ranges, x1 fastest, shape (PLANE_GRID², 2)."""
        if self.inputs == 1:
            return np.linspace(self.spec.x_min, self.spec.x_max, FINE_GRID)
        return plane_grid(self.spec.input_bounds, PLANE_GRID)

    def replay_index(self) -> np.ndarray:
        """The grid points recorded every epoch: every REPLAY_STRIDE-th, or every PLANE_STRIDE-th row and column."""
        if self.inputs == 1:
            return np.arange(0, FINE_GRID, REPLAY_STRIDE)
        side = np.arange(0, PLANE_GRID, PLANE_STRIDE)
        return (side[:, None] * PLANE_GRID + side[None, :]).ravel()

    def replay_grid(self) -> np.ndarray:
        return self.grid()[self.replay_index()]

    def target(self, x: np.ndarray) -> np.ndarray:
        """The clean, noise-free target at x (original units); for a data file, the trend of its training points."""
        if self.trend is not None:
            x = np.asarray(x, dtype=np.float64)
            centres, values = self.trend
            if self.spec.n_classes > 2:  # classes are not a scale: the nearest bin's commonest class
                return values[np.abs(x[..., None] - centres).argmin(axis=-1)]
            return np.interp(x, centres, values)
        if self.inputs > 1 and self.spec.function == "file":  # a file over two inputs has no clean target, nor a trend line
            return np.full(len(np.asarray(x).reshape(-1, self.inputs)), np.nan)
        return clean_target(self.spec, x)


def plane_grid(bounds, points: int) -> np.ndarray:
    """`points` x `points` grid over two ranges, x1 varying fastest (row r holds x2's r-th value), shape (points², 2)."""
    (lo1, hi1), (lo2, hi2) = bounds
    x1, x2 = np.meshgrid(np.linspace(lo1, hi1, points), np.linspace(lo2, hi2, points))
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


# ---------------------------------------------------------------------------------------------
# The TensorFlow Playground's datasets (its src/dataset.ts), drawn on its square [-6, 6]², labels 1 / 0 for its +1 / -1


def _circle_label(x1, x2):
    return (np.hypot(x1, x2) < 2.5).astype(np.float64)


def _xor_label(x1, x2):
    return (x1 * x2 >= 0).astype(np.float64)


def _gauss_label(x1, x2):  # the two Gaussians' (equal-variance) boundary: nearer to (2, 2) than to (-2, -2)
    return (x1 + x2 > 0).astype(np.float64)


SPIRAL_TURNS = 1.75


def _spiral_arms(points: int = 2000):
    t = np.arange(points) / points
    r, angle = t * 5, SPIRAL_TURNS * t * 2 * np.pi
    return [(r * np.sin(angle + delta), r * np.cos(angle + delta)) for delta in (0.0, np.pi)]


def _spiral_label(x1, x2):  # class 1 where the nearer arm (without noise) is the first
    (a1, a2), (b1, b2) = _spiral_arms(400)
    near_a = np.min((x1[:, None] - a1) ** 2 + (x2[:, None] - a2) ** 2, axis=1)
    near_b = np.min((x1[:, None] - b1) ** 2 + (x2[:, None] - b2) ** 2, axis=1)
    return (near_a <= near_b).astype(np.float64)


def _plane_value(x1, x2):
    return (x1 + x2) / 10  # d3.scale.linear().domain([-10, 10]).range([-1, 1])


GAUSSIANS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def _multi_gauss_value(x1, x2):
    """Of the six signed bumps (1 at a centre, 0 from distance 2 on), the one largest in size."""
    label = np.zeros_like(np.asarray(x1, np.float64))
    for cx, cy, sign in GAUSSIANS:
        value = sign * np.clip(1 - np.hypot(x1 - cx, x2 - cy) / 2, 0, 1)
        label = np.where(np.abs(value) > np.abs(label), value, label)
    return label


PLANE_LABELS = {"circle": _circle_label, "xor": _xor_label, "gauss": _gauss_label, "spiral": _spiral_label,
                "plane": _plane_value, "multi_gauss": _multi_gauss_value}


def playground_points(function: str, n: int, noise: float, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """n points of a Playground dataset on [-6, 6]² and their labels, drawn as its dataset.ts draws them."""
    u = rs.uniform
    if function == "circle":  # half inside radius 2.5, half in the ring 3.5..5; labelled by the noisy position
        half = [n // 2 + n % 2, n // 2]
        r = np.concatenate([u(0, 2.5, half[0]), u(3.5, 5, half[1])])
        angle = u(0, 2 * np.pi, n)
        x1, x2 = r * np.sin(angle), r * np.cos(angle)
        label = _circle_label(x1 + u(-5, 5, n) * noise, x2 + u(-5, 5, n) * noise)
    elif function == "xor":  # uniform on [-5, 5]², pushed 0.3 away from the axes
        x1, x2 = u(-5, 5, n), u(-5, 5, n)
        x1, x2 = x1 + np.where(x1 > 0, 0.3, -0.3), x2 + np.where(x2 > 0, 0.3, -0.3)
        label = _xor_label(x1 + u(-5, 5, n) * noise, x2 + u(-5, 5, n) * noise)
    elif function == "gauss":  # two Gaussians at (2, 2) and (-2, -2), variance 0.5 (noise 0) to 4 (noise 0.5)
        sd = np.sqrt(0.5 + 7 * noise)
        label = np.repeat([1.0, 0.0], [n // 2 + n % 2, n // 2])
        centre = np.where(label == 1, 2.0, -2.0)
        x1, x2 = rs.normal(centre, sd), rs.normal(centre, sd)
    elif function == "spiral":  # two arms of 1.75 turns, radius 0 to 5, noise added to the positions
        half = [n // 2 + n % 2, n // 2]
        label = np.repeat([1.0, 0.0], half)
        t = np.concatenate([np.arange(k) / k for k in half])
        delta = np.where(label == 1, 0.0, np.pi)
        angle = SPIRAL_TURNS * t * 2 * np.pi + delta
        x1 = t * 5 * np.sin(angle) + u(-1, 1, n) * noise
        x2 = t * 5 * np.cos(angle) + u(-1, 1, n) * noise
    else:  # the regressions: uniform on [-6, 6]², the value read at a noisy position
        x1, x2 = u(-6, 6, n), u(-6, 6, n)
        label = PLANE_LABELS[function](x1 + u(-6, 6, n) * noise, x2 + u(-6, 6, n) * noise)
    return np.stack([x1, x2], axis=1), np.asarray(label, np.float64)


def _to_range(spec: DataSpec, points: np.ndarray) -> np.ndarray:
    """The Playground's square [-6, 6]² mapped onto [x_min, x_max]² (the identity for the default range)."""
    return spec.x_min + (points + PLANE_SPAN) / (2 * PLANE_SPAN) * (spec.x_max - spec.x_min)


def _from_range(spec: DataSpec, x: np.ndarray) -> np.ndarray:
    return (x - spec.x_min) / (spec.x_max - spec.x_min) * (2 * PLANE_SPAN) - PLANE_SPAN


def clean_target(spec: DataSpec, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if spec.function in PLANE_FUNCTIONS:  # the label without noise, in the Playground's coordinates
        p = _from_range(spec, x.reshape(-1, 2))
        return PLANE_LABELS[spec.function](p[:, 0], p[:, 1])
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
    from core.settings.errors import SpecError

    chosen = spec.chosen
    if chosen is None:
        raise SpecError("data.file", "none loaded", "a data file: --data PATH on the command line, or a file uploaded on the page")
    x, y = chosen.x.astype(np.float64), chosen.y.astype(np.float64).reshape(-1, 1)
    if chosen.task == "classification":
        y = np.searchsorted(np.asarray(chosen.classes), y).astype(np.float64)  # class i of the sorted labels is i
    rows = np.arange(len(x))
    held = np.sort(np.random.RandomState(spec.test_seed).permutation(len(x))[:spec.test_samples]) if spec.test_samples else rows[:0]
    train = np.setdiff1d(rows, held)
    x_test = x[held] if len(held) else None
    y_test = y[held] if len(held) else None
    trend = binned_trend(x[train], y[train], spec.x_min, spec.x_max, mode=len(chosen.classes) > 2) if x.shape[1] == 1 else None
    return Dataset(spec, x[train], y[train], x_test, y_test, Scaler.fit(spec.x_scaling, x[train]), Scaler.fit(spec.y_scaling, y[train]),
                   trend)


def plane_dataset(spec: DataSpec) -> Dataset:
    """A Playground dataset as the Playground makes it: all points drawn at once with data_seed, shuffled, and the
    first n_samples kept for training, the rest (test_samples) for testing."""
    rs = np.random.RandomState(spec.data_seed)
    total = spec.n_samples + spec.test_samples
    points, labels = playground_points(spec.function, total, spec.noise, rs)
    order = rs.permutation(total)
    x, y = _to_range(spec, points[order]), labels[order].reshape(-1, 1)
    train, test = slice(0, spec.n_samples), slice(spec.n_samples, total)
    x_test = x[test] if spec.test_samples else None
    y_test = y[test] if spec.test_samples else None
    return Dataset(spec, x[train], y[train], x_test, y_test, Scaler.fit(spec.x_scaling, x[train]), Scaler.fit(spec.y_scaling, y[train]))


def make_dataset(spec: DataSpec) -> Dataset:
    """Draw the training set (and the test set when `test_samples` > 0) and fit the scalers; a data file is read as it is."""
    if spec.function == "file":
        return file_dataset(spec)
    if spec.function in PLANE_FUNCTIONS:
        return plane_dataset(spec)
    x, y = _draw(spec, spec.n_samples, spec.data_seed)
    x_test = y_test = None
    if spec.test_samples:
        x_test, y_test = _draw(spec, spec.test_samples, spec.test_seed)
    return Dataset(spec, x, y, x_test, y_test, Scaler.fit(spec.x_scaling, x), Scaler.fit(spec.y_scaling, y))
