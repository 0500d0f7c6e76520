"""Command line of the generator: ``python -m codegen <command>`` (also the ``flext-api`` script).

This file only parses arguments and dispatches to the module that owns each command; it must
never do a command's work itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from codegen import unasync
from codegen.openapi import cli as openapi_cli


def _unasync(args: argparse.Namespace) -> int:
    root: Path = args.root
    check_only: bool = args.check
    return unasync.run(root, check_only=check_only, out=sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status (0: success, 1: problems found)."""
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    command = commands.add_parser(
        "unasync",
        help="generate the blocking _sync trees from the async _async trees",
        description=unasync.__doc__,
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
        default=unasync.REPO_ROOT,
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
