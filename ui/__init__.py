"""Presentation: Altair chart builders (charts.py) and the Streamlit pieces pages share."""
