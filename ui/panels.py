"""What single cases add to the shared page: the parabola's algebra, the segments' thresholds."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.datasets import make_dataset
from core.outcomes import readout
from core.outcomes.results import RunResult
from ui.case import Extras
from ui.charts.fit import segments_chart
from ui.charts.history import coefficients_chart
from ui.display import show_chart
from ui.run import Job


def latex_parabola(coefficients, digits: int = 5) -> str:
    a, b, c = coefficients
    sign = lambda v: "-" if v < 0 else "+"
    return (f"\\hat f(x) = {a:.{digits}f}\\,x^2 {sign(b)} {abs(b):.{digits}f}\\,x {sign(c)} {abs(c):.{digits}f}")


def _parabola_live(job: Job) -> None:
    spec = job.current
    live = job.live
    weights = live.weights if live is not None else None
    if weights is None:
        return
    data = make_dataset(spec.data)
    coefficients = readout.parabola_from_weights(spec.model, weights, data.x_scaler, data.y_scaler)
    if coefficients is not None:
        st.latex(latex_parabola(coefficients) + f"\\qquad\\text{{(epoch {live.epoch})}}")


def _parabola_summary(result: RunResult) -> None:
    p = result.readout.parabola
    if p is None:
        st.info("The algebraic readout needs an x² model: one x² unit then a linear output, or a single x² neuron.")
        return
    if result.diverged_at:  # the weights are the last finite ones, not a learned result
        last = result.diverged_at - 1
        st.subheader(f"The parabola at the last finite state ({'the starting weights' if last == 0 else f'epoch {last:,}'})")
    else:
        st.subheader("The learned parabola")
    st.latex(latex_parabola(p.coefficients))
    if p.target is not None:
        st.latex(latex_parabola(p.target, digits=2).replace("\\hat f", "f"))
        frame = pd.DataFrame({
            "coefficient": ["A (x²)", "B (x)", "C"],
            "learned": p.coefficients,
            "target": p.target,
            "error": p.coefficient_errors,
        })
        st.dataframe(frame, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.6f") for c in ("learned", "target", "error")})
        worst = p.worst_error
        lr = result.spec.train.learning_rate
        st.caption(f"The largest coefficient error, {worst:.3g}, is {'smaller' if worst < lr else 'larger'} than the "
                   f"learning rate, {lr:g} (the post's answer: each error smaller than the learning rate).")
    family = p.family
    if family:
        st.markdown(
            f"**One x² neuron** can only express **{family.form}**: every such parabola meets "
            f"**{family.condition}**. For the target, B² − 4AC = **{family.target_gap:.4g}**"
            + (" — it is not in the family." if abs(family.target_gap) > 1e-9 else " — it is in the family.")
            + f" The closest member, {latex_inline(family.best_coefficients)}, still misses by up to "
              f"**{family.best_max_abs_error:.3g}** (RMS {family.best_rms_error:.3g}) on the data range."
        )


def latex_inline(coefficients) -> str:
    a, b, c = coefficients
    return f"{a:.4g} x² {'-' if b < 0 else '+'} {abs(b):.4g} x {'-' if c < 0 else '+'} {abs(c):.4g}"


def _parabola_tab(result: RunResult) -> None:
    trajectory = readout.coefficient_trajectory(result)
    if trajectory is None:
        st.info("No coefficient trajectory: the model is not an x² parabola model.")
        return
    target = result.readout.parabola.target if result.readout.parabola else None
    show_chart(coefficients_chart(pd.DataFrame(trajectory), target=target))


PARABOLA = Extras(live=_parabola_live, summary=_parabola_summary, tabs=(("Coefficients", _parabola_tab),))


def _segments_summary(result: RunResult) -> None:
    units, classifier = result.readout.units, result.readout.classifier
    thresholds = (units.thresholds if units else None) or ()
    crossings = classifier.crossings if classifier else ()
    rows = [{"what": f"unit {i + 1} threshold (−b/w)", "x": t} for i, t in enumerate(thresholds)]
    rows += [{"what": f"probability crosses 0.5 ({i + 1})", "x": c} for i, c in enumerate(crossings)]
    if rows:
        st.subheader("Thresholds")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"x": st.column_config.NumberColumn(format="%.3f")})


def _segments_tab(result: RunResult) -> None:
    show_chart(segments_chart(result))


SEGMENTS = Extras(summary=_segments_summary, tabs=(("Classes", _segments_tab),))
