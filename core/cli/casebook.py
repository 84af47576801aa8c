"""`python -m core casebook [FILE]`: the doctor on a book of real cases, against their accepted answers and plain searches.

FILE is a JSON list of cases, each `{"id", "source", "args", "threshold", "answer_args", "causes"}`:
`args` is what follows `python -m core doctor` for the setup as asked (without --seeds and --threshold),
`threshold` the success threshold, `answer_args` what follows `python -m core sweep` for the accepted
answer's setup, and `causes` the finding ids that match the answer's diagnosis (empty: no fault). A file
path in `args` (after --data or --model) is absolute or relative to FILE's folder. Without FILE the
project's own casebook runs (core/cases/casebook/).

For each case: the doctor (findings, then its search), the answer's setup on the same seeds, and each
baseline (random search, Optuna's TPE) over the usual knobs with as many trainings as the doctor spent.
Reported per case and in total: cause matched (one of the answer's causes named as a cause or a symptom; also
counted as a cause alone), the doctor's best against the answer's (at least as
good: within 2 of 16 seeds), reached the target, trainings, seconds, and each baseline's best.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.cli import common, diagnose

HOME = Path(__file__).resolve().parent.parent / "cases" / "casebook"
FIELDS = ("id", "source", "args", "threshold", "answer_args", "causes")
BASELINES = ("random", "tpe")
PATH_FLAGS = ("--data", "--model")


@dataclass(frozen=True)
class Case:
    """One question of the casebook, as its file gives it."""

    id: str
    source: str
    args: str
    threshold: float
    answer_args: str
    causes: tuple[str, ...]
    folder: Path

    def tokens(self, text: str) -> list[str]:
        """`text` split as a shell would, with a file after --data or --model resolved against the casebook's folder."""
        words = shlex.split(text)
        for i, word in enumerate(words[:-1]):
            if word in PATH_FLAGS and not Path(words[i + 1]).is_absolute():
                words[i + 1] = str(self.folder / words[i + 1])
        return words


def load(path: Path) -> list[Case]:
    """Every case of the JSON file (or of every .json file of a folder), each checked: a UsageError names the case and the field."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    cases: list[Case] = []
    for file in files:
        try:
            items = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise common.UsageError(f"casebook: {str(file)!r} cannot be read as JSON ({err})") from None
        if not isinstance(items, list):
            raise common.UsageError(f"casebook: {str(file)!r} holds a {type(items).__name__}; allowed: a JSON list of cases")
        cases += [_case(item, index, file) for index, item in enumerate(items)]
    ids = [c.id for c in cases]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise common.UsageError(f"casebook: the id {twice[0]!r} is used twice; allowed: one case per id")
    return cases


def _case(item: Any, index: int, file: Path) -> Case:
    where = f"casebook {file.name}, case {index}"
    if not isinstance(item, dict):
        raise common.UsageError(f"{where}: a {type(item).__name__}; allowed: an object with {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in item]
    if missing:
        raise common.UsageError(f"{where} ({item.get('id', '?')!r}): no {', '.join(missing)}; allowed: an object with {', '.join(FIELDS)}")
    threshold, causes = item["threshold"], item["causes"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise common.UsageError(f"{where} ({item['id']!r}): threshold {threshold!r} is not allowed; allowed: a number")
    if not isinstance(causes, list) or not all(isinstance(c, str) for c in causes):
        raise common.UsageError(f"{where} ({item['id']!r}): causes {causes!r} is not allowed; allowed: a list of finding ids")
    for field in ("id", "source", "args", "answer_args"):
        if not isinstance(item[field], str) or not item[field].strip():
            raise common.UsageError(f"{where}: {field} {item[field]!r} is not allowed; allowed: text")
    return Case(item["id"], item["source"], item["args"], float(threshold), item["answer_args"], tuple(causes), file.parent)


def run_case(case: Case, pool, seeds: int, baselines: tuple[str, ...], seconds: float | None, say) -> dict[str, Any]:
    """The doctor, the answer and the baselines on one case, on the same seeds: a row of the casebook's table."""
    from core.cases import scenarios
    from core.cli.main import parser
    from core.doctor import baselines as plain
    from core.doctor import measure_with
    from core.doctor.search import measure_setup

    flags = ["--seeds", str(seeds), "--threshold", repr(case.threshold)] + (["--seconds", repr(seconds)] if seconds else [])
    plan = diagnose.prepare(parser().parse_args(["doctor", *case.tokens(case.args), *flags]))
    began = time.perf_counter()
    report = diagnose.diagnose(plan, pool, say, posted=False)
    doctor_s = time.perf_counter() - began
    measured = [m for m in (report.control, *report.tried) if m is not None]
    trainings = report.trainings  # screened setups included: a baseline gets exactly what the doctor spent
    seed_list = list(report.seeds)
    measure = measure_with(pool, plan.budget.seconds_for(seeds))
    answer_args = parser().parse_args(["sweep", *case.tokens(case.answer_args)])
    answer_spec = common.resolved_spec(scenarios.get(answer_args.scenario), answer_args)
    say(f"  the accepted answer on the same {seeds} seeds ...")
    answer = measure_setup(measure, plan.spec, answer_spec, seed_list, plan.criterion, "the accepted answer")[0]
    best = plain.best(measured, plan.criterion)
    row = {"id": case.id, "source": case.source, "criterion": plan.criterion.describe(), "seeds": seeds,
           "causes": list(case.causes), "findings": [f.id for f in report.findings if f.role == "cause"],
           "symptoms": [f.id for f in report.findings if f.role == "symptom"],
           "control": report.control.successes if report.control else None, "doctor": _brief(best), "answer": _brief(answer),
           "trainings": trainings, "doctor_s": round(doctor_s, 1), "target": report.target, "baselines": {}}
    # Matched: the doctor names one of the answer's causes as a cause, or as a symptom (undertrained, plateau and
    # majority_class are only ever symptoms); `as_cause` counts the causes alone. A case with no fault: no cause at all.
    row["cause_matched"] = bool(set(case.causes) & {*row["findings"], *row["symptoms"]}) if case.causes else not row["findings"]
    row["matched_as_cause"] = bool(set(case.causes) & set(row["findings"])) if case.causes else not row["findings"]
    row["as_good_as_answer"] = best is not None and best.successes >= answer.successes - _slack(seeds)
    row["reached_target"] = best is not None and best.success_rate >= report.target
    check = diagnose.check_with(plan.budget)
    # Trainings to reach the target: each searcher is allowed twice the doctor's trainings (a baseline goes on past the
    # doctor's count only while it has not reached the target); whoever never reaches it counts the whole allowance.
    allowance = row["allowance"] = 2 * trainings
    for name in baselines:
        say(f"  baseline {name}: {trainings} trainings, up to {allowance} until it reaches the target ...")
        search = plain.random_search if name == "random" else plain.tpe_search
        began = time.perf_counter()
        tried = search(plan.spec, plan.criterion, measure, seed_list, trainings, check=check, extra=allowance - trainings,
                       target=report.target)
        equal = _within(tried, trainings)  # what it had found with exactly the doctor's trainings
        found = plain.best(equal, plan.criterion)
        row["baselines"][name] = {**_brief(found), "candidates": len(equal), "seconds": round(time.perf_counter() - began, 1),
                                  "doctor_as_good": best is not None and (found is None or best.successes >= found.successes),
                                  "to_target": _to_target(tried, report.target), "trainings": sum(m.seeds for m in tried)}
    row["to_target"] = report.to_target
    return row


def _within(tried, trainings: int) -> list:
    """The candidates of `tried` measured within the first `trainings` trainings."""
    spent, out = 0, []
    for m in tried:
        spent += m.seeds
        if spent > trainings:
            break
        out.append(m)
    return out


def _to_target(tried, target: float) -> int | None:
    """The trainings a search had spent when a candidate first reached `target`, or None if none did."""
    spent = 0
    for m in tried:
        spent += m.seeds
        if m.success_rate >= target:
            return spent
    return None


def _slack(seeds: int) -> int:
    """How many seeds short of the answer still count as as good: 2 of 16, scaled."""
    return round(2 * seeds / 16)


def _brief(m) -> dict[str, Any]:
    if m is None:
        return {"successes": None, "changes": None}
    return {"successes": m.successes, "label": m.label, "changes": {k: list(v) if isinstance(v, tuple) else v for k, v in m.changes.items()},
            "median": m.median_metric}


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The casebook's totals: shares of the cases, and trainings."""
    faults = [r for r in rows if r["causes"]]
    out = {"cases": len(rows), "cause_matched": sum(r["cause_matched"] for r in faults), "with_fault": len(faults),
           "matched_as_cause": sum(r.get("matched_as_cause", r["cause_matched"]) for r in faults),
           "as_good_as_answer": sum(r["as_good_as_answer"] for r in rows), "reached_target": sum(r["reached_target"] for r in rows),
           "trainings": sum(r["trainings"] for r in rows)}
    # Trainings to reach the target, summed over the cases; a search that never reached it counts the case's allowance.
    out["to_target"] = sum(_reach(r["to_target"], r) for r in rows)
    for name in {n for r in rows for n in r["baselines"]}:
        ran = [r for r in rows if name in r["baselines"]]
        out[f"doctor_as_good_as_{name}"] = sum(r["baselines"][name]["doctor_as_good"] for r in ran)
        reach = [r["baselines"][name]["to_target"] for r in ran]
        out[f"{name}_reached_target"] = sum(t is not None and t <= r["trainings"] for t, r in zip(reach, ran))  # at equal trainings
        out[f"{name}_reached_in_allowance"] = sum(t is not None for t in reach)
        out[f"{name}_to_target"] = sum(_reach(r["baselines"][name]["to_target"], r) for r in ran)
    return out


def _reach(to_target: int | None, row: dict[str, Any]) -> int:
    """A searcher's trainings to reach the target in a case, or the case's whole allowance when it never did."""
    return to_target if to_target is not None else row.get("allowance", row["trainings"])


def cmd_casebook(args) -> int:
    path = Path(args.file) if args.file else HOME
    if not path.exists():
        raise common.UsageError(f"casebook: {args.file!r} does not exist; allowed: a JSON file of cases or a folder of them")
    cases = load(path)
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = sorted(wanted - {c.id for c in cases})
        if unknown:
            raise common.UsageError(f"--only: {unknown[0]!r} is not allowed; allowed: case ids of the casebook ({len(cases)} cases)")
        cases = [c for c in cases if c.id in wanted]
    baselines = tuple(b.strip() for b in (args.baselines or "").split(",") if b.strip())
    odd = [b for b in baselines if b not in BASELINES]
    if odd:
        raise common.UsageError(f"--baselines: {odd[0]!r} is not allowed; allowed: a comma-separated list of {', '.join(BASELINES)}, or none")
    seeds = common.seeds_flag(args.seeds)
    seconds = common.number_flag("--seconds", args.seconds, 0, 1, 86_400, "a number of seconds from 1 to 86400") if args.seconds else None
    say = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    rows = []
    with common.worker(common.workers_flag(args.workers)) as pool:
        for case in cases:
            say(f"{case.id} ({case.source})")
            rows.append(run_case(case, pool, seeds, baselines, seconds, say))
    if args.json:
        print(json.dumps({"cases": rows, "totals": totals(rows)}, indent=1))
        return 0
    print(table(rows, baselines))
    return 0


def table(rows: list[dict[str, Any]], baselines: tuple[str, ...]) -> str:
    """The casebook as a text table, one line per case, then the totals."""
    head = f"{'case':<28} {'cause':<5} {'as asked':>8} {'doctor':>6} {'answer':>6} {'≥ans':<4} {'90%':<3} {'train':>5} {'s':>5}"
    head += "".join(f" {name:>6}" for name in baselines)
    lines = [head]
    for r in rows:
        n = r["seeds"]
        line = (f"{r['id'][:28]:<28} {'yes' if r['cause_matched'] else 'no':<5} {r['control']!s:>5}/{n:<2} "
                f"{r['doctor']['successes']!s:>3}/{n:<2} {r['answer']['successes']!s:>3}/{n:<2} "
                f"{'yes' if r['as_good_as_answer'] else 'no':<4} {'yes' if r['reached_target'] else 'no':<3} {r['trainings']:>5} "
                f"{r['doctor_s']:>5.0f}")
        line += "".join(f" {r['baselines'][b]['successes']!s:>3}/{n:<2}" for b in baselines if b in r["baselines"])
        lines.append(line)
    t = totals(rows)
    lines.append(f"cause matched {t['cause_matched']}/{t['with_fault']} ({t['matched_as_cause']} as a cause); "
                 f"doctor as good as the answer {t['as_good_as_answer']}/{t['cases']}; "
                 f"reached the target {t['reached_target']}/{t['cases']}; {t['trainings']:,} trainings"
                 + "".join(f"; doctor as good as {b} {t[f'doctor_as_good_as_{b}']}/{t['cases']}" for b in baselines)
                 + "".join(f"; {b} reached the target in {t[f'{b}_reached_target']} at equal trainings" for b in baselines)
                 + "\ntrainings to reach the target (where it was never reached: the allowance, twice the doctor's trainings): "
                 + f"doctor {t['to_target']:,}"
                 + "".join(f", {b} {t[f'{b}_to_target']:,} ({t[f'{b}_reached_in_allowance']} reached)" for b in baselines))
    return "\n".join(lines)


def add_parsers(sub, scenario_help: str) -> None:
    """The `casebook` command's flags."""
    book = sub.add_parser("casebook", help="the doctor on a book of real cases, against their answers and plain searches of the same cost")
    book.add_argument("file", nargs="?", help="a JSON list of cases, or a folder of such files (default: the project's casebook)")
    book.add_argument("--seeds", default="16", help="seeds per candidate for every setup (1 to 256; default 16)")
    book.add_argument("--baselines", default="random,tpe", help="plain searches run with the doctor's number of trainings: "
                      "random, tpe (Optuna), both (default) or none ('')")
    book.add_argument("--only", help="run only these case ids (comma-separated)")
    book.add_argument("--seconds", default=None, help="each case's doctor budget in seconds (default: the budget's max_doctor_seconds)")
    book.add_argument("--workers", default="1", help=common.WORKERS_HELP + "; the baselines train one candidate at a time")
    book.add_argument("--json", action="store_true", help="print every case and the totals as JSON")
