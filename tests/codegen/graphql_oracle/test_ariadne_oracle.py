"""The oracle checks itself: ariadne-codegen's decoded data against the raw wire, per corpus schema.

The ariadne server answers each operation the same way every time (seeded), so the raw JSON a
plain FlextApiClient POST gets and what ariadne-codegen's generated client decodes must agree
on every operation of every corpus schema; the comparison must also catch a changed value.
Once the flext-api generator lands, ``compare_with_ours.py`` runs the same comparison for our
generated clients.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flext_api import FlextApiClient
from tests.codegen.graphql_oracle.harness import (
    ORACLE_INSTALL_HINT,
    SCHEMAS,
    CorpusSchema,
    ariadne_server,
    assert_same_data,
    collect,
    corpus_schemas,
    differences,
    generate_ariadne_client,
    operation_plan,
    oracle_python,
    run_ariadne_client,
)

# About a minute: four code generations, four servers and every corpus operation twice.
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class OracleRun:
    corpus: CorpusSchema
    plan: dict[str, dict[str, Any]]
    theirs: dict[str, Any]
    raw: dict[str, Any]


def _raw_call(client: FlextApiClient, url: str, document: str) -> Any:
    def call(operation: str, variables: Mapping[str, Any]) -> Any:
        body = {"query": document, "operationName": operation, "variables": dict(variables)}
        response = client.post(url, json=body).unwrap()
        assert response.status_code == 200, response.text
        return response.json().unwrap()["data"]

    return call


@pytest.fixture(scope="module")
def python() -> Path:
    found = oracle_python()
    if found is None:
        pytest.fail(ORACLE_INSTALL_HINT, pytrace=False)
    return found


@pytest.fixture(scope="module", params=sorted(SCHEMAS))
def oracle_run(
    request: pytest.FixtureRequest, python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OracleRun]:
    corpus = next(c for c in corpus_schemas() if c.name == request.param)
    out = tmp_path_factory.mktemp(f"oracle_{corpus.name}")
    package = f"{corpus.name}_ariadne"
    generated = generate_ariadne_client(python, corpus, out, package)
    assert generated.returncode == 0, generated.stderr[-4000:]
    plan = operation_plan(corpus)
    document = corpus.operations_path.read_text(encoding="utf-8")
    with ariadne_server(python, corpus) as url, FlextApiClient() as client:
        theirs = run_ariadne_client(python, out, package, url, plan)
        raw = collect(_raw_call(client, url, document), plan)
    yield OracleRun(corpus, plan, theirs, raw)


def test_every_corpus_operation_reaches_the_oracle(oracle_run: OracleRun) -> None:
    # Each planned operation was answered: its variables are valid for the schema, and only
    # seeded field errors (never an HTTP or validation failure) kept data from being decoded.
    assert set(oracle_run.theirs) == set(oracle_run.plan)
    for operation, entry in oracle_run.theirs.items():
        if entry["data"] is None:
            assert entry["errors"], operation
            assert all("seeded field error" in message for message in entry["errors"]), entry
            assert entry["raw"] is not None, operation


def test_ariadne_codegen_data_equals_the_raw_wire_for_every_operation(
    oracle_run: OracleRun,
) -> None:
    assert_same_data(oracle_run.raw, oracle_run.theirs, subscriptions=False)


def test_subscriptions_deliver_the_three_seeded_events(oracle_run: OracleRun) -> None:
    subscriptions = [name for name, e in oracle_run.plan.items() if e["kind"] == "subscription"]
    for name in subscriptions:
        events = oracle_run.theirs[name]["data"]
        assert isinstance(events, list), oracle_run.theirs[name]
        assert len(events) == 3


def test_the_comparison_catches_a_changed_value(oracle_run: OracleRun) -> None:
    operation, entry = next(
        (name, e) for name, e in sorted(oracle_run.raw.items()) if e["data"] is not None
    )
    changed = _change_first_leaf(entry["data"])
    assert differences(changed, entry["data"]), f"{operation}: a changed leaf went unnoticed"
    with pytest.raises(AssertionError, match=operation):
        assert_same_data(
            {**oracle_run.raw, operation: {"data": changed, "failure": None}},
            oracle_run.theirs,
            subscriptions=False,
        )


def _change_first_leaf(value: Any) -> Any:
    if isinstance(value, dict):
        for key in sorted(value):
            if key != "__typename" and value[key] is not None and value[key] != []:
                return {**value, key: _change_first_leaf(value[key])}
    if isinstance(value, list):
        return [_change_first_leaf(value[0]), *value[1:]]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return f"{value}-changed"


def test_differences_ignores_a_one_sided_typename_but_not_a_different_one() -> None:
    assert differences({"a": 1}, {"a": 1, "__typename": "T"}) == []
    assert differences({"__typename": "A"}, {"__typename": "B"}) == ["$.__typename: 'A' != 'B'"]
    assert differences({"t": "2026-01-01T00:00:00Z"}, {"t": "2026-01-01T00:00:00+00:00"}) == []
    assert differences({"d": "12.25"}, {"d": 12.25}) == []
    assert differences([1, 2], [1]) == ["$: 2 items vs 1"]
