"""Restarts: M independent copies of one setup, each with its own seed, trained in ONE compiled model.

Every Dense layer carries a leading members axis (kernel (members, in, out), applied with einsum); the
loss is the SUM over members of each member's own mean loss, so the gradient a member's weights get
is exactly its own loss's gradient, and with element-wise optimizers (sgd, momentum, adam, rmsprop,
adagrad) each member follows the trajectory it would follow alone: same initial weights (its seed),
same shuffle order (its seed), same steps. A test checks members against single runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import keras
import tensorflow as tf
from core.callbacks import StopFlag
from core.models import activation, forward, initial_weights, layer_shapes
from core.readout import count_extrema, parabola_from_weights, probability_crossings
from core.specs import MAX_SEEDS, RunSpec, SpecError
from core.training import CHUNK_CAPACITY, CHUNK_SECONDS, _Context, make_optimizer, metric_name, shuffle_orders

MAX_MEMBERS = MAX_SEEDS
SMALL_LAYER = 64  # fan_in * units up to which a layer is a fused product-and-sum


class EnsembleDense(keras.layers.Layer):
    """A Dense layer for M members at once: (members, batch, in) -> (members, batch, out)."""

    def __init__(self, members: int, fan_in: int, units: int, activation_name: str, use_bias: bool, **kwargs):
        super().__init__(**kwargs)
        self.members, self.fan_in, self.units, self.use_bias = members, fan_in, units, use_bias
        self.activation_name = activation_name
        self.act = activation(activation_name)
        self.kernel = self.add_weight(shape=(members, fan_in, units), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(members, units), initializer="zeros", name="bias") if use_bias else None

    def call(self, x):
        if self.fan_in * self.units <= SMALL_LAYER:
            # Tiny layers as a broadcast product and a sum: XLA fuses them with what follows, where a
            # batched matmul per step would cost more than the arithmetic itself.
            out = tf.reduce_sum(x[:, :, :, None] * self.kernel[:, None, :, :], axis=2)
        else:
            out = tf.einsum("mbi,mio->mbo", x, self.kernel)
        if self.bias is not None:
            out = out + self.bias[:, None, :]
        return self.act(out)


class EnsembleNet(keras.Model):
    """The network of a ModelSpec, M times over, with a leading members axis."""

    def __init__(self, spec, members: int, **kwargs):
        super().__init__(**kwargs)
        self.stack = [EnsembleDense(members, fan_in, units, act, spec.use_bias, name=name)
                      for name, fan_in, units, act in layer_shapes(spec)]

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def _member_loss(name: str):
    """Per-sample loss (members, batch) for y, y_pred of shape (members, batch, 1)."""
    if name in ("mse", "sse"):
        return lambda y, p: tf.reduce_mean(tf.square(p - y), axis=-1)
    if name == "mae":
        return lambda y, p: tf.reduce_mean(tf.abs(p - y), axis=-1)
    return lambda y, p: keras.losses.binary_crossentropy(y, p)


@dataclass
class EnsembleResult:
    """Per-member outcomes of a restarts run, as plain data."""

    spec: RunSpec
    seeds: list[int]
    epochs_run: int
    wall_s: float
    losses: np.ndarray  # (epochs, members), NaN after a member diverged
    metrics: np.ndarray  # (epochs, members)
    final_weights: list[list[np.ndarray]]  # per member, in get_weights() order
    diverged_at: list[int | None]
    stopped: bool
    compile_s: float = 0.0  # the first chunk: compilation and one epoch
    members: list[dict[str, Any]] = field(default_factory=list)  # per member: seed, final, readout
    stop_reason: str | None = None  # when stopped: "request" or "budget" (see StopFlag)

    @property
    def metric(self) -> str:
        return metric_name(self.spec.data.task)


def _check(spec: RunSpec, members: int) -> None:
    if not 1 <= members <= MAX_MEMBERS:
        raise SpecError("seeds", members, f"a whole number from 1 to {MAX_MEMBERS}")
    for name in ("clipnorm", "global_clipnorm"):
        value = getattr(spec.train, name)
        if value is not None:
            raise SpecError(f"train.{name}", value, "empty for restarts: clipping by a norm over the stacked weights "
                            "would couple the seeds, so they would no longer train as they would alone")


def seeds_for(spec: RunSpec, members: int) -> list[int]:
    """The seeds of a restarts run: the spec's own seed first, then the next ones."""
    return [(spec.seed + i) % (2**31 - 1) for i in range(members)]


def train_ensemble(
    spec: RunSpec,
    members: int,
    seeds: list[int] | None = None,
    progress: Callable[[int, dict], None] | None = None,
    stop: StopFlag | None = None,
) -> EnsembleResult:
    """Train `members` copies of `spec`, seeds `seeds` (default: spec.seed, spec.seed + 1, ...)."""
    _check(spec, members)
    seeds = list(seeds) if seeds is not None else seeds_for(spec, members)
    if len(seeds) != members:
        raise SpecError("seeds", seeds, f"a list of {members} seeds")
    ctx = _Context(spec)
    model = EnsembleNet(spec.model, members)
    model(np.zeros((members, 1, 1), np.float32))
    starts = [initial_weights(spec.model, s) for s in seeds]
    for index, variable in enumerate(model.weights):
        variable.assign(np.stack([start[index] for start in starts]))
    optimizer = make_optimizer(spec.train)
    optimizer.build(model.trainable_variables)
    per_sample = _member_loss(spec.train.loss)
    mean_loss = spec.train.loss != "sse"
    n, batch = ctx.n, ctx.batch
    steps = -(-n // batch)
    rest = n - (steps - 1) * batch
    padding = steps * batch - n
    weights = np.ones(steps * batch, np.float32)
    if padding:  # as on the single-run path: padded samples weigh 0, the short batch's batch/rest
        weights[n - rest : n] = batch / rest if mean_loss else 1.0
        weights[n:] = 0.0
    x, y = tf.constant(ctx.x), tf.constant(ctx.y)
    grid = tf.constant(np.broadcast_to(ctx.grid_scaled, (members, *ctx.grid_scaled.shape)).copy())
    grid_target = tf.constant(ctx.grid_target.astype(np.float32))
    y_shift, y_scale = np.float32(ctx.data.y_scaler.shift), np.float32(ctx.data.y_scaler.scale)
    classification = spec.data.task == "classification"
    variables = model.trainable_variables

    def train_step(xb, yb, wb):
        with tf.GradientTape() as tape:
            losses = per_sample(yb, model(xb))  # (members, batch)
            if wb is not None:
                losses = losses * wb[None, :]
            member = tf.reduce_sum(losses, axis=1) / (batch if mean_loss else 1.0)
            total = tf.reduce_sum(member)
        optimizer.apply(tape.gradient(total, variables), variables)
        return member

    def chunk(perms, n_epochs):
        def epoch(e, losses_ta, metrics_ta):
            order = perms[e]  # (members, n)
            if padding:
                order = tf.concat([order, order[:, :padding]], axis=1)
            xs, ys = tf.gather(x, order), tf.gather(y, order)  # (members, n + padding, 1)

            def step(i, total):
                xb = tf.slice(xs, [0, i * batch, 0], [members, batch, 1])
                yb = tf.slice(ys, [0, i * batch, 0], [members, batch, 1])
                wb = tf.slice(weights, [i * batch], [batch]) if padding else None
                size = tf.where(i == steps - 1, float(rest), float(batch))
                return i + 1, total + train_step(xb, yb, wb) * size

            _, total = tf.while_loop(lambda i, t: i < steps, step, (tf.constant(0), tf.zeros([members])))
            if classification:
                out = model(tf.broadcast_to(x[None], [members, n, 1]))
                metric = tf.reduce_mean(tf.cast(tf.equal(tf.cast(out > 0.5, tf.float32), tf.cast(y[None] > 0.5, tf.float32)), tf.float32), axis=[1, 2])
            else:
                fit = model(grid)[:, :, 0] * y_scale + y_shift
                metric = tf.reduce_max(tf.abs(fit - grid_target[None, :]), axis=1)
            return e + 1, losses_ta.write(e, total / n), metrics_ta.write(e, metric)

        arrays = [tf.TensorArray(tf.float32, size=CHUNK_CAPACITY, element_shape=[members]) for _ in range(2)]
        _, losses, metrics = tf.while_loop(lambda e, *_: e < n_epochs, epoch, (tf.constant(0), *arrays))
        return losses.stack(), metrics.stack()

    compiled = tf.function(chunk, jit_compile=True, autograph=False)
    orders = [shuffle_orders(spec.with_value("seed", s), n) for s in seeds]
    began = time.perf_counter()
    done, per_epoch, loss_rows, metric_rows, compiled_once, all_diverged, compile_s = 0, None, [], [], False, False, 0.0
    epochs = spec.train.epochs
    while done < epochs and not (stop is not None and stop.is_set()):
        count = 1 if per_epoch is None else max(1, min(CHUNK_CAPACITY, int(CHUNK_SECONDS / max(per_epoch, 1e-9))))
        count = min(count, epochs - done)
        perms = np.zeros((CHUNK_CAPACITY, members, n), np.int32)
        for i in range(count):
            for m in range(members):
                perms[i, m] = next(orders[m])
        t0 = time.perf_counter()
        losses, metrics = compiled(perms, np.int32(count))
        if compiled_once:  # the first call includes compilation and says nothing about speed
            per_epoch = (time.perf_counter() - t0) / count
        else:
            compile_s = time.perf_counter() - t0
        compiled_once = True
        loss_rows.append(losses.numpy()[:count])
        metric_rows.append(metrics.numpy()[:count])
        done += count
        last = loss_rows[-1][-1]
        if progress is not None:
            finite = np.isfinite(last)
            progress(done, {"median_loss": float(np.median(last[finite])) if finite.any() else float("nan")})
        if not np.isfinite(last).any():
            all_diverged = True
            break
    wall = time.perf_counter() - began
    losses = np.concatenate(loss_rows) if loss_rows else np.empty((0, members))
    metrics = np.concatenate(metric_rows) if metric_rows else np.empty((0, members))
    final = [model.weights[i].numpy() for i in range(len(model.weights))]
    final_weights = [[w[m] for w in final] for m in range(members)]
    diverged = []
    for m in range(members):
        bad = np.flatnonzero(~np.isfinite(losses[:, m]))
        diverged.append(int(bad[0]) + 1 if bad.size else None)
    stopped = done < epochs and not all_diverged
    result = EnsembleResult(spec, seeds, done, wall, losses, metrics, final_weights, diverged, stopped=stopped,
                            compile_s=compile_s, stop_reason=stop.reason if stopped and stop is not None else None)
    result.members = [_member_summary(ctx, spec, seeds[m], final_weights[m], losses[:, m], metrics[:, m], diverged[m])
                      for m in range(members)]
    return result


def _member_summary(ctx: _Context, spec: RunSpec, seed: int, weights, losses, metrics, diverged_at) -> dict[str, Any]:
    """One member's final numbers and the readout parts a success criterion and a table need."""
    keep = (diverged_at - 1) if diverged_at else len(losses)
    final = {}
    if keep:
        final = {"loss": float(losses[keep - 1]), metric_name(spec.data.task): float(metrics[keep - 1])}
    out: dict[str, Any] = {"seed": seed, "final": final, "diverged_at": diverged_at, "readout": {}}
    if diverged_at:
        return out
    with np.errstate(all="ignore"):
        fit = ctx.y_inverse(forward(spec.model, weights, ctx.grid_scaled))
        if spec.data.task == "regression":
            out["readout"]["extrema"] = {"fit": count_extrema(fit), "target": count_extrema(ctx.grid_target)}
            coefficients = parabola_from_weights(spec.model, weights, ctx.data.x_scaler, ctx.data.y_scaler)
            if coefficients is not None:
                out["readout"]["coefficients"] = [float(c) for c in coefficients]
                if spec.data.function == "parabola":
                    out["readout"]["target"] = list(spec.data.coefficients)
        else:
            out["readout"]["crossings"] = probability_crossings(ctx.grid, fit)
    return out


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a success rate `successes` of `n`."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _badness(member: dict[str, Any], metric: str) -> tuple:
    """Sort key of the best-of-N choice: succeeded first, then the better metric, then the lower loss."""
    final = member["final"]
    if not final:
        return (1, math.inf, math.inf)
    readout = member["readout"]
    if "coefficients" in readout and "target" in readout:
        score = max(abs(c - t) for c, t in zip(readout["coefficients"], readout["target"]))
    else:
        score = -final[metric] if metric == "accuracy" else final[metric]
    return (0 if member["success"] else 1, score, final["loss"])


def summarize_sweep(result: EnsembleResult, criterion) -> dict[str, Any]:
    """Success of every seed under `criterion`, the rate with its Wilson interval, and the best seed."""
    runs = [{**member, "success": bool(criterion.met(member["final"], member["readout"]))} for member in result.members]
    successes = sum(run["success"] for run in runs)
    n = len(runs)
    best = min(runs, key=lambda run: _badness(run, result.metric)) if runs else None
    return {
        "scenario": result.spec.scenario,
        "preset": result.spec.preset,
        "seeds": n,
        "epochs": result.epochs_run,
        "criterion": {"kind": criterion.kind, "threshold": criterion.threshold, "text": criterion.describe()},
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "interval": list(wilson_interval(successes, n)),
        "best": best,
        "runs": runs,
        "diverged": sum(1 for run in runs if run["diverged_at"]),
        "wall_s": result.wall_s,
        "stopped": result.stopped,
        "stop_reason": result.stop_reason,
        "config": result.spec.to_dict(),
    }
