"""``flext-api generate graphql``: arguments, progress on stderr, diagnostics, exit status.

Exit 0 when the package was written (operations that failed validation are diagnostics and
skipped) unless ``--strict``; 1 when the schema cannot be used, writing failed, or ``--strict``
met a diagnostic; 2 for arguments that cannot work. On every non-zero exit the output folder is
left as it was.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

from ..openapi.output import RUFF_MISSING, OutputError, UsageError, check_package_name

DESCRIPTION = """\
Read a GraphQL schema (SDL, or introspection JSON) and operation documents, and write OUT/PACKAGE/:
  types.py        input Structs, tolerant enums, and a result Struct per operation that follows
                  its selection set (aliases, fragments, __typename-tagged unions)
  client.py       <Name>Client and Async<Name>Client: one method per operation
  stubs.py        a typed resolver Protocol per root type and make_router(resolvers)
  schema.graphql  the schema, served by the stubs
and OUT/pyproject.toml. An operation that does not validate is a diagnostic (file:line and the
field) and is skipped. Scalars: DateTime, Date, JSON, Upload and the built-ins have defaults,
every other scalar is str unless mapped with --scalar Name=module:Type or a config file:
  [scalars]
  Money = "decimal:Decimal\""""


def add_parser(targets: Any) -> None:
    """Register ``graphql`` under ``generate`` (``targets`` is argparse's subparsers action)."""
    parser: argparse.ArgumentParser = targets.add_parser(
        "graphql",
        help="typed result types, clients and resolver stubs from a GraphQL schema and operations",
        description=DESCRIPTION,
        epilog="exit status: 0 written; 1 unusable schema, failed write or --strict; 2 bad "
        "arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--schema", type=Path, required=True, help="SDL or introspection JSON")
    parser.add_argument(
        "--operations",
        type=Path,
        nargs="+",
        required=True,
        help="operation documents (.graphql files, or folders searched for them)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder to write into")
    parser.add_argument("--package", required=True, help="the generated package's name")
    parser.add_argument("--name", default=None, help="client class prefix (default: package)")
    parser.add_argument(
        "--scalar",
        action="append",
        default=[],
        metavar="NAME=MODULE:TYPE",
        help="map a custom scalar to a Python type (repeatable); wins over --config",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="a TOML file with a [scalars] table"
    )
    parser.add_argument(
        "--diagnostics",
        choices=["text", "json"],
        default="text",
        help="diagnostics as text lines on stderr (default) or as JSON on stdout",
    )
    parser.add_argument(
        "--strict", action="store_true", help="any diagnostic is an error: exit 1, write nothing"
    )
    parser.add_argument(
        "--templates", type=Path, default=None, help="a folder overriding default templates"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=run)


def _scalars(args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    from .schema_types import parse_scalars

    entries: list[str] = []
    config: Path | None = args.config
    if config is not None:
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8")).get("scalars", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read --config {config}: {exc}") from None
        if not isinstance(table, dict):
            raise UsageError(f'--config {config}: [scalars] must be a table of Name = "m:T"')
        entries.extend(f"{name}={target}" for name, target in table.items())
    entries.extend(args.scalar)
    return parse_scalars(entries)


def run(args: argparse.Namespace) -> int:
    """Generate the package; print diagnostics; return the exit status."""
    try:
        check_package_name(args.package)
        # graphql-core and jinja2 come with the codegen extra: a missing one is one line.
        from .generate import StrictError, generate_graphql
        from .load import LoadError
        from .schema_types import ScalarError

        try:
            scalars = _scalars(args)
        except ScalarError as exc:
            raise UsageError(str(exc)) from None
        result = generate_graphql(
            args.schema,
            list(args.operations),
            args.out,
            args.package,
            None if args.quiet else sys.stderr,
            scalars=scalars,
            templates=args.templates,
            name=args.name,
            strict=args.strict,
        )
    except ModuleNotFoundError as exc:
        return _error(f"the code generator needs {exc.name}: pip install 'flext-api[codegen]'", 1)
    except UsageError as exc:
        return _error(exc, 2)
    except StrictError as exc:
        _print(args, exc.diagnostics)
        return _error(exc, 1)
    except (LoadError, OutputError) as exc:
        return _error(exc, 1)
    _print(args, result.diagnostics)
    if not result.formatted:
        sys.stderr.write(RUFF_MISSING + "\n")
    return 0


def _print(args: argparse.Namespace, diagnostics: Any) -> None:
    if args.diagnostics == "json":
        sys.stdout.write(diagnostics.to_json() + "\n")
    else:
        for item in diagnostics.sorted():
            sys.stderr.write(f"{item.severity}: {item.pointer}: {item.reason} ({item.action})\n")


def _error(message: object, status: int) -> int:
    sys.stderr.write("error: " + " ".join(str(message).split()) + "\n")
    return status
