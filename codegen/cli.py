"""The ``flext-api`` command: the user commands of the generator, and nothing else.

This file only parses arguments and dispatches to the module that owns each command; it must
never do a command's work itself. ``python -m codegen`` (this repository's development entry,
`codegen.__main__`) adds the development commands to the same parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TypeAlias

from .graphql import cli as graphql_cli
from .openapi import cli as openapi_cli

# What add_subparsers returns (a generic in typeshed only, hence the string).
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DESCRIPTION = """\
Generate typed Python packages from API descriptions.

`generate openapi` reads a Swagger 2.0 / OpenAPI 3.0 / 3.1 document and writes an installable
package: msgspec models, a sync and an async client (every method returns a FlextResult), typed
error classes, FastAPI server stubs, and a pyproject.toml beside it.

`generate graphql` reads a GraphQL schema and operation documents and writes a package of typed
result types, a sync and an async client, and typed resolver stubs."""


def build_parser(prog: str = "flext-api") -> tuple[argparse.ArgumentParser, Commands]:
    """The parser of the user commands, and its command table (to add more commands to)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    generate = commands.add_parser(
        "generate",
        help="generate a typed package (models, clients, stubs) from an API description",
        description="Generate a typed package from an API description.",
    )
    targets = generate.add_subparsers(dest="target", required=True, metavar="format")
    openapi_cli.add_parser(targets)
    graphql_cli.add_parser(targets)
    return parser, commands


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the chosen command; its exit status."""
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status (0 success, 1 failure, 2 bad arguments)."""
    parser, _ = build_parser()
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
