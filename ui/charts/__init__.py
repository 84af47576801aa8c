"""Pure Altair chart builders, one module per view (a RunResult or a tidy DataFrame in, a chart out, no Streamlit).

fit (the fit, its error, a recorded epoch, two runs, the thresholds, a card), units (what each hidden unit adds),
history (loss, metric, weights and coefficients over epochs), restarts (many seeds), doctor (the measured fixes) and
plane (two inputs, as the Playground draws them); common and layers hold what they share. This face only re-exports
the 1-D views' builders, for the case page that draws them all; other callers import the view module.
"""

from ui.charts.doctor import fixes_chart
from ui.charts.fit import compare_charts, fit_chart, mini_chart, replay_chart, residual_chart, segments_chart
from ui.charts.history import coefficients_chart, compare_loss_chart, history_charts, weights_chart
from ui.charts.restarts import restarts_histogram, restarts_loss_chart, success_rates_chart
from ui.charts.units import units_chart

__all__ = [
    "coefficients_chart", "compare_charts", "compare_loss_chart", "fit_chart", "fixes_chart", "history_charts", "mini_chart",
    "replay_chart", "residual_chart", "restarts_histogram", "restarts_loss_chart", "segments_chart", "success_rates_chart",
    "units_chart", "weights_chart",
]
