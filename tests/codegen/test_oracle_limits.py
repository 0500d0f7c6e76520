"""The oracle's judge-limit list (tests/codegen/oracle/limits.py): precise matching, stale
entries, malformed entries, and the file in the repository itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.codegen.oracle.limits import LIMITS, Finding, Limit, dump, load, settle, verdict

REASON = "openapi-core reads this shape from a key the style never sends (see its code)"


def _limit(operation: str = "list_things", match: str = r"query parameter 'q' missing .*") -> Limit:
    return Limit("spec.yaml", "request", operation, "form object unread", re.compile(match), REASON)


def test_a_finding_is_explained_only_by_its_own_spec_check_operation_and_text() -> None:
    limits = [_limit()]
    findings = [
        Finding("request", "list_things", "query parameter 'q' missing (passed {'a': 1})"),
        Finding("request", "list_things", "query parameter 'r' missing (passed {'a': 1})"),
        Finding("request", "other_op", "query parameter 'q' missing (passed {'a': 1})"),
    ]
    settled = settle("spec.yaml", "request", ["list_things", "other_op"], findings, limits=limits)
    assert [f.text[16:19] for f, _ in settled.explained] == ["'q'"]
    assert [(f.operation, f.text[16:19]) for f in settled.unexplained] == [
        ("list_things", "'r'"),
        ("other_op", "'q'"),
    ]
    assert settle("other.yaml", "request", [], findings[:1], limits=limits).unexplained
    assert settle("spec.yaml", "stub", [], findings[:1], limits=limits).unexplained


def test_an_entry_that_explains_nothing_in_a_run_that_exercised_it_is_stale() -> None:
    limits = [_limit()]
    stale = settle("spec.yaml", "request", ["list_things"], [], limits=limits)
    assert stale.stale == limits
    assert "matched no finding" in verdict("spec.yaml", "sync ", stale)[0]
    assert not settle("spec.yaml", "request", ["other_op"], [], limits=limits).stale
    deep = settle("spec.yaml", "request", ["list_things"], [], limits=limits, stale_check=False)
    assert not deep.stale


def test_malformed_entries_are_refused(tmp_path: Path) -> None:
    good = {
        "spec": "s",
        "check": "request",
        "operation": "o",
        "kind": "k",
        "match": "x",
        "reason": REASON,
    }
    for bad in ({**good, "check": "everything"}, {**good, "reason": "judge bug"}, {**good, "x": 1}):
        path = tmp_path / "limits.json"
        path.write_text(json.dumps([bad]))
        with pytest.raises(ValueError, match="malformed"):
            load(path)
    path.write_text(json.dumps([good]))
    assert load(path)[0].match.fullmatch("x")


def test_findings_are_dumped_for_writing_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "findings.jsonl"
    dump("s", [Finding("stub", "GET /x", "a")])  # no target: nothing written
    monkeypatch.setenv("ORACLE_FINDINGS", str(target))
    dump("s", [Finding("stub", "GET /x", "ünï")])
    assert json.loads(target.read_text()) == {
        "spec": "s",
        "check": "stub",
        "operation": "GET /x",
        "text": "ünï",
    }


def test_the_repository_list_is_well_formed_and_never_blanket() -> None:
    for lim in LIMITS:
        assert lim.operation and lim.match.pattern not in ("", ".*", ".+"), lim
