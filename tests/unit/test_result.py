"""FlextResult and the error tree at run time: what a caller sees and relies on."""

from __future__ import annotations

import pickle
import typing

import pytest

from flext_api._exceptions import (
    ConnectTimeout,
    FlextApiError,
    HTTPStatusError,
    InvalidHeader,
    ReadTimeout,
    TimeoutException,
    TransportError,
)
from flext_api._result import Failure, FlextResult, Success, fail, ok


def test_success_carries_value_and_combinators() -> None:
    result = ok(2)
    assert result.is_success is True and result.is_failure is False
    assert result.unwrap() == 2
    assert result.unwrap_or(5) == 2
    assert result.map(lambda v: v * 10) == Success(20)
    assert result.flat_map(lambda v: ok(v + 1)) == Success(3)
    assert result.map_error(lambda e: FlextApiError("x")) is result
    assert repr(result) == "Success(2)"
    assert hash(result) == hash(Success(2))
    assert result != Success(3) and result != 2


def test_failure_unwrap_raises_the_very_same_error_object() -> None:
    error = ReadTimeout("server at api.test:443 sent nothing for 5s", url="https://api.test/")
    result = fail(error)
    assert result.is_failure is True and result.is_success is False
    assert result.error_code == "READ_TIMEOUT"
    with pytest.raises(ReadTimeout) as caught:
        result.unwrap()
    assert caught.value is error
    assert result.unwrap_or("fallback") == "fallback"
    assert result.map(lambda v: v) is result
    assert result.flat_map(ok) is result
    mapped = result.map_error(lambda e: ConnectTimeout(f"wrapped: {e}"))
    assert mapped.error_code == "CONNECT_TIMEOUT"
    assert "READ_TIMEOUT" in repr(result)
    assert result == Failure(error) and result != Failure(ReadTimeout("other"))
    assert hash(result) == hash(Failure(error))


def test_results_are_immutable() -> None:
    success = ok(1)
    failure = fail(FlextApiError("boom"))
    with pytest.raises(AttributeError):
        success.value = 2
    with pytest.raises(AttributeError):
        failure.error = FlextApiError("x")
    with pytest.raises(AttributeError):
        del success.value
    with pytest.raises(AttributeError):
        del failure.error


def test_failure_refuses_foreign_exceptions() -> None:
    with pytest.raises(TypeError, match="FlextApiError"):
        Failure(ValueError("nope"))  # type: ignore[type-var]


def test_match_works_at_run_time() -> None:
    for result, expected in ((ok("v"), "ok v"), (fail(InvalidHeader("bad")), "HEADER_INVALID")):
        match result:
            case Success(value):
                seen = f"ok {value}"
            case Failure(error):
                seen = error.code
        assert seen == expected


def test_results_and_errors_pickle() -> None:
    error = ConnectTimeout("connecting to api.test:443 took more than 2s", url="https://api.test")
    error.__cause__ = TimeoutError("timed out")
    for result in (ok({"a": 1}), fail(error)):
        assert pickle.loads(pickle.dumps(result)).is_success is result.is_success
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is ConnectTimeout
    assert (restored.code, restored.message, restored.url) == (
        "CONNECT_TIMEOUT",
        error.message,
        "https://api.test",
    )
    assert str(restored) == error.message
    status = HTTPStatusError("GET / answered 503", status_code=503, response=None, url="u")
    restored_status = pickle.loads(pickle.dumps(status))
    assert restored_status.status_code == 503 and restored_status.response is None


def test_error_families_and_codes_are_stable() -> None:
    assert issubclass(ConnectTimeout, TimeoutException)
    assert issubclass(TimeoutException, TransportError)
    assert issubclass(TransportError, FlextApiError)
    error = ConnectTimeout("m")
    assert repr(error) == "ConnectTimeout(code='CONNECT_TIMEOUT', message='m')"


def test_flext_result_with_one_argument_works_at_run_time() -> None:
    # Annotations are evaluated at run time by FastAPI, pydantic and typing.get_type_hints:
    # the default error type must exist there too, not only for type checkers.
    def returns_a_result() -> FlextResult[int]:
        return ok(1)

    hints = typing.get_type_hints(returns_a_result)
    assert hints["return"] == Success[int] | Failure[FlextApiError]
