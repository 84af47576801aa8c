"""The numpy forward pass: asking for some layers gives exactly those of the full pass, and computes no further."""

import numpy as np
import pytest

from core.settings.network import iter_layer_outputs, layer_output, layer_outputs, layer_shapes
from core.settings.specs import ModelSpec


def _weights(spec: ModelSpec, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = []
    for shape in layer_shapes(spec):
        weights.append(rng.normal(size=(shape.fan_in, shape.units)).astype(np.float32))
        if spec.use_bias:
            weights.append(rng.normal(size=shape.units).astype(np.float32))
    return weights


@pytest.mark.parametrize("spec", [
    ModelSpec(units=(5, 4, 3), activation=("relu", "tanh", "sigmoid")),
    ModelSpec(inputs=2, units=(6, 6), activation="gelu", output_units=3, output_activation="softmax"),
    ModelSpec(units=(4,), use_bias=False),
])
def test_chosen_layers_are_the_full_passs_own(spec):
    w, x = _weights(spec), np.linspace(-2, 2, 40 * spec.inputs).reshape(40, spec.inputs)
    full = layer_outputs(spec, w, x)
    count = len(full)
    for chosen in ([0], [-1], [count - 1, 0], list(range(count - 1)), []):
        picked = layer_outputs(spec, w, x, chosen)
        indices = sorted({range(count)[i] for i in chosen})
        assert len(picked) == len(indices)
        for (pre, post), i in zip(picked, indices):
            assert np.array_equal(pre, full[i][0]) and np.array_equal(post, full[i][1])
    pre, post = layer_output(spec, w, x, -1)
    assert np.array_equal(post, full[-1][1])
    assert len(list(iter_layer_outputs(spec, w, x, upto=0))) == 1  # stops at the last layer asked for
    with pytest.raises(IndexError):
        layer_outputs(spec, w, x, [count])
