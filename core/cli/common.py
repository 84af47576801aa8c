"""What every command shares: the one-line usage error, the worker process a command trains in, and the flags that
read a case (scenario, preset, --seed, --set, --data, --model) into a RunSpec, each mistake naming its flag."""

from __future__ import annotations

import argparse
import math
import os
import sys
from contextlib import contextmanager

from core.settings.rules import MAX_SEEDS


class UsageError(Exception):
    """A mistake on the command line; its text is the one line shown to the user."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage too; one line is enough
        raise UsageError(f"{self.prog}: {message} (see --help)")


def quiet_native_stderr():
    """TensorFlow's C++ start-up notes, kept off the terminal (the same guard the workers use)."""
    from core.runner.worker import quiet_native_stderr

    return quiet_native_stderr()


def engine():
    with quiet_native_stderr():
        import core.engine.training  # noqa: F401  (imports TensorFlow and Keras)
    from core.cases import scenarios
    from core.cli import bench
    from core.engine import training
    from core.outcomes import readout

    return bench, readout, scenarios, training


@contextmanager
def worker(workers: int = 1):
    """Worker processes for this command (one unless asked): the training runs there, so a crash in a library is one line, not
    a core dump. Each is stopped if it passes the budget's hard memory limit (TINYNET_WORKER_LIMIT_MB) during a job."""
    from core.runner.workers import WorkerPool

    budget = budget_from_env()  # a long command (doctor, casebook) recycles its worker between jobs, as the server does
    pool = WorkerPool(workers=workers, max_rss_mb=budget.worker_memory_mb, keep_warm=False, limit_mb=budget.worker_limit_mb)
    try:
        yield pool
    finally:
        pool.shutdown()


LOADING_NOTE_S = 1.0  # a worker not ready after this long is loading TensorFlow: say so once
LOADING_NOTE = "loading TensorFlow in the training process (once per command, about 10 to 20 s) ..."


def wait(job):
    """The job's result; Ctrl-C stops the run and ends the command (a dead worker raises WorkerDied, see `main`)."""
    from core.runner.workers import TrainingError

    try:
        worker = getattr(job, "worker", None)
        if worker is not None and not worker.ready.wait(LOADING_NOTE_S):  # say why the terminal is quiet
            print(LOADING_NOTE, file=sys.stderr, flush=True)
        return job.wait()
    except KeyboardInterrupt:
        job.stop()
        raise
    except TrainingError as err:
        print(err.details, file=sys.stderr, end="")  # a bug in the engine: its traceback, from the worker
        raise


DATA_HELP = ("with scenario data: your CSV (x then y by default; a header is detected; choose columns with "
             "--set data.x_columns=NAME --set data.y_column=NAME); read once, never copied")


MODEL_HELP = ("a .keras file: its Dense stack (units, activations, biases, initializers) and compile settings (optimizer, "
              "learning rate, loss) become the settings; --set changes apply on top. Read as JSON, no code in it runs")


def read_model(path: str) -> dict[str, str]:
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


def read_data(path: str):
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


def parse_changes(items: list[str]) -> dict[str, str]:
    changes = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set: {item!r} is not allowed; allowed: SECTION.FIELD=VALUE, e.g. train.epochs=200")
        changes[name.strip()] = value.strip()
    return changes


def resolved_spec(scenario, args):
    """The preset's spec with the --set changes and --seed applied (mistakes name the flag or field)."""
    from core.settings.specs import SpecError

    changes = parse_changes(args.changes)
    if args.seed is not None:
        changes["seed"] = args.seed
    path = getattr(args, "data", None)
    if path is not None and scenario.spec().data.function != "file":
        raise UsageError(f"--data: {path!r} is not allowed with scenario {scenario.id}; allowed: scenario data "
                         "(python -m core run data --data FILE.csv)")
    model = read_model(args.model) if getattr(args, "model", None) is not None else {}
    try:
        spec = scenario.spec(args.preset)
        table = read_data(path) if path is not None else None
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


def budget_from_env():
    """The per-run budget from the environment (TINYNET_MAX_SECONDS and friends; see core/runner/budget.py)."""
    from core.runner.budget import Budget

    return Budget.from_sources(os.environ)


def check_output_path(flag: str, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{flag}: {path!r} is not allowed; allowed: a path in an existing folder ({folder} does not exist)")


def whole_number_flag(flag: str, raw: str, most: int) -> int:
    """A flag that takes a whole number from 1 to `most`, written as one (no sign, no decimals, no spaces inside)."""
    value = int(raw) if raw.strip().isdigit() else 0
    if not 1 <= value <= most or str(value) != raw.strip():
        raise UsageError(f"{flag}: {raw!r} is not allowed; allowed: a whole number from 1 to {most}")
    return value


def seeds_flag(raw: str, flag: str = "--seeds") -> int:
    return whole_number_flag(flag, raw, MAX_SEEDS)


MAX_WORKERS = 4


def workers_flag(raw: str) -> int:
    """--workers: how many worker processes train side by side."""
    return whole_number_flag("--workers", raw, MAX_WORKERS)


WORKERS_HELP = (f"worker processes that measure a stage's candidates side by side (1 to {MAX_WORKERS}; default 1; each holds its "
                "own TensorFlow, about 1 GB)")


def threshold_flag(criterion, raw: str):
    from core.settings.specs import SpecError

    try:
        return criterion.with_threshold(raw)
    except SpecError as err:
        raise UsageError(f"--threshold: {raw!r} is not allowed; allowed: {err.allowed} ({criterion.describe()})") from None


def number_flag(flag: str, raw: str | None, default: float, lo: float, hi: float, what: str) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise UsageError(f"{flag}: {raw!r} is not allowed; allowed: {what}")
    return value


def add_case_flags(parser, scenario_help: str, seed_help: str, set_help: str, preset_help: str = "question (default), answer or a "
                   "variant") -> None:
    """The flags that name a case and change it, the same for run, sweep and doctor: scenario, --preset, --seed, --set,
    --data and --model (each read by resolved_spec)."""
    parser.add_argument("scenario", help=scenario_help)
    parser.add_argument("--preset", default="question", help=preset_help)
    parser.add_argument("--seed", help=seed_help)
    parser.add_argument("--set", dest="changes", action="append", default=[], metavar="SECTION.FIELD=VALUE", help=set_help)
    parser.add_argument("--data", metavar="PATH", help=DATA_HELP)
    parser.add_argument("--model", metavar="PATH", help=MODEL_HELP)
