"""The front door of Tiny Net Lab: page config, the stylesheet, navigation over the pages."""

import os

# Before anything can import TensorFlow (the worker processes inherit it): no start-up chatter in
# the terminal that ran `streamlit run dashboard.py`.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pathlib import Path

import streamlit as st

from ui import run
from ui.errors import guard
from ui.layout import pages

st.set_page_config(page_title="Tiny Net Lab", page_icon=":material/science:", layout="wide",
                   initial_sidebar_state="collapsed")
# CSS only: Streamlit puts it in the page's head, not in the layout (see ui/style.css for why each rule exists).
st.html(Path(__file__).parent / "ui" / "style.css")
# The pages in the header, not a sidebar: a laptop or a narrow window keeps its whole width for the case.
navigation = st.navigation(pages(), position="top")
run.pool()  # the first visit starts a training process, so TensorFlow loads while the page draws

with guard(navigation.title):  # the last line of defence: no traceback reaches a page
    navigation.run()
