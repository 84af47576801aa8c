"""The commands about the lab itself: `list`, `example-data`, and the measured tables `claims`, `fixes` and `bench`."""

from __future__ import annotations

import json
import os
import sys

from core.cli import common
from core.settings.rules import DEFAULT_SEEDS


def cmd_list(args=None) -> int:
    from core.cases import scenarios  # no TensorFlow needed

    for scenario in scenarios.SCENARIOS.values():
        print(f"{scenario.id}: {scenario.title}")
        print(f"  {scenario.question}")
        for preset in scenario.presets:
            print(f"  --preset {preset.name:<11} {preset.label}: {preset.description}")
    return 0


def cmd_claims(args) -> int:
    from core.cases import claims

    seeds = common.seeds_flag(args.seeds)
    return _measure_table(args, lambda report: claims.measure(seeds, report=report), claims.write)


def cmd_fixes(args) -> int:
    from core.cases import fixes

    return _measure_table(args, lambda report: fixes.measure(report=report), fixes.write)


def _measure_table(args, measure, write) -> int:
    """A home-page table (core/cases/claims.py or fixes.py) measured in this process, printed and written if asked."""
    if args.write is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.write))):
        raise common.UsageError(f"--write: {args.write!r} is not allowed; allowed: a path in an existing folder")
    with common.quiet_native_stderr():
        import core.engine.training  # noqa: F401
    table = measure(None if args.json else lambda line: print(line, flush=True))
    if args.write:
        write(table, args.write)
    if args.json:
        print(json.dumps(table, indent=1))
    return 0


def cmd_bench(args) -> int:
    from core.cases import scenarios

    ids = [s.strip() for s in args.scenarios.split(",") if s.strip()] or scenarios.POSTED
    for sid in ids:
        scenarios.get(sid)
    try:
        seconds = float(args.fit_seconds)
    except ValueError:
        seconds = -1.0
    if not 0.5 <= seconds <= 600:
        raise common.UsageError(f"--fit-seconds: {args.fit_seconds!r} is not allowed; allowed: a number from 0.5 to 600")
    members = common.seeds_flag(args.members, "--members") if args.members.strip() != "0" else 0
    bench, *_ = common.engine()
    rows = bench.run(ids, fit_seconds=seconds, report=None if args.json else lambda line: print(line, flush=True), members=members)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0



def add_listing(sub) -> None:
    """`list` and `example-data`, which take no flags."""
    sub.add_parser("list", help="scenarios and their presets")
    sub.add_parser("example-data", help="print the example CSV of scenario data (house prices against area): python -m core "
                   "example-data > prices.csv")


def add_parsers(sub, scenario_help: str) -> None:
    """The flags of `claims`, `fixes` and `bench`."""
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


def example_data(args) -> int:
    from core.data.datafile import example_csv

    sys.stdout.write(example_csv())
    return 0
