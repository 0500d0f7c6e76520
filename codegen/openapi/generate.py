"""Write a generated package to disk: models, ``__init__`` (lazy exports), ``py.typed``,
``pyproject.toml``; format with ruff. Returns the diagnostics; never raises for a document defect.

Every file's text comes from a template in ``templates/`` (see render.py); ``templates=`` names a
folder whose files override the default templates of the same name.
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
from codegen.openapi.models import ModelEmitter
from codegen.openapi.parse import build_api
from codegen.openapi.plan import OperationPlan, Planner
from codegen.openapi.readwrite import split_read_write
from codegen.openapi.render import Renderer
from codegen.openapi.stubs import StubEmitter


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
    spec: Path,
    out: Path,
    package: str,
    progress: TextIO | None = None,
    templates: Path | None = None,
) -> GenerationResult:
    """Generate ``out/package`` (and ``out/pyproject.toml``) from the document at ``spec``;
    a template found in ``templates`` replaces the default one of the same name."""
    check_package_name(package)
    renderer = Renderer(templates)
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
    models_source, exported = emitter.emit(renderer)
    _progress(progress, f"rendered {len(exported)} model types", started)
    planner = Planner(api, emitter, set(exported))
    plans = planner.plan_all()
    clients = ClientEmitter(api, package, planner, plans, renderer)
    stubs = StubEmitter(api, package, planner, plans, clients.name, renderer=renderer)
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
        package_dir / "__init__.py": renderer.render(
            "__init__.py.jinja",
            package=package,
            title=_doc(api.title),
            version=_doc(api.version),
            exports=[(name, lazy[name]) for name in sorted(lazy)],
        ),
        package_dir / "py.typed": "",
        out / "pyproject.toml": renderer.render(
            "pyproject.toml.jinja",
            package=package,
            distribution=package.replace("_", "-"),
            version=_version(api.version),
        ),
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


def _doc(text: str) -> str:
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _version(version: str) -> str:
    """The document's version as a local version label (``0`` when it has other characters)."""
    safe = version if version and all(c.isalnum() or c in ".-+" for c in version) else "0"
    return safe.replace("-", ".").replace("+", ".")
