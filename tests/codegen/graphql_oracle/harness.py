"""The independent oracle for generated GraphQL clients: ariadne serves, ariadne-codegen decodes.

For each corpus schema the oracle serves the SDL with ariadne under uvicorn on 127.0.0.1
(``ariadne_server.py``: seeded random resolvers, so the same operation and variables always get
the same answer), generates an ariadne-codegen client for the corpus operations, and sends every
operation through it (``ariadne_client_runner.py``). Any other client is driven through
:func:`collect` with the same variables, and :func:`assert_same_data` compares the two.

ariadne, ariadne-codegen and their dependencies live in their own virtual environment (ariadne
pins graphql-core<3.3 and ariadne-codegen pulls httpx and an older ruff, none of which may enter
the project's): ``python -m venv .venv-gql-oracle && .venv-gql-oracle/bin/pip install -r
tests/codegen/graphql_oracle/requirements.txt``, or point ``FLEXT_GQL_ORACLE_PYTHON`` at one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    build_schema,
    parse,
    type_from_ast,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CORPUS = Path(os.environ.get("FLEXT_GQL_CORPUS", "/work/shared/corpus/graphql"))
SCHEMAS = {
    "swapi": "swapi_starwars.graphql",
    "github": "github_api.graphql",
    "linear": "linear_api.graphql",
    "saleor": "saleor_api.graphql",
}
ORACLE_INSTALL_HINT = (
    "the GraphQL oracle's environment is missing: python -m venv .venv-gql-oracle && "
    ".venv-gql-oracle/bin/pip install -r tests/codegen/graphql_oracle/requirements.txt "
    "(or set FLEXT_GQL_ORACLE_PYTHON to an interpreter that has them)"
)


@dataclass(frozen=True)
class CorpusSchema:
    name: str
    sdl_path: Path
    operations_path: Path

    def schema(self) -> GraphQLSchema:
        # The GitHub SDL defines a few fields twice: taken as given, the last one wins.
        return build_schema(self.sdl_path.read_text(encoding="utf-8"), assume_valid_sdl=True)

    def operations(self) -> list[OperationDefinitionNode]:
        document = parse(self.operations_path.read_text(encoding="utf-8"))
        return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def corpus_schemas() -> list[CorpusSchema]:
    return [
        CorpusSchema(name, CORPUS / sdl, CORPUS / "operations" / f"{name}_operations.graphql")
        for name, sdl in SCHEMAS.items()
    ]


def oracle_python() -> Path | None:
    configured = os.environ.get("FLEXT_GQL_ORACLE_PYTHON")
    candidate = Path(configured) if configured else ROOT / ".venv-gql-oracle" / "bin" / "python"
    return candidate if candidate.exists() else None


# ----------------------------------------------------------------------------- variables


def sample_value(graphql_type: GraphQLInputType, depth: int = 0) -> Any:
    """A valid, deterministic value for an input type: required input fields only."""
    if isinstance(graphql_type, GraphQLNonNull):
        return sample_value(graphql_type.of_type, depth)
    if isinstance(graphql_type, GraphQLList):
        return [sample_value(graphql_type.of_type, depth)]
    if isinstance(graphql_type, GraphQLEnumType):
        return sorted(graphql_type.values)[0]
    if isinstance(graphql_type, GraphQLInputObjectType):
        return {
            name: sample_value(field.type, depth + 1)
            for name, field in sorted(graphql_type.fields.items())
            if isinstance(field.type, GraphQLNonNull)
            and field.default_value is Undefined
            and depth < 8
        }
    if isinstance(graphql_type, GraphQLScalarType):
        return {
            "Int": 3,
            "Float": 1.5,
            "Boolean": True,
            "ID": "id-1",
            "DateTime": "2026-01-01T00:00:00+00:00",
            "Date": "2026-01-01",
            "JSON": {},
            "JSONString": "{}",
            "UUID": "00000000-0000-4000-8000-000000000001",
        }.get(graphql_type.name, "text")
    raise TypeError(f"not an input type: {graphql_type}")


def operation_plan(corpus: CorpusSchema) -> dict[str, dict[str, Any]]:
    """operation name -> {"kind", "variables"}: the non-null variables get sample values."""
    schema = corpus.schema()
    plan: dict[str, dict[str, Any]] = {}
    for operation in corpus.operations():
        assert operation.name is not None, "corpus operations are named"
        variables: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            graphql_type = type_from_ast(schema, definition.type)
            # Every non-null variable is sent, defaulted or not: ariadne-codegen makes them all
            # required arguments.
            if isinstance(graphql_type, GraphQLNonNull):
                variables[definition.variable.name.value] = sample_value(graphql_type)
        plan[operation.name.value] = {"kind": operation.operation.value, "variables": variables}
    return plan


# ----------------------------------------------------------------------------- the oracle


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def ariadne_server(python: Path, corpus: CorpusSchema, seed: str = "0") -> Iterator[str]:
    """The ariadne oracle serving ``corpus`` on 127.0.0.1; yields its /graphql URL."""
    port = _free_port()
    process = subprocess.Popen(
        [str(python), str(HERE / "ariadne_server.py"), str(corpus.sdl_path), str(port), seed],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60.0
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    _, stderr = process.communicate(timeout=5)
                    raise RuntimeError(f"the ariadne oracle did not start: {stderr!r}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def generate_ariadne_client(
    python: Path, corpus: CorpusSchema, out: Path, package: str
) -> subprocess.CompletedProcess[str]:
    """Run ariadne-codegen (async client: its sync one has no subscriptions) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    config = out / "pyproject.toml"
    config.write_text(
        "[tool.ariadne-codegen]\n"
        f'schema_path = "{corpus.sdl_path}"\n'
        f'queries_path = "{corpus.operations_path}"\n'
        f'target_package_name = "{package}"\n'
        f'target_package_path = "{out}"\n'
        "async_client = true\n",
        encoding="utf-8",
    )
    codegen = python.parent / "ariadne-codegen"
    return subprocess.run(
        [str(codegen), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=out,
    )


def run_ariadne_client(
    python: Path, out: Path, package: str, url: str, plan: Mapping[str, Any]
) -> dict[str, Any]:
    """Every planned operation through the generated ariadne-codegen client."""
    plan_path = out / f"{package}_plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    completed = subprocess.run(
        [
            str(python),
            str(HERE / "ariadne_client_runner.py"),
            str(out),
            package,
            url,
            str(plan_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the ariadne-codegen client failed: {completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


# ----------------------------------------------------------------------------- comparison

Call = Callable[[str, Mapping[str, Any]], Any]
"""(operation name, variables) -> decoded data as plain JSON-like values (wire field names),
or raise to record the failure."""


def collect(
    call: Call, plan: Mapping[str, Mapping[str, Any]], subscribe: Call | None = None
) -> dict[str, Any]:
    """Send every planned operation through ``call`` (subscriptions through ``subscribe``,
    which returns the list of events' data; left out when None); keep data or failure."""
    collected: dict[str, Any] = {}
    for operation, entry in plan.items():
        send = subscribe if entry["kind"] == "subscription" else call
        if send is None:
            continue
        try:
            collected[operation] = {"data": send(operation, entry["variables"]), "failure": None}
        except Exception as error:  # recorded: the comparison says which operation failed how
            collected[operation] = {"data": None, "failure": f"{type(error).__name__}: {error}"}
    return collected


def _leaf(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        # A date-time with no zone compares as UTC: decoders differ on how they print UTC.
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value


def differences(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Where two decoded values differ; ``__typename`` counts only when both kept it."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found: list[str] = []
        for key in sorted(set(ours) | set(theirs)):
            if key == "__typename" and (key not in ours or key not in theirs):
                continue
            if key not in ours or key not in theirs:
                found.append(f"{path}.{key}: only in {'ours' if key in ours else 'theirs'}")
                continue
            found += differences(ours[key], theirs[key], f"{path}.{key}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items vs {len(theirs)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    a, b = _leaf(ours), _leaf(theirs)
    if a == b:
        return []
    # A Decimal printed as a string against a float of the same value.
    if isinstance(a, str | int | float) and isinstance(b, str | int | float):
        try:
            if float(a) == float(b):
                return []
        except ValueError:
            pass
    return [f"{path}: {ours!r} != {theirs!r}"]


def assert_same_data(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], *, subscriptions: bool = True
) -> None:
    """Every operation: our decoded data equals ariadne-codegen's (or the raw partial data
    when ariadne-codegen refused a response that carried errors). ``subscriptions=False``
    skips those ours did not collect."""
    problems: list[str] = []
    for operation, their_entry in sorted(theirs.items()):
        our_entry = ours.get(operation)
        if our_entry is None and not subscriptions and isinstance(their_entry["data"], list):
            continue
        if our_entry is None or our_entry["failure"] is not None:
            problems.append(f"{operation}: ours failed: {our_entry and our_entry['failure']}")
            continue
        expected = their_entry["data"] if their_entry["data"] is not None else their_entry["raw"]
        problems += [f"{operation}: {d}" for d in differences(our_entry["data"], expected)]
    if problems:
        raise AssertionError("decoded data differs:\n" + "\n".join(problems[:50]))


def run_module(argv: list[str]) -> int:  # pragma: no cover - a manual entry point
    """``python -m tests.codegen.graphql_oracle.harness NAME [OUT]``: ariadne-codegen's data."""
    python = oracle_python()
    if python is None:
        print(ORACLE_INSTALL_HINT, file=sys.stderr)
        return 2
    corpus = next(c for c in corpus_schemas() if c.name == argv[0])
    out = Path(argv[1]) if len(argv) > 1 else Path("/tmp") / "gql-oracle"
    package = f"{corpus.name}_ariadne"
    generated = generate_ariadne_client(python, corpus, out, package)
    if generated.returncode != 0:
        print(generated.stderr, file=sys.stderr)
        return 1
    with ariadne_server(python, corpus) as url:
        print(
            json.dumps(
                run_ariadne_client(python, out, package, url, operation_plan(corpus)), indent=1
            )
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_module(sys.argv[1:]))
