"""`python -m core run`: train one case in a worker process and print its result and findings, or save its model and script."""

from __future__ import annotations

import json
import os
import sys

from core.cli import common


def cmd_run(args) -> int:
    from core.cases import scenarios

    scenario = scenarios.get(args.scenario)
    scenario.preset(args.preset)
    if args.path not in ("fast", "fit"):
        raise common.UsageError(f"--path: {args.path!r} is not allowed; allowed: fast, fit")
    if args.save_model is not None:
        _check_model_path(args.save_model)
    if args.save_script is not None:
        _check_script_path(args.save_script)
    spec = common.resolved_spec(scenario, args)
    budget = common.budget_from_env()
    budget.check(spec)

    with common.worker() as pool:
        result = common.wait(pool.submit(spec, seconds=budget.seconds_for(), path=args.path))
        if result.stop_reason == "budget":
            print("note: " + budget.stop_message(result.epochs_run, spec.train.epochs), file=sys.stderr)
        if args.save_model:
            with open(args.save_model, "wb") as handle:
                handle.write(pool.model_bytes(spec, result.final_weights))
    if args.save_script:
        _save_script(args.save_script, result)
    from core import doctor

    found = doctor.findings(result, scenario.criterion_for(spec.data.resolved_task))
    if args.json:
        print(json.dumps({**result.to_json(full=args.full), "findings": [f.to_json() for f in found]}, indent=1))
    else:
        _print_summary(result, [f"[{f.role}] {f.text}" for f in found])
        if args.save_model:
            print(f"model saved to {args.save_model}")
        if args.save_script:
            print(f"script saved to {args.save_script} (python {args.save_script} rebuilds this run with numpy and Keras)")
    return 0


def _check_model_path(path: str) -> None:
    if not path.endswith(".keras"):
        raise common.UsageError(f"--save-model: {path!r} is not allowed; allowed: a path ending in .keras")
    common.check_output_path("--save-model", path)


def _check_script_path(path: str) -> None:
    if os.path.isdir(path):
        raise common.UsageError(f"--save-script: {path!r} is not allowed; allowed: a file path ({path} is a folder)")
    common.check_output_path("--save-script", path)


def _save_script(path: str, result) -> None:
    """The run's Keras script, with the lab's final loss in it when the run went all the way."""
    from core.io import export

    text = export.run_script(result)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise common.UsageError(f"--save-script: {path!r} is not allowed; allowed: a writable file path ({err.strerror})") from None


def _print_summary(result, notes: list[str]) -> None:
    spec = result.spec
    print(f"{spec.scenario} / {spec.preset} (seed {spec.seed}): {result.epochs_run} epochs, {result.steps:,} optimizer steps "
          f"in {result.wall_s:.2f} s ({result.path} path)")
    final = ", ".join(f"{k} {v:.6g}" for k, v in result.final.items())
    print(f"final: {final}" if final else "final: no finite epoch")
    parabola, units = result.readout.parabola, result.readout.units
    if parabola is not None:
        a, b, c = parabola.coefficients
        line = f"learned parabola: {a:.6g} x^2 {b:+.6g} x {c:+.6g}"
        if parabola.target is not None:
            ta, tb, tc = parabola.target
            line += f"   (target {ta:g} x^2 {tb:+g} x {tc:+g})"
        print(line)
    if units is not None and units.kinks is not None:
        kinks = ", ".join("none" if k is None else f"{k:.3g}" for k in units.kinks)
        print(f"ReLU kinks at x = {kinks}; {units.units_in_range} inside the data range")
    if units is not None and units.thresholds is not None and result.task == "classification":
        print("hidden-unit thresholds at x = " + ", ".join("none" if t is None else f"{t:.3g}" for t in units.thresholds))
    if result.diverged_at:
        print(f"diverged in epoch {result.diverged_at}")
    for note in notes:
        print(f"- {note}")



def add_parsers(sub, scenario_help: str) -> None:
    """The `run` command's flags."""
    run = sub.add_parser("run", help="train one scenario preset")
    common.add_case_flags(run, scenario_help, seed_help="seed of the initializers and shuffles (default: the preset's)",
                          set_help="change one setting, e.g. train.learning_rate=0.01 or model.units=32,32 (repeatable)",
                          preset_help="question (default), answer or a variant (see list)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--full", action="store_true", help="with --json: add recorded weights and replayed fits")
    run.add_argument("--save-model", metavar="PATH", help="write the trained model to PATH (.keras)")
    run.add_argument("--save-script", metavar="PATH", help="write a standalone numpy + Keras script that rebuilds this run to PATH (.py)")
    run.add_argument("--path", default="fast", help="fast (compiled loop, default) or fit (plain model.fit)")
