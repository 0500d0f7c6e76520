"""Generate a package from a document: models, clients, stubs, ``__init__`` (lazy exports),
``py.typed``, ``pyproject.toml``, written all-or-nothing by `output`. Returns the diagnostics;
never raises for a defect inside the document (only for arguments or a document that cannot be
used at all, or for diagnostics under ``strict``).

Every file's text comes from a template in ``templates/`` (see render.py); ``templates=`` names a
folder whose files override the default templates of the same name.
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
from .models import ModelEmitter
from .output import OutputError, check_inputs, check_not_binary, write_all
from .parse import build_api
from .plan import OperationPlan, Planner
from .readwrite import split_read_write
from .render import Renderer
from .stubs import StubEmitter
from .webhooks import webhooks_module


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
    templates: Path | None = None,
) -> GenerationResult:
    """Generate ``out/package`` (and ``out/pyproject.toml``) from the document at ``spec``; a
    template found in ``templates`` replaces the default one of the same name.

    Raises `output.UsageError` for arguments that cannot work, `load.LoadError` for a document
    that cannot be used, `output.OutputError` when writing failed (`StrictError` for diagnostics
    under ``strict``); in every such case the target is left as it was.
    """
    check_inputs(spec, out, package)
    check_not_binary(spec)
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
    clients = ClientEmitter(api, package, planner, plans, renderer, diagnostics=diagnostics)
    stubs = StubEmitter(api, package, planner, plans, clients.name, renderer=renderer)
    lazy = dict.fromkeys(exported, "models")
    lazy[f"Async{clients.name}Client"] = "client"
    lazy[f"{clients.name}Client"] = "client"
    files = {
        f"{package}/models.py": models_source,
        f"{package}/errors.py": clients.errors_module(),
        f"{package}/operations.py": clients.operations_module(),
        f"{package}/client.py": clients.client_module(),
        f"{package}/testing.py": clients.testing_module(),
        **{f"{package}/{m}.py": text for m, text in clients.group_modules().items()},
        f"{package}/stubs.py": stubs.module(),
        f"{package}/openapi.json": spec_json(document.root),
        f"{package}/__init__.py": renderer.render(
            "__init__.py.jinja",
            package=package,
            title=_doc(api.title),
            version=_doc(api.version),
            exports=[(name, lazy[name]) for name in sorted(lazy)],
        ),
        f"{package}/py.typed": "",
        "pyproject.toml": renderer.render(
            "pyproject.toml.jinja",
            package=package,
            distribution=package.replace("_", "-"),
            version=_version(api.version),
        ),
    }
    hooks = webhooks_module(
        api,
        package=package,
        api_name=clients.name,
        planner=planner,
        diagnostics=diagnostics,
        renderer=renderer,
    )
    if hooks is not None:
        files[f"{package}/webhooks.py"] = hooks
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


def _doc(text: str) -> str:
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _version(version: str) -> str:
    """The document's version as a local version label (``0`` when it has other characters)."""
    safe = version if version and all(c.isalnum() or c in ".-+" for c in version) else "0"
    return safe.replace("-", ".").replace("+", ".")
