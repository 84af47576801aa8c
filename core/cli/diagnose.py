"""`python -m core doctor`: why a setup fails, read from one run, and the changes that fix it, measured over seeds."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.cli import common


@dataclass(frozen=True)
class Plan:
    """A doctor request read from its flags and checked, before anything trains."""

    scenario: Any
    preset: str
    spec: Any  # RunSpec
    criterion: Any  # Criterion
    seeds: int
    seconds: float
    target: float
    posted: Any  # the case's posted answer (RunSpec) or None
    budget: Any  # Budget


def prepare(args) -> Plan:
    """The doctor's request from `args` (the `doctor` command's flags), every value checked: a UsageError or SpecError names what is wrong."""
    from core import doctor
    from core.cases import scenarios
    from core.outcomes.restarts import check as check_restarts

    scenario = scenarios.get(args.scenario)
    scenario.preset(args.preset)
    seconds = common.number_flag("--seconds", args.seconds, common.budget_from_env().max_doctor_seconds, 1, 86_400,
                                 "a number of seconds from 1 to 86400")
    target = common.number_flag("--target", args.target, doctor.TARGET_RATE, 0.01, 1, "a share of the seeds from 0.01 to 1")
    spec = common.resolved_spec(scenario, args)
    seeds = common.seeds_flag(args.seeds) if args.seeds is not None else doctor.default_seeds(spec)
    base = scenario.criterion_for(spec.data.resolved_task)
    criterion = base if args.threshold is None else common.threshold_flag(base, args.threshold)
    check_restarts(spec, seeds)
    budget = common.budget_from_env()
    budget.check(spec)
    budget.check(spec, seeds)
    posted = None
    if "answer" in scenario.preset_names() and args.preset != "answer" and args.data is None:
        posted = scenario.spec("answer", seed=spec.seed)
        posted = posted if doctor.same_question(posted, spec) else None
    return Plan(scenario, args.preset, spec, criterion, seeds, seconds, target, posted, budget)


def check_with(budget) -> Callable:
    """The check every candidate passes before it trains: the budget and the restarts' own limits."""
    from core.outcomes.restarts import check as check_restarts

    def check(candidate, members):
        budget.check(candidate, members)
        check_restarts(candidate, members)

    return check


def diagnose(plan: Plan, pool, say: Callable[[str], None], posted: bool = True):
    """Train the setup once, read its findings, then search for a fix over `plan.seeds` seeds: the DoctorReport."""
    from core import doctor

    spec, criterion, budget = plan.spec, plan.criterion, plan.budget
    say(f"training {plan.scenario.id} / {plan.preset} (seed {spec.seed}) to read its findings ...")
    result = common.wait(pool.submit(spec, seconds=budget.seconds_for()))
    found = doctor.findings(result, criterion)
    causes = sum(item.role == "cause" for item in found)
    say(f"  {len(found)} finding{'s' if len(found) != 1 else ''} read, {causes} of them a cause (written out at the end, counted "
        "over the failing seeds)")
    say(f"measuring over {plan.seeds} seeds ({criterion.describe()}); budget {plan.seconds:g} s")
    began = time.perf_counter()

    def progress(state) -> None:
        m = state.measured
        if m is not None:
            low, high = m.interval
            named = "" if m.label.lower().endswith(state.stage) else f": {m.label}"  # not "posted fix: the posted fix"
            say(f"  {time.perf_counter() - began:6.1f} s  {state.stage}{named} ({doctor.label_changes(m.changes)}): "
                f"{m.successes}/{m.seeds} ({low:.0%}-{high:.0%}) in {m.wall_s:.1f} s")

    def rediagnose(seeds: list[int]):
        say(f"reading the findings of {len(seeds)} failing seed{'s' if len(seeds) != 1 else ''} of the control ...")
        pending = [pool.submit(spec.with_values({"seed": seed}), seconds=budget.seconds_for()) for seed in seeds]
        return [(again, doctor.findings(again, criterion)) for again in map(common.wait, pending)]

    return doctor.find_fixes(spec, found, result, criterion, doctor.measure_with(pool, budget.seconds_for(plan.seeds)),
                             seeds=plan.seeds, posted=plan.posted if posted else None, target=plan.target, seconds=plan.seconds,
                             progress=progress, check=check_with(budget), rediagnose=rediagnose, parallel=pool.size)


def cmd_doctor(args) -> int:
    from core import doctor

    plan = prepare(args)
    criterion = plan.criterion
    scenario = plan.scenario
    say = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    with common.worker(common.workers_flag(args.workers)) as pool:
        report = diagnose(plan, pool, say)
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
        return 0
    print(f"{scenario.id} / {args.preset}, seeds {report.seeds[0]}..{report.seeds[-1]}: success = {criterion.describe()}")
    print("Why:" + (f" {report.note}" if report.note else ""))
    for item in report.findings:
        print(f"- [{item.role}] {item.text}")
    print("What fixes it:")
    print(f"  {report.summary()}")
    rows = ([("as it is", report.control)] if report.control else []) + \
           ([("posted fix", report.posted_fix)] if report.posted_fix else []) + \
        [("fix" if m.success_rate >= report.target else "better", m) for m in report.fixes[:8]]
    for kind, m in rows:
        low, high = m.interval
        median = "" if m.median_metric is None else f", median {m.metric} {m.median_metric:.3g}"
        print(f"  {kind:<10} {m.successes:>3}/{m.seeds} ({m.success_rate:>4.0%}, 95% {low:.0%}-{high:.0%}){median}: "
              f"{doctor.label_changes(m.changes) if kind != 'as it is' else 'no change'}")
    for line in report.skipped:
        print(f"  skipped: {line}")
    print(f"{len(report.tried)} candidates measured in {report.wall_s:.1f} s" + (" (stopped)" if report.stopped else ""))
    return 0



def add_parsers(sub, scenario_help: str) -> None:
    """The `doctor` command's flags."""
    doctor = sub.add_parser("doctor", help="why a setup fails, and which changes fix it, measured over many seeds")
    common.add_case_flags(doctor, scenario_help,
                          seed_help="the seed of the diagnosed run and the first of the measured seeds (default: the preset's)",
                          set_help="change one setting before diagnosing (repeatable)")
    doctor.add_argument("--seeds", default=None,
                        help="seeds per candidate, the same for every candidate (1 to 256; default 16, or 8 for a setup as heavy as noisy-sine)")
    doctor.add_argument("--threshold", help="the success criterion's threshold (default: the case's)")
    doctor.add_argument("--seconds", default=None, help="the search's wall-clock budget in seconds (default: the budget's "
                        "max_doctor_seconds, 300 unless TINYNET_MAX_DOCTOR_SECONDS says otherwise)")
    doctor.add_argument("--target", default=None, help="stop once a candidate succeeds on this share of the seeds (default 0.9)")
    doctor.add_argument("--workers", default="1", help=common.WORKERS_HELP)
    doctor.add_argument("--json", action="store_true", help="print the findings and the measured fixes as JSON")
