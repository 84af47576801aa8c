"""Findings read from the control's failing seeds, not from one seed: which seeds to read, and how many show each finding.

The control's N seeds are the evidence. After the control is measured, the doctor reads the findings of
its failing seeds: every one when they are few and cheap, seven spread from the least to the worst failing
when there are more, otherwise the worst and a typical one. `tally` then writes into each finding how many
of the seeds read show it ("Seen in 14 of the 16 failing seeds"), and adds a finding the first reading
lacks when a quarter or more of the seeds read show it, or, when the first reading has no cause, every
cause another failing seed shows (then it is not "unexplained").

Example:
    >>> seeds_to_read([1, 2, 3, 4], shown_seed=0, one_run_s=0.5, budget_s=300)   # few and cheap: all of them
    ([1, 2, 3, 4], True)
    >>> found = tally([(result, found), *others], base=found, failing=15, measured=16)
"""

from __future__ import annotations

import dataclasses

from core.outcomes.results import Finding, RunResult

READ_SHARE = 0.1  # every failing seed is read when that takes at most this share of the doctor's budget...
MOST_READ = 7  # ... and they are at most this many (with the run shown, 8 readings); else this many spread, when cheap
SHARED = 0.25  # a finding the first reading lacks joins when this share of the seeds read shows it
UNTALLIED = ("seed_dependent",)  # read from the control's rate, not from a seed


def seeds_to_read(failing: list[int], shown_seed: int, one_run_s: float, budget_s: float) -> tuple[list[int], bool]:
    """The failing seeds to read (worst last in `failing`), without the shown one, and whether that is every one of them:
    all when they are at most MOST_READ and cheap; else MOST_READ spread from the least to the worst failing when those
    are cheap; else the worst and a typical one."""
    others = [seed for seed in failing if seed != shown_seed]
    cheap = one_run_s * min(len(others), MOST_READ) <= READ_SHARE * budget_s
    if len(others) <= MOST_READ and cheap:
        return others, True
    if cheap:
        picks = [others[round(i * (len(others) - 1) / (MOST_READ - 1))] for i in range(MOST_READ)]
    else:
        picks = [others[len(others) // 2], others[-1]] if others else []
    return list(dict.fromkeys(picks)), False


def tally(readings: list[tuple[RunResult, list[Finding]]], base: list[Finding], failing: int, every: bool) -> list[Finding]:
    """`base` with each finding's count over `readings` (the failing seeds read), and what a quarter or more of them show
    that `base` lacks (any cause, when `base` has none), causes first; unchanged when fewer than two seeds were read."""
    read = len(readings)
    if read < 2:
        return base
    showing: dict[str, int] = {}
    first: dict[str, Finding] = {}
    for _, found in readings:
        for item in found:
            showing[item.id] = showing.get(item.id, 0) + 1
            first.setdefault(item.id, item)
    known = {item.id for item in base}
    uncaused = not any(item.role == "cause" for item in base)  # the run shown has no cause: any failing seed's cause is news
    joined = [first[i] for i, count in showing.items() if i not in known and i not in UNTALLIED
              and (count >= max(2, SHARED * read) or (uncaused and first[i].role == "cause"))]
    if uncaused and any(item.role == "cause" for item in joined):  # explained after all, by the other seeds
        base = [item for item in base if item.id != "unexplained"]
    out = []
    for item in [*base, *joined]:
        if item.id in UNTALLIED or item.id not in showing:
            out.append(item)
            continue
        count = showing[item.id]
        share = "both" if count == read == 2 else f"all {read}" if count == read else f"{count} of the {read}"
        which = "" if every else f" read, of {failing} that fail"
        text = f"{item.text} (Seen in {share} failing seeds{which}.)"
        evidence = {**item.evidence, "seeds_showing": count, "seeds_read": read, "seeds_failing": failing}
        out.append(dataclasses.replace(item, text=text, evidence=evidence))
    return sorted(out, key=lambda item: Finding.ROLES.index(item.role))  # causes first, as the registry lists them
