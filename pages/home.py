"""Home (placeholder until the case pages land): the four posted cases and how to run them."""

import streamlit as st

from core.scenarios import SCENARIOS

st.title("Tiny Net Lab")
st.write(
    "Rebuild a tiny network that would not fit a simple function, train it live in seconds with real "
    "Keras, and see why it fails and what really fixes it. The case pages are on their way; until "
    "then every case runs from the command line."
)
for scenario in SCENARIOS.values():
    with st.container(border=True):
        st.subheader(scenario.title)
        st.caption(scenario.question)
        st.write(scenario.story)
        st.markdown("\n".join(f"- **{p.label}** (`--preset {p.name}`): {p.description}" for p in scenario.presets))
        st.code(f"python -m core run {scenario.id} --preset answer", language="bash")
