"""The case page's views for two inputs: the output surface with its points, a map per hidden unit (live while
training), the network with its weights, the replay and the comparison, as the TensorFlow Playground shows them."""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from core.data.datasets import Dataset, make_dataset
from core.outcomes.results import RunResult
from core.settings.specs import DataSpec
from ui.charts import plane as plane_charts
from ui.display import show_chart


def two_inputs(spec) -> bool:
    return spec.data.n_inputs > 1


@functools.lru_cache(maxsize=8)
def _dataset(data: DataSpec) -> Dataset:
    return make_dataset(data)


def _grids(data: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """The replay grid (21 x 21 points over the square) and what the network is fed there."""
    dataset = _dataset(data)
    grid = dataset.replay_grid()
    return grid, dataset.encode(grid)


def live(job) -> None:
    """While training: the output and every hidden unit's map from the weights the worker last sent."""
    spec, state = job.current, job.live
    weights = state.weights if state is not None else None
    if weights is None or not two_inputs(spec):
        return
    from core.settings.network import forward

    grid, encoded = _grids(spec.data)
    dataset = _dataset(spec.data)
    out = forward(spec.model, weights, encoded)
    classify = spec.data.resolved_task == "classification"
    values = out if classify or spec.model.output_units == 1 else out
    if spec.model.output_units > 1:
        values = np.argmax(out, axis=1).astype(float) / max(1, spec.model.output_units - 1)
    else:
        values = dataset.y_scaler.inverse(out)
    points = [plane_charts.points_frame(dataset.x, dataset.y, "training", classify)]
    left, right = st.columns([1, 1.4], gap="medium")
    with left:
        show_chart(plane_charts.surface_chart(grid, values, spec.data.input_bounds, classify, points,
                                              f"The output at epoch {state.epoch:,}", side=230,
                                              value_title="probability of class 1" if classify else "output"), stretch=False)
    with right:
        maps = plane_charts.unit_maps(spec, weights, grid, encoded, title=f"Hidden units at epoch {state.epoch:,}", side=50, columns=4)
        if maps is None:
            st.caption("No hidden layer: the output is the only unit.")
        else:
            show_chart(maps, stretch=False)


def surface_tab(result: RunResult) -> None:
    show_chart(plane_charts.output_chart(result), stretch=False)
    fed = result.spec.data.input_features
    st.caption(f"The first layer is fed {', '.join(fed)}" + (f" (the scaled inputs, {result.spec.data.x_scaling})"
               if result.spec.data.x_scaling != "none" else "") + ". White is where the output is "
               + ("0.5, the decision boundary." if result.task == "classification" else "0."))


def units_tab(result: RunResult) -> None:
    if not result.spec.model.units:
        st.info("No hidden layer: the output is the only unit, drawn in the Surface tab. Its boundary is one straight line "
                "in the features it is fed.")
        return
    grid, encoded = _grids(result.spec.data)
    units = result.readout.units
    crossing = ""
    if units is not None and units.crosses_data is not None:
        across = [str(i + 1) for i, c in enumerate(units.crosses_data) if c]
        crossing = (f"First layer: the boundaries of units {', '.join(across)} of {len(units.crosses_data)} run through the "
                    "training points." if across else "First layer: no unit's boundary runs through the training points.")
    show_chart(plane_charts.unit_maps(result.spec, result.final_weights, grid, encoded, subtitle=crossing or None), stretch=False)
    st.caption("Each map is one unit's output over the square (white: 0; blue above, orange below). A first-layer unit's "
               "white line is its boundary; the layers after it combine those maps.")


def network_tab(result: RunResult) -> None:
    fed = list(result.spec.data.input_features)
    show_chart(plane_charts.network_chart(result.spec, result.final_weights, fed))
    frame = plane_charts.weights_frame(result.spec, result.final_weights, fed)
    st.dataframe(frame, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(frame)),
                 column_config={"weight": st.column_config.NumberColumn(format="%.5f")})


def replay(result: RunResult, epoch_index: int) -> None:
    show_chart(plane_charts.replay_surface(result, epoch_index), stretch=False)


def compare(kept: RunResult, result: RunResult) -> None:
    if not two_inputs(kept.spec):
        st.info("A has one input and B two: their fits are not on the same axes. The loss curves are below.")
        return
    show_chart(plane_charts.compare_surfaces(kept, result, "A", "B (current)"), stretch=False)
