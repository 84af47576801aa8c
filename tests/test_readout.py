"""Readout algebra against hand-computed weights, including the parabola post's own."""

import numpy as np
import pytest

from core.data.datasets import Scaler, make_dataset
from core.outcomes.readout import (
    _units_readout,
    best_in_square_family,
    count_extrema,
    one_neuron_coefficients,
    parabola_coefficients,
    probability_crossings,
    square_family_gap,
    to_original_units,
)
from core.settings.specs import DataSpec, ModelSpec


def test_the_posts_weights_give_the_posts_coefficients():
    a, b, c = parabola_coefficients(-1.3284513, -1.328055, 0.5667597, 1.0003909)
    assert round(a, 4) == 1.0002 and round(b, 4) == 1.9998 and round(c, 4) == 2.0000
    assert (a, b, c) == pytest.approx((1.0002078, 1.9998188, 2.0000020), abs=5e-7)


def test_one_neuron_family_and_its_condition():
    assert one_neuron_coefficients(3.0, -2.0) == (9.0, -12.0, 4.0)
    assert square_family_gap((9.0, -12.0, 4.0)) == 0
    assert square_family_gap((1.0, 2.0, 2.0)) == -4.0  # x^2 + 2x + 2 is not a perfect square
    x = np.linspace(0, 1, 201)
    inside = best_in_square_family(x, (2 * x - 1) ** 2, Scaler("none", 0.0, 1.0))
    assert inside["max_abs_error"] < 1e-6
    assert inside["coefficients"] == pytest.approx([4, -4, 1], abs=1e-5)
    outside = best_in_square_family(x, x**2 + 2 * x + 2, Scaler("none", 0.0, 1.0))
    assert 0.01 < outside["max_abs_error"] < 0.5


def test_scaled_coefficients_map_back_to_original_units():
    xs, ys = Scaler("symmetric", 3.0, 2.0), Scaler("standard", 5.0, 4.0)
    scaled = (0.7, -0.2, 0.4)
    coefficients = to_original_units(scaled, xs, ys)
    x = np.linspace(-4, 9, 11)
    direct = ys.inverse(np.polyval(scaled, xs.transform(x)))
    np.testing.assert_allclose(np.polyval(coefficients, x), direct, rtol=1e-12)


def test_relu_kinks_dead_units_and_contributions_by_hand():
    data = make_dataset(DataSpec(function="sine", sampling="grid", n_samples=101, x_min=0.0, x_max=4.0))
    spec = ModelSpec(units=(3,), activation=("relu",))
    # Unit 1: kink at x = 1 (w=2, b=-2); unit 2: kink at -1 (outside); unit 3: -x - 1 < 0 everywhere: dead.
    weights = [np.array([[2.0, 1.0, -1.0]], np.float32), np.array([-2.0, 1.0, -1.0], np.float32),
               np.array([[0.5], [-1.0], [3.0]], np.float32), np.array([0.25], np.float32)]
    r = _units_readout(spec, weights, data, data.replay_grid())
    assert r.kinks == pytest.approx([1.0, -1.0, -1.0])
    assert r.kink_in_range == (True, False, False)
    assert r.units_in_range == 1
    assert r.dead_units == (2,)
    assert r.thresholds is None
    grid = np.asarray(r.contributions.x)
    units = np.asarray(r.contributions.units)
    np.testing.assert_allclose(units[0], 0.5 * np.maximum(2 * grid - 2, 0), atol=1e-6)
    np.testing.assert_allclose(units[1], -1.0 * np.maximum(grid + 1, 0), atol=1e-6)
    np.testing.assert_allclose(units[2], 0.0)
    assert r.contributions.offset == pytest.approx(0.25)


def test_saturation_share_of_sigmoid_units():
    data = make_dataset(DataSpec(function="segments", sampling="blocks", n_samples=300, x_min=0.0, x_max=30.0))
    spec = ModelSpec(units=(2,), activation=("sigmoid",), output_activation="sigmoid")
    # Unit 1: sigmoid(10 (x - 15)) is saturated except within about 0.44 of x = 15; unit 2 never.
    weights = [np.array([[10.0, 0.001]], np.float32), np.array([-150.0, 0.0], np.float32),
               np.array([[1.0], [1.0]], np.float32), np.array([0.0], np.float32)]
    r = _units_readout(spec, weights, data, data.replay_grid())
    share = r.layers[0].saturated_share
    x = data.x.ravel()
    s = 1 / (1 + np.exp(-10 * (x - 15)))
    assert share[0] == pytest.approx(np.mean(s * (1 - s) < 0.0125))
    assert share[0] > 0.9 and share[1] == 0.0
    assert r.thresholds == pytest.approx([15.0, 0.0])
    assert r.kinks is None and r.layers[0].dead_units is None


def test_extrema_and_crossings():
    x = np.linspace(0, 2 * np.pi, 1001)
    assert count_extrema(np.sin(x)) == 2
    assert count_extrema(np.sin(3 * x)) == 6
    assert count_extrema(x) == 0
    assert count_extrema(np.abs(x - 3)) == 1
    # Float noise on a flat piece is not counted.
    assert count_extrema(np.where(x < 3, 0.0, x - 3) + 1e-9 * np.sin(50 * x)) == 0
    p = 1 / (1 + np.exp(-(x - 2))) - 1 / (1 + np.exp(-(x - 4)))
    crossings = probability_crossings(x, p, level=0.2)
    assert len(crossings) == 2 and crossings[0] < 3 < crossings[1]
