"""M independent copies of one network in ONE Keras model, for restarts.

Every Dense layer carries a leading members axis (kernel (members, in, out)); the loss is the SUM over
members of each member's own mean loss, so the gradient a member's weights get is exactly its own
loss's gradient, and with element-wise optimizers (sgd, momentum, adam, rmsprop, adagrad) each member
follows the trajectory it would follow alone: same initial weights (its seed), same shuffle order
(its seed), same steps. core/training.py drives it with the same compiled loop as a single run; a
test checks members against single runs.

Example:
    >>> net = EnsembleNet(ModelSpec(units=(4,)), members=64)
    >>> net(np.zeros((64, 32, 1), np.float32)).shape   # (members, batch, 1)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from core.models import activation
from core.network import layer_shapes

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
        if self.fan_in == 1:
            # One input: the product is a broadcast multiply, which XLA fuses with the bias and activation.
            out = x * self.kernel
        elif self.fan_in * self.units <= SMALL_LAYER:
            # Tiny layers as a broadcast product and a sum: a batched matmul per step would cost more
            # than the arithmetic itself.
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
        self.stack = [EnsembleDense(members, shape.fan_in, shape.units, shape.activation, spec.use_bias, name=shape.name)
                      for shape in layer_shapes(spec)]

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def member_loss(name: str):
    """Per-sample loss (members, batch) for y, y_pred of shape (members, batch, 1)."""
    if name in ("mse", "sse"):
        return lambda y, p: tf.reduce_mean(tf.square(p - y), axis=-1)
    if name == "mae":
        return lambda y, p: tf.reduce_mean(tf.abs(p - y), axis=-1)
    return lambda y, p: keras.losses.binary_crossentropy(y, p)
