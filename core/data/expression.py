"""Target functions typed by users, such as `sin(3*x) + 0.3*x**2`, parsed safely.

The text is parsed with Python's `ast` and checked against a whitelist: the variable x, the
constants pi and e, numbers, + - * / ** and the math functions below. Nothing the user types is ever
passed to eval or exec: a checked tree is interpreted node by node on numpy arrays. Attribute access,
subscripts, comprehensions, lambdas, keywords, unknown names and big literals or exponents (which could
hang the server or exhaust its memory) are refused with a message that says what is wrong.
"""

from __future__ import annotations

import ast
import inspect
import math
import operator
import re
from collections.abc import Callable

import numpy as np

from core.settings.errors import SpecError, bounded, shown

MAX_LENGTH = 200
MAX_NODES = 80
MAX_LITERAL = 1e6
MAX_VALUE = 1e9  # the largest |target| a formula may reach on its range (unscaled targets are a real case)
MAX_EXPONENT = 10


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


FUNCTIONS: dict[str, Callable] = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "abs": np.abs, "tanh": np.tanh, "sign": np.sign, "floor": np.floor, "ceil": np.ceil,
    "sigmoid": sigmoid,
}
TWO_ARGUMENTS = {"min": np.minimum, "max": np.maximum}
CONSTANTS = {"pi": np.pi, "e": np.e}
_OPERATORS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}
ALLOWED = ("x, pi, e, numbers up to 1e6, + - * / ** (constant exponents up to 10), parentheses and "
           + ", ".join([*FUNCTIONS, *TWO_ARGUMENTS]))


SYMBOLS = {ast.BitXor: "^", ast.BitAnd: "&", ast.BitOr: "|", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
           ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~", ast.Not: "not"}
IMPLICIT = re.compile(r"(\d|\))\s*(x\b|pi\b|e\b|[a-z]+\s*\(|\()")  # 2x, 3pi, 2sin(x), 2(x+1), (x+1)(x-1)


class ExpressionError(SpecError):
    """A typed expression that is refused; the message names the field, the text, then the reason, then what is allowed."""

    def __init__(self, text: str, reason: str, field: str = "data.expression"):
        super().__init__(field, text, ALLOWED)
        self.reason = reason
        self.args = (bounded(f"{self.field}: {shown(text)} {self.refusal}"),)

    @property
    def refusal(self) -> str:
        return f"is not allowed: {self.reason}. Allowed: {self.allowed}"


def parse(text) -> ast.Expression:
    """The checked syntax tree of `text`, or ExpressionError."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(str(text), "it is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(text[:40] + "...", f"it is {len(text)} characters long; at most {MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        if IMPLICIT.search(text):
            raise ExpressionError(text, "a product needs its * (write 2*x, not 2x)") from None
        raise ExpressionError(text, f"it is not a formula: {err.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(text, f"it has {len(nodes)} parts; at most {MAX_NODES}")
    for node in nodes:
        _check(node, text)
    return tree


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, (ast.Expression, ast.Load)) or type(node) in _OPERATORS or isinstance(node, (ast.USub, ast.UAdd)):
        return
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.BitXor):
            raise ExpressionError(text, "^ is not a power here: write x**2 for x squared")
        if type(node.op) not in _OPERATORS:
            raise ExpressionError(text, f"the operator {SYMBOLS.get(type(node.op), type(node.op).__name__)} is not allowed")
        if isinstance(node.op, ast.Pow):
            exponent = _constant(node.right)
            if exponent is None:
                raise ExpressionError(text, "an exponent must be a number (x**2, not x**x)")
            if abs(exponent) > MAX_EXPONENT:
                raise ExpressionError(text, f"the exponent {exponent:g} is larger than {MAX_EXPONENT}")
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise ExpressionError(text, f"the operator {SYMBOLS.get(type(node.op), type(node.op).__name__)} is not allowed")
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(text, f"{node.value!r} is not a number")
        if abs(node.value) > MAX_LITERAL:
            raise ExpressionError(text, f"the number {node.value:g} is larger than {MAX_LITERAL:g}")
        return
    if isinstance(node, ast.Name):
        if node.id != "x" and node.id not in CONSTANTS and node.id not in FUNCTIONS and node.id not in TWO_ARGUMENTS:
            raise ExpressionError(text, f"the name {node.id!r} is unknown")
        if node.id.startswith("__"):
            raise ExpressionError(text, f"the name {node.id!r} is not allowed")
        return
    if isinstance(node, ast.Call):
        if isinstance(node.func, (ast.BinOp, ast.UnaryOp, ast.Constant)):  # (x+1)(x-1): a product without its *
            raise ExpressionError(text, "a product needs its * (write (x+1)*(x-1), not (x+1)(x-1))")
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS and name not in TWO_ARGUMENTS:
            raise ExpressionError(text, "only the listed math functions can be called")
        wanted = 2 if name in TWO_ARGUMENTS else 1
        if node.keywords or len(node.args) != wanted or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(text, f"{name} takes exactly {wanted} argument{'s' if wanted > 1 else ''}")
        return
    if isinstance(node, ast.Attribute):
        raise ExpressionError(text, "attribute access (a.b) is not allowed")
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)):
        raise ExpressionError(text, "lambdas and comprehensions are not allowed")
    raise ExpressionError(text, f"{type(node).__name__} is not allowed")


def _constant(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _constant(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    return None


def evaluate(text: str, x: np.ndarray) -> np.ndarray:
    """The expression's values at x (float64), by interpreting the checked tree; never eval."""
    tree = parse(text)
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(_value(tree.body, x), dtype=np.float64), x.shape).copy()


def _value(node: ast.AST, x: np.ndarray):
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return x if node.id == "x" else CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        value = _value(node.operand, x)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](_value(node.left, x), _value(node.right, x))
    name = node.func.id
    args = [_value(a, x) for a in node.args]
    return TWO_ARGUMENTS[name](*args) if name in TWO_ARGUMENTS else FUNCTIONS[name](args[0])


def check_on_range(text: str, x_min: float, x_max: float, points: int = 1001) -> None:
    """Refuse an expression that is not finite everywhere on [x_min, x_max]."""
    values = evaluate(text, np.linspace(x_min, x_max, points))
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.linspace(x_min, x_max, points)[np.argmax(bad)]
        raise ExpressionError(text, f"it is not finite at x = {where:.4g}, inside the range [{x_min:g}, {x_max:g}]")
    if np.max(np.abs(values)) > MAX_VALUE:
        raise ExpressionError(text, f"it reaches {np.max(np.abs(values)):.3g} on the range; at most {MAX_VALUE:g}")


_PYTHON_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
                     ast.Pow: operator.pow}


def numpy_source(text: str) -> tuple[str, list[str]]:
    """The checked expression as plain numpy source in x, e.g. `np.sin(3 * x) + 0.3 * x ** 2`, and the
    source of each helper it calls (sigmoid), for a script that computes what `evaluate` computes.

    The source is made from the checked tree, never from the text: calls go to the functions of
    FUNCTIONS and TWO_ARGUMENTS (np.abs, np.minimum, the helper sigmoid), pi and e to np.pi and np.e.
    Where numbers alone meet, Python's arithmetic in the script could differ from the numpy arithmetic
    here (1/0 raises where numpy gives inf, 999999**10 is an exact integer, -0 has no sign); such a
    part is written as the value `evaluate` gives it, so the script computes the same floats.
    """
    tree = parse(text)
    helpers: list[str] = []
    body, _ = _source(tree.body, helpers)
    return ast.unparse(body), helpers


def _np(name: str) -> ast.expr:
    return ast.Attribute(ast.Name("np", ast.Load()), name, ast.Load())


def _function(name: str, helpers: list[str]) -> ast.expr:
    function = TWO_ARGUMENTS[name] if name in TWO_ARGUMENTS else FUNCTIONS[name]
    for attribute in (name, function.__name__):
        if getattr(np, attribute, None) is function:
            return _np(attribute)
    code = inspect.getsource(function)
    if code not in helpers:
        helpers.append(code)
    return ast.Name(function.__name__, ast.Load())


def _literal(value: float) -> ast.expr:
    if math.isnan(value):
        return _np("nan")
    magnitude = _np("inf") if math.isinf(value) else ast.Constant(abs(float(value)))
    return ast.UnaryOp(ast.USub(), magnitude) if math.copysign(1.0, value) < 0 else magnitude


def _source(node: ast.AST, helpers: list[str]) -> tuple[ast.expr, object]:
    """(numpy syntax tree, the value the script will compute for it when it holds no x, else None)."""
    if isinstance(node, ast.Constant):
        return ast.Constant(node.value), node.value
    if isinstance(node, ast.Name):
        return (ast.Name("x", ast.Load()), None) if node.id == "x" else (_np(node.id), CONSTANTS[node.id])
    if isinstance(node, ast.UnaryOp):
        operand, value = _source(node.operand, helpers)
        out = ast.UnaryOp(node.op, operand)
        value = None if value is None else (-value if isinstance(node.op, ast.USub) else +value)
    elif isinstance(node, ast.BinOp):
        (left, a), (right, b) = _source(node.left, helpers), _source(node.right, helpers)
        out = ast.BinOp(left, node.op, right)
        try:
            with np.errstate(all="ignore"):
                value = None if a is None or b is None else _PYTHON_OPERATORS[type(node.op)](a, b)
        except (ArithmeticError, ValueError):
            value = math.nan  # Python raises where numpy does not: written as the lab's value below
    else:
        name = node.func.id
        parts = [_source(arg, helpers) for arg in node.args]
        out = ast.Call(_function(name, helpers), [part for part, _ in parts], [])
        values = [value for _, value in parts]
        with np.errstate(all="ignore"):
            value = None if None in values else (TWO_ARGUMENTS.get(name) or FUNCTIONS[name])(*values)
    if value is None:
        return out, None
    with np.errstate(all="ignore"):
        lab = float(_value(node, None))
    same = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and (value == lab or (math.isnan(value) and math.isnan(lab)))
            and math.copysign(1.0, value) == math.copysign(1.0, lab))
    return (out, value) if same else (_literal(lab), lab)
