"""The app's pages in one place, and a guard that keeps deep links on the st.navigation router.

Streamlit still knows its older multipage mode, in which a `pages/` folder beside the entry file is
the navigation. Until the entry file has called st.navigation once in the server process, a first
request for a deep link (say /parabola right after the app woke up) runs that page on its own, with
the folder's file names as navigation. The page files are named like their url paths, so that mode
finds them, and `keep_router()` then reruns the request through dashboard.py.
"""

from __future__ import annotations

import streamlit as st

PAGES = (
    # (script, title, icon, url path)
    ("pages/home.py", "Home", ":material/home:", ""),
    ("pages/sine-relu.py", "Sine as a ReLU", ":material/show_chart:", "sine-relu"),
    ("pages/noisy-sine.py", "Wrong bumps", ":material/ssid_chart:", "noisy-sine"),
    ("pages/parabola.py", "One parabola", ":material/function:", "parabola"),
    ("pages/segments.py", "Stuck at 2/3", ":material/linear_scale:", "segments"),
    ("pages/custom.py", "Your function", ":material/edit_note:", "custom"),
    ("pages/data.py", "Your data", ":material/table_chart:", "data"),
    ("pages/playground.py", "Playground 2-D", ":material/grid_on:", "playground"),
)
SCRIPTS = {url: script for script, _, _, url in PAGES}


def pages() -> list:
    return [st.Page(script, title=title, icon=icon, url_path=url or None, default=not url) for script, title, icon, url in PAGES]


def keep_router() -> None:
    """Call first in every page script: reruns through the router if Streamlit bypassed it."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        st.navigation(pages(), position="hidden")  # the public call that retires the folder mode
        st.rerun()
