"""The command line: `python -m core list | example-data | run | sweep | doctor | claims | fixes | bench`.

A mistake on the command line (an unknown scenario, preset or field, a bad value, a run over the
budget) ends with one line on stderr that names the flag or field, the value and what is allowed, and
exit code 2. `run` and `sweep` keep to the budget of core/runner/budget.py (TINYNET_MAX_* variables); a run
stopped by its wall-clock budget prints its partial result and a note saying so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from core.settings.rules import DEFAULT_SEEDS, MAX_SEEDS


class UsageError(Exception):
    """A mistake on the command line; its text is the one line shown to the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage too; one line is enough
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _quiet_native_stderr():
    """TensorFlow's C++ start-up notes, kept off the terminal (the same guard the workers use)."""
    from core.runner.worker import quiet_native_stderr

    return quiet_native_stderr()


def _engine():
    with _quiet_native_stderr():
        import core.engine.training  # noqa: F401  (imports TensorFlow and Keras)
    from core.cases import scenarios
    from core.cli import bench
    from core.engine import training
    from core.outcomes import readout

    return bench, readout, scenarios, training


@contextmanager
def _worker():
    """One worker process for this command: the training runs there, so a crash in a library is one line, not a core dump."""
    from core.runner.workers import WorkerPool

    pool = WorkerPool(workers=1, max_rss_mb=float("inf"), keep_warm=False)
    try:
        yield pool
    finally:
        pool.shutdown()


def _wait(job):
    """The job's result; Ctrl-C stops the run and ends the command (a dead worker raises WorkerDied, see `main`)."""
    from core.runner.workers import TrainingError

    try:
        return job.wait()
    except KeyboardInterrupt:
        job.stop()
        raise
    except TrainingError as err:
        print(err.details, file=sys.stderr, end="")  # a bug in the engine: its traceback, from the worker
        raise


def _scenario_help() -> str:
    """Every scenario id, from core/cases/scenarios.py (no TensorFlow needed), as the positional argument's help."""
    from core.cases.scenarios import SCENARIOS

    ids = list(SCENARIOS)
    return f"{', '.join(ids[:-1])} or {ids[-1]} (python -m core list: each with its presets)"


def _parser() -> argparse.ArgumentParser:
    scenario_help = _scenario_help()
    parser = _Parser(prog="python -m core", description="Tiny Net Lab: rebuild, train and explain the four posted cases.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="scenarios and their presets")
    sub.add_parser("example-data", help="print the example CSV of scenario data (house prices against area): python -m core "
                   "example-data > prices.csv")
    run = sub.add_parser("run", help="train one scenario preset")
    run.add_argument("scenario", help=scenario_help)
    run.add_argument("--preset", default="question", help="question (default), answer or a variant (see list)")
    run.add_argument("--seed", help="seed of the initializers and shuffles (default: the preset's)")
    run.add_argument("--set", dest="changes", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="change one setting, e.g. train.learning_rate=0.01 or model.units=32,32 (repeatable)")
    run.add_argument("--data", metavar="PATH", help=DATA_HELP)
    run.add_argument("--model", metavar="PATH", help=MODEL_HELP)
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--full", action="store_true", help="with --json: add recorded weights and replayed fits")
    run.add_argument("--save-model", metavar="PATH", help="write the trained model to PATH (.keras)")
    run.add_argument("--save-script", metavar="PATH", help="write a standalone numpy + Keras script that rebuilds this run to PATH (.py)")
    run.add_argument("--path", default="fast", help="fast (compiled loop, default) or fit (plain model.fit)")
    sweep = sub.add_parser("sweep", help="train many seeds of a preset at once and report how often it succeeds")
    sweep.add_argument("scenario", help=scenario_help)
    sweep.add_argument("--preset", default="question", help="question (default), answer or a variant")
    sweep.add_argument("--seeds", default=str(DEFAULT_SEEDS), help=f"how many seeds (1 to {MAX_SEEDS}; default {DEFAULT_SEEDS})")
    sweep.add_argument("--seed", help="the first seed (default: the preset's); the others follow it")
    sweep.add_argument("--set", dest="changes", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="change one setting (repeatable)")
    sweep.add_argument("--data", metavar="PATH", help=DATA_HELP)
    sweep.add_argument("--model", metavar="PATH", help=MODEL_HELP)
    sweep.add_argument("--vary", metavar="SECTION.FIELD=V1,V2,...", help="a success rate for each of these values of one setting")
    sweep.add_argument("--threshold", help="the success criterion's threshold (default: the case's, see --help of the case)")
    sweep.add_argument("--json", action="store_true", help="print the result as JSON")
    doctor = sub.add_parser("doctor", help="why a setup fails, and which changes fix it, measured over many seeds")
    doctor.add_argument("scenario", help=scenario_help)
    doctor.add_argument("--preset", default="question", help="question (default), answer or a variant")
    doctor.add_argument("--seed", help="the seed of the diagnosed run and the first of the measured seeds (default: the preset's)")
    doctor.add_argument("--seeds", default=None,
                        help="seeds per candidate, the same for every candidate (1 to 256; default 16, or 8 for a setup as heavy as noisy-sine)")
    doctor.add_argument("--threshold", help="the success criterion's threshold (default: the case's)")
    doctor.add_argument("--set", dest="changes", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="change one setting before diagnosing (repeatable)")
    doctor.add_argument("--data", metavar="PATH", help=DATA_HELP)
    doctor.add_argument("--model", metavar="PATH", help=MODEL_HELP)
    doctor.add_argument("--seconds", default=None, help="the search's wall-clock budget in seconds (default: the budget's "
                        "max_doctor_seconds, 300 unless TINYNET_MAX_DOCTOR_SECONDS says otherwise)")
    doctor.add_argument("--target", default=None, help="stop once a candidate succeeds on this share of the seeds (default 0.9)")
    doctor.add_argument("--json", action="store_true", help="print the findings and the measured fixes as JSON")
    claims = sub.add_parser("claims", help="success rates of every posted setup and posted fix over many seeds")
    claims.add_argument("--seeds", default=str(DEFAULT_SEEDS), help=f"seeds per preset (default {DEFAULT_SEEDS})")
    claims.add_argument("--write", metavar="PATH", help="also write the table as JSON to PATH (the home page reads core/cases/claims.json)")
    claims.add_argument("--json", action="store_true", help="print the table as JSON")
    fixes = sub.add_parser("fixes", help="the doctor on every posted case as asked: its best measured fix beside the posted fix")
    fixes.add_argument("--write", metavar="PATH", help="also write the table as JSON to PATH (the home page reads core/cases/fixes.json)")
    fixes.add_argument("--json", action="store_true", help="print the table as JSON")
    bench = sub.add_parser("bench", help="fast path against plain model.fit on every posted setup")
    bench.add_argument("--json", action="store_true", help="print the measurements as JSON")
    bench.add_argument("--scenarios", default="", help="comma-separated scenario ids (default: all)")
    bench.add_argument("--fit-seconds", default="3", help="length of the model.fit slice that is timed (default 3)")
    bench.add_argument("--members", default=str(DEFAULT_SEEDS),
                       help=f"seeds trained at once for the restarts figures (0: skip; default {DEFAULT_SEEDS})")
    return parser


DATA_HELP = ("with scenario data: your CSV (x then y by default; a header is detected; choose columns with "
             "--set data.x_columns=NAME --set data.y_column=NAME); read once, never copied")


MODEL_HELP = ("a .keras file: its Dense stack (units, activations, biases, initializers) and compile settings (optimizer, "
              "learning rate, loss) become the settings; --set changes apply on top. Read as JSON, no code in it runs")


def _read_model(path: str) -> dict[str, str]:
    """The settings of the .keras file at `path`, or one line naming the flag, the file, the layer and what is allowed."""
    from core.io import kerasfile
    from core.settings.specs import SpecError

    if not path.endswith(".keras"):
        raise UsageError(f"--model: {path!r} is not allowed; allowed: a .keras file (model.save('mine.keras') in Keras 3)")
    try:
        with open(path, "rb") as handle:
            content = handle.read(kerasfile.MAX_BYTES + 1)
    except OSError as err:
        raise UsageError(f"--model: {path!r} is not allowed; allowed: a readable .keras file ({err.strerror})") from None
    try:
        settings, notes = kerasfile.read_model(content, os.path.basename(path))
    except SpecError as err:
        raise UsageError(f"--model: {path!r}, {err.value} is not allowed; allowed: {err.allowed}") from None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return settings


def _read_data(path: str):
    """The data file at `path` as a core.data.datafile.Table, or one line naming the flag, the file, its place and what is allowed."""
    from core.data import datafile
    from core.settings.specs import SpecError

    try:
        size = os.path.getsize(path)
        if size > datafile.MAX_BYTES:
            raise UsageError(f"--data: {path!r} ({size / 1e6:.1f} MB) is not allowed; allowed: a file of at most "
                             f"{datafile.MAX_BYTES // (1024 * 1024)} MB")
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as err:
        raise UsageError(f"--data: {path!r} is not allowed; allowed: a readable CSV file ({err.strerror})") from None
    try:
        return datafile.parse(content, name=os.path.basename(path))
    except SpecError as err:
        raise UsageError(f"--data: {path!r}, {err.value} is not allowed; allowed: {err.allowed}") from None


def _parse_changes(items: list[str]) -> dict[str, str]:
    changes = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set: {item!r} is not allowed; allowed: SECTION.FIELD=VALUE, e.g. train.epochs=200")
        changes[name.strip()] = value.strip()
    return changes


def _cmd_list() -> int:
    from core.cases import scenarios  # no TensorFlow needed

    for scenario in scenarios.SCENARIOS.values():
        print(f"{scenario.id}: {scenario.title}")
        print(f"  {scenario.question}")
        for preset in scenario.presets:
            print(f"  --preset {preset.name:<11} {preset.label}: {preset.description}")
    return 0


def _cmd_run(args) -> int:
    from core.cases import scenarios

    scenario = scenarios.get(args.scenario)
    scenario.preset(args.preset)
    if args.path not in ("fast", "fit"):
        raise UsageError(f"--path: {args.path!r} is not allowed; allowed: fast, fit")
    if args.save_model is not None:
        _check_model_path(args.save_model)
    if args.save_script is not None:
        _check_script_path(args.save_script)
    spec = _resolved_spec(scenario, args)
    budget = _budget()
    budget.check(spec)

    with _worker() as pool:
        result = _wait(pool.submit(spec, seconds=budget.seconds_for(), path=args.path))
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


def _resolved_spec(scenario, args):
    """The preset's spec with the --set changes and --seed applied (mistakes name the flag or field)."""
    from core.settings.specs import SpecError

    changes = _parse_changes(args.changes)
    if args.seed is not None:
        changes["seed"] = args.seed
    path = getattr(args, "data", None)
    if path is not None and scenario.spec().data.function != "file":
        raise UsageError(f"--data: {path!r} is not allowed with scenario {scenario.id}; allowed: scenario data "
                         "(python -m core run data --data FILE.csv)")
    model = _read_model(args.model) if getattr(args, "model", None) is not None else {}
    try:
        spec = scenario.spec(args.preset)
        table = _read_data(path) if path is not None else None
        # The file, the model's settings and --set together: a 3-class file is valid only with the 3 outputs set beside it.
        try:
            built = spec.with_text({**model, **changes}, table=table) if (model or changes or table is not None) else spec
            if model:
                from core.io import kerasfile

                kerasfile.check_inputs(model, built)
            return built
        except SpecError as err:
            if err.field in model and err.field not in changes:
                raise UsageError(f"--model: {args.model!r} gives {err.field} {err.value!r}, which is not allowed here; "
                                 f"allowed: {err.allowed}") from None
            raise
    except SpecError as err:
        if err.field == "seed" and args.seed is not None:
            raise UsageError(f"--seed: {args.seed!r} is not allowed; allowed: {err.allowed}") from None
        raise


def _budget():
    """The per-run budget from the environment (TINYNET_MAX_SECONDS and friends; see core/runner/budget.py)."""
    from core.runner.budget import Budget

    return Budget.from_sources(os.environ)


def _check_model_path(path: str) -> None:
    if not path.endswith(".keras"):
        raise UsageError(f"--save-model: {path!r} is not allowed; allowed: a path ending in .keras")
    _check_output_path("--save-model", path)


def _check_script_path(path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"--save-script: {path!r} is not allowed; allowed: a file path ({path} is a folder)")
    _check_output_path("--save-script", path)


def _check_output_path(flag: str, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{flag}: {path!r} is not allowed; allowed: a path in an existing folder ({folder} does not exist)")


def _save_script(path: str, result) -> None:
    """The run's Keras script, with the lab's final loss in it when the run went all the way."""
    from core.io import export

    text = export.run_script(result)
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise UsageError(f"--save-script: {path!r} is not allowed; allowed: a writable file path ({err.strerror})") from None


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


def _cmd_sweep(args) -> int:
    from core.cases import scenarios

    scenario = scenarios.get(args.scenario)
    scenario.preset(args.preset)
    seeds = _seeds(args.seeds)
    spec = _resolved_spec(scenario, args)
    base = scenario.criterion_for(spec.data.resolved_task)
    criterion = base if args.threshold is None else _threshold(base, args.threshold)
    variants = [(None, spec)]
    if args.vary:
        path, sep, values = args.vary.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()] if sep else []
        if not items:
            raise UsageError(f"--vary: {args.vary!r} is not allowed; allowed: SECTION.FIELD=V1,V2,... e.g. train.learning_rate=0.1,0.01")
        variants = [(value, spec.with_text({path.strip(): value})) for value in items]
    budget = _budget()
    for _, variant in variants:
        budget.check(variant, seeds)
    from core.outcomes.restarts import summarize_sweep

    reports = []
    with _worker() as pool:  # the seeds train in a worker process, as `run` does: this process never imports TensorFlow
        outcomes = [(value, variant, _wait(pool.submit(variant, members=seeds, seconds=budget.seconds_for(seeds))))
                    for value, variant in variants]
    for value, variant, outcome in outcomes:
        if outcome.stop_reason == "budget":
            print("note: " + budget.stop_message(outcome.epochs_run, variant.train.epochs, seeds), file=sys.stderr)
        reports.append((value, summarize_sweep(outcome, criterion)))
    field = args.vary.partition("=")[0].strip() if args.vary else None
    if args.json:
        rows = [{**summary.to_json(), **({"vary": {"field": field, "value": value}} if field else {})} for value, summary in reports]
        print(json.dumps(rows[0] if not field else {"vary": field, "results": rows}, indent=1))
        return 0
    print(f"{scenario.id} / {args.preset}: {seeds} seeds from {spec.seed}; success = {criterion.describe()}")
    for value, summary in reports:
        low, high = summary.interval
        best = summary.best
        print(f"{f'{field}={value}: ' if field else ''}{summary.successes}/{summary.seeds} succeeded ({summary.success_rate:.0%}, "
              f"95% interval {low:.0%}-{high:.0%}) in {summary.wall_s:.1f} s; best seed {best.seed} ({criterion.name} "
              f"{best.score:.4g}): " + ", ".join(f"{k} {v:.4g}" for k, v in best.final.items()))
    return 0


def _number_flag(flag: str, raw: str | None, default: float, lo: float, hi: float, what: str) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise UsageError(f"{flag}: {raw!r} is not allowed; allowed: {what}")
    return value


def _cmd_doctor(args) -> int:
    from core import doctor
    from core.cases import scenarios

    scenario = scenarios.get(args.scenario)
    scenario.preset(args.preset)
    seconds = _number_flag("--seconds", args.seconds, _budget().max_doctor_seconds, 1, 86_400, "a number of seconds from 1 to 86400")
    target = _number_flag("--target", args.target, doctor.TARGET_RATE, 0.01, 1, "a share of the seeds from 0.01 to 1")
    spec = _resolved_spec(scenario, args)
    seeds = _seeds(args.seeds) if args.seeds is not None else doctor.default_seeds(spec)
    base = scenario.criterion_for(spec.data.resolved_task)
    criterion = base if args.threshold is None else _threshold(base, args.threshold)
    from core.outcomes.restarts import check as check_restarts

    check_restarts(spec, seeds)
    budget = _budget()
    budget.check(spec)
    budget.check(spec, seeds)
    posted = None
    if "answer" in scenario.preset_names() and args.preset != "answer" and args.data is None:
        posted = scenario.spec("answer", seed=spec.seed)
    say = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    with _worker() as pool:
        say(f"training {scenario.id} / {args.preset} (seed {spec.seed}) to read its findings ...")
        result = _wait(pool.submit(spec, seconds=budget.seconds_for()))
        found = doctor.findings(result, criterion)
        for item in found:
            say(f"  [{item.role}] {item.id}: {item.text}")
        say(f"measuring over {seeds} seeds ({criterion.describe()}); budget {seconds:g} s")
        began = time.perf_counter()

        def progress(state) -> None:
            m = state.measured
            if m is not None:
                low, high = m.interval
                say(f"  {time.perf_counter() - began:6.1f} s  {state.stage}: {m.label} ({doctor.label_changes(m.changes)}): "
                    f"{m.successes}/{m.seeds} ({low:.0%}-{high:.0%}) in {m.wall_s:.1f} s")

        def check(candidate, members):
            budget.check(candidate, members)
            check_restarts(candidate, members)

        report = doctor.find_fixes(spec, found, result, criterion, doctor.measure_with(pool, budget.seconds_for(seeds)),
                                   seeds=seeds, posted=posted, target=target, seconds=seconds, progress=progress, check=check)
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
        return 0
    print(f"{scenario.id} / {args.preset}, seeds {report.seeds[0]}..{report.seeds[-1]}: success = {criterion.describe()}")
    print("Why:")
    for item in report.findings:
        print(f"- [{item.role}] {item.text}")
    print("What fixes it:")
    print(f"  {report.summary()}")
    rows = ([("as it is", report.control)] if report.control else []) + \
           ([("posted fix", report.posted_fix)] if report.posted_fix else []) + [("fix", m) for m in report.fixes[:8]]
    for kind, m in rows:
        low, high = m.interval
        median = "" if m.median_metric is None else f", median {m.metric} {m.median_metric:.3g}"
        print(f"  {kind:<10} {m.successes:>3}/{m.seeds} ({m.success_rate:>4.0%}, 95% {low:.0%}-{high:.0%}){median}: "
              f"{doctor.label_changes(m.changes) if kind != 'as it is' else 'no change'}")
    for line in report.skipped:
        print(f"  skipped: {line}")
    print(f"{len(report.tried)} candidates measured in {report.wall_s:.1f} s" + (" (stopped)" if report.stopped else ""))
    return 0


def _seeds(raw: str, flag: str = "--seeds") -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SEEDS or str(value) != raw.strip():
        raise UsageError(f"{flag}: {raw!r} is not allowed; allowed: a whole number from 1 to {MAX_SEEDS}")
    return value


def _threshold(criterion, raw: str):
    from core.settings.specs import SpecError

    try:
        return criterion.with_threshold(raw)
    except SpecError as err:
        raise UsageError(f"--threshold: {raw!r} is not allowed; allowed: {err.allowed} ({criterion.describe()})") from None


def _cmd_claims(args) -> int:
    seeds = _seeds(args.seeds)
    if args.write is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.write))):
        raise UsageError(f"--write: {args.write!r} is not allowed; allowed: a path in an existing folder")
    with _quiet_native_stderr():
        import core.engine.training  # noqa: F401
    from core.cases import claims

    table = claims.measure(seeds, report=None if args.json else lambda line: print(line, flush=True))
    if args.write:
        claims.write(table, args.write)
    if args.json:
        print(json.dumps(table, indent=1))
    return 0


def _cmd_fixes(args) -> int:
    if args.write is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.write))):
        raise UsageError(f"--write: {args.write!r} is not allowed; allowed: a path in an existing folder")
    with _quiet_native_stderr():
        import core.engine.training  # noqa: F401
    from core.cases import fixes

    table = fixes.measure(report=None if args.json else lambda line: print(line, flush=True))
    if args.write:
        fixes.write(table, args.write)
    if args.json:
        print(json.dumps(table, indent=1))
    return 0


def _cmd_bench(args) -> int:
    from core.cases import scenarios

    ids = [s.strip() for s in args.scenarios.split(",") if s.strip()] or scenarios.POSTED
    for sid in ids:
        scenarios.get(sid)
    try:
        seconds = float(args.fit_seconds)
    except ValueError:
        seconds = -1.0
    if not 0.5 <= seconds <= 600:
        raise UsageError(f"--fit-seconds: {args.fit_seconds!r} is not allowed; allowed: a number from 0.5 to 600")
    members = _seeds(args.members, "--members") if args.members.strip() != "0" else 0
    bench, *_ = _engine()
    rows = bench.run(ids, fit_seconds=seconds, report=None if args.json else lambda line: print(line, flush=True), members=members)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    from core.runner.workers import WorkerDied
    from core.settings.specs import SpecError

    try:
        args = _parser().parse_args(argv)
        if args.command == "list":
            return _cmd_list()
        if args.command == "example-data":
            from core.data.datafile import example_csv

            sys.stdout.write(example_csv())
            return 0
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "doctor":
            return _cmd_doctor(args)
        if args.command == "claims":
            return _cmd_claims(args)
        if args.command == "fixes":
            return _cmd_fixes(args)
        return _cmd_bench(args)
    except (UsageError, SpecError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except WorkerDied as err:  # killed, out of memory, a crash in a library: one line, not a traceback
        print(f"error: {err}; nothing was saved; run the command again", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
