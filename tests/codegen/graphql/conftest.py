"""Fixtures for the GraphQL generator tests: each corpus schema generated once per session."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codegen.graphql.generate import GraphQLGenerationResult, generate_graphql

CORPUS = next(
    (
        p / "shared" / "corpus" / "graphql"
        for p in Path(__file__).resolve().parents[4:6]
        if (p / "shared" / "corpus" / "graphql").is_dir()
    ),
    Path(__file__).resolve().parents[4] / "shared" / "corpus" / "graphql",
)
# schema file -> operations file, per corpus API.
CASES = {
    "swapi": ("swapi_starwars.graphql", "swapi_operations.graphql"),
    "github": ("github_api.graphql", "github_operations.graphql"),
    "linear": ("linear_api.graphql", "linear_operations.graphql"),
    "saleor": ("saleor_api.graphql", "saleor_operations.graphql"),
}
# The client and the stubs import the GraphQL client and server runtime, built on other
# branches at the same time: until they are merged, those two modules are checked as text only.
CONTRACT = all(
    importlib.util.find_spec(name) is not None
    for name in ("flext_api.protocols.graphql", "flext_api.server.graphql")
)


def case_paths(case: str) -> tuple[Path, Path]:
    schema, operations = CASES[case]
    return CORPUS / schema, CORPUS / "operations" / operations


@pytest.fixture(scope="session")
def gql_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("gql")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture(scope="session")
def make_gql(gql_root: Path) -> Callable[[str], GraphQLGenerationResult]:
    cache: dict[str, GraphQLGenerationResult] = {}

    def make(case: str) -> GraphQLGenerationResult:
        if case not in cache:
            schema, operations = case_paths(case)
            cache[case] = generate_graphql(schema, [operations], gql_root, f"gql_{case}")
        return cache[case]

    return make
