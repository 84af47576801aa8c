"""Tiny Net Lab's engine: specs, data, training, readouts and restarts (see README.md)."""

from core.engine import xla

xla.tune()  # before anything imports TensorFlow: XLA reads its flags once
