"""What a user's type checker infers for a generated client (G15, G16): mypy --strict on a usage
file written against the generated bundled petstore (``petstore_usage.py.txt``); every
``reveal_type`` must match the type written beside it, and a ``match`` on a method's Result must
be exhaustive over ``Success``, the typed status errors, unexpected status, decode and transport
errors. A change that widens a method's Result to ``Any`` or drops an error class fails here.
"""

from __future__ import annotations

import re

from tests.codegen.openapi.conftest import USAGE, MypyRun

_PREFIXES = re.compile(
    r"\b(?:flext_api\._result|flext_api\._exceptions|flext_api\.codegen_runtime"
    r"|t_petstore\.models|t_petstore\.errors|builtins)\."
)


def test_reveal_types_of_a_generated_client(mypy_run: MypyRun) -> None:
    usage, _ = mypy_run.files
    expected = {
        number: line.split("# reveal: ", 1)[1].strip()
        for number, line in enumerate(USAGE.read_text().splitlines(), start=1)
        if "# reveal: " in line
    }
    lines = mypy_run.lines_about(usage)
    assert not [line for line in lines if ": error:" in line], "\n".join(lines)
    revealed = {}
    for line in lines:
        match = re.match(r".*:(\d+): note: Revealed type is \"(.*)\"$", line)
        if match:
            revealed[int(match.group(1))] = _PREFIXES.sub("", match.group(2))
    assert revealed == expected
    assert "Any" not in " ".join(revealed.values())
    assert len(expected) >= 8


def test_a_match_without_the_transport_error_case_is_not_exhaustive(mypy_run: MypyRun) -> None:
    _, missing = mypy_run.files
    errors = [line for line in mypy_run.lines_about(missing) if ": error:" in line]
    assert len(errors) == 1, "\n".join(errors)
    assert 'Argument 1 to "assert_never" has incompatible type' in errors[0]
    assert "Failure[" in errors[0]
