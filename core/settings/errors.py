"""The one error a user's value can raise, shared by the spec, the expression parser and the budget."""

from __future__ import annotations

from typing import Any


class SpecError(ValueError):
    """A value a spec cannot take. `str(err)` is a one-line message for the user."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}: {value!r} is not allowed; allowed: {allowed}")
