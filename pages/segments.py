"""The segments case page: the shared page plus the classes, thresholds and 0.5 crossings."""

from ui.case import render
from ui.layout import keep_router
from ui.panels import SEGMENTS

keep_router()

render("segments", SEGMENTS)
