"""The doctor's rules about what the hidden units do: dead or saturated units, bends and boundaries outside the data.

Each rule reads `Facts` and returns a `Finding` or None; core/doctor/registry.py lists them with their
titles and the changes they propose.
"""

from __future__ import annotations

import numpy as np

from core.doctor.facts import SATURATED_SLOPE, SATURATING, WORKING_RANGE, Facts, fail_role, num, pct, xs_text
from core.outcomes.results import Finding
from core.settings.network import layer_output, split_layers


def dead_units(f: Facts) -> Finding | None:
    units = f.result.readout.units
    if units is None:
        return None
    layers = [layer for layer in units.layers if layer.dead_units]
    if not layers:
        return None
    worst = max(len(layer.dead_units) / layer.units for layer in layers)
    parts = [f"{len(layer.dead_units)} of {layer.units} ReLU units in {layer.name}" for layer in layers]
    evidence = {layer.name: {"dead": len(layer.dead_units), "units": layer.units} for layer in layers}
    text = (f"Dead units: {', '.join(parts)} output 0 on every training sample, so they add nothing to the fit and get no "
            f"gradient to recover.")
    first = f.shapes[0]
    if first.activation == "relu" and units.layers[0].dead_units:
        at_start = int(np.sum(f.dead_first_layer(f.initial)))
        evidence["dead_at_start_first_layer"] = at_start
        if at_start:
            text += f" In {first.name}, {at_start} were dead from the first step: their initial weights switch them off on all the data."
    flat = float(np.ptp(f.result.grid_prediction)) if f.result.grid_prediction.size else 0.0
    if units.layers and len(units.layers[-1].dead_units or ()) == units.layers[-1].units:
        text += f" Every unit of {units.layers[-1].name} is dead, so the fit is a constant ({num(float(f.result.grid_prediction[0]))})."
        evidence["fit_range"] = flat
    role = fail_role(f) if worst >= 0.25 else "note"
    return Finding("dead_units", role, text, evidence)


def saturated_units(f: Facts) -> Finding | None:
    units = f.result.readout.units
    parts, evidence = [], {}
    for layer in units.layers if units else ():
        shares = layer.saturated_share
        if not shares:
            continue
        stuck = [i for i, v in enumerate(shares) if v >= 0.5]
        if stuck:
            parts.append(f"{len(stuck)} of {layer.units} {layer.activation} units in {layer.name}")
            evidence[layer.name] = {"saturated": len(stuck), "units": layer.units, "median_share": float(np.median([shares[i] for i in stuck]))}
    output = f.shapes[-1]
    if output.activation in SATURATING:
        pre, post = layer_output(f.spec.model, f.final_weights, f.xs, -1)
        slope = post * (1 - post) if output.activation == "sigmoid" else 1 - post**2
        share = float(np.mean(slope < SATURATED_SLOPE * SATURATING[output.activation]))
        if share >= 0.5 and f.result.task == "regression":
            parts.append(f"the {output.activation} output unit, on {pct(share)} of the samples")
            evidence["output"] = {"saturated_share": share}
    if not parts:
        return None
    text = (f"Saturated units sit on the flat part of their S-curve (slope below {pct(SATURATED_SLOPE)} of its largest) on at "
            f"least half of the samples, where their gradient is nearly zero and they barely learn: {'; '.join(parts)}.")
    kernel = np.asarray(split_layers(f.spec.model, f.initial)[0][0], float).ravel()
    reach = float(np.max(np.abs(kernel)) * np.max(np.abs(f.xs)))
    evidence["initial_first_layer_reach"] = reach
    if reach > WORKING_RANGE:
        text += (f" At the start, |w x| in the first layer already reached {num(reach)} (|scaled x| up to "
                 f"{num(float(np.max(np.abs(f.xs))))}, |w| up to {num(float(np.max(np.abs(kernel))))}): far beyond the ±{WORKING_RANGE:g} "
                 f"where a {f.shapes[0].activation} unit bends.")
    if f.met:
        text += " They make the sharp steps this fit needs, so here that is not a problem."
    return Finding("saturated_units", fail_role(f), text, evidence)


def no_bias(f: Facts) -> Finding | None:
    if f.spec.model.use_bias:
        return None
    if f.inputs > 1:
        centre = ", ".join(num(float(v)) for v in np.atleast_1d(f.x_scaler.shift))
        text = (f"The network has no biases: every first-layer unit's boundary (where its weighted sum is 0) passes through "
                f"the same point, ({centre}) (the scaled inputs' origin), so no unit can move its line across the data, "
                f"only turn it.")
        return Finding("no_bias", fail_role(f), text, {"centre": [float(v) for v in np.atleast_1d(f.x_scaler.shift)]})
    switch = float(f.x_scaler.shift)
    first = f.shapes[0].activation if len(f.shapes) > 1 else f.shapes[-1].activation
    left = float(np.mean(f.x < switch))
    evidence = {"switch_x": switch, "data_min": f.lo, "data_max": f.hi, "share_left_of_switch": left}
    text = (f"The network has no biases: every first-layer unit computes {first}(w x) and switches at the same point, "
            f"x = {num(switch)} (scaled x = 0), with {pct(left)} of the data to its left. No unit can move its bend, so the "
            f"fit is built from curves that all turn there and can bend elsewhere only where steeper and flatter ones add up.")
    return Finding("no_bias", fail_role(f), text, evidence)


def bends_outside_data(f: Facts) -> Finding | None:
    if f.inputs > 1:
        return None  # two inputs: unit_boundaries reads the lines instead of the bends
    if len(f.shapes) < 2 or not f.spec.model.use_bias:
        return None  # no hidden layer: nothing bends; no biases: no_bias says it
    act = f.shapes[0].activation
    kind = "kink" if act == "relu" else "midpoint" if act in SATURATING else None
    if kind is None:
        return None
    final = f.boundaries(f.final_weights)
    dead = f.dead_first_layer(f.final_weights) if act == "relu" else np.zeros(len(final), bool)
    edge = f.at_edge(final)
    count, total = int(edge.sum()), len(final)
    if count == 0:
        return None
    start = f.boundaries(f.initial)
    evidence = {"boundaries": [None if not np.isfinite(v) else float(v) for v in final], "units": total,
                "at_edge_or_outside": count, "dead_among_them": int((edge & dead).sum()), "data_range": [f.lo, f.hi],
                "initial_boundaries": [None if not np.isfinite(v) else float(v) for v in start]}
    outside = [float(v) for v in final[edge] if np.isfinite(v)]
    text = (f"Bends outside the data: {count} of the {total} {act} units in {f.shapes[0].name} have their {kind} at the edge "
            f"of the data range [{num(f.lo)}, {num(f.hi)}] or beyond it" + (f" ({xs_text(outside)})" if outside else "")
            + ", where it shapes nothing inside.")
    if int((edge & dead).sum()):
        text += (f" {int((edge & dead).sum())} of them are the dead units: their switched-on side lies entirely outside the data.")
    working = ~edge & ~dead
    if act == "relu" and len(f.shapes) == 2:
        inside = [float(v) for v in final[working]]
        k = len(inside)
        text += (f" The fit bends only at the other {k}" + (f" ({xs_text(inside)})" if inside else "")
                 + f", so it is at most {k + 1} straight piece{'s' if k else ''}.")
    finite = start[np.isfinite(start)]
    if finite.size and np.ptp(finite) < 1e-9 * max(1.0, f.span) and f.at_edge(finite[:1])[0]:
        scaling = f.spec.data.x_scaling
        how = (f"x is used as it is, from {num(f.lo)} to {num(f.hi)}" if scaling == "none"
               else f"x is scaled ({scaling}) to [{num(float(f.xs.min()))}, {num(float(f.xs.max()))}]")
        moved_in = int((~edge).sum())
        text += (f" Every {kind} started at x = {num(float(finite[0]))}: the biases start at zero, so a {kind} begins where the "
                 f"scaled input is 0, and {how}, which puts that point at the edge of the data; training moved "
                 + (f"only {moved_in} of them inside." if moved_in else "none of them inside."))
        evidence["started_at_edge"] = float(finite[0])
    role = fail_role(f) if count * 2 >= total else "note"
    return Finding("bends_outside_data", role, text, evidence)


def unit_boundaries(f: Facts) -> Finding | None:
    """Two inputs: first-layer units whose boundary (weighted sum 0) misses the training points bend nothing there."""
    units = f.result.readout.units
    if f.inputs < 2 or units is None or units.positive_share is None or not f.spec.model.use_bias:
        return None
    crosses = units.crosses_data
    act, total = f.shapes[0].activation, len(crosses)
    missing = [i for i, c in enumerate(crosses) if not c]
    across = [i + 1 for i, c in enumerate(crosses) if c]
    evidence = {"units": total, "crossing": across, "positive_share": list(units.positive_share)}
    if not missing:
        text = (f"Every one of the {total} units in {f.shapes[0].name} draws its boundary through the training points (the "
                f"lines where each unit's weighted sum is 0, on the Hidden units maps).")
        return Finding("unit_boundaries", "note", text, evidence)
    sides = []
    for i in missing:
        on = "switched off" if act == "relu" and units.positive_share[i] < 0.5 else "on one side"
        sides.append(f"unit {i + 1} ({on})")
    what = {"relu": "a tilted plane or nothing", "linear": "a tilted plane"}.get(act, "a nearly flat or tilted surface")
    text = (f"Boundaries outside the data: {len(missing)} of the {total} {act} units in {f.shapes[0].name} have every "
            f"training point on the same side of their boundary ({', '.join(sides)}), so over the data each adds only "
            f"{what}, no bend" + (f"; units {', '.join(map(str, across))} cross the data." if across else "; none crosses the data."))
    role = fail_role(f) if len(missing) * 2 >= total else "note"
    return Finding("unit_boundaries", role, text, evidence)


def too_few_bends(f: Facts) -> Finding | None:
    """One ReLU layer: the fit is straight between kinks; a straight stretch over which the target turns cannot follow it."""
    if f.met or len(f.shapes) != 2 or f.shapes[0].activation != "relu" or f.result.task != "regression" or f.inputs > 1:
        return None
    from core.outcomes.readout import count_extrema

    final = f.boundaries(f.final_weights)
    working = ~f.dead_first_layer(f.final_weights) & ~f.at_edge(final)
    kinks = np.sort(final[working])
    edges = np.concatenate([[f.lo], kinks, [f.hi]])
    grid, target = np.asarray(f.result.grid_x, float), np.asarray(f.result.grid_target, float)
    worst = None
    for left, right in zip(edges[:-1], edges[1:]):
        inside = (grid >= left) & (grid <= right)
        turns = count_extrema(target[inside], tolerance=0.005 * float(np.ptp(target))) if inside.sum() > 2 else 0
        if turns and (worst is None or right - left > worst[1] - worst[0]):
            worst = (float(left), float(right), turns)
    if worst is None:
        return None
    left, right, turns = worst
    text = (f"Too few bends where the target turns: the fit is a straight line from x = {num(left)} to x = {num(right)} "
            f"(no working kink there), while the target turns {turns} time{'s' if turns != 1 else ''} on that stretch. "
            f"{int(working.sum())} of {len(final)} units have a kink inside the data.")
    return Finding("too_few_bends", fail_role(f), text, {"straight_from": left, "straight_to": right, "target_turns": turns,
                                                          "kinks_inside": [float(v) for v in kinks]})


PARALLEL_COS = 0.97  # two units' boundary lines are parallel when their weight vectors are within about 14° (either way)
NEEDS_ANOTHER = 0.2  # the target needs another direction when a function of one leaves this share of its variance


def merged_units(f: Facts) -> Finding | None:
    """Two or more inputs: every working first-layer unit's weights point along one line, so the output can change only
    along that one direction of the input space; a cause when the target varies across it too (measured on the data)."""
    if f.inputs < 2 or f.met or not f.shapes or f.shapes[0].units < 2 or f.xs.ndim != 2:
        return None
    kernel = np.asarray(split_layers(f.spec.model, f.final_weights)[0][0], float)
    dead = set(f.result.readout.units.dead_units) if f.result.readout.units is not None else set()
    norms = np.linalg.norm(kernel, axis=0)
    working = [j for j in range(kernel.shape[1]) if j not in dead and norms[j] > 1e-3 * max(float(norms.max()), 1e-12)]
    if len(working) < 2:
        return None
    directions = kernel[:, working] / norms[working]
    if float(np.abs(directions.T @ directions).min()) < PARALLEL_COS:  # some pair of units is not parallel
        return None
    along = directions[:, 0]
    left = _variance_left(f.xs @ along, f.one_hot_targets())
    if left < NEEDS_ANOTHER:
        return None
    act, name = f.shapes[0].activation, f.shapes[0].name
    widest = float(np.degrees(np.arccos(np.clip(np.abs(directions.T @ directions).min(), -1.0, 1.0))))
    text = (f"Merged units: all {len(working)} working {act} units in {name} point along one line (their weights within "
            f"{widest:.0f}° of each other), so the network's output can change only along that one direction of the "
            f"{f.inputs} inputs, a ridge or a valley. The target varies across it too: the best any function of that one "
            f"direction can do leaves {pct(left)} of the target's variance. More units give more directions.")
    evidence = {"units": len(working), "direction": [float(v) for v in along], "widest_angle": widest, "variance_left": left}
    return Finding("merged_units", fail_role(f), text, evidence)


def _variance_left(projection: np.ndarray, targets: np.ndarray, bins: int = 12) -> float:
    """The share of the targets' variance left within bins of equal count along `projection`: what no function of the
    projection alone can explain."""
    order = np.argsort(projection, kind="stable")
    total = float(np.sum(np.var(targets, axis=0)))
    if total <= 0 or len(order) < 2 * bins:
        return 0.0
    within = [float(np.sum(np.var(targets[part], axis=0))) * len(part) for part in np.array_split(order, bins)]
    return sum(within) / len(order) / total
