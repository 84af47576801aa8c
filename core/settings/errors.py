"""The one error a user's value can raise, shared by the spec, the expression parser and the budget.

Its message is bounded: a value a visitor typed, pasted or uploaded may be megabytes long, and a message
that repeats it whole would be kept in the session, resent on every rerun and printed as one huge line.
So an echoed value keeps its first SHOWN characters and says how long it was, and a message never
passes MAX_MESSAGE characters, wherever it is shown (page, command line, JSON).

Example:
    >>> str(SpecError("data.file", "7" * 20000 + "x", "a number"))[-60:]
    "7777'… (20,001 characters) is not allowed; allowed: a number"
    >>> len(str(SpecError("data.file", "7" * 20000 + "x", "a number"))) <= MAX_MESSAGE
    True
"""

from __future__ import annotations

from typing import Any

MAX_MESSAGE = 500  # characters of any message the lab shows
SHOWN = 100  # characters kept of a value echoed in a message
MAX_ALLOWED = 300  # characters of the "allowed" part (a list of column names, say)


def shorten(text: Any, limit: int = SHOWN) -> str:
    """`text` as it is when short; otherwise its first `limit` characters, an ellipsis and its length."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def bounded(message: Any, limit: int = MAX_MESSAGE) -> str:
    """A message of at most `limit` characters: a longer one is cut and says how long it was, on one line."""
    text = " ".join(str(message).splitlines())
    if len(text) <= limit:
        return text
    tail = f"… ({len(text):,} characters)"
    return text[: limit - len(tail)] + tail


def shown(value: Any) -> str:
    """`repr(value)` for a message, shortened when long (a long string keeps its quotes and says its length)."""
    if isinstance(value, str) and len(value) > SHOWN:
        return repr(value[:SHOWN]) + f"… ({len(value):,} characters)"
    return shorten(repr(value), SHOWN * 2)


class SpecError(ValueError):
    """A value a spec cannot take. `str(err)` is a one-line message for the user, of at most MAX_MESSAGE characters.

    `value` keeps the value as given when it is short; a long string is kept shortened (its first SHOWN
    characters and its length), so an error held in a session or sent between processes stays small.
    """

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field = shorten(field_name, SHOWN)
        message = bounded(f"{self.field}: {shown(value)} is not allowed; allowed: {shorten(allowed, MAX_ALLOWED)}")
        self.value = shorten(value) if isinstance(value, str) else value
        self.allowed = shorten(allowed, MAX_ALLOWED)
        super().__init__(message)

    @property
    def refusal(self) -> str:
        """What follows the value in a message: "is not allowed; allowed: ..." (a subclass may put its reason first)."""
        return f"is not allowed; allowed: {self.allowed}"
