"""M independent copies of one network as ONE weight tensor, for restarts.

All the weights of member m are row m of one (members, params) array, in get_weights() order (each
layer's kernel, flattened, then its bias); every Dense layer is a slice of it with a leading members
axis (kernel (members, in, out)). The loss is the SUM over members of each member's own mean loss,
so the gradient a member's weights get is exactly its own loss's gradient, and with element-wise
optimizers (sgd, momentum, adam, rmsprop, adagrad) each member follows the trajectory it would follow
alone: same initial weights (its seed), same shuffle order (its seed), same steps. core/engine/training.py
drives it with the same compiled loop as a single run; a test checks members against single runs.

One tensor rather than one variable per layer and role matters for speed: the optimizer then updates
one array per step, and XLA's CPU runtime, which launches every fused kernel of a loop iteration
separately, runs a handful of kernels per step instead of about two dozen.

Example:
    >>> net = FlatEnsemble(ModelSpec(units=(4,)), members=64)
    >>> theta = net.pack([initial_weights(spec, seed) for seed in range(64)])   # (64, 13)
    >>> net(theta, np.zeros((64, 32, 1), np.float32)).shape   # (members, batch, 1)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from core.engine.models import activation
from core.settings.network import layer_shapes

SMALL_LAYER = 64  # fan_in * units up to which a layer is a fused product-and-sum


def ensemble_dense(x, kernel, bias, act):
    """(members, batch, in) by kernel (members, in, out) [+ bias (members, out)], activated: (members, batch, out)."""
    fan_in, units = kernel.shape[1], kernel.shape[2]
    if fan_in == 1:
        # One input: the product is a broadcast multiply, which XLA fuses with the bias and activation.
        out = x * kernel
    elif fan_in * units <= SMALL_LAYER:
        # Tiny layers as a broadcast product and a sum: a batched matmul per step would cost more
        # than the arithmetic itself.
        out = tf.reduce_sum(x[:, :, :, None] * kernel[:, None, :, :], axis=2)
    else:
        out = tf.einsum("mbi,mio->mbo", x, kernel)
    if bias is not None:
        out = out + bias[:, None, :]
    return act(out)


class FlatEnsemble:
    """The network of a ModelSpec, M times over, reading its weights from one (members, params) tensor."""

    def __init__(self, spec, members: int):
        self.members = members
        self.layers = []  # (kernel offset, fan_in, units, bias offset or None, activation)
        offset = 0
        for shape in layer_shapes(spec):
            kernel, offset = offset, offset + shape.fan_in * shape.units
            bias = None
            if spec.use_bias:
                bias, offset = offset, offset + shape.units
            self.layers.append((kernel, shape.fan_in, shape.units, bias, activation(shape.activation)))
        self.size = offset  # weights per member

    def pack(self, weights: list[list[np.ndarray]]) -> np.ndarray:
        """One get_weights() list per member -> (members, params) float32."""
        return np.stack([np.concatenate([np.ravel(w) for w in member]) for member in weights]).astype(np.float32)

    def unpack(self, theta: np.ndarray) -> list[list[np.ndarray]]:
        """(members, params) -> one get_weights() list per member."""
        out = []
        for row in np.asarray(theta):
            weights = []
            for kernel, fan_in, units, bias, _ in self.layers:
                weights.append(row[kernel:kernel + fan_in * units].reshape(fan_in, units).copy())
                if bias is not None:
                    weights.append(row[bias:bias + units].copy())
            out.append(weights)
        return out

    def kernel_squares(self, theta):
        """theta (members, params) -> (members,): each member's sum of squared kernel weights (what an L2 penalty weighs)."""
        return tf.add_n([tf.reduce_sum(tf.square(theta[:, kernel:kernel + fan_in * units]), axis=1)
                         for kernel, fan_in, units, _, _ in self.layers])

    def __call__(self, theta, x):
        """theta (members, params), x (members, batch, 1) -> (members, batch, 1)."""
        for kernel, fan_in, units, bias, act in self.layers:
            k = tf.reshape(theta[:, kernel:kernel + fan_in * units], [self.members, fan_in, units])
            x = ensemble_dense(x, k, theta[:, bias:bias + units] if bias is not None else None, act)
        return x


def member_loss(name: str):
    """Per-sample loss (members, batch) for y, y_pred of shape (members, batch, 1)."""
    if name in ("mse", "sse"):
        return lambda y, p: tf.reduce_mean(tf.square(p - y), axis=-1)
    if name == "mae":
        return lambda y, p: tf.reduce_mean(tf.abs(p - y), axis=-1)
    if name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):  # class-number labels, one output per class
        return lambda y, p: keras.losses.sparse_categorical_crossentropy(y[..., 0], p)
    return lambda y, p: keras.losses.binary_crossentropy(y, p)
