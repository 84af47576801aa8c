"""`python -m core sweep`: many seeds of one setup (or of each value of one setting), with the success rate and the best seed."""

from __future__ import annotations

import json
import sys

from core.cli import common
from core.settings.rules import DEFAULT_SEEDS, MAX_SEEDS


def cmd_sweep(args) -> int:
    from core.cases import scenarios

    scenario = scenarios.get(args.scenario)
    scenario.preset(args.preset)
    seeds = common.seeds_flag(args.seeds)
    spec = common.resolved_spec(scenario, args)
    base = scenario.criterion_for(spec.data.resolved_task)
    criterion = base if args.threshold is None else common.threshold_flag(base, args.threshold)
    variants = [(None, spec)]
    if args.vary:
        path, sep, values = args.vary.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()] if sep else []
        if not items:
            raise common.UsageError(f"--vary: {args.vary!r} is not allowed; allowed: SECTION.FIELD=V1,V2,... e.g. train.learning_rate=0.1,0.01")
        variants = [(value, spec.with_text({path.strip(): value})) for value in items]
    budget = common.budget_from_env()
    for _, variant in variants:
        budget.check(variant, seeds)
    from core.outcomes.restarts import summarize_sweep

    reports = []
    with common.worker() as pool:  # the seeds train in a worker process, as `run` does: this process never imports TensorFlow
        outcomes = [(value, variant, common.wait(pool.submit(variant, members=seeds, seconds=budget.seconds_for(seeds))))
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


def add_parsers(sub, scenario_help: str) -> None:
    """The `sweep` command's flags."""
    sweep = sub.add_parser("sweep", help="train many seeds of a preset at once and report how often it succeeds")
    common.add_case_flags(sweep, scenario_help, seed_help="the first seed (default: the preset's); the others follow it",
                          set_help="change one setting (repeatable)")
    sweep.add_argument("--seeds", default=str(DEFAULT_SEEDS), help=f"how many seeds (1 to {MAX_SEEDS}; default {DEFAULT_SEEDS})")
    sweep.add_argument("--vary", metavar="SECTION.FIELD=V1,V2,...", help="a success rate for each of these values of one setting")
    sweep.add_argument("--threshold", help="the success criterion's threshold (default: the case's, see --help of the case)")
    sweep.add_argument("--json", action="store_true", help="print the result as JSON")
