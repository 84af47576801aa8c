"""The segments case page: the shared page plus the classes, thresholds and 0.5 crossings."""

from ui.case import render
from ui.panels import SEGMENTS
from ui.layout import keep_router

keep_router()

render("segments", SEGMENTS)
