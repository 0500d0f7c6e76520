"""What a user's type checker infers for the GraphQL client: run mypy
--strict on ``graphql_usage.py`` and compare every ``reveal_type`` with the type written
beside it (``# reveal: ...``). ``execute(..., data_type=T)`` must give
``FlextResult[GraphQLResponse[T]]``: data widened to ``Any`` (or a lost default) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

USAGE = Path(__file__).parent / "graphql_usage.py"
_MODULE_PREFIX = re.compile(r"\b(?:[a-z_][a-z0-9_]*\.)+(?=[A-Za-z_])")


def test_graphql_reveal_types_match_what_users_are_promised() -> None:
    expected = {
        number: line.split("# reveal: ", 1)[1].strip()
        for number, line in enumerate(USAGE.read_text().splitlines(), start=1)
        if "# reveal: " in line
    }
    stdout, stderr, status = api.run(
        ["--strict", "--no-incremental", "--no-error-summary", str(USAGE)]
    )
    assert status == 0, stdout + stderr
    revealed = {}
    for line in stdout.splitlines():
        match = re.match(r".*:(\d+): note: Revealed type is \"(.*)\"$", line)
        if match:
            revealed[int(match.group(1))] = _MODULE_PREFIX.sub("", match.group(2))
    assert revealed == expected
