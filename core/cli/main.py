"""The command line: `python -m core list | example-data | run | sweep | doctor | claims | fixes | bench`.

Each command is a module of core/cli with its flags (`add_parsers`) and its work; common.py holds what
they share. A mistake on the command line (an unknown scenario, preset or field, a bad value, a run over
the budget) ends with one line on stderr that names the flag or field, the value and what is allowed,
and exit code 2. `run` and `sweep` keep to the budget of core/runner/budget.py (TINYNET_MAX_* variables);
a run stopped by its wall-clock budget prints its partial result and a note saying so.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from core.cli import casebook, diagnose, lab, run, sweep
from core.cli.common import Parser, UsageError

COMMANDS = {"list": lab.cmd_list, "example-data": lab.example_data, "run": run.cmd_run, "sweep": sweep.cmd_sweep,
            "doctor": diagnose.cmd_doctor, "claims": lab.cmd_claims, "fixes": lab.cmd_fixes, "bench": lab.cmd_bench,
            "casebook": casebook.cmd_casebook}


def _scenario_help() -> str:
    """Every scenario id, from core/cases/scenarios.py (no TensorFlow needed), as the positional argument's help."""
    from core.cases.scenarios import SCENARIOS

    ids = list(SCENARIOS)
    return f"{', '.join(ids[:-1])} or {ids[-1]} (python -m core list: each with its presets)"


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m core", description="Tiny Net Lab: rebuild, train and explain the four posted cases.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    scenario_help = _scenario_help()
    lab.add_listing(sub)
    for module in (run, sweep, diagnose, lab, casebook):
        module.add_parsers(sub, scenario_help)
    return parser


def parser() -> argparse.ArgumentParser:
    """The command line's parser (the casebook reads its cases' arguments with it)."""
    return _parser()


def main(argv: list[str] | None = None) -> int:
    from core.runner.workers import WorkerDied
    from core.settings.errors import bounded
    from core.settings.specs import SpecError

    try:
        args = _parser().parse_args(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, so that a reader gone away (`| head`) is met below, not at exit
        return code
    except BrokenPipeError:  # the reader stopped reading: end quietly, with SIGPIPE's status, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UsageError, SpecError) as err:
        print(f"error: {bounded(err)}", file=sys.stderr)
        return 2
    except WorkerDied as err:  # killed, out of memory, a crash in a library: one line, not a traceback
        print(f"error: {bounded(err)}; nothing was saved; run the command again", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
