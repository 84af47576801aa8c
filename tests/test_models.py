"""Models: seeded initializers, the square activation, save and reload as .keras."""

import keras
import numpy as np
import pytest

from core.engine.models import build_model, initial_weights, model_with_weights
from core.settings.network import count_params, forward, weight_names
from core.settings.specs import ModelSpec


def test_same_seed_same_weights_other_seed_other_weights():
    spec = ModelSpec(units=(8, 8), activation=("tanh",), kernel_initializer="he_normal")
    a, b, c = build_model(spec, 3), build_model(spec, 3), build_model(spec, 4)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    # Layers get different seeds, so two same-shaped kernels differ.
    assert not np.array_equal(a.get_weights()[2][:1], a.get_weights()[2][1:2])
    for wa, wi in zip(a.get_weights(), initial_weights(spec, 3)):
        np.testing.assert_array_equal(wa, wi)


def test_uniform_is_keras_random_uniform_default_and_biases_start_at_zero():
    spec = ModelSpec(units=(4,), kernel_initializer="uniform")
    weights = initial_weights(spec, 7)
    assert np.all(np.abs(weights[0]) <= 0.05) and np.abs(weights[0]).max() > 0.005
    np.testing.assert_array_equal(weights[1], np.zeros(4))
    normal = initial_weights(ModelSpec(units=(128,), activation=("tanh",), use_bias=False,
                                       kernel_initializer="random_normal", kernel_init_scale=1.0), 1)
    assert len(normal) == 2 and normal[0].std() == pytest.approx(1.0, rel=0.2)


def test_shapes_names_and_param_count():
    spec = ModelSpec(units=(32, 128, 32), activation=("tanh",), use_bias=False)
    model = build_model(spec, 0)
    assert model.count_params() == count_params(spec) == 32 + 32 * 128 + 128 * 32 + 32
    assert weight_names(spec) == ["hidden_1/kernel", "hidden_2/kernel", "hidden_3/kernel", "output/kernel"]
    assert build_model(ModelSpec(units=(), output_activation="square"), 0).count_params() == 2


def test_numpy_forward_matches_keras():
    spec = ModelSpec(units=(5, 3), activation=("relu", "sigmoid"), output_activation="tanh")
    model = build_model(spec, 11)
    x = np.linspace(-2, 2, 17, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(forward(spec, model.get_weights(), x), np.asarray(model(x)).ravel(), rtol=1e-5, atol=1e-6)


def test_square_activation_model_saves_and_loads(tmp_path):
    spec = ModelSpec(units=(1,), activation=("square",))
    weights = [np.array([[-1.3284513]], np.float32), np.array([-1.328055], np.float32),
               np.array([[0.5667597]], np.float32), np.array([1.0003909], np.float32)]
    model = model_with_weights(spec, weights)
    path = tmp_path / "parabola.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.array([[0.0], [0.5], [1.0]], np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    # x^2 + 2x + 2 at 0, 0.5, 1.
    np.testing.assert_allclose(np.asarray(loaded(x)).ravel(), [2.0, 3.25, 5.0], atol=2e-3)
