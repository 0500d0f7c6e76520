"""Checked by mypy in tests/unit/test_result_typing.py: each reveal_type line states what a
user's type checker must infer. Not executed as a test module."""

from typing import assert_never

from flext_api._exceptions import FlextApiError, ReadTimeout
from flext_api._result import Failure, FlextResult, Success, fail, ok


class Pet:
    name: str = "rex"


def get_pet() -> FlextResult[Pet]:
    return ok(Pet())


def narrow_with_if() -> str:
    result = get_pet()
    reveal_type(result)  # reveal: Success[Pet] | Failure[FlextApiError]
    if result.is_failure:
        reveal_type(result)  # reveal: Failure[FlextApiError]
        reveal_type(result.error)  # reveal: FlextApiError
        return result.error_code
    reveal_type(result)  # reveal: Success[Pet]
    return result.value.name


def narrow_with_success_flag() -> str:
    result = get_pet()
    if result.is_success:
        reveal_type(result)  # reveal: Success[Pet]
        return result.value.name
    reveal_type(result)  # reveal: Failure[FlextApiError]
    return result.error.code


def exhaustive_match() -> str:
    result = get_pet()
    match result:
        case Success(value):
            reveal_type(value)  # reveal: Pet
            return value.name
        case Failure(error):
            reveal_type(error)  # reveal: FlextApiError
            return error.code
        case _:
            assert_never(result)


def specific_error() -> FlextResult[int, ReadTimeout]:
    return fail(ReadTimeout("slow"))


def combinators() -> None:
    result = get_pet()
    mapped = result.map(lambda pet: len(pet.name))
    reveal_type(mapped)  # reveal: Success[int] | Failure[FlextApiError]
    reveal_type(result.unwrap())  # reveal: Pet
    reveal_type(result.unwrap_or(None))  # reveal: Pet | None
    narrowed = specific_error()
    reveal_type(narrowed)  # reveal: Success[int] | Failure[ReadTimeout]
    widened = narrowed.map_error(lambda e: FlextApiError(str(e)))
    reveal_type(widened)  # reveal: Success[int] | Failure[FlextApiError]
    chained = result.flat_map(lambda pet: specific_error())
    reveal_type(chained)  # reveal: Success[int] | Failure[FlextApiError]
