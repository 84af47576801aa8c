"""Your data: the case page for a CSV the user uploads or pastes (kept in the session's memory only)."""

from ui.case import render
from ui.layout import keep_router

keep_router()

render("data")
