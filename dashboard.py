"""The front door of Tiny Net Lab: page config and navigation over the pages."""

import streamlit as st

st.set_page_config(page_title="Tiny Net Lab", page_icon=":material/science:", layout="wide")
navigation = st.navigation([st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)])
navigation.run()
