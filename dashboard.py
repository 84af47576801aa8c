"""The front door of Tiny Net Lab: page config, navigation over the pages, the shared sidebar."""

import streamlit as st

from ui import run
from ui.errors import guard
from ui.layout import pages

st.set_page_config(page_title="Tiny Net Lab", page_icon=":material/science:", layout="wide")
navigation = st.navigation(pages())
run.pool()  # the first visit starts a training process, so TensorFlow loads while the page draws

with st.sidebar:
    st.markdown("**Tiny Net Lab**")
    st.caption(
        "Four real questions about tiny networks, rebuilt exactly in Keras and trained live. "
        "Every number on a page is computed from the run you see; the URL reproduces its settings."
    )
    st.caption("Command line: `python -m core run parabola --preset answer`")

with guard(navigation.title):  # the last line of defence: no traceback reaches a page
    navigation.run()
