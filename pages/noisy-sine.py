"""The noisy-sine case page."""

from ui.case import render
from ui.layout import keep_router

keep_router()

render("noisy-sine")
