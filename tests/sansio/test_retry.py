"""Retry decisions: a table of outcomes, a fake clock, and a fixed random source."""

from __future__ import annotations

import pytest

from flext_api._headers import Headers
from flext_api._sansio import replay
from flext_api._sansio.retry import (
    GiveUp,
    GiveUpReason,
    Retry,
    RetryPolicy,
    parse_http_date,
    parse_retry_after,
)

IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
EPOCH_IMF = 784111777.0


def no_jitter() -> float:
    return 0.0


@pytest.mark.parametrize(
    ("method", "status", "error", "idempotent", "expected"),
    [
        ("GET", 503, None, None, Retry),
        ("get", 429, None, None, Retry),
        ("PUT", 502, None, None, Retry),
        ("DELETE", 504, None, None, Retry),
        ("GET", 500, None, None, GiveUpReason.NOT_RETRYABLE),
        ("GET", 200, None, None, GiveUpReason.NOT_RETRYABLE),
        ("POST", 503, None, None, GiveUpReason.NOT_IDEMPOTENT),
        ("PATCH", 503, None, None, GiveUpReason.NOT_IDEMPOTENT),
        ("POST", 503, None, True, Retry),
        ("GET", 503, None, False, GiveUpReason.NOT_IDEMPOTENT),
        # Connect-phase failures: nothing was sent, so any method may retry.
        ("POST", None, "CONNECT_ERROR", None, Retry),
        ("POST", None, "CONNECT_TIMEOUT", False, Retry),
        # Stale connection symptoms: the server may have acted, so idempotent only.
        ("GET", None, "REMOTE_PROTOCOL_ERROR", None, Retry),
        ("POST", None, "REMOTE_PROTOCOL_ERROR", None, GiveUpReason.NOT_IDEMPOTENT),
        ("GET", None, "WRITE_ERROR", None, Retry),
        ("GET", None, "TLS_VERIFY_FAILED", None, GiveUpReason.NOT_RETRYABLE),
        ("GET", None, "READ_TIMEOUT", None, GiveUpReason.NOT_RETRYABLE),
    ],
)
def test_what_is_retried(
    method: str,
    status: int | None,
    error: str | None,
    idempotent: bool | None,
    expected: type[Retry] | GiveUpReason,
) -> None:
    state = RetryPolicy().start(0.0, idempotent=idempotent)
    decision = state.decide(method, status, error, None, 0.0, random=no_jitter)
    if expected is Retry:
        assert isinstance(decision, Retry)
        assert state.retries == 1
    else:
        assert isinstance(expected, GiveUpReason)
        assert decision == GiveUp(expected)
        assert state.retries == 0


def test_exponential_backoff_capped_then_exhausted() -> None:
    policy = RetryPolicy(max_retries=6, backoff_base=1.0, backoff_max=10.0, jitter=0.0)
    state = policy.start(0.0)
    waits = []
    for _ in range(6):
        decision = state.decide("GET", 503, None, None, 0.0, random=no_jitter)
        assert isinstance(decision, Retry)
        waits.append(decision.wait_seconds)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert state.attempts == 7
    assert state.decide("GET", 503, None, None, 0.0, random=no_jitter) == GiveUp(
        GiveUpReason.RETRIES_EXHAUSTED
    )


def test_max_retries_zero_never_retries() -> None:
    state = RetryPolicy(max_retries=0).start(0.0)
    assert state.decide("GET", 503, None, None, 0.0, random=no_jitter) == GiveUp(
        GiveUpReason.RETRIES_EXHAUSTED
    )


@pytest.mark.parametrize("r", [0.0, 0.25, 0.5, 0.999])
def test_full_jitter_stays_within_zero_and_backoff(r: float) -> None:
    policy = RetryPolicy(backoff_base=2.0, jitter=1.0)
    decision = policy.start(0.0).decide("GET", 503, None, None, 0.0, random=lambda: r)
    assert isinstance(decision, Retry)
    assert decision.wait_seconds == pytest.approx(2.0 * (1 - r))
    assert 0.0 <= decision.wait_seconds <= 2.0


def test_partial_jitter_keeps_a_floor() -> None:
    policy = RetryPolicy(backoff_base=4.0, jitter=0.25)
    decision = policy.start(0.0).decide("GET", 503, None, None, 0.0, random=lambda: 0.999999)
    assert isinstance(decision, Retry)
    assert decision.wait_seconds >= 3.0


def test_huge_exponent_does_not_overflow() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_multiplier=10.0, backoff_max=60.0, jitter=0.0)
    assert policy.backoff(10_000, no_jitter) == 60.0


def test_states_are_independent_per_call() -> None:
    policy = RetryPolicy(max_retries=1)
    a, b = policy.start(0.0), policy.start(0.0)
    assert isinstance(a.decide("GET", 503, None, None, 0.0, random=no_jitter), Retry)
    assert isinstance(b.decide("GET", 503, None, None, 0.0, random=no_jitter), Retry)
    assert a.decide("GET", 503, None, None, 0.0, random=no_jitter) == GiveUp(
        GiveUpReason.RETRIES_EXHAUSTED
    )


@pytest.mark.parametrize(
    ("value", "date", "wall", "expected"),
    [
        ("120", None, None, 120.0),
        (" 0 ", None, None, 0.0),
        ("-5", None, None, None),
        ("1.5", None, None, None),
        ("²", None, None, None),
        ("soon", None, None, None),
        (IMF, None, EPOCH_IMF - 30, 30.0),
        (IMF, "Sun, 06 Nov 1994 08:49:07 GMT", 0.0, 30.0),  # Date wins over our clock
        (IMF, "garbage", EPOCH_IMF - 10, 10.0),  # bad Date: fall back to the clock
        (IMF, None, EPOCH_IMF + 100, 0.0),  # in the past: now
        (IMF, None, None, None),  # cannot be placed without a reference
        ("Sunday, 06-Nov-94 08:49:37 GMT", None, EPOCH_IMF - 1, 1.0),  # RFC 850
        ("Sun Nov  6 08:49:37 1994", None, EPOCH_IMF - 2, 2.0),  # asctime
    ],
)
def test_parse_retry_after(
    value: str, date: str | None, wall: float | None, expected: float | None
) -> None:
    assert parse_retry_after(value, date_header=date, wall_clock=wall) == expected


def test_parse_http_date() -> None:
    assert parse_http_date(IMF) == EPOCH_IMF
    assert parse_http_date("not a date") is None


def test_retry_after_replaces_backoff_and_is_capped() -> None:
    policy = RetryPolicy(backoff_max=60.0)
    state = policy.start(0.0)
    decision = state.decide(
        "GET", 429, None, Headers({"Retry-After": "7"}), 0.0, random=lambda: 0.5
    )
    assert decision == Retry(7.0, 2, from_retry_after=True)
    decision = state.decide(
        "GET", 503, None, Headers({"Retry-After": "3600"}), 0.0, random=lambda: 0.5
    )
    assert decision == Retry(60.0, 3, from_retry_after=True)


def test_retry_after_ignored_when_disabled_or_unusable() -> None:
    policy = RetryPolicy(respect_retry_after=False, backoff_base=1.0, jitter=0.0)
    decision = policy.start(0.0).decide(
        "GET", 503, None, Headers({"Retry-After": "100"}), 0.0, random=no_jitter
    )
    assert decision == Retry(1.0, 2)
    policy = RetryPolicy(backoff_base=1.0, jitter=0.0)
    decision = policy.start(0.0).decide(
        "GET", 503, None, Headers({"Retry-After": IMF}), 0.0, random=no_jitter
    )
    assert decision == Retry(1.0, 2)  # an HTTP-date with no Date and no wall clock
    decision = policy.start(0.0).decide(
        "GET",
        503,
        None,
        Headers({"Retry-After": IMF}),
        0.0,
        random=no_jitter,
        wall_clock=EPOCH_IMF - 4,
    )
    assert decision == Retry(4.0, 2, from_retry_after=True)


def test_total_deadline_across_attempts() -> None:
    policy = RetryPolicy(max_retries=10, backoff_base=1.0, jitter=0.0, total_timeout=10.0)
    state = policy.start(100.0)
    assert state.remaining(100.0) == 10.0
    now = 100.0
    waits = []
    while isinstance(
        decision := state.decide("GET", 503, None, None, now, random=no_jitter), Retry
    ):
        waits.append(decision.wait_seconds)
        now += decision.wait_seconds + 0.5  # the attempt itself takes 0.5 s
    assert waits == [1.0, 2.0, 4.0]
    assert decision == GiveUp(GiveUpReason.DEADLINE)
    assert now < 110.0
    assert state.remaining(120.0) == 0.0
    assert RetryPolicy().start(0.0).remaining(5.0) is None


def test_retry_after_beyond_the_deadline_gives_up() -> None:
    state = RetryPolicy(total_timeout=5.0).start(0.0)
    decision = state.decide("GET", 503, None, Headers({"retry-after": "30"}), 1.0, random=no_jitter)
    assert decision == GiveUp(GiveUpReason.DEADLINE)


def test_custom_statuses_methods_and_codes() -> None:
    policy = RetryPolicy(
        statuses=frozenset({500}),
        methods=frozenset({"post"}),
        error_codes=frozenset({"READ_TIMEOUT"}),
    )
    assert isinstance(policy.start(0).decide("POST", 500, None, None, 0, random=no_jitter), Retry)
    assert policy.start(0).decide("GET", 500, None, None, 0, random=no_jitter) == GiveUp(
        GiveUpReason.NOT_IDEMPOTENT
    )
    assert isinstance(
        policy.start(0).decide("POST", None, "READ_TIMEOUT", None, 0, random=no_jitter), Retry
    )


def test_decide_needs_exactly_one_outcome() -> None:
    state = RetryPolicy().start(0.0)
    with pytest.raises(ValueError, match="exactly one"):
        state.decide("GET", None, None, None, 0.0, random=no_jitter)
    with pytest.raises(ValueError, match="exactly one"):
        state.decide("GET", 503, "CONNECT_ERROR", None, 0.0, random=no_jitter)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": True}, TypeError),
        ({"max_retries": 1.5}, TypeError),
        ({"backoff_base": -1.0}, ValueError),
        ({"backoff_max": float("inf")}, ValueError),
        ({"backoff_multiplier": 0.5}, ValueError),
        ({"jitter": 1.5}, ValueError),
        ({"total_timeout": 0.0}, ValueError),
    ],
)
def test_invalid_policy_raises_at_construction(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_headers_without_retry_after_use_the_backoff() -> None:
    state = RetryPolicy(backoff_base=2.0, jitter=0.0).start(0.0)
    decision = state.decide("GET", 503, None, Headers({"x": "y"}), 0.0, random=no_jitter)
    assert decision == Retry(2.0, 2)


def test_replay_rule_idempotent_methods_and_idempotency_key() -> None:
    from flext_api._sansio.replay import may_replay

    assert may_replay("GET", Headers())
    assert may_replay("DELETE", Headers())
    assert not may_replay("POST", Headers())
    assert may_replay("POST", Headers({"Idempotency-Key": "k-1"}))
    assert not may_replay("PATCH", Headers({"X-Other": "1"}))


def test_the_default_retryable_methods_are_the_one_replay_rule() -> None:
    assert RetryPolicy().methods == replay.IDEMPOTENT_METHODS
    post = RetryPolicy(jitter=0.0).start(0.0)
    keyed = RetryPolicy(jitter=0.0).start(0.0, idempotent=True)  # what an Idempotency-Key does
    assert post.decide("POST", 503, None, None, 0.0, random=lambda: 0.0) == GiveUp(
        GiveUpReason.NOT_IDEMPOTENT
    )
    assert isinstance(keyed.decide("POST", 503, None, None, 0.0, random=lambda: 0.0), Retry)
