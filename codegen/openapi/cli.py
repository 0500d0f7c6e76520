"""``flext-api generate openapi``: arguments, progress on stderr, diagnostics, exit status.

Exit 0 when the package was written, even with diagnostics (G2), unless ``--strict``; exit 1
when the document cannot be used (unreadable, binary, not OpenAPI), the package could not be
written, or ``--strict`` met a diagnostic; exit 2 for arguments that cannot work. Every error is
one line on stderr, and on every non-zero exit the output folder is left as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .output import RUFF_MISSING, OutputError, UsageError, check_package_name

DESCRIPTION = """\
Read a Swagger 2.0 / OpenAPI 3.0 / 3.1 document (JSON or YAML) and write OUT/PACKAGE/:
  models.py      msgspec models of the schemas
  client.py      Async<Api>Client and <Api>Client: one method per operation, each returning
                 a FlextResult (operations.py, _ops_*.py: request builders and parsers)
  errors.py      an error class per documented error body, an alias per operation
  stubs.py       a FastAPI server stub: a handler Protocol, make_router, make_app
  openapi.json   the document, served by the stub
and OUT/pyproject.toml, so `pip install OUT` installs the package. The whole package is written
at once: on any failure, OUT is left as it was. A package folder is replaced only if this
generator wrote it.

Diagnostics (what the generator skipped or degraded, with the JSON pointer of the cause) do not
stop generation unless --strict is given."""

EPILOG = """\
exit status: 0 written; 1 the document cannot be used, writing failed, or --strict met a
diagnostic; 2 bad arguments."""


def add_parser(targets: Any) -> None:
    """Register ``openapi`` under ``generate`` (``targets`` is argparse's subparsers action)."""
    parser: argparse.ArgumentParser = targets.add_parser(
        "openapi",
        help="models, clients and server stubs from a Swagger 2.0 / OpenAPI 3.x document",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", type=Path, help="the OpenAPI document (a JSON or YAML file)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="the folder to write PACKAGE/ and pyproject.toml into (created if missing)",
    )
    parser.add_argument(
        "--package", required=True, help="name of the generated package (a Python identifier)"
    )
    parser.add_argument(
        "--diagnostics",
        choices=["text", "json"],
        default="text",
        help="print diagnostics as text lines on stderr (default) or as JSON on stdout",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat every diagnostic as an error: exit 1 and write nothing",
    )
    parser.add_argument(
        "--templates",
        type=Path,
        default=None,
        help="a folder of Jinja templates: a file named like a default template replaces it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Generate the package; print diagnostics; return the exit status."""
    package: str = args.package
    try:
        check_package_name(package)
    except UsageError as exc:
        return _error(exc, 2)
    templates: Path | None = args.templates
    if templates is not None and not templates.is_dir():
        return _error(f"templates folder {templates} does not exist", 2)
    try:
        # The generator needs the `codegen` extra (pyyaml, jinja2): import it only now, so a
        # missing extra is one line, not a traceback.
        from .generate import StrictError, generate
        from .load import LoadError
    except ModuleNotFoundError as exc:
        return _error(f"the code generator needs {exc.name}: pip install 'flext-api[codegen]'", 1)
    spec: Path = args.spec
    out: Path = args.out
    try:
        result = generate(
            spec,
            out,
            package,
            None if args.quiet else sys.stderr,
            strict=args.strict,
            templates=templates,
        )
    except UsageError as exc:
        return _error(exc, 2)
    except StrictError as exc:
        _print_diagnostics(args, exc.diagnostics)
        return _error(exc, 1)
    except (LoadError, OutputError) as exc:
        return _error(exc, 1)
    _print_diagnostics(args, result.diagnostics)
    if not result.formatted:
        sys.stderr.write(RUFF_MISSING + "\n")
    return 0


def _print_diagnostics(args: argparse.Namespace, diagnostics: Any) -> None:
    if args.diagnostics == "json":
        sys.stdout.write(diagnostics.to_json() + "\n")
    else:
        for item in diagnostics.sorted():
            sys.stderr.write(f"{item.severity}: {item.pointer}: {item.reason} ({item.action})\n")


def _error(message: object, status: int) -> int:
    # One line: a message that spans lines (a YAML error) is joined, so scripts can grep it.
    sys.stderr.write("error: " + " ".join(str(message).split()) + "\n")
    return status
