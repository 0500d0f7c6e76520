"""Fixtures for the OpenAPI generator tests: generate a spec once per session and import it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from codegen.openapi.generate import GenerationResult, generate

SPECS = Path(__file__).resolve().parent.parent / "specs"
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "openapi"


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
