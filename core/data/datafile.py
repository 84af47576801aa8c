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

import csv
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.settings.errors import SpecError, shorten

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MIN_ROWS = 4
MAX_INPUTS = 2
MAX_CLASSES = 10
FIELD = "data.file"
MAX_VALUE = 1e9  # the largest |value| of a cell: unscaled data is a real case, overflow in float32 is not
MAX_LINES = 2 * MAX_ROWS  # lines of a file, blank and comment lines included: counted before any is split
MAX_COLUMNS = 256  # columns; the run reads at most MAX_INPUTS + 1 of them
MAX_CELLS = 2_000_000  # rows x columns: 16 MB of numbers kept in a session
MAX_CELL = 100  # characters of one cell (a number or a column name)
MAX_LINE = MAX_COLUMNS * (MAX_CELL + 1)  # characters of the first line, checked before it is split
PASTE_CHARS = 1_000_000  # characters the paste box takes (a bigger table is an upload)


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
    """Every column of `content` (CSV or pasted text), or a SpecError naming the line, the column and what is allowed.

    The limits are checked before the work they bound, so a hostile file is refused in milliseconds with
    memory of the order of its size: the bytes, then the count of lines (one pass of `count`), then the
    first line's length and its number of columns, then rows x columns, and only then is any line split.
    Each line is checked for its length before it is split, and each cell for its length before it is read.
    """
    raw = content.encode() if isinstance(content, str) else bytes(content)
    if len(raw) > MAX_BYTES:
        raise SpecError(FIELD, f"{len(raw) / 1e6:.1f} MB", f"a file of at most {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(FIELD, f"byte {err.start}", "a text file (UTF-8): numbers separated by commas, semicolons, tabs or spaces") from None
    if "\r" in text:  # Windows and old Mac line ends; only these end a line (not U+2028 or a form feed inside one)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    count = text.count("\n") + (not text.endswith("\n"))  # a last line need not end with a line end
    if count > MAX_LINES:
        raise SpecError(FIELD, f"{count:,} lines", f"at most {MAX_ROWS:,} rows (and {MAX_LINES:,} lines with blank and comment lines)")
    first_number, first = _first_line(text)
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    width = first.count(delimiter) + 1 if delimiter else None
    if len(first) > MAX_LINE or (width or 0) > MAX_COLUMNS:
        raise SpecError(FIELD, f"line {first_number}: {width or 'a line'} of {len(first):,} characters" if width is None else
                        f"line {first_number}: {width:,} columns",
                        f"at most {MAX_COLUMNS} columns, each cell at most {MAX_CELL} characters")
    head = _cells(first, delimiter, first_number)
    width = len(head)
    if width < 2:
        raise SpecError(FIELD, f"{width} column", "at least 2 columns (the inputs, then the target)")
    lines = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip() and not line.lstrip().startswith("#")]
    del text
    header = any(not _is_number(c) for c in head) and len(lines) > 1
    rows = len(lines) - header
    if rows > MAX_ROWS:
        raise SpecError(FIELD, f"{rows:,} rows", f"at most {MAX_ROWS:,} rows")
    if rows * width > MAX_CELLS:
        raise SpecError(FIELD, f"{rows:,} rows × {width} columns", f"at most {MAX_CELLS:,} cells (rows × columns)")
    names = [n or f"column {i}" for i, n in enumerate(head)] if header else [f"column {i}" for i in range(width)]
    values = np.empty((rows, width), dtype=np.float64)
    for row, (number, line) in enumerate(lines[1:] if header else lines):
        if len(line) > width * (MAX_CELL + 1) + 2:
            raise SpecError(FIELD, f"line {number} of {len(line):,} characters", f"{width} cells of at most {MAX_CELL} characters each")
        cells = _cells(line, delimiter, number)
        if len(cells) != width:
            raise SpecError(FIELD, f"line {number}: {len(cells)} cells", f"{width} cells on every line, as on the first")
        for column, cell in enumerate(cells):
            values[row, column] = _value(cell, number, column, names)
    if rows < MIN_ROWS:
        raise SpecError(FIELD, f"{rows} row{'s' if rows != 1 else ''}", f"at least {MIN_ROWS} rows of data")
    return Table(values=values, names=tuple(names), header=header, digest=hashlib.sha256(raw).hexdigest(), name=name,
                 delimiter=delimiter)


def _first_line(text: str) -> tuple[int, str]:
    """The first line that is neither blank nor a comment, and its number, found without splitting the rest."""
    start, number = 0, 1
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        if line.strip() and not line.lstrip().startswith("#"):
            return number, line
        start, number = end + 1, number + 1
    raise SpecError(FIELD, "an empty file", "rows of numbers, one sample per row (x then y by default)")


def _cells(line: str, delimiter: str | None, number: int) -> list[str]:
    """A line's cells, stripped; quoted cells as CSV quotes them ("a, b" is one cell, "" inside is a quote)."""
    if delimiter is None:
        return line.split()
    if '"' not in line:
        return [c.strip() for c in line.split(delimiter)]
    try:
        cells = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True, strict=True))
    except (csv.Error, StopIteration) as err:
        raise SpecError(FIELD, f"line {number}: {line}", f"cells quoted as CSV quotes them (\"a, b\"; {err})") from None
    return [c.strip() for c in cells]


def _value(cell: str, number: int, column: int, names: list[str]) -> float:
    """The number in one cell, or a SpecError naming its line and column."""
    value = _number(cell) if len(cell) <= MAX_CELL else None
    if value is None:
        raise SpecError(FIELD, f"line {number}, column {column} ({shorten(names[column], 40)!r}): {shorten(cell, 40)!r}",
                        f"a number in every cell (at most {MAX_CELL} characters; a header is allowed only on the first line)")
    if not math.isfinite(value) or abs(value) > MAX_VALUE:
        raise SpecError(FIELD, f"line {number}, column {column} ({shorten(names[column], 40)!r}): {cell!r}",
                        f"a finite number of at most {MAX_VALUE:g} in size (no NaN, no infinity, no empty cell)")
    return value


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


# Possessive quantifiers (Python 3.11): no backtracking, so a long run of digits is read once (the earlier pattern
# \d+\.?\d* took 7 s on 16,000 digits followed by an x).
_NUMBER = re.compile(r"[+-]?+(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][+-]?+\d++)?+|[+-]?+(?:nan|inf|infinity)", re.IGNORECASE)


def _is_number(cell: str) -> bool:
    return bool(_NUMBER.fullmatch(cell))


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
