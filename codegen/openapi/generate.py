"""Write a generated package to disk: models, ``__init__`` (lazy exports), ``py.typed``,
``pyproject.toml``; format with ruff. Returns the diagnostics; never raises for a document defect.
"""

from __future__ import annotations

import keyword
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from codegen.openapi.checks import CheckPlanner
from codegen.openapi.clients import ClientEmitter, spec_json
from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.load import load, original_pointer
from codegen.openapi.models import BANNER, ModelEmitter
from codegen.openapi.parse import build_api
from codegen.openapi.plan import OperationPlan, Planner
from codegen.openapi.readwrite import split_read_write
from codegen.openapi.stubs import StubEmitter

_RUFF_CONFIG = """\
[tool.ruff]
target-version = "py311"
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "W", "I", "UP", "B"]
# Wire names and descriptions can be longer than a line; ruff format wraps what it can.
ignore = ["E501"]
"""


@dataclass(frozen=True, slots=True)
class GenerationResult:
    package_dir: Path
    diagnostics: Diagnostics
    exported: tuple[str, ...]
    api_name: str
    operations: tuple[OperationPlan, ...] = ()
    checks: CheckPlanner | None = None  # what the stubs refuse, per type (tests build inputs)


def _progress(stream: TextIO | None, message: str, started: float) -> None:
    if stream is not None:
        stream.write(f"[{time.perf_counter() - started:6.2f}s] {message}\n")
        stream.flush()


def _ruff() -> list[str]:
    sibling = Path(sys.executable).with_name("ruff")
    if sibling.exists():
        return [str(sibling)]
    found = shutil.which("ruff")
    return [found] if found else [sys.executable, "-m", "ruff"]


def check_package_name(package: str) -> None:
    """Refuse a package name that cannot be imported (a usage error, raised at once)."""
    if not all(part.isidentifier() and not keyword.iskeyword(part) for part in package.split(".")):
        raise ValueError(f"package name {package!r} is not an importable Python name")
    if "." in package:
        raise ValueError(f"package name {package!r} must be a top-level name (no dots)")


def generate(
    spec: Path, out: Path, package: str, progress: TextIO | None = None
) -> GenerationResult:
    """Generate ``out/package`` (and ``out/pyproject.toml``) from the document at ``spec``."""
    check_package_name(package)
    started = time.perf_counter()
    diagnostics = Diagnostics()
    document = load(spec)
    _progress(progress, f"loaded {spec.name} (version {document.version})", started)
    api = split_read_write(build_api(document, diagnostics))
    _progress(
        progress,
        f"parsed {len(api.definitions)} schemas, {len(api.operations)} "
        f"operations, {len(api.webhooks)} webhooks",
        started,
    )
    emitter = ModelEmitter(api, diagnostics)
    models_source, exported = emitter.emit()
    _progress(progress, f"rendered {len(exported)} model types", started)
    planner = Planner(api, emitter, set(exported))
    plans = planner.plan_all()
    clients = ClientEmitter(api, package, planner, plans)
    stubs = StubEmitter(api, package, planner, plans, clients.name)
    lazy = dict.fromkeys(exported, "models")
    lazy[f"Async{clients.name}Client"] = "client"
    lazy[f"{clients.name}Client"] = "client"
    package_dir = out / package
    package_dir.mkdir(parents=True, exist_ok=True)
    files = {
        package_dir / "models.py": models_source,
        package_dir / "errors.py": clients.errors_module(),
        package_dir / "operations.py": clients.operations_module(),
        package_dir / "client.py": clients.client_module(),
        **{package_dir / f"{m}.py": text for m, text in clients.group_modules().items()},
        package_dir / "stubs.py": stubs.module(),
        package_dir / "openapi.json": spec_json(document.root),
        package_dir / "__init__.py": _init_source(package, api.title, api.version, lazy),
        package_dir / "py.typed": "",
        out / "pyproject.toml": _pyproject(package, api.version),
    }
    for stale in package_dir.glob("_ops*.py"):  # groups of an earlier run into the same folder
        if stale not in files:
            stale.unlink()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    python_files = [str(p) for p in files if p.suffix == ".py"]
    subprocess.run(
        [*_ruff(), "check", "--fix-only", "--quiet", "--exit-zero", *python_files],
        check=True,
        cwd=out,
        capture_output=True,
    )
    subprocess.run(
        [*_ruff(), "format", "--quiet", *python_files], check=True, cwd=out, capture_output=True
    )
    _progress(progress, f"wrote {package_dir} ({len(diagnostics)} diagnostics)", started)
    translated = Diagnostics()
    for item in diagnostics.sorted():
        translated.report(
            original_pointer(item.pointer, document.family), item.reason, item.action, item.severity
        )
    return GenerationResult(
        package_dir, translated, tuple(exported), clients.name, tuple(plans), stubs.checks
    )


def _init_source(package: str, title: str, version: str, lazy: dict[str, str]) -> str:
    exported = sorted(lazy)
    names = ", ".join(f'"{n}"' for n in exported)
    imports = "\n".join(f"    from {package}.{lazy[n]} import {n} as {n}" for n in exported)
    table = ", ".join(f'"{n}": "{lazy[n]}"' for n in exported)
    return f'''{BANNER}
"""Typed models for {_doc(title)} {_doc(version)}.

Names are exported lazily: ``import {package}`` is cheap and the module defining a name (models
or client) is imported on first use of that name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
{imports or "    pass"}

__all__ = [{names}]
_MODULES = {{{table}}}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{package}.{{_MODULES[name]}}"), name)
    raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}")


def __dir__() -> list[str]:
    return sorted(__all__)
'''


def _doc(text: str) -> str:
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _pyproject(package: str, version: str) -> str:
    safe_version = version if version and all(c.isalnum() or c in ".-+" for c in version) else "0"
    return f"""# Generated by flext-api codegen. Do not edit.
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "{package.replace("_", "-")}"
version = "0.0.0+api.{safe_version.replace("-", ".").replace("+", ".")}"
requires-python = ">=3.11"
dependencies = ["msgspec>=0.19", "flext-api>=0.1"]

[project.optional-dependencies]
stubs = ["fastapi>=0.110"]

[tool.hatch.build.targets.wheel]
packages = ["{package}"]

{_RUFF_CONFIG}"""
