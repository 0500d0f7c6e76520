"""``generate openapi`` command: arguments, progress on stderr, diagnostics output, exit status.

Exit 0 when the package was written, even with diagnostics (G2); exit 1 only when the document
as a whole cannot be used (unreadable, not OpenAPI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from codegen.openapi.generate import check_package_name, generate
from codegen.openapi.load import LoadError


def add_parser(targets: Any) -> None:
    """Register ``openapi`` under ``generate`` (``targets`` is argparse's subparsers action)."""
    parser: argparse.ArgumentParser = targets.add_parser(
        "openapi",
        help="msgspec models from a Swagger 2.0 / OpenAPI 3.0 / 3.1 document (JSON or YAML)",
    )
    parser.add_argument("spec", type=Path, help="the OpenAPI document")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--package", required=True, help="name of the generated package")
    parser.add_argument(
        "--diagnostics",
        choices=["text", "json"],
        default="text",
        help="print diagnostics as text lines on stderr (default) or as JSON on stdout",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--templates",
        type=Path,
        default=None,
        help="a folder of Jinja templates: a file named like a default template replaces it",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Generate the package; print diagnostics; return the exit status."""
    package: str = args.package
    try:
        check_package_name(package)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    templates: Path | None = args.templates
    if templates is not None and not templates.is_dir():
        sys.stderr.write(f"error: templates folder {templates} does not exist\n")
        return 2
    try:
        result = generate(
            args.spec, args.out, package, None if args.quiet else sys.stderr, templates=templates
        )
    except LoadError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    if args.diagnostics == "json":
        sys.stdout.write(result.diagnostics.to_json() + "\n")
    else:
        for item in result.diagnostics.sorted():
            sys.stderr.write(f"{item.severity}: {item.pointer}: {item.reason} ({item.action})\n")
    return 0
