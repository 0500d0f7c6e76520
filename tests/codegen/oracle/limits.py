"""The judges' own limitations, listed with their reasons in judge_limits.json and matched
precisely against findings, so a judge's mistake never hides one of ours.

Each entry names the spec, the check (``request``, ``response`` or ``stub``), the operation
(the generated method's name for requests, ``<name> <status>`` for responses, schemathesis'
``METHOD /path`` label for stubs), a short ``kind`` for the per-spec table, ``match`` (a regular
expression the whole finding text must match: the parameter, value or shape at fault) and a
``reason`` naming the validator behaviour. A finding no entry matches fails the run. An entry
whose operation the run exercised but that matched no finding fails it too (stale: the judge
was upgraded or the generator changed), in derandomised runs; ``make fuzz`` draws fresh values,
so there an entry may go unmatched, but every finding must still be matched or fail.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LIMITS_FILE = Path(__file__).with_name("judge_limits.json")
# Our own open defects the oracle finds, listed the same way while their fix is in progress
# elsewhere: never a judge limit, shown as ours in the per-spec table, and stale (failing the
# run) as soon as the fix lands.
OPEN_DEFECTS_FILE = Path(__file__).with_name("open_defects.json")
CHECKS = ("request", "response", "stub")
FAULTS = ("judge", "document", "generator (open)")


@dataclass(frozen=True)
class Limit:
    spec: str
    check: str
    operation: str
    kind: str
    match: re.Pattern[str]
    reason: str
    fault: str = "judge"


@dataclass(frozen=True)
class Finding:
    check: str
    operation: str
    text: str


def load(path: Path = LIMITS_FILE, fault: str | None = None) -> list[Limit]:
    """The entries of one list; ``fault`` overrides each entry's own (open_defects.json)."""
    limits: list[Limit] = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        unknown = set(entry) - {"spec", "check", "operation", "kind", "match", "reason", "fault"}
        blame = fault or entry.get("fault", "judge")
        if unknown or entry["check"] not in CHECKS or len(entry["reason"]) < 40:
            raise ValueError(f"{path.name}: malformed entry {entry!r}")
        if blame not in FAULTS:
            raise ValueError(f"{path.name}: malformed entry {entry!r}")
        limits.append(
            Limit(
                entry["spec"],
                entry["check"],
                entry["operation"],
                entry["kind"],
                re.compile(entry["match"], re.DOTALL),
                entry["reason"],
                blame,
            )
        )
    return limits


LIMITS = load() + load(OPEN_DEFECTS_FILE, fault="generator (open)")


@dataclass
class Settled:
    unexplained: list[Finding]
    stale: list[Limit]
    explained: list[tuple[Finding, Limit]]


def settle(
    spec: str,
    check: str,
    exercised: Iterable[str],
    findings: Iterable[Finding],
    *,
    limits: list[Limit] = LIMITS,
    stale_check: bool = True,
) -> Settled:
    """Split the findings of one test into those a listed judge limit explains and the rest;
    list the entries of this spec and check that explain nothing though their operation ran."""
    mine = [lim for lim in limits if lim.spec == spec and lim.check == check]
    used: set[int] = set()
    settled = Settled([], [], [])
    for finding in findings:
        hit = next(
            (
                i
                for i, lim in enumerate(mine)
                if lim.operation == finding.operation and lim.match.fullmatch(finding.text)
            ),
            None,
        )
        if hit is None:
            settled.unexplained.append(finding)
        else:
            used.add(hit)
            settled.explained.append((finding, mine[hit]))
    ran = set(exercised)
    if stale_check:
        settled.stale = [
            lim for i, lim in enumerate(mine) if i not in used and lim.operation in ran
        ]
    return settled


def dump(spec: str, findings: Iterable[Finding]) -> None:
    """Append every finding as a JSON line to $ORACLE_FINDINGS (for writing entries)."""
    target = os.environ.get("ORACLE_FINDINGS")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        for f in findings:
            line = {"spec": spec, "check": f.check, "operation": f.operation, "text": f.text}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


def verdict(spec: str, side: str, settled: Settled) -> list[str]:
    """The lines that fail a test: unexplained findings, then stale entries."""
    lines = [f"{side}{f.operation}: {f.text}"[:700] for f in settled.unexplained]
    lines += [
        f"{side}{lim.operation}: judge_limits.json entry ({lim.kind}) matched no finding: "
        "remove it if the judge or the generator changed"
        for lim in settled.stale
    ]
    return lines
