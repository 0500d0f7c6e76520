"""Corpus gates (CODEGEN.md): every real spec generates (exit 0 with diagnostics), output is
deterministic, ruff-clean, mypy --strict clean, importable, and every type builds a decoder.

The corpus lives outside the repository (../shared/corpus/openapi); when it is absent these tests
are skipped with one clear reason.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from codegen.openapi.generate import generate
from flext_api.codegen_unions import decode_hook, variants_of
from tests.codegen.openapi.conftest import (
    BIN,
    CORPUS,
    CORPUS_FILES,
    Generated,
    MypyRun,
    package_name,
)
from tests.codegen.openapi.samples import find_cycle, nested, sample

EXPECTED = Path(__file__).with_name("expected_diagnostics.json")
ABSENT = f"corpus folder {CORPUS} is absent: corpus gates not run"
pytestmark = pytest.mark.skipif(not CORPUS_FILES, reason=ABSENT)

ids = [p.name for p in CORPUS_FILES] or ["absent"]


@pytest.fixture(params=CORPUS_FILES or [CORPUS], ids=ids)
def corpus_spec(request: pytest.FixtureRequest) -> Path:
    spec: Path = request.param
    return spec


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_generates_and_is_deterministic(
    corpus_spec: Path, make_package: Callable[[Path, str], Generated], tmp_path: Path
) -> None:
    result, _ = make_package(corpus_spec, "c")
    again = generate(corpus_spec, tmp_path, result.package_dir.name)
    assert _tree_hash(tmp_path / again.package_dir.name) == _tree_hash(result.package_dir)
    assert again.diagnostics.to_json() == result.diagnostics.to_json()


def test_expected_diagnostics(
    corpus_spec: Path, make_package: Callable[[Path, str], Generated]
) -> None:
    result, _ = make_package(corpus_spec, "c")
    got = [f"{d.pointer} | {d.reason}" for d in result.diagnostics.sorted()]
    expected = json.loads(EXPECTED.read_text())
    if os.environ.get("UPDATE_EXPECTED_DIAGNOSTICS"):
        expected[corpus_spec.name] = got
        EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    assert got == expected.get(corpus_spec.name), "diagnostics changed: review, then update"


def test_every_type_builds_a_decoder_and_round_trips(
    corpus_spec: Path, make_package: Callable[[Path, str], Generated]
) -> None:
    result, models = make_package(corpus_spec, "c")
    package = importlib.import_module(result.package_dir.name)
    clients = [f"Async{result.api_name}Client", f"{result.api_name}Client"]
    assert sorted(package.__all__) == sorted([*result.exported, *clients])
    for module in ("errors", "operations", "client", "stubs"):
        importlib.import_module(f"{result.package_dir.name}.{module}")
    assert callable(getattr(package, clients[0]).__aenter__)
    rng = random.Random(corpus_spec.name)
    failures: list[str] = []
    for name in result.exported:
        t = getattr(package, name)
        assert getattr(models, name) is t
        msgspec.json.Decoder(t)
    structs = [
        getattr(models, n)
        for n in result.exported
        if isinstance(getattr(models, n), type) and issubclass(getattr(models, n), msgspec.Struct)
    ]
    # untagged object unions decoded by shape (flext_api.codegen_unions): every one of them
    unions = [getattr(models, n) for n in result.exported if variants_of(getattr(models, n))]
    for cls in rng.sample(structs, min(len(structs), 60)) + unions:
        for _ in range(3):
            value = sample(cls, rng)
            wire = msgspec.json.encode(value)
            if msgspec.json.decode(wire, type=cls, dec_hook=decode_hook) != value:
                failures.append(f"{cls.__name__}: {wire[:200]!r}")
    assert not failures


def test_recursive_types_decode_fifty_levels(
    corpus_spec: Path, make_package: Callable[[Path, str], Generated]
) -> None:
    result, models = make_package(corpus_spec, "c")
    rng = random.Random(1)
    recursive = [
        getattr(models, n)
        for n in result.exported
        if isinstance(getattr(models, n), type)
        and issubclass(getattr(models, n), msgspec.Struct)
        and find_cycle(getattr(models, n)) is not None
    ]
    if corpus_spec.name in {"xero_accounting.yaml", "readme_schema-types.yaml"}:
        assert recursive, "expected recursive schemas"
    for cls in recursive[:5]:
        value = nested(cls, 50, rng)
        assert msgspec.json.decode(msgspec.json.encode(value), type=cls) == value


def test_ruff_and_mypy_strict_on_all_generated_packages(mypy_run: MypyRun) -> None:
    for result in mypy_run.results:
        out = result.package_dir.parent
        for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
            done = subprocess.run(
                [BIN / "ruff", *args], cwd=out, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stdout + done.stderr
    assert len(mypy_run.results) == len(CORPUS_FILES) + 2
    errors = mypy_run.errors_outside(mypy_run.files)
    assert not errors, "\n".join(errors[:50])


def test_cli_exit_status_and_json_diagnostics(tmp_path: Path) -> None:
    spec = CORPUS / "lob_api.yml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "codegen",
            "generate",
            "openapi",
            str(spec),
            "--out",
            str(tmp_path),
            "--package",
            package_name("cli", spec),
            "--diagnostics",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    diagnostics = json.loads(done.stdout)
    keys = [(d["pointer"], d["reason"]) for d in diagnostics]
    assert len(keys) == len(set(keys))
    assert sum("mediaTypes" in d["reason"] for d in diagnostics) == 52
    assert "loaded lob_api.yml" in done.stderr  # progress on stderr
