"""The Playground page: the TensorFlow Playground's two-input datasets on the shared case page (its 2-D views come with the data)."""

from ui.case import render
from ui.layout import keep_router

keep_router()

render("playground")
