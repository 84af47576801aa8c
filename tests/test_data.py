"""The datasets are drawn exactly as the posts drew them; scalers map there and back."""

import numpy as np
import pytest

from core.cases import scenarios
from core.data.datasets import Scaler, make_dataset
from core.settings.specs import DataSpec


def data_of(scenario, preset="question"):
    return make_dataset(scenarios.get(scenario).spec(preset).data)


def test_parabola_data_is_the_posts_seeded_draw():
    d = data_of("parabola")
    np.random.seed(42)
    x = np.random.rand(999)
    np.testing.assert_array_equal(d.x.ravel(), x)
    np.testing.assert_array_equal(d.y.ravel(), x**2 + 2 * x + 2)
    np.random.seed(43)
    x_test = np.random.rand(100)
    np.testing.assert_array_equal(d.x_test.ravel(), x_test)
    np.testing.assert_array_equal(d.y_test.ravel(), x_test**2 + 2 * x_test + 2)


def test_noisy_sine_follows_the_posts_generator():
    d = data_of("noisy-sine")
    rs = np.random.RandomState(d.spec.data_seed)
    x = rs.rand(4000, 1) * 10 - 1
    y = np.sin(x) / 2.5 + rs.randn(4000, 1) / 20
    np.testing.assert_allclose(d.x, x, rtol=0, atol=1e-15)
    np.testing.assert_allclose(d.y, y, rtol=0, atol=1e-15)
    assert d.x.min() >= -1 and d.x.max() < 9
    # The clean target has no noise: sin(x)/2.5.
    np.testing.assert_allclose(d.target(d.grid()), np.sin(d.grid()) / 2.5, atol=1e-15)


def test_sine_and_segments_are_the_posted_arrays():
    d = data_of("sine-relu")
    np.testing.assert_array_equal(d.x.ravel(), np.linspace(0, 2 * np.pi, 10000))
    np.testing.assert_array_equal(d.y.ravel(), np.sin(np.linspace(0, 2 * np.pi, 10000)))
    s = data_of("segments")
    x = np.concatenate([np.linspace(0, 10, 100), np.linspace(11, 20, 100), np.linspace(21, 30, 100)])
    y = np.concatenate([np.repeat(0, 100), np.repeat(1, 100), np.repeat(0, 100)])
    np.testing.assert_allclose(s.x.ravel(), x, atol=1e-12)
    np.testing.assert_array_equal(s.y.ravel(), y)
    assert s.task == "classification"
    # The clean labels on a grid agree with the sampled blocks.
    np.testing.assert_array_equal(s.target(s.x.ravel()), y)


def test_sine_relu_minmax_scaling_reaches_unit_interval():
    d = data_of("sine-relu")
    assert d.x_train.min() == 0 and d.x_train.max() == pytest.approx(1)
    assert d.y_train.min() == pytest.approx(0, abs=1e-7) and d.y_train.max() == pytest.approx(1)


@pytest.mark.parametrize("kind, lo, hi", [("minmax", 0, 1), ("symmetric", -1, 1)])
def test_range_scalers(kind, lo, hi):
    values = np.array([-3.0, 0.5, 7.0])
    s = Scaler.fit(kind, values)
    scaled = s.transform(values)
    assert scaled.min() == pytest.approx(lo) and scaled.max() == pytest.approx(hi)
    np.testing.assert_allclose(s.inverse(scaled), values)


def test_standard_scaler_is_the_posts_z_score():
    x = make_dataset(scenarios.get("segments").spec("answer").data)
    raw = x.x.ravel()
    np.testing.assert_allclose(x.x_train.ravel(), ((raw - raw.mean()) / raw.std()).astype(np.float32), rtol=1e-6)
    assert Scaler.fit("standard", np.ones(5)).scale == 1.0  # a constant does not divide by zero


def test_noise_and_seeds():
    a = make_dataset(DataSpec(function="sine", sampling="uniform", n_samples=50, noise=0.1, data_seed=1))
    b = make_dataset(DataSpec(function="sine", sampling="uniform", n_samples=50, noise=0.1, data_seed=2))
    assert not np.array_equal(a.x, b.x)
    assert np.std(a.y - a.target(a.x)) == pytest.approx(0.1, rel=0.4)
