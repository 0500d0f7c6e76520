"""``python -m codegen``: the ``flext-api`` user commands plus this repository's development
commands (``unasync`` regenerates the ``_sync`` trees; it is not shipped in the wheel, so an
installed ``python -m flext_api_codegen`` has the user commands only).

This file only parses arguments and dispatches to the module that owns each command; it must
never do a command's work itself.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli import Commands, build_parser, run


def _unasync(args: argparse.Namespace) -> int:
    # Imported here: unasync needs tokenize, whose output differs across Python versions; the
    # generate path must not load it (tests/codegen/openapi/test_client_twins.py checks).
    from . import unasync

    root: Path = args.root if args.root is not None else unasync.REPO_ROOT
    check_only: bool = args.check
    return unasync.run(root, check_only=check_only, out=sys.stdout)


def _add_development_commands(commands: Commands) -> None:
    source = Path(__file__).with_name("unasync.py")
    if not source.is_file():
        return  # an installed wheel: it ships the user commands only
    command = commands.add_parser(
        "unasync",
        help="(development) generate the blocking _sync trees from the async _async trees",
        description=ast.get_docstring(ast.parse(source.read_text())),
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status (0: success, 1: problems found, 2: usage)."""
    parser, commands = build_parser(prog=f"python -m {__package__}")
    _add_development_commands(commands)
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
