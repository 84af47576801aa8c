"""Issue 23: whatever a visitor uploads or pastes, the CSV reader answers with a table or its own one-line refusal.

Hundreds of crafted files, generated here from a fixed seed: valid tables mutated byte by byte, cell by cell and
line by line, plus hand-made oddities (NUL bytes, lone quotes, Unicode separators, other encodings, huge numbers,
ragged rows). Each must read (every value finite, as the reader promises) or raise SpecError of one line of at most
500 characters; any other exception fails with the file named.
"""

import random

import numpy as np
import pytest

from core.data import datafile
from core.settings.errors import MAX_MESSAGE, SpecError

VALID = [
    b"x,y\n0,0.1\n1,0.9\n2,4.2\n3,8.8\n4,16.1\n",
    b"area;price;label\n600;120000;0\n800;150000;1\n1000;170000;1\n1200;210000;0\n",
    b"# a comment\n1 2 3\n4 5 6\n\n7 8 9\n10 11 12\n",
    b'"x","y"\r\n"1","2"\r\n3,4\r\n5,6\r\n7,8\r\n',
    b"x\ty\n-1e3\t2.5E-2\n.5\t3.\n+4\t-0\n5\t6\n",
]
ODD = [
    b"", b"\n\n\n", b"#only\n#comments\n", b"\x00\x00\x00", b"x,y\n1,\x002\n3,4\n5,6\n7,8\n", b'x,y\n"1,2\n3,4\n5,6\n7,8\n',
    b'x,y\n1,"2""\n3,4\n5,6\n7,8\n', "x,y\n1,2\u2028\n3,4\u2029\n5,6\x0c\n7,8\x1c\n".encode(), b"\xef\xbb\xbfx,y\n1,2\n3,4\n5,6\n7,8\n",
    "x,y\n1,2\n3,4\n5,6\n7,8\n".encode("utf-16"), b"\xff\xfe\xfd", b"x,y\n1e400,2\n3,4\n5,6\n7,8\n", b"x,y\n1,2\n" + b"9" * 99 + b",1\n3,4\n5,6\n",
    b"x,y\nnan,1\n2,3\n4,5\n6,7\n", b"x,y\ninf,1\n2,3\n4,5\n6,7\n", b"x,y\n1,2,3\n4,5\n6,7\n8,9\n", b",,,\n,,,\n,,,\n,,,\n,,,\n",
    b"x,y\n" + b"1,2\n" * 4 + b"," * 300 + b"\n", b"a" * 30_000, b"x,y\n" + b"1,2\r" * 8, b"1;2,3\n4;5,6\n7;8,9\n1;2,3\n",
    b"x,y\n1_000,2\n3,4\n5,6\n7,8\n", b"x,y\n0x10,2\n3,4\n5,6\n7,8\n", b"x,y\n1 000,2\n3,4\n5,6\n7,8\n", b"'x','y'\n'1','2'\n3,4\n5,6\n7,8\n",
    b"x,y\n" + b"\t1 , 2 \n" * 5, "x,y\n\u0661,\u0662\n3,4\n5,6\n7,8\n".encode(), b"x,y\n--1,2\n3,4\n5,6\n7,8\n",
]
PIECES = [b",", b";", b"\t", b" ", b"\n", b"\r", b'"', b"'", b"#", b"\x00", b"e", b"-", b".", b"nan", b"1e999", b"\xc3", "\u2028".encode(),
          b"9" * 200, b"x" * 5000, b",,,,,,,,", b'""', b"\r\n"]


def mutations(seed: int = 1729, count: int = 600):
    rs = random.Random(seed)
    for content in ODD:
        yield f"odd {content[:30]!r}", content
    for index in range(count):
        content = bytearray(rs.choice(VALID))
        for _ in range(rs.randint(1, 4)):
            kind, at = rs.randrange(5), rs.randrange(len(content) + 1)
            if kind == 0:  # insert a piece
                content[at:at] = rs.choice(PIECES)
            elif kind == 1 and content:  # delete a run
                del content[at:at + rs.randint(1, 6)]
            elif kind == 2 and content:  # flip a byte
                content[min(at, len(content) - 1)] = rs.randrange(256)
            elif kind == 3:  # repeat a line many times
                lines = bytes(content).split(b"\n")
                line = rs.choice(lines)
                content = bytearray(b"\n".join(lines + [line] * rs.choice((3, 300, 3000))))
            else:  # truncate
                content = content[:at]
        yield f"mutation {index}", bytes(content)


def test_every_crafted_csv_reads_or_is_refused_in_one_line():
    failures, read, refused = [], 0, 0
    for name, content in mutations():
        try:
            table = datafile.parse(content)
        except SpecError as err:
            message = str(err)
            if "\n" in message or len(message) > MAX_MESSAGE:
                failures.append(f"{name}: a message of {len(message)} characters")
            refused += 1
            continue
        except Exception as err:
            failures.append(f"{name}: {type(err).__name__}: {err}")
            continue
        read += 1
        if not (np.all(np.isfinite(table.values)) and table.rows >= datafile.MIN_ROWS and len(table.names) == table.values.shape[1]):
            failures.append(f"{name}: a table that breaks the reader's promise")
        for x_columns, y_column in ((None, None), ("0", None), (None, "0"), ("1,0", "2"), ("zz", None)):
            try:
                datafile.select(table, x_columns, y_column)
            except SpecError as err:
                if len(str(err)) > MAX_MESSAGE:
                    failures.append(f"{name} select: a message of {len(str(err))} characters")
            except Exception as err:
                failures.append(f"{name} select {x_columns!r} {y_column!r}: {type(err).__name__}: {err}")
    assert not failures, "\n".join(failures[:20])
    assert read > 50 and refused > 200  # the mutations reach both sides of the reader


@pytest.mark.parametrize("content", [b"x,y\n1,2\n", b"x,y\n" + b"1,2\n" * 3])
def test_too_few_rows_is_a_refusal_not_a_table(content):
    with pytest.raises(SpecError, match="at least 4 rows"):
        datafile.parse(content)
