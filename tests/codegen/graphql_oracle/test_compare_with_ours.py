"""Our generated GraphQL clients against the oracle: the same decoded data as ariadne-codegen's.

NOT COLLECTED YET: it needs ``flext-api generate graphql`` (w3/gqlgen) and the GraphQL client
(w3/gqlclient). The lead enables it at merge by renaming this file to
``test_compare_with_ours.py``. For every corpus schema it generates our package (imported by
the ``our_package`` fixture), serves the schema with the seeded ariadne oracle, sends every
query and mutation through both our client and ariadne-codegen's, and requires the decoded
data to match operation by operation (one parametrized test per schema).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.codegen.graphql_oracle.harness import (
    ORACLE_INSTALL_HINT,
    ROOT,
    SCHEMAS,
    CorpusSchema,
    ariadne_server,
    assert_same_data,
    collect,
    corpus_schemas,
    generate_ariadne_client,
    operation_plan,
    oracle_python,
    run_ariadne_client,
)

pytestmark = pytest.mark.slow


def _snake(name: str) -> str:
    # The generator's method and argument names: snake_case of the wire name.
    from codegen.openapi.naming import snake

    result: str = snake(name)
    return result


@pytest.fixture(scope="module")
def python() -> Path:
    found = oracle_python()
    if found is None:
        pytest.fail(ORACLE_INSTALL_HINT, pytrace=False)
    return found


@pytest.fixture(scope="module", params=sorted(SCHEMAS))
def corpus(request: pytest.FixtureRequest) -> CorpusSchema:
    return next(c for c in corpus_schemas() if c.name == request.param)


@pytest.fixture(scope="module")
def our_package(
    corpus: CorpusSchema, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """Our generated package for ``corpus``, imported by name from a temporary folder."""
    out = tmp_path_factory.mktemp(f"ours_{corpus.name}")
    package = f"{corpus.name}_flext"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "codegen",
            "generate",
            "graphql",
            "--schema",
            str(corpus.sdl_path),
            "--operations",
            str(corpus.operations_path),
            "--out",
            str(out),
            "--package",
            package,
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(f"{package}.client")
    finally:
        sys.path.remove(str(out))


def _our_call(client: Any) -> Any:
    def call(operation: str, variables: Mapping[str, Any]) -> Any:
        method = getattr(client, _snake(operation))
        kwargs = {_snake(name): value for name, value in variables.items()}
        response = method(**kwargs).unwrap()
        # The generated package's own encoder: wire data again, real __typename included.
        types = importlib.import_module(type(client).__module__.rsplit(".", 1)[0] + ".types")
        return types.encode(response.data)

    return call


def _client_class(module: ModuleType) -> Any:
    [found] = [
        value
        for name, value in vars(module).items()
        if name.endswith("Client")
        and not name.startswith("Async")
        and isinstance(value, type)
        and value.__module__ == module.__name__
    ]
    return found


# Our clients warn on every call of an operation that selects deprecated fields (Saleor's do).
@pytest.mark.filterwarnings("ignore:operation .* selects deprecated fields:DeprecationWarning")
def test_our_decoded_data_equals_ariadne_codegen_for_every_operation(
    corpus: CorpusSchema, our_package: ModuleType, python: Path, tmp_path: Path
) -> None:
    package = f"{corpus.name}_ariadne"
    generated = generate_ariadne_client(python, corpus, tmp_path, package)
    assert generated.returncode == 0, generated.stderr[-4000:]
    plan = operation_plan(corpus)
    with ariadne_server(python, corpus) as url, _client_class(our_package)(url) as client:
        theirs = run_ariadne_client(python, tmp_path, package, url, plan)
        ours = collect(_our_call(client), plan)
    # Our typed client has no subscription methods (GraphQLClient.subscribe serves them).
    assert_same_data(ours, theirs, subscriptions=False)
