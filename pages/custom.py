"""Your function: the case page for a target the user types (checked, never run as code)."""

from ui.case import render
from ui.layout import keep_router

keep_router()

render("custom")
