"""Typed target functions: parsed against a whitelist, interpreted without eval, hostile text refused."""

import time

import numpy as np
import pytest

from core.cases import scenarios
from core.data.datasets import make_dataset
from core.data.expression import ExpressionError, check_on_range, evaluate, parse
from core.engine.training import train
from core.settings.specs import DataSpec, SpecError


@pytest.mark.parametrize("text, expected", [
    ("sin(3*x) + 0.3*x**2", lambda x: np.sin(3 * x) + 0.3 * x**2),
    ("abs(x)", np.abs),
    ("-x**2 + 2*x - 1", lambda x: -x**2 + 2 * x - 1),
    ("max(x, 0) - min(x, 0)", np.abs),
    ("exp(-x**2) * cos(pi * x)", lambda x: np.exp(-x**2) * np.cos(np.pi * x)),
    ("sigmoid(4*x) + sign(x) + tanh(x) + sqrt(x**2 + 1) + floor(x) + ceil(x)",
     lambda x: 1 / (1 + np.exp(-4 * x)) + np.sign(x) + np.tanh(x) + np.sqrt(x**2 + 1) + np.floor(x) + np.ceil(x)),
    ("2", lambda x: np.full_like(x, 2.0)),
    ("2**3 * x + e", lambda x: 8 * x + np.e),
])
def test_whitelisted_formulas_evaluate_like_numpy(text, expected):
    x = np.linspace(-2, 2, 101)
    np.testing.assert_allclose(evaluate(text, x), expected(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("text, reason", [
    ("__import__('os').system('echo hacked')", "only the listed math functions can be called"),
    ("x.__class__", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "only the listed math functions"),
    ("open('/etc/passwd')", "only the listed math functions can be called"),
    ("eval('1')", "only the listed math functions can be called"),
    ("lambda: 1", "lambdas and comprehensions"),
    ("[x for x in range(10**9)]", "lambdas and comprehensions"),
    ("y + 1", "the name 'y' is unknown"),
    ("__builtins__", "the name '__builtins__' is unknown"),
    ("9**9**9", "an exponent must be a number"),
    ("x**1000", "the exponent 1000 is larger than 10"),
    ("x**x", "an exponent must be a number"),
    ("10000000 * x", "the number 1e+07 is larger than 1e+06"),
    ("'abc'", "'abc' is not a number"),
    ("sin(x, 2)", "sin takes exactly 1 argument"),
    ("sin(x=1)", "sin takes exactly 1 argument"),
    ("x if x else 1", "IfExp is not allowed"),
    ("x[0]", "Subscript is not allowed"),
    ("x +", "it is not a formula"),
    ("", "it is empty"),
    ("x + " * 100 + "x", "characters long; at most 200"),
    ("-" * 150 + "x", "it has"),  # deep nesting would recurse 150 levels
    ("x+" * 45 + "x", "parts; at most 80"),
    ("x == 1", "Compare is not allowed"),
    ("x // 2", "the operator // is not allowed"),
    ("x^2", "^ is not a power here: write x**2 for x squared"),
    ("2x", "a product needs its * (write 2*x, not 2x)"),
    ("3sin(x)", "a product needs its *"),
    ("(x+1)(x-1)", "a product needs its *"),
])
def test_hostile_or_broken_text_is_refused_with_a_reason(text, reason):
    began = time.perf_counter()
    with pytest.raises(ExpressionError) as err:
        parse(text)
    assert time.perf_counter() - began < 1  # refused, not computed
    assert reason in str(err.value)
    assert str(err.value).startswith("data.expression: ")


def test_values_that_are_not_finite_on_the_range_are_refused():
    with pytest.raises(ExpressionError, match=r"not finite at x = 0, inside the range \[-1, 1\]"):
        check_on_range("1/x", -1.0, 1.0)
    with pytest.raises(ExpressionError, match="not finite"):
        check_on_range("log(x)", -1.0, 1.0)
    with pytest.raises(ExpressionError, match="reaches"):
        check_on_range("exp(x)**10", 0.0, 10.0)
    check_on_range("1/x", 1.0, 2.0)  # fine where it is finite


def test_custom_data_regression_and_classification():
    data = make_dataset(DataSpec(function="custom", expression="abs(x)", sampling="grid", n_samples=5, x_min=-2.0, x_max=2.0))
    np.testing.assert_array_equal(data.y.ravel(), [2, 1, 0, 1, 2])
    labels = make_dataset(DataSpec(function="custom", expression="abs(x)", classify_above=0.5, n_samples=5, x_min=-2.0, x_max=2.0))
    assert labels.task == "classification"
    np.testing.assert_array_equal(labels.y.ravel(), [1, 1, 0, 1, 1])
    with pytest.raises(SpecError, match="data.expression"):
        DataSpec(function="custom", expression="os.system")


def test_custom_scenario_trains_from_the_command_line_spec():
    spec = scenarios.get("custom").spec().with_values({"data.expression": "abs(x)", "train.epochs": "40"})
    r = train(spec)
    assert r.final["max_abs_error"] < 1.0 and r.epochs_run == 40
    np.testing.assert_allclose(r.grid_target, np.abs(r.grid_x))
    assert "custom" not in scenarios.POSTED
