"""What a user's type checker infers for FlextResult: run mypy --strict on a usage file and
compare every ``reveal_type`` with the type written beside it (``# reveal: ...``).

A change that widens a result to ``Any`` or breaks narrowing on ``if``/``match`` fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

USAGE = Path(__file__).parent.parent / "typing" / "result_usage.py"
_PREFIXES = re.compile(
    r"\b(?:flext_api\._result|flext_api\._exceptions|tests\.typing\.result_usage)\."
)


def test_reveal_types_match_what_users_are_promised() -> None:
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
            revealed[int(match.group(1))] = _PREFIXES.sub("", match.group(2))
    assert revealed == expected
    assert len(expected) >= 14
