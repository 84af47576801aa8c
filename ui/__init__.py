"""Presentation: Altair chart builders (charts/, one module per view) and the Streamlit pieces pages share."""
