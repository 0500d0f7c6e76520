"""Generate a package from a document: models, clients, stubs, ``__init__`` (lazy exports),
``py.typed``, ``pyproject.toml``, written all-or-nothing by `output`. Returns the diagnostics;
never raises for a defect inside the document (only for arguments or a document that cannot be
used at all, or for diagnostics under ``strict``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .checks import CheckPlanner
from .clients import ClientEmitter, spec_json
from .diagnostics import Diagnostics
from .load import load, original_pointer
from .models import BANNER, ModelEmitter
from .output import OutputError, check_inputs, check_not_binary, write_all
from .parse import build_api
from .plan import OperationPlan, Planner
from .readwrite import split_read_write
from .stubs import StubEmitter

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
    formatted: bool = True  # False: ruff was not found, the files are as rendered


class StrictError(OutputError):
    """``strict`` and the document has diagnostics: nothing was written."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        super().__init__(
            f"{len(diagnostics)} diagnostic(s) and --strict: nothing written; "
            "fix the document or drop --strict"
        )
        self.diagnostics = diagnostics


def _progress(stream: TextIO | None, message: str, started: float) -> None:
    if stream is not None:
        stream.write(f"[{time.perf_counter() - started:6.2f}s] {message}\n")
        stream.flush()


def generate(
    spec: Path,
    out: Path,
    package: str,
    progress: TextIO | None = None,
    *,
    strict: bool = False,
) -> GenerationResult:
    """Generate ``out/package`` (and ``out/pyproject.toml``) from the document at ``spec``.

    Raises `output.UsageError` for arguments that cannot work, `load.LoadError` for a document
    that cannot be used, `output.OutputError` when writing failed (`StrictError` for diagnostics
    under ``strict``); in every such case the target is left as it was.
    """
    check_inputs(spec, out, package)
    check_not_binary(spec)
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
    files = {
        f"{package}/models.py": models_source,
        f"{package}/errors.py": clients.errors_module(),
        f"{package}/operations.py": clients.operations_module(),
        f"{package}/client.py": clients.client_module(),
        **{f"{package}/{m}.py": text for m, text in clients.group_modules().items()},
        f"{package}/stubs.py": stubs.module(),
        f"{package}/openapi.json": spec_json(document.root),
        f"{package}/__init__.py": _init_source(package, api.title, api.version, lazy),
        f"{package}/py.typed": "",
        "pyproject.toml": _pyproject(package, api.version),
    }
    translated = Diagnostics()
    for item in diagnostics.sorted():
        translated.report(
            original_pointer(item.pointer, document.family), item.reason, item.action, item.severity
        )
    if strict and len(translated):
        raise StrictError(translated)
    formatted = write_all(out, package, files)
    package_dir = out / package
    _progress(progress, f"wrote {package_dir} ({len(diagnostics)} diagnostics)", started)
    return GenerationResult(
        package_dir,
        translated,
        tuple(exported),
        clients.name,
        tuple(plans),
        stubs.checks,
        formatted,
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
