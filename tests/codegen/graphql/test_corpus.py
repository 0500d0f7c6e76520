"""Corpus gates for the GraphQL generator (CODEGEN.md G22): every corpus schema with its
operations generates, deterministically, ruff- and mypy --strict-clean, imports, every result
type builds a decoder, and every operation decodes the data a schema-driven mock executor
produces (nulls where nullable, every concrete type of each union/interface), re-encoding to
exactly that data."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from codegen.graphql.generate import GraphQLGenerationResult, generate_graphql
from codegen.graphql.load import load_schema
from codegen.openapi.diagnostics import Diagnostics
from tests.codegen.graphql.conftest import CASES, CONTRACT, case_paths
from tests.codegen.graphql.mock import max_possible, mock_data

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[3]
# Every operation of the corpus generates (none fails validation).
EXPECTED_OPERATIONS = {"swapi": 3, "github": 5, "linear": 6, "saleor": 5}

Make = Callable[[str], GraphQLGenerationResult]


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_generates_every_operation_deterministically(
    case: str, make_gql: Make, tmp_path: Path
) -> None:
    result = make_gql(case)
    assert len(result.operations) == EXPECTED_OPERATIONS[case]
    schema, operations = case_paths(case)
    again = generate_graphql(schema, [operations], tmp_path, result.package_dir.name)
    assert _tree_hash(again.package_dir) == _tree_hash(result.package_dir)


def test_ruff_and_mypy_strict_clean(make_gql: Make) -> None:
    packages = [make_gql(case).package_dir for case in sorted(CASES)]
    root = packages[0].parent
    ruff = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", *map(str, packages)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    modules = ["types.py"] + (["client.py", "stubs.py", "__init__.py"] if CONTRACT else [])
    targets = [str(p / m) for p in packages for m in modules]
    env = {**os.environ, "MYPYPATH": str(REPO)}
    mypy = subprocess.run(
        [str(BIN / "mypy"), "--strict", "--no-incremental", "--follow-imports=silent", *targets],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        check=False,
    )
    assert mypy.returncode == 0, mypy.stdout[-4000:] + mypy.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_imports_and_every_type_builds_a_decoder(case: str, make_gql: Make) -> None:
    result = make_gql(case)
    name = result.package_dir.name
    package = importlib.import_module(name)
    modules = ["types"] + (["client", "stubs"] if CONTRACT else [])
    for module in modules:
        importlib.import_module(f"{name}.{module}")
    types = importlib.import_module(f"{name}.types")
    # Every lazily exported name resolves (those of the modules importable here).
    names = [n for n in package.__all__ if package._MODULES[n] in modules]
    assert names and all(getattr(package, n) is not None for n in names)
    for type_name in dir(types):
        kind = getattr(types, type_name)
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            msgspec.json.Decoder(kind)  # raises if msgspec cannot decode the type


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_operation_decodes_mock_executor_data(case: str, make_gql: Make) -> None:
    result = make_gql(case)
    types = importlib.import_module(f"{result.package_dir.name}.types")
    # The served SDL, loaded as the generator loads a schema (GitHub's breaks SDL rules).
    schema = load_schema(result.package_dir / "schema.graphql", Diagnostics())
    passes = max_possible(schema)
    checked = 0
    for operation in result.operations:
        document_name, spec_name = result.constants[operation]
        kind = getattr(types, result.results[operation])
        spec = getattr(types, spec_name)
        seen: set[str] = set()
        for data in mock_data(schema, getattr(types, document_name), operation, passes):
            key = msgspec.json.encode(data).decode()
            if key in seen:
                continue
            seen.add(key)
            decoded = types.decode(data, kind, spec)
            assert isinstance(decoded, kind)
            # Nothing dropped, nothing invented: re-encoding gives the data back (variants
            # re-add their __typename tag; a type without its own variant comes back as the
            # Other variant's rewrite, its real name kept in ORIGINAL_KEY).
            assert msgspec.to_builtins(decoded) == types.retag(data, spec)
            checked += 1
        assert len(seen) >= 2, f"{operation}: the null and the full pass must differ"
    assert checked >= len(result.operations) * 2
