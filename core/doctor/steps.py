"""The doctor's rules about how training moved: divergence, steps too large or too small, a plateau, a run cut short,
a penalty that holds the weights down.

Each rule reads `Facts` and returns a `Finding` or None; core/doctor/registry.py lists them with their
titles and the changes they propose.
"""

from __future__ import annotations

import numpy as np

from core.doctor.facts import Facts, fail_role, num, pct
from core.outcomes.results import Finding
from core.settings.network import split_layers


def diverged(f: Facts) -> Finding | None:
    d = f.result.divergence
    if d is None:
        return None
    text = (f"Training diverged {d.summary} " + " ".join(d.causes))
    return Finding("diverged", "cause", text, {"epoch": d.epoch, "step": d.step, "last_loss": d.last_loss, "growth": d.growth,
                                               "learning_rate": f.spec.train.learning_rate, "batch_size": f.batch})


def step_too_large(f: Facts) -> Finding | None:
    if f.result.divergence is not None or f.epochs < 10:
        return None
    tail = f.tail()
    rises = float(np.mean(np.diff(tail) > 0))
    lowest, lowest_epoch = f.lowest
    final = float(f.losses[-1])
    step = f.step_per_epoch()
    bouncing = tail.min() > 0 and (final >= 2 * lowest or tail.max() / tail.min() >= 1.5)
    first = float(f.losses[0])
    climbed = first > 0 and final > 1.2 * first and not f.met  # a loss that rose over the run: steps that overshoot, no NaN needed
    if not ((rises >= 0.3 and bouncing and step is not None and step >= 0.005) or climbed):
        return None
    t = f.spec.train
    if climbed and not (rises >= 0.3 and bouncing):
        text = (f"The steps are too large: with {t.optimizer} at learning rate {t.learning_rate:g} and batch size {f.batch:,}, "
                f"the loss rose from {num(first, 4)} at the first epoch to {num(final, 4)} at the last "
                f"({final / first:.3g} times higher) instead of falling; its lowest was {num(lowest, 4)} at epoch {lowest_epoch:,}.")
        return Finding("step_too_large", fail_role(f), text, {"learning_rate": t.learning_rate, "optimizer": t.optimizer,
                                                               "batch_size": f.batch, "first_loss": first, "final_loss": final,
                                                               "lowest_loss": lowest, "lowest_epoch": lowest_epoch})
    window = len(tail)
    evidence = {"learning_rate": t.learning_rate, "optimizer": t.optimizer, "batch_size": f.batch, "window_epochs": window,
                "weight_step_per_epoch": step, "loss_rises_share": rises, "final_loss": final, "lowest_loss": lowest,
                "lowest_epoch": lowest_epoch}
    text = (f"The steps are too large: with {t.optimizer} at learning rate {t.learning_rate:g} and batch size {f.batch:,}, "
            f"the weights still jump by a median {pct(step)} of their size per epoch over the last {window:,} epochs, "
            f"and the loss rose in {pct(rises)} of them instead of settling.")
    coefficients = coefficient_jumps(f, window)
    if coefficients:
        evidence.update(coefficients["evidence"])
        text += " " + coefficients["text"]
    text += (f" The lowest loss, {num(lowest, 4)} at epoch {lowest_epoch:,}, was not kept: the run ended at {num(final, 4)}"
             + (f", {final / lowest:.3g} times higher." if lowest > 0 else "."))
    return Finding("step_too_large", fail_role(f), text, evidence)


def coefficient_jumps(f: Facts, window: int) -> dict | None:
    """For an x^2 model: how far A, B, C jump from epoch to epoch at the end, and how close the run came to the target."""
    from core.outcomes.readout import coefficient_trajectory

    trajectory = coefficient_trajectory(f.result)
    if trajectory is None or len(trajectory["epoch"]) < 6:
        return None
    start = max(0, len(trajectory["epoch"]) - window)
    evidence, parts = {}, []
    for name in ("A", "B", "C"):
        values = trajectory[name][start:]
        jump = float(np.median(np.abs(np.diff(values))))
        evidence[f"{name}_range"] = [float(values.min()), float(values.max())]
        evidence[f"{name}_jump_per_epoch"] = jump
        parts.append(f"{name} between {num(values.min())} and {num(values.max())} (a median jump of {num(jump, 2)} per epoch)")
    text = "The learned coefficients bounce over those epochs: " + "; ".join(parts) + "."
    parabola = f.result.readout.parabola
    if parabola is not None and parabola.target is not None:
        target = np.asarray(parabola.target, float)
        errors = np.max(np.abs(np.stack([trajectory[n] for n in "ABC"], axis=1) - target), axis=1)
        closest = int(np.argmin(errors))
        evidence.update(closest_epoch=int(trajectory["epoch"][closest]), closest_error=float(errors[closest]))
        text += (f" The run came closest to the target at epoch {int(trajectory['epoch'][closest]):,} (every coefficient within "
                 f"{num(errors[closest], 2)}) and moved away again.")
    return {"text": text, "evidence": evidence}


def step_too_small(f: Facts) -> Finding | None:
    moved = f.moved()
    if f.result.divergence is not None or moved is None or moved >= 0.1 or f.epochs < 2 or f.no_gradient():
        return None  # no gradient reaches the weights: larger steps cannot move them (output_range or dead_units says why)
    t = f.spec.train
    steps = f.result.steps
    drop = float(f.losses[-1] / f.losses[0]) if f.losses[0] > 0 else None
    evidence = {"moved_share": moved, "optimizer_steps": steps, "learning_rate": t.learning_rate, "optimizer": t.optimizer,
                "first_loss": float(f.losses[0]), "final_loss": float(f.losses[-1])}
    text = (f"The steps are too small: in {steps:,} optimizer steps ({t.optimizer} at learning rate {t.learning_rate:g}) the "
            f"weights moved by only {pct(moved)} of their starting size, so the network is still close to its random start.")
    if t.loss == "sse":
        text += f" (The summed loss already multiplies the gradient by the batch size, {f.batch:,}; the steps are small even so.)"
    if drop is not None and drop > 0.5:
        text += f" The loss barely fell: it ended at {pct(drop)} of its first value."
    return Finding("step_too_small", fail_role(f), text, evidence)


def undertrained(f: Facts) -> Finding | None:
    """The loss still falls at the end: read from the slope of log(loss) over the last tenth of the epochs (at least 3)."""
    if f.result.divergence is not None or f.epochs < 5 or f.met:
        return None
    n = f.epochs
    start = min(int(n * 0.9), n - 3)
    before, final = float(f.losses[start - 1]), float(f.losses[-1])
    tail = f.losses[start - 1:]
    if not (before > 0 and final > 0 and final < 0.98 * before and np.mean(np.diff(tail) > 0) < 0.3):
        return None
    slope = -float(np.polyfit(np.arange(len(tail)), np.log(tail), 1)[0])  # the log loss's fall per epoch at the end
    halves = float(np.log(2) / slope) if slope > 0 else None
    evidence = {"loss_at_90_percent": before, "final_loss": final, "epochs": n, "fell_share": 1 - final / before,
                "halving_epochs": halves}
    text = (f"Still improving at the end: the loss fell by {pct(1 - final / before)} over the last {n - start + 1:,} of "
            f"{n:,} epochs (from {num(before, 4)} to {num(final, 4)}) and had not levelled off"
            + (f"; at that final pace it halves every {halves:,.0f} epochs." if halves else "."))
    return Finding("undertrained", "symptom", text, evidence)


STUCK_LOSS_FALL = 0.25  # stuck: the score unchanged over the last half while the loss fell by less than this share


def plateau(f: Facts) -> Finding | None:
    """Training has stalled: the loss flat over the last half of the epochs, or the score (accuracy, or the regression's
    metric) unchanged over the last half while the loss only crept down (a local minimum it does not leave)."""
    if f.result.divergence is not None or f.epochs < 20 or f.met:
        return None
    half = f.losses[f.epochs // 2:]
    final = float(f.losses[-1])
    if not (final > 0 and (half.max() - half.min()) <= 0.01 * final):
        return _stuck_score(f)
    settled = int(np.flatnonzero(np.abs(f.losses - final) > 0.01 * final).max(initial=-1)) + 2
    evidence = {"final_loss": final, "flat_since_epoch": settled, "epochs": f.epochs}
    text = (f"The loss has been flat at {num(final, 4)} since about epoch {settled:,} of {f.epochs:,} (within 1%): "
            f"training has stalled, and at this pace more epochs would change little (more epochs are among the changes "
            f"measured over seeds, which tells whether they help).")
    return Finding("plateau", "symptom", text, evidence)


def _stuck_score(f: Facts) -> Finding | None:
    name = f.result.metric
    scores = np.asarray(f.result.history.get(name, []), float)
    if len(scores) != f.epochs or not np.all(np.isfinite(scores)) or f.losses[f.epochs // 2] <= 0:
        return None
    last = float(scores[-1])
    moved = np.abs(scores - last) > (1e-9 if f.spec.data.resolved_task == "classification" else 0.01 * abs(last))
    since = int(np.flatnonzero(moved).max(initial=-1)) + 2  # the first epoch of the final unchanged stretch
    start = float(f.losses[f.epochs // 2])
    fell = 1 - float(f.losses[-1]) / start
    if since > f.epochs // 2 + 1 or fell >= STUCK_LOSS_FALL:
        return None
    score = {"accuracy": "accuracy", "r2": "R² on the training points"}.get(name, "largest error |fit - target|")
    evidence = {"score": score, "stuck_at": last, "stuck_since_epoch": since, "epochs": f.epochs, "loss_from": start,
                "final_loss": float(f.losses[-1]), "loss_fell_share": fell}
    text = (f"Stuck: the {score} has stayed at {num(last, 4)} since epoch {since:,} of {f.epochs:,}, while the loss only "
            f"crept from {num(start, 4)} to {num(float(f.losses[-1]), 4)} over the last half ({pct(max(fell, 0.0))} lower). The "
            f"net sits on a plateau or in a local minimum; whether more epochs, larger steps or another setup gets it out "
            f"is what the changes measured over seeds tell.")
    return Finding("plateau", "symptom", text, evidence)


def stopped_early(f: Facts) -> Finding | None:
    r = f.result
    if not r.stopped:
        return None
    why = "by the wall-clock budget" if r.stop_reason == "budget" else "on request"
    return Finding("stopped", "note", f"Stopped {why} after {r.epochs_run:,} of {r.spec.train.epochs:,} epochs: everything "
                   f"here describes the network at that point.", {"epochs_run": r.epochs_run, "epochs": r.spec.train.epochs})


STRONG_PENALTY = 0.3  # the L2 penalty is at least this share of the final loss...
SHRUNK = 0.1  # ...or it shrank the squared weights to this share of their start


def strong_penalty(f: Facts) -> Finding | None:
    """The L2 penalty holds the weights down: a large share of the final loss is the penalty, or the weights shrank to nothing."""
    l2 = f.spec.model.l2
    if not l2 or not f.epochs or f.met:
        return None

    def squares(weights) -> float:
        return sum(float(np.sum(np.square(kernel))) for kernel, _ in split_layers(f.spec.model, weights))

    start, end = squares(f.initial), squares(f.final_weights)
    penalty, final = l2 * end, float(f.losses[-1])
    share = penalty / final if final > 0 else 0.0
    shrunk = end / start if start > 0 else 1.0
    if share < STRONG_PENALTY and shrunk > SHRUNK:
        return None
    if share >= STRONG_PENALTY:
        what = (f"at the end, l2 {l2:g} × the sum of the squared weights {num(end)} = {num(penalty)}, {pct(min(share, 1.0))} of "
                f"the final loss {num(final)}. Much of what training minimises is the weights' size, not the error")
    else:
        left = pct(shrunk) if shrunk >= 1e-4 else "next to nothing"
        what = (f"the sum of the squared weights fell from {num(start)} at the start to {num(end)} ({left}), l2 {l2:g} "
                f"pulling every weight toward 0 faster than the error pushes it out")
    text = (f"The L2 penalty holds the weights down: {what}, so the net keeps them small instead of fitting the data; "
            "a weaker penalty lets it fit.")
    return Finding("strong_penalty", "cause", text, {"l2": l2, "squares_start": start, "squares": end, "penalty": penalty,
                                                     "loss": final, "share": share})
