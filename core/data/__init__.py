"""The data a run trains on: drawn functions and the Playground's sets, user files, typed formulas, and the scalers."""
