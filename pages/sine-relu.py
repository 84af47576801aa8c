"""The sine-relu case page."""

from ui.case import render
from ui.layout import keep_router

keep_router()

render("sine-relu")
