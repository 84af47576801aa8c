"""A user's data file: read as written (header or not, any delimiter, chosen columns), refused with its place."""

import doctest

import numpy as np
import pytest

from core.data import datafile
from core.data.datafile import read_table
from core.settings.errors import SpecError


def test_the_docstring_example_runs():
    assert doctest.testmod(datafile).failed == 0


def test_a_headerless_x_y_file_is_regression_with_the_last_column_as_target():
    x = np.linspace(-1, 1, 50)
    text = "\n".join(f"{a},{np.sin(3 * a)}" for a in x)
    table = read_table(text)
    assert not table.header and table.task == "regression" and table.rows == 50
    np.testing.assert_allclose(table.x[:, 0], x)
    np.testing.assert_allclose(table.y, np.sin(3 * x))
    assert table.x_names == ("column 0",) and table.y_name == "column 1"


def test_integer_labels_with_x_in_the_tens_of_thousands_are_a_classification():
    x = np.arange(0, 60_000, 1_000)
    text = "price;label\n" + "\n".join(f"{a};{int(20_000 <= a < 40_000)}" for a in x)
    table = read_table(text.encode())
    assert table.header and table.task == "classification" and table.classes == (0.0, 1.0)
    assert table.x.max() == 59_000 and table.x_names == ("price",) and table.y_name == "label"


def test_columns_are_chosen_by_name_or_index_and_the_task_can_be_overridden():
    text = "y,a,b,c\n" + "\n".join(f"{i % 2},{i},{2 * i},{3 * i}" for i in range(10))
    table = read_table(text, x_columns=["b"], y_column="y")
    np.testing.assert_allclose(table.x[:, 0], 2 * np.arange(10))
    assert table.task == "classification"
    table = read_table(text, x_columns=[1, "c"], y_column=0, task="regression")
    assert table.x.shape == (10, 2) and table.task == "regression" and table.classes == ()
    spaces = read_table("\n".join(f"{i}   {i * i}" for i in range(5)))
    np.testing.assert_allclose(spaces.y, [0, 1, 4, 9, 16])


@pytest.mark.parametrize("content, where, allowed", [
    (b"", "an empty file", "rows of numbers"),
    ("x,y\n1,2\n2,abc\n3,4\n5,6\n", "line 3, column 1 ('y'): 'abc'", "a number in every cell"),
    ("1,2\n2,nan\n3,4\n5,6\n", "line 2, column 1", "a finite number"),
    ("1,2\n2,inf\n3,4\n5,6\n", "line 2, column 1", "a finite number"),
    ("1,2\n2,\n3,4\n5,6\n", "line 2, column 1 ('column 1'): ''", "a finite number"),
    ("1,2\n2,3,4\n3,4\n5,6\n", "line 2: 3 cells", "2 cells on every line"),
    ("1\n2\n3\n4\n", "1 column", "at least 2 columns"),
    ("1,2\n2,3\n3,4\n", "3 rows", "at least 4 rows"),
    ("a,b,c,y\n" + "1,2,3,0\n" * 5, "a, b, c", "1 or 2 input columns"),
    ("x,y\n" + "1,1\n2,1\n3,1\n4,1\n", "one class (1) in column 'y'", "at least 2 classes"),
    (b"\xff\xfe1,2\n", "byte 0", "a text file (UTF-8)"),
])
def test_a_bad_file_is_refused_with_its_place_and_what_is_allowed(content, where, allowed):
    with pytest.raises(SpecError) as caught:
        read_table(content, task="classification" if "one class" in where else None)
    message = str(caught.value)
    assert where in message and allowed in message, message


def test_files_over_the_row_and_size_limits_are_refused_before_parsing_every_cell():
    rows = "\n".join(f"{i},{i}" for i in range(datafile.MAX_ROWS + 1))
    with pytest.raises(SpecError, match="200,001 rows.*at most 200,000 rows"):
        read_table(rows)
    with pytest.raises(SpecError, match="at most 20 MB"):
        read_table(b"1,2\n" * (datafile.MAX_BYTES // 4 + 1))


def test_a_bad_column_choice_names_the_columns_there_are():
    with pytest.raises(SpecError, match=r"data.y_column: 'z' .* header name \(x, y\)"):
        read_table("x,y\n1,2\n2,3\n3,4\n4,5\n", y_column="z")
    with pytest.raises(SpecError, match="data.x_columns"):
        read_table("x,y\n1,2\n2,3\n3,4\n4,5\n", x_columns=["y"], y_column="y")


def test_the_digest_names_the_content_not_the_parse():
    a = read_table("1,2\n2,3\n3,4\n4,5\n")
    assert a.digest == read_table(b"1,2\n2,3\n3,4\n4,5\n").digest
    assert a.digest != read_table("1,2\n2,3\n3,4\n4,6\n").digest
