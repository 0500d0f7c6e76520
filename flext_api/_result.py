"""FlextResult: the value every I/O call returns.

``FlextResult[T, E]`` is ``Success[T] | Failure[E]``, a plain union over two final, frozen,
slotted classes. Because it is a union and not a class hierarchy, ``match`` on a result is
exhaustive under mypy and ``if result.is_failure:`` narrows to ``Failure``.

Errors are exceptions carried as values: ``Failure.error`` is a :class:`FlextApiError`
instance, and ``unwrap()`` raises exactly that object, so a caller who prefers exceptions
loses nothing (not the type, not the code, not the chained cause).

This module must never import anything that does I/O; constructing a result is on the hot path
of every request, so both classes are kept to a bare ``__slots__`` layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, NoReturn, TypeAlias, TypeVar, final

from typing_extensions import TypeVar as DefaultTypeVar

from flext_api._exceptions import FlextApiError

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F", bound=FlextApiError)
E_co = DefaultTypeVar("E_co", bound=FlextApiError, default=FlextApiError, covariant=True)
E = DefaultTypeVar("E", bound=FlextApiError, default=FlextApiError)
T = TypeVar("T")

__all__ = ["Failure", "FlextResult", "Success", "fail", "ok"]


@final
class Success(Generic[T_co]):
    """A call that completed; ``value`` is what it produced."""

    __slots__ = ("value",)
    __match_args__ = ("value",)

    value: T_co

    def __init__(self, value: T_co) -> None:
        object.__setattr__(self, "value", value)

    @property
    def is_success(self) -> Literal[True]:
        return True

    @property
    def is_failure(self) -> Literal[False]:
        return False

    def unwrap(self) -> T_co:
        """Return the value (a ``Failure`` would raise its error here)."""
        return self.value

    def unwrap_or(self, default: object) -> T_co:
        return self.value

    def map(self, func: Callable[[T_co], U]) -> Success[U]:
        return Success(func(self.value))

    def flat_map(self, func: Callable[[T_co], Success[U] | Failure[F]]) -> Success[U] | Failure[F]:
        return func(self.value)

    def map_error(self, func: Callable[[Any], FlextApiError]) -> Success[T_co]:
        return self

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Success is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Success is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Success) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((Success, self.value))

    def __repr__(self) -> str:
        return f"Success({self.value!r})"

    def __reduce__(self) -> tuple[type[Success[T_co]], tuple[T_co]]:
        return (Success, (self.value,))


@final
class Failure(Generic[E_co]):
    """A call that did not complete; ``error`` says why, ``error_code`` is its stable code."""

    __slots__ = ("error",)
    __match_args__ = ("error",)

    error: E_co

    def __init__(self, error: E_co) -> None:
        if not isinstance(error, FlextApiError):
            raise TypeError(
                f"Failure carries a FlextApiError, got {type(error).__name__}; "
                "wrap foreign exceptions in a FlextApiError subclass first"
            )
        object.__setattr__(self, "error", error)

    @property
    def is_success(self) -> Literal[False]:
        return False

    @property
    def is_failure(self) -> Literal[True]:
        return True

    @property
    def error_code(self) -> str:
        """The stable code of the error (``CONNECT_TIMEOUT``, ``HEADER_INVALID``, ...)."""
        return self.error.code

    def unwrap(self) -> NoReturn:
        """Raise the carried error itself (not a copy, not a wrapper)."""
        raise self.error

    def unwrap_or(self, default: U) -> U:
        return default

    def map(self, func: Callable[[Any], object]) -> Failure[E_co]:
        return self

    def flat_map(self, func: Callable[[Any], object]) -> Failure[E_co]:
        return self

    def map_error(self, func: Callable[[E_co], F]) -> Failure[F]:
        return Failure(func(self.error))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Failure is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Failure is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failure) and self.error is other.error

    def __hash__(self) -> int:
        return hash((Failure, id(self.error)))

    def __repr__(self) -> str:
        return f"Failure({self.error.code}: {self.error})"

    def __reduce__(self) -> tuple[type[Failure[E_co]], tuple[E_co]]:
        return (Failure, (self.error,))


FlextResult: TypeAlias = Success[T] | Failure[E]
"""``Success[T] | Failure[E]``; ``E`` defaults to :class:`FlextApiError`."""


def ok(value: T) -> Success[T]:
    """Shorthand for ``Success(value)``."""
    return Success(value)


def fail(error: F) -> Failure[F]:
    """Shorthand for ``Failure(error)``."""
    return Failure(error)
