"""Circuit breaker transitions, walked with a fake clock."""

from __future__ import annotations

import pytest

from flext_api._exceptions import CircuitOpenError
from flext_api._sansio.circuit import (
    Allow,
    CircuitBreaker,
    CircuitRegistry,
    CircuitState,
    CircuitStatus,
    Reject,
)


def status(state: CircuitState) -> CircuitStatus:
    """Read through a call so mypy does not narrow ``state.state`` across transitions."""
    return state.state


def opened(config: CircuitBreaker, now: float = 0.0) -> CircuitState:
    state = config.new_state()
    for _ in range(config.failure_threshold):
        state.on_failure(now)
    assert status(state) is CircuitStatus.OPEN
    return state


def test_consecutive_failures_open_and_a_success_resets() -> None:
    state = CircuitBreaker(failure_threshold=3).new_state()
    assert state.before_request(0.0) == Allow(0)
    state.on_failure(1.0)
    state.on_failure(2.0)
    state.on_success(3.0)
    assert state.failures == 0
    state.on_failure(4.0)
    state.on_failure(5.0)
    assert status(state) is CircuitStatus.CLOSED
    state.on_failure(6.0)
    assert status(state) is CircuitStatus.OPEN
    assert state.opened_at == 6.0
    assert state.failures == 3


def test_open_rejects_until_the_duration_passes_then_admits_one_trial() -> None:
    config = CircuitBreaker(failure_threshold=1, open_duration=30.0)
    state = opened(config, now=100.0)
    assert state.before_request(100.0) == Reject(130.0)
    assert state.before_request(129.999) == Reject(130.0)
    ticket = state.before_request(130.0)
    assert isinstance(ticket, Allow)
    assert ticket.trial
    assert status(state) is CircuitStatus.HALF_OPEN
    assert state.before_request(130.0) == Reject(130.0)  # one trial at a time
    state.on_success(131.0, ticket)
    assert status(state) is CircuitStatus.CLOSED
    assert state.opened_at is None
    assert state.failures == 0
    assert isinstance(state.before_request(131.0), Allow)


def test_half_open_failure_reopens() -> None:
    config = CircuitBreaker(failure_threshold=1, open_duration=10.0)
    state = opened(config)
    ticket = state.before_request(10.0)
    assert isinstance(ticket, Allow)
    state.on_failure(11.0, ticket)
    assert status(state) is CircuitStatus.OPEN
    assert state.opened_at == 11.0
    assert state.before_request(20.0) == Reject(21.0)


def test_success_threshold_and_several_trials() -> None:
    config = CircuitBreaker(
        failure_threshold=1, open_duration=1.0, half_open_max_calls=2, success_threshold=3
    )
    state = opened(config)
    a, b = state.before_request(1.0), state.before_request(1.0)
    assert isinstance(a, Allow) and isinstance(b, Allow)
    assert state.trials_in_flight == 2
    assert isinstance(state.before_request(1.0), Reject)
    state.on_success(1.1, a)
    state.on_success(1.2, b)
    assert status(state) is CircuitStatus.HALF_OPEN
    assert state.successes == 2
    c = state.before_request(1.3)
    assert isinstance(c, Allow)
    state.on_success(1.4, c)
    assert status(state) is CircuitStatus.CLOSED


def test_abandoned_trial_frees_its_slot() -> None:
    state = opened(CircuitBreaker(failure_threshold=1, open_duration=0.0))
    ticket = state.before_request(0.0)
    assert isinstance(ticket, Allow)
    assert isinstance(state.before_request(0.0), Reject)
    state.on_abandon(ticket)
    assert state.trials_in_flight == 0
    assert isinstance(state.before_request(0.0), Allow)
    state.on_abandon(Allow(state.generation, trial=False))  # a non-trial changes nothing
    assert state.trials_in_flight == 1


def test_outcomes_from_an_older_generation_are_ignored() -> None:
    config = CircuitBreaker(failure_threshold=1, open_duration=5.0)
    state = config.new_state()
    slow = state.before_request(0.0)  # admitted while closed
    assert isinstance(slow, Allow)
    state.on_failure(1.0)  # another call fails: open
    trial = state.before_request(6.0)
    assert isinstance(trial, Allow)
    state.on_success(6.5, slow)  # the slow, old call succeeds: must not close the circuit
    assert status(state) is CircuitStatus.HALF_OPEN
    state.on_failure(6.6, slow)
    assert status(state) is CircuitStatus.HALF_OPEN
    state.on_abandon(Allow(slow.generation, trial=True))
    assert state.trials_in_flight == 1
    state.on_success(7.0, trial)
    assert status(state) is CircuitStatus.CLOSED


def test_failures_while_open_change_nothing() -> None:
    state = opened(CircuitBreaker(failure_threshold=1), now=3.0)
    state.on_failure(4.0)
    state.on_success(4.0)
    assert state.opened_at == 3.0
    assert status(state) is CircuitStatus.OPEN


def test_rolling_window_counts_failures_within_the_window() -> None:
    state = CircuitBreaker(failure_threshold=3, failure_window=10.0).new_state()
    for now in (0.0, 5.0):
        state.on_failure(now)
    state.on_success(6.0)  # a success does not reset window counting
    assert state.failures == 2
    state.on_failure(10.5)  # the failure at 0.0 left the window
    assert state.failures == 2
    assert status(state) is CircuitStatus.CLOSED
    state.on_failure(12.0)
    assert status(state) is CircuitStatus.OPEN
    assert state.failures == 3


def test_window_memory_is_bounded() -> None:
    state = CircuitBreaker(failure_threshold=4, failure_window=1e9, open_duration=0.0).new_state()
    for i in range(1000):
        if status(state) is CircuitStatus.CLOSED:
            state.on_failure(float(i))
        else:
            ticket = state.before_request(float(i))
            state.on_success(float(i), ticket if isinstance(ticket, Allow) else None)
        assert len(state._failure_times) <= 4


def test_is_failure_classification() -> None:
    config = CircuitBreaker()
    assert config.is_failure(503, None)
    assert not config.is_failure(404, None)
    assert not config.is_failure(200, None)
    assert config.is_failure(None, "CONNECT_TIMEOUT")
    assert not config.is_failure(None, "TLS_VERIFY_FAILED")


def test_reject_turns_into_circuit_open_error() -> None:
    error = Reject(130.0).to_error("https://api.example", now=100.0)
    assert isinstance(error, CircuitOpenError)
    assert error.code == "CIRCUIT_OPEN"
    assert "https://api.example" in error.message
    assert "30.0s" in error.message


def test_registry_keys_by_origin_and_resets() -> None:
    registry = CircuitRegistry(CircuitBreaker(failure_threshold=1))
    a = ("https", "a.example", 443)
    b = ("https", "b.example", 443)
    registry.get(a).on_failure(0.0)
    assert registry.get(a) is registry.get(a)
    assert registry.get(b).state is CircuitStatus.CLOSED
    assert registry.states()[a].state is CircuitStatus.OPEN
    assert "open" in repr(registry.get(a))
    registry.reset(a)
    assert registry.get(a).state is CircuitStatus.CLOSED
    registry.reset()
    assert registry.states() == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"half_open_max_calls": True},
        {"success_threshold": 1.5},
        {"open_duration": -1.0},
        {"failure_window": 0.0},
    ],
)
def test_invalid_config_raises(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]
