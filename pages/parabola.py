"""The parabola case page: the shared page plus the learned function read out algebraically."""

from ui.case import render
from ui.layout import keep_router
from ui.panels import PARABOLA

keep_router()

render("parabola", PARABOLA)
