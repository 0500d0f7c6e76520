"""Fixtures for the OpenAPI generator tests: generate a spec once per session and import it."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from codegen.openapi.generate import GenerationResult, generate

SPECS = Path(__file__).resolve().parent.parent / "specs"
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
# The shared corpus sits next to the checkout (../shared); a git worktree one level deeper
# (wt/<name>) finds it one folder further up.
CORPUS = next(
    (
        p / "shared" / "corpus" / "openapi"
        for p in Path(__file__).resolve().parents[4:6]
        if (p / "shared" / "corpus" / "openapi").is_dir()
    ),
    Path(__file__).resolve().parents[4] / "shared" / "corpus" / "openapi",
)
CORPUS_FILES = sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []
if os.environ.get("CI") and not CORPUS_FILES:
    # CI lays shared/ beside the checkout: a missing corpus there is a broken run, not a skip.
    raise RuntimeError(f"the OpenAPI corpus is missing at {CORPUS}; CI must not skip its gates")
USAGE = Path(__file__).with_name("petstore_usage.py.txt")
BIN = Path(sys.executable).parent


def package_name(prefix: str, spec: Path) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in spec.stem).lower()
    return f"{prefix}_{stem}"


Generated = tuple[GenerationResult, ModuleType]


@pytest.fixture(scope="session")
def generated_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("generated")
    sys.path.insert(0, str(root / "all"))
    (root / "all").mkdir()
    yield root
    sys.path.remove(str(root / "all"))


@pytest.fixture(scope="session")
def make_package(generated_root: Path) -> Callable[[Path, str], Generated]:
    """Generate ``spec`` as package ``<prefix>_<stem>`` once; return the result and models."""
    cache: dict[str, Generated] = {}

    def make(spec: Path, prefix: str = "t") -> Generated:
        name = package_name(prefix, spec)
        if name not in cache:
            out = generated_root / name
            result = generate(spec, out, name)
            link = generated_root / "all" / name
            link.symlink_to(result.package_dir, target_is_directory=True)
            importlib.invalidate_caches()
            cache[name] = (result, importlib.import_module(f"{name}.models"))
        return cache[name]

    return make


@pytest.fixture
def spec_models(make_package: Callable[[Path, str], Generated]) -> Callable[[str], ModuleType]:
    def load(name: str) -> ModuleType:
        return make_package(SPECS / name, "t")[1]

    return load


class MypyRun:
    """One ``mypy --strict`` run over every generated corpus package, the bundled petstore
    package and the typed-usage files written against it (one run: mypy's start-up and the
    flext_api analysis are paid once)."""

    def __init__(self, results: list[GenerationResult], files: list[Path], stdout: str) -> None:
        self.results = results
        self.files = files
        self.stdout = stdout

    def lines_about(self, path: Path) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"{path.name}:")]

    def errors_outside(self, paths: list[Path]) -> list[str]:
        names = tuple(f"{p.name}:" for p in paths)
        return [
            line
            for line in self.stdout.splitlines()
            if ": error:" in line and not line.startswith(names)
        ]


@pytest.fixture(scope="session")
def mypy_run(
    make_package: Callable[[Path, str], Generated], tmp_path_factory: pytest.TempPathFactory
) -> MypyRun:
    results = [make_package(spec, "c")[0] for spec in CORPUS_FILES]
    results.append(make_package(SPECS / "petstore.yaml", "t")[0])
    results.append(make_package(SPECS / "distributed_unions.yaml", "t")[0])
    work = tmp_path_factory.mktemp("mypy")
    usage = work / "petstore_usage.py"
    usage.write_text(USAGE.read_text())
    # The same file without the transport-error case: mypy must call the match non-exhaustive.
    lines = USAGE.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "case Failure(error=FlextApiError()" in line)
    missing = work / "petstore_usage_missing_case.py"
    missing.write_text("".join(lines[:cut] + lines[cut + 2 :]))
    config = work / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nwarn_unreachable = True\n")
    packages = [str(r.package_dir) for r in results]
    # The checkout's own flext_api first (mypy runs in a scratch folder, where the import
    # would otherwise find whichever checkout the venv's editable install points at).
    checkout = str(Path(__file__).resolve().parents[3])
    mypypath = os.pathsep.join([*(str(r.package_dir.parent) for r in results), checkout])
    done = subprocess.run(
        [
            BIN / "mypy",
            "--config-file",
            str(config),
            "--cache-dir",
            str(work / "cache"),
            "--no-error-summary",
            *packages,
            usage.name,
            missing.name,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MYPYPATH": mypypath},
        cwd=work,
    )
    assert not done.stderr, done.stderr
    return MypyRun(results, [usage, missing], done.stdout)
