"""The posted cases: their presets and success criteria, and the measured claims and fixes the home page shows."""
