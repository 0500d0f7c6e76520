"""Command line of the generator: ``python -m codegen <command>`` (also the ``flext-api`` script).

This file only parses arguments and dispatches to the module that owns each command; it must
never do a command's work itself.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from pathlib import Path

from codegen.openapi import cli as openapi_cli


def _unasync(args: argparse.Namespace) -> int:
    # Imported here: unasync needs tokenize, whose output differs across Python versions; the
    # generate path must not load it (tests/codegen/openapi/test_client_twins.py checks).
    from codegen import unasync

    root: Path = args.root if args.root is not None else unasync.REPO_ROOT
    check_only: bool = args.check
    return unasync.run(root, check_only=check_only, out=sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status (0: success, 1: problems found)."""
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    command = commands.add_parser(
        "unasync",
        help="generate the blocking _sync trees from the async _async trees",
        description=ast.get_docstring(
            ast.parse(Path(__file__).with_name("unasync.py").read_text())
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a generated file is missing, stale or extra",
    )
    command.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the repository root (default: the one this codegen package sits in)",
    )
    command.set_defaults(handler=_unasync)
    generate = commands.add_parser("generate", help="generate a typed package from a schema")
    targets = generate.add_subparsers(dest="target", required=True, metavar="target")
    openapi_cli.add_parser(targets)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
