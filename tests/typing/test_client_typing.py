"""What a user's type checker infers for the clients' verbs, ``stream()``, ``Response.json(type=)``
and the middleware Protocol: run mypy --strict on ``client_usage.py`` and compare every
``reveal_type`` with the type written beside it (``# reveal: ...``).

A change that widens a verb's result, a stream or a decoded body to ``Any``, or that makes the
middleware Protocol accept what it should refuse, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

USAGE = Path(__file__).parent / "client_usage.py"
# Module paths are noise in the comparison: ``flext_api._models.Response`` reads ``Response``.
_MODULE_PREFIX = re.compile(r"\b(?:[a-z_][a-z0-9_]*\.)+(?=[A-Za-z_])")


def test_client_reveal_types_match_what_users_are_promised() -> None:
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
    assert len(expected) >= 20
