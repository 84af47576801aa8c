"""A user's data file (CSV or pasted text) read into plain arrays, or refused with the row and column at fault.

The first piece of "Your data" (issue 13): no TensorFlow, no Streamlit, nothing written to disk. A file
is read from its bytes; the result carries a digest of its content, so a cache key can name the data
without holding it.

Example:
    >>> table = read_table(b"x,y\\n0,0\\n1,1\\n2,0\\n3,1\\n")
    >>> table.x_names, table.y_name, table.task, table.rows
    (('x',), 'y', 'classification', 4)

Columns: by default the last column is the target and the others are the inputs; `x_columns` and
`y_column` choose others by 0-based index or by header name. A header is detected (a first row with a
cell that is not a number, above rows that are all numbers). The delimiter is a comma, a semicolon, a
tab or runs of spaces, whichever the first line uses. The task is inferred from the target (at most
MAX_CLASSES distinct whole numbers: classification) unless given.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.settings.errors import SpecError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MIN_ROWS = 4
MAX_INPUTS = 2
MAX_CLASSES = 10
FIELD = "data.file"
MAX_VALUE = 1e9  # the largest |value| of a cell: unscaled data is a real case, overflow in float32 is not


@dataclass(frozen=True, eq=False)
class Table:
    """A data file as read: every column as float64, the column names, and a digest of the bytes.

    The run's spec holds a Table (never on disk, never in a shared cache key: `DataSpec.to_dict` keeps
    only its name and digest) and chooses its inputs, target and task with `select`.
    """

    values: np.ndarray  # (rows, columns) float64, every cell finite
    names: tuple[str, ...]
    header: bool
    digest: str  # sha256 of the file's bytes
    name: str = ""  # the file's name as the user gave it (shown, never opened again)
    delimiter: str | None = ","  # None: runs of spaces

    @property
    def rows(self) -> int:
        return len(self.values)

    @property
    def short_digest(self) -> str:
        return self.digest[:12]


@dataclass(frozen=True)
class DataTable:
    """The inputs (rows x inputs) and target chosen from a Table, with the task they make."""

    x: np.ndarray
    y: np.ndarray
    x_names: tuple[str, ...]
    y_name: str
    header: bool
    task: str  # regression or classification
    classes: tuple[float, ...]  # the distinct target values of a classification, sorted
    digest: str  # sha256 of the file's bytes

    @property
    def rows(self) -> int:
        return len(self.y)


def read_table(content: bytes | str, x_columns: Sequence[int | str] | str | None = None, y_column: int | str | None = None,
               task: str | None = None) -> DataTable:
    """The inputs and target in `content`, or a SpecError naming the row, the column and what is allowed."""
    return select(parse(content), x_columns, y_column, task)


def parse(content: bytes | str, name: str = "") -> Table:
    """Every column of `content` (CSV or pasted text), or a SpecError naming the line, the column and what is allowed."""
    raw = content.encode() if isinstance(content, str) else bytes(content)
    if len(raw) > MAX_BYTES:
        raise SpecError(FIELD, f"{len(raw) / 1e6:.1f} MB", f"a file of at most {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(FIELD, f"byte {err.start}", "a text file (UTF-8): numbers separated by commas, semicolons, tabs or spaces") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise SpecError(FIELD, "an empty file", "rows of numbers, one sample per row (x then y by default)")
    delimiter = next((d for d in (",", ";", "\t") if d in lines[0][1]), None)
    split = (lambda line: line.split(delimiter)) if delimiter else (lambda line: line.split())
    cells = [(number, [c.strip().strip('"').strip("'") for c in split(line)]) for number, line in lines]
    header = any(not _is_number(c) for c in cells[0][1]) and len(cells) > 1
    names = cells[0][1] if header else [f"column {i}" for i in range(len(cells[0][1]))]
    names = [n or f"column {i}" for i, n in enumerate(names)]
    body = cells[1:] if header else cells
    width = len(names)
    if width < 2:
        raise SpecError(FIELD, f"{width} column", "at least 2 columns (the inputs, then the target)")
    if len(body) > MAX_ROWS:
        raise SpecError(FIELD, f"{len(body):,} rows", f"at most {MAX_ROWS:,} rows")
    values = np.empty((len(body), width), dtype=np.float64)
    for row, (number, row_cells) in enumerate(body):
        if len(row_cells) != width:
            raise SpecError(FIELD, f"line {number}: {len(row_cells)} cells", f"{width} cells on every line, as on the first")
        for column, cell in enumerate(row_cells):
            value = _number(cell)
            if value is None:
                raise SpecError(FIELD, f"line {number}, column {column} ({names[column]!r}): {cell!r}",
                                "a number in every cell (a header is allowed only on the first line)")
            if not math.isfinite(value) or abs(value) > MAX_VALUE:
                raise SpecError(FIELD, f"line {number}, column {column} ({names[column]!r}): {cell!r}",
                                f"a finite number of at most {MAX_VALUE:g} in size (no NaN, no infinity, no empty cell)")
            values[row, column] = value
    if len(body) < MIN_ROWS:
        raise SpecError(FIELD, f"{len(body)} row{'s' if len(body) != 1 else ''}", f"at least {MIN_ROWS} rows of data")
    return Table(values=values, names=tuple(names), header=header, digest=hashlib.sha256(raw).hexdigest(), name=name,
                 delimiter=delimiter)


def columns_text(choice: Sequence[int | str] | str | None) -> list[str]:
    """A column choice as a list of names or indices: "" or None is the default, "a, b" two columns."""
    if choice is None:
        return []
    if isinstance(choice, int):
        return [str(choice)]
    items = choice.split(",") if isinstance(choice, str) else [str(c) for c in choice]
    return [item.strip() for item in items if item.strip()]


def select(table: Table, x_columns: Sequence[int | str] | str | None = None, y_column: int | str | None = None,
           task: str | None = None) -> DataTable:
    """The inputs, target and task chosen from `table`; by default the last column is the target, the rest the inputs."""
    names, width, values = list(table.names), len(table.names), table.values
    y_choice = columns_text(y_column)
    if len(y_choice) > 1:
        raise SpecError("data.y_column", y_column, "one column: an index from 0 to "
                        f"{width - 1} or a header name ({', '.join(names)})")
    target = _column(y_choice[0], names, "data.y_column") if y_choice else width - 1
    chosen = columns_text(x_columns)
    inputs = [_column(c, names, "data.x_columns") for c in chosen] if chosen else [c for c in range(width) if c != target]
    if target in inputs:
        raise SpecError("data.x_columns", names[target], f"columns other than the target column {names[target]!r}")
    if not 1 <= len(inputs) <= MAX_INPUTS:
        raise SpecError("data.x_columns", ", ".join(names[i] for i in inputs) or "none",
                        f"1 or {MAX_INPUTS} input columns (this file has {width}: choose them with data.x_columns)")
    y = values[:, target]
    distinct = np.unique(y)
    whole = bool(np.all(distinct == np.round(distinct)))
    inferred = "classification" if whole and len(distinct) <= MAX_CLASSES and len(distinct) * 2 <= len(y) else "regression"
    task = inferred if task in (None, "", "auto") else task
    if task not in ("regression", "classification"):
        raise SpecError("data.task", task, "auto, regression or classification")
    if task == "classification":
        if not whole:
            odd = y[y != np.round(y)][0]
            raise SpecError("data.task", "classification", f"whole-number class labels in column {names[target]!r} (it has {odd:g})")
        if len(distinct) < 2:
            raise SpecError(FIELD, f"one class ({distinct[0]:g}) in column {names[target]!r}", "at least 2 classes to tell apart")
        if len(distinct) > MAX_CLASSES * 10:
            raise SpecError("data.task", "classification", f"at most {MAX_CLASSES * 10} classes (column {names[target]!r} has {len(distinct)})")
    return DataTable(x=values[:, inputs], y=y, x_names=tuple(names[i] for i in inputs), y_name=names[target], header=table.header,
                     task=task, classes=tuple(float(c) for c in distinct) if task == "classification" else (),
                     digest=table.digest)


EXAMPLE_NAME = "house-prices.csv"


def example_csv() -> str:
    """The "Your data" page's example: 120 houses, area in square feet and price in dollars, as a file would hold them.

    A classic tiny-net question: the raw numbers go straight into a small ReLU net, whose outputs start
    near 0 against prices near 300,000. The rows are drawn once from a fixed seed (price about 120 $
    per square foot plus 40,000, with noise), so every machine shows the same file.
    """
    rs = np.random.RandomState(2024)
    area = np.round(rs.uniform(600, 3500, 120), -1)
    price = np.round(40_000 + 120 * area + 0.004 * (area - 2000) ** 2 + rs.normal(0, 20_000, 120), -2)
    return "area_sqft,price_usd\n" + "".join(f"{a:.0f},{p:.0f}\n" for a, p in zip(area, price))


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def _is_number(cell: str) -> bool:
    return bool(_NUMBER.match(cell))


def _number(cell: str) -> float | None:
    if cell == "":
        return math.nan  # an empty cell is a missing value: refused as not finite, with its place
    return float(cell) if _is_number(cell) else None


def _column(choice: int | str, names: list[str], field: str) -> int:
    if isinstance(choice, str) and choice.strip().lstrip("-").isdigit():
        choice = int(choice)
    if isinstance(choice, int):
        index = choice + len(names) if choice < 0 else choice
        if 0 <= index < len(names):
            return index
    elif choice in names:
        return names.index(choice)
    raise SpecError(field, choice, f"a column index from 0 to {len(names) - 1} or a header name ({', '.join(names)})")
