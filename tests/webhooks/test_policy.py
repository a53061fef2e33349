"""What to do after an attempt (delivery.md "Classification of a response", "Retry policy" and the breaker).

Pure tests: the clock (``now``) and the randomness (``rand``) are passed in, so nothing sleeps.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookmq.webhooks.model import RetryPolicy
from hookmq.webhooks.policy import (
    BREAKER_MAX_COOLDOWN,
    BREAKER_THRESHOLD,
    CircuitBreaker,
    Outcome,
    RetrySchedule,
    classify,
    parse_retry_after,
)

DEFAULT_RETRY = RetryPolicy().retry_statuses
NOW = 1_700_000_000.0  # a fixed "now" for the clock-dependent rules


# ---------------------------------------------------------------------------------------------- classify


@pytest.mark.parametrize("status", [200, 201, 202, 204, 250, 299])
def test_2xx_is_success(status: int) -> None:
    assert classify(status, DEFAULT_RETRY) is Outcome.SUCCESS


def test_no_response_is_always_retried() -> None:
    assert classify(None, DEFAULT_RETRY) is Outcome.RETRY
    assert classify(None, []) is Outcome.RETRY
    assert classify(None, frozenset()) is Outcome.RETRY


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_the_default_retry_statuses_are_retried(status: int) -> None:
    assert classify(status, DEFAULT_RETRY) is Outcome.RETRY
    assert classify(status, frozenset(DEFAULT_RETRY)) is Outcome.RETRY


def test_the_default_retry_statuses_are_the_delivery_md_table() -> None:
    assert DEFAULT_RETRY == [408, 425, 429, 500, 502, 503, 504]


def test_410_is_gone_unless_listed_as_a_retry_status() -> None:
    assert classify(410, DEFAULT_RETRY) is Outcome.GONE
    assert classify(410, []) is Outcome.GONE
    assert classify(410, [*DEFAULT_RETRY, 410]) is Outcome.RETRY
    assert classify(410, frozenset({410})) is Outcome.RETRY


@pytest.mark.parametrize("status", [100, 199, 300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 409, 422, 501, 505,
                                    511, 599])
def test_other_statuses_fail_without_retry(status: int) -> None:
    assert classify(status, DEFAULT_RETRY) is Outcome.FAIL


def test_a_custom_retry_list_replaces_the_default() -> None:
    custom = RetryPolicy(retry_statuses=[503, 404, 301]).retry_statuses
    assert custom == [301, 404, 503]
    assert classify(404, custom) is Outcome.RETRY
    assert classify(301, custom) is Outcome.RETRY
    assert classify(503, custom) is Outcome.RETRY
    assert classify(500, custom) is Outcome.FAIL  # no longer retried: it is not listed
    assert classify(429, custom) is Outcome.FAIL
    assert classify(410, custom) is Outcome.GONE
    assert classify(204, custom) is Outcome.SUCCESS
    assert classify(None, custom) is Outcome.RETRY
    assert classify(500, []) is Outcome.FAIL


def test_2xx_wins_over_the_retry_list() -> None:
    assert classify(200, [200, 500]) is Outcome.SUCCESS


# ------------------------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 5 ", 5.0), ("0", 0.0), ("007", 7.0),
                                                ("\t30", 30.0), ("86400", 86400.0)])
def test_retry_after_delay_seconds(value: str, seconds: float) -> None:
    result = parse_retry_after(value, NOW)
    assert result == seconds and isinstance(result, float)


def test_retry_after_http_date_in_the_future_is_the_seconds_until_then() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 - 90) == 90.0
    future = datetime.fromtimestamp(NOW + 300, UTC)
    assert parse_retry_after(format_datetime(future, usegmt=True), NOW) == 300.0
    assert parse_retry_after(format_datetime(future, usegmt=True), NOW + 0.5) == 299.5


def test_retry_after_http_date_with_a_numeric_zone() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 09:28:00 +0200", 1445412480.0 - 10) == 10.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0) == 0.0  # exactly now


def test_retry_after_naive_date_is_ignored() -> None:
    """``-0000`` is "zone unknown" (RFC 5322): there is no instant to wait for."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", NOW) is None
    assert parse_retry_after("Sun, 06 Nov 2095 08:49:37 -0000", NOW) is None


@pytest.mark.parametrize("value", ["soon", "-3", "1.5", "", "   ", "+5", "1e3", "0x10", "5 s", "12,5",
                                   "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Foo 2015 07:28:00 GMT"])
def test_retry_after_invalid_is_none(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_absent_is_none() -> None:
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize("value", ["\xb2", "\xb3", "\xb9", "1\xb2"])
def test_retry_after_latin1_superscript_digits_are_invalid_not_a_crash(value: str) -> None:
    """The HTTP client decodes header values as latin-1, so bytes 0xB2/0xB3/0xB9 arrive as '²', '³', '¹'."""
    assert parse_retry_after(value, NOW) is None


# --------------------------------------------------------------------------------------------- backoff


def test_backoff_is_full_jitter_between_zero_and_the_ceiling() -> None:
    schedule = RetrySchedule(RetryPolicy())
    assert schedule.backoff(1, lambda: 1.0) == 1.0
    assert schedule.backoff(1, lambda: 0.0) == 0.0
    assert schedule.backoff(1, lambda: 0.5) == 0.5
    assert schedule.backoff(4, lambda: 1.0) == 8.0
    assert schedule.backoff(4, lambda: 0.0) == 0.0
    assert schedule.backoff(4, lambda: 0.5) == 4.0


def test_backoff_grows_by_the_factor() -> None:
    schedule = RetrySchedule(RetryPolicy(initial_backoff=0.5, factor=3, max_backoff=3600))
    assert [schedule.backoff(n, lambda: 1.0) for n in range(1, 7)] == [0.5, 1.5, 4.5, 13.5, 40.5, 121.5]
    default = RetrySchedule(RetryPolicy())
    assert [default.backoff(n, lambda: 1.0) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256]


def test_backoff_with_factor_one_stays_constant() -> None:
    schedule = RetrySchedule(RetryPolicy(initial_backoff=2, factor=1, max_backoff=10))
    assert {schedule.backoff(n, lambda: 1.0) for n in range(1, 50)} == {2.0}


def test_backoff_is_capped_at_max_backoff() -> None:
    schedule = RetrySchedule(RetryPolicy())  # 1 s * 2 ** 9 = 512 > 300
    assert schedule.backoff(10, lambda: 1.0) == 300.0
    assert schedule.backoff(10, lambda: 0.5) == 150.0
    assert schedule.backoff(100, lambda: 1.0) == 300.0
    small = RetrySchedule(RetryPolicy(initial_backoff="10ms", max_backoff="100ms"))
    assert small.backoff(4, lambda: 1.0) == pytest.approx(0.08)
    assert small.backoff(5, lambda: 1.0) == 0.1


@pytest.mark.parametrize("failures", [65, 66, 1000, 10_000, 10 ** 9])
def test_backoff_does_not_overflow_for_huge_failure_counts(failures: int) -> None:
    schedule = RetrySchedule(RetryPolicy(initial_backoff="1h", factor=10, max_backoff="1d"))
    assert schedule.backoff(failures, lambda: 1.0) == 86400.0
    assert schedule.backoff(failures, lambda: 0.25) == 21600.0
    assert RetrySchedule(RetryPolicy()).backoff(failures, lambda: 1.0) == 300.0


def test_backoff_uses_the_random_source_by_default() -> None:
    schedule = RetrySchedule(RetryPolicy())
    values = [schedule.backoff(3) for _ in range(200)]
    assert all(0.0 <= v <= 4.0 for v in values)
    assert len(set(values)) > 1


@given(failures=st.integers(1, 20_000), r=st.floats(0.0, 1.0),
       initial=st.floats(0.001, 3600), factor=st.floats(1.0, 10.0), extra=st.floats(0.0, 86400))
def test_backoff_stays_within_zero_and_max_backoff(failures: int, r: float, initial: float, factor: float,
                                                   extra: float) -> None:
    policy = RetryPolicy(initial_backoff=initial, factor=factor, max_backoff=min(86400, initial + extra))
    delay = RetrySchedule(policy).backoff(failures, lambda: r)
    assert math.isfinite(delay)
    assert 0.0 <= delay <= policy.max_backoff


# ---------------------------------------------------------------------------------------- next attempt


def test_next_attempt_is_now_plus_the_backoff() -> None:
    schedule = RetrySchedule(RetryPolicy())
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW, rand=lambda: 1.0) == NOW + 1
    assert schedule.next_attempt(failures=3, enqueued_at=NOW, now=NOW + 10, rand=lambda: 0.5) == NOW + 12
    assert schedule.next_attempt(failures=3, enqueued_at=NOW, now=NOW + 10, rand=lambda: 0.0) == NOW + 10


def test_max_attempts_gives_up_after_that_many_attempts() -> None:
    schedule = RetrySchedule(RetryPolicy(max_attempts=3))
    assert isinstance(schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW, rand=lambda: 1.0), float)
    assert isinstance(schedule.next_attempt(failures=2, enqueued_at=NOW, now=NOW, rand=lambda: 1.0), float)
    assert schedule.next_attempt(failures=3, enqueued_at=NOW, now=NOW, rand=lambda: 1.0) == "max_attempts"
    assert schedule.next_attempt(failures=4, enqueued_at=NOW, now=NOW, rand=lambda: 1.0) == "max_attempts"
    one = RetrySchedule(RetryPolicy(max_attempts=1))  # the first attempt only: never retried
    assert one.next_attempt(failures=1, enqueued_at=NOW, now=NOW, rand=lambda: 0.0) == "max_attempts"


def test_max_attempts_wins_over_retry_after() -> None:
    schedule = RetrySchedule(RetryPolicy(max_attempts=2))
    assert schedule.next_attempt(failures=2, enqueued_at=NOW, now=NOW, retry_after=1.0) == "max_attempts"


def test_max_attempts_zero_is_unlimited() -> None:
    schedule = RetrySchedule(RetryPolicy(max_attempts=0))
    for failures in (1, 10, 1000, 1_000_000):
        when = schedule.next_attempt(failures=failures, enqueued_at=NOW, now=NOW, rand=lambda: 1.0)
        assert isinstance(when, float) and NOW < when <= NOW + 300


def test_an_attempt_beyond_max_age_gives_up_now() -> None:
    schedule = RetrySchedule(RetryPolicy(max_age="1h"))  # 3600 s
    # 1 s backoff lands exactly on the limit: still allowed.
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW + 3599, rand=lambda: 1.0) == NOW + 3600
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW + 3599.5, rand=lambda: 1.0) == "max_age"
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW + 4000, rand=lambda: 0.0) == "max_age"
    # The doomed attempt is detected with the backoff included, not after it.
    assert schedule.next_attempt(failures=20, enqueued_at=NOW, now=NOW + 3400, rand=lambda: 1.0) == "max_age"
    assert schedule.next_attempt(failures=20, enqueued_at=NOW, now=NOW + 3300, rand=lambda: 1.0) == NOW + 3600


def test_a_retry_after_beyond_max_age_gives_up_now() -> None:
    schedule = RetrySchedule(RetryPolicy(max_age="1h"))
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW, retry_after=3601, rand=lambda: 0.0) \
        == "max_age"
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW, retry_after=3600, rand=lambda: 0.0) \
        == NOW + 3600


def test_a_longer_retry_after_wins_over_the_backoff() -> None:
    schedule = RetrySchedule(RetryPolicy())
    assert schedule.next_attempt(failures=1, enqueued_at=NOW, now=NOW, retry_after=120, rand=lambda: 1.0) == NOW + 120
    # Longer than max_backoff too: the receiver asked for it.
    assert schedule.next_attempt(failures=30, enqueued_at=NOW, now=NOW, retry_after=900, rand=lambda: 1.0) \
        == NOW + 900


def test_a_shorter_retry_after_does_not_shorten_the_backoff() -> None:
    schedule = RetrySchedule(RetryPolicy())
    assert schedule.next_attempt(failures=5, enqueued_at=NOW, now=NOW, retry_after=3, rand=lambda: 1.0) == NOW + 16
    assert schedule.next_attempt(failures=5, enqueued_at=NOW, now=NOW, retry_after=0.0, rand=lambda: 0.5) == NOW + 8


def test_retry_after_none_leaves_the_backoff() -> None:
    schedule = RetrySchedule(RetryPolicy())
    assert schedule.next_attempt(failures=2, enqueued_at=NOW, now=NOW, retry_after=None, rand=lambda: 1.0) == NOW + 2


@given(failures=st.integers(1, 200), max_attempts=st.integers(0, 50), r=st.floats(0.0, 1.0),
       retry_after=st.none() | st.floats(0.0, 10 * 86400), age=st.floats(0.0, 40 * 86400),
       max_age=st.floats(1.0, 30 * 86400), initial=st.floats(0.001, 3600), factor=st.floats(1.0, 10.0),
       extra=st.floats(0.0, 86400), enqueued_at=st.floats(0.0, 4e9))
def test_next_attempt_is_a_reason_or_a_time_within_bounds(failures: int, max_attempts: int, r: float,
                                                          retry_after: float | None, age: float, max_age: float,
                                                          initial: float, factor: float, extra: float,
                                                          enqueued_at: float) -> None:
    policy = RetryPolicy(initial_backoff=initial, factor=factor, max_backoff=min(86400, initial + extra),
                         max_age=max_age, max_attempts=max_attempts)
    now = enqueued_at + age
    when = RetrySchedule(policy).next_attempt(failures=failures, enqueued_at=enqueued_at, now=now,
                                              retry_after=retry_after, rand=lambda: r)
    if max_attempts and failures >= max_attempts:
        assert when == "max_attempts"
    elif isinstance(when, str):
        assert when == "max_age"
        longest = max(policy.max_backoff, retry_after or 0.0)  # the latest the attempt could have been
        assert now + longest - enqueued_at > max_age or math.isclose(now + longest - enqueued_at, max_age)
    else:
        assert isinstance(when, float)
        assert now <= when <= now + max(policy.max_backoff, retry_after or 0.0)
        assert when - enqueued_at <= max_age
        assert when <= enqueued_at + max_age or math.isclose(when, enqueued_at + max_age)
        if retry_after is not None:
            assert when >= now + retry_after


# ------------------------------------------------------------------------------------------------ breaker


def open_breaker(breaker: CircuitBreaker, now: float = NOW) -> None:
    for _ in range(BREAKER_THRESHOLD):
        breaker.failure(now)


def test_a_closed_breaker_does_not_limit() -> None:
    breaker = CircuitBreaker(RetryPolicy())
    assert breaker.allows(NOW) is None
    assert not breaker.is_open
    assert (breaker.failures, breaker.open_until, breaker.probing, breaker.cooldown) == (0, None, False, 1.0)


def test_the_breaker_opens_exactly_at_the_threshold() -> None:
    breaker = CircuitBreaker(RetryPolicy())
    for n in range(1, BREAKER_THRESHOLD):
        breaker.failure(NOW + n)
        assert breaker.allows(NOW + n) is None, n
        assert not breaker.is_open
    breaker.failure(NOW + 10)
    assert breaker.is_open
    assert breaker.open_until == NOW + 10 + 1.0  # initial_backoff
    assert breaker.allows(NOW + 10) == 0


def test_a_success_in_between_resets_the_count() -> None:
    breaker = CircuitBreaker(RetryPolicy())
    for _ in range(BREAKER_THRESHOLD - 1):
        breaker.failure(NOW)
    breaker.success()
    assert breaker.failures == 0
    for _ in range(BREAKER_THRESHOLD - 1):
        breaker.failure(NOW)
    assert breaker.allows(NOW) is None and not breaker.is_open
    breaker.failure(NOW)
    assert breaker.is_open


def test_an_open_breaker_allows_nothing_until_the_cooldown_ends_then_one_probe() -> None:
    breaker = CircuitBreaker(RetryPolicy(initial_backoff=2))
    open_breaker(breaker)
    assert breaker.open_until == NOW + 2
    assert breaker.allows(NOW) == 0
    assert breaker.allows(NOW + 1.999) == 0
    assert breaker.allows(NOW + 2) == 1
    assert breaker.allows(NOW + 100) == 1


def test_more_failures_while_open_do_not_extend_the_cooldown() -> None:
    """Requests that were in flight when the breaker opened may still fail; the cool-down stays."""
    breaker = CircuitBreaker(RetryPolicy())
    open_breaker(breaker)
    breaker.failure(NOW + 0.5)
    breaker.failure(NOW + 0.9)
    assert breaker.open_until == NOW + 1 and breaker.cooldown == 1.0
    assert breaker.allows(NOW + 1) == 1


def test_nothing_more_is_allowed_while_the_probe_is_out() -> None:
    breaker = CircuitBreaker(RetryPolicy())
    open_breaker(breaker)
    assert breaker.allows(NOW + 1) == 1
    breaker.start_probe()
    assert breaker.probing
    assert breaker.allows(NOW + 1) == 0
    assert breaker.allows(NOW + 10_000) == 0


def test_a_failed_probe_reopens_with_a_doubled_cooldown() -> None:
    breaker = CircuitBreaker(RetryPolicy(initial_backoff=1, max_backoff=300))
    open_breaker(breaker)
    now = NOW + 1
    expected = [2.0, 4.0, 8.0, 16.0, 32.0, BREAKER_MAX_COOLDOWN, BREAKER_MAX_COOLDOWN]
    for cooldown in expected:
        assert breaker.allows(now) == 1
        breaker.start_probe()
        breaker.failure(now)
        assert not breaker.probing and breaker.is_open
        assert breaker.cooldown == cooldown
        assert breaker.open_until == now + cooldown
        assert breaker.allows(now) == 0
        assert breaker.allows(now + cooldown - 0.001) == 0
        now += cooldown


def test_the_cooldown_is_capped_by_a_smaller_max_backoff() -> None:
    breaker = CircuitBreaker(RetryPolicy(initial_backoff=1, max_backoff=5))
    open_breaker(breaker)
    now = NOW + 1
    cooldowns = []
    for _ in range(5):
        breaker.start_probe()
        breaker.failure(now)
        cooldowns.append(breaker.cooldown)
        now = breaker.open_until or now
    assert cooldowns == [2.0, 4.0, 5.0, 5.0, 5.0]


def test_a_successful_probe_closes_and_resets_the_cooldown() -> None:
    breaker = CircuitBreaker(RetryPolicy())
    open_breaker(breaker)
    for now in (NOW + 1, NOW + 3, NOW + 7):
        breaker.start_probe()
        breaker.failure(now)
    assert breaker.cooldown == 8.0
    breaker.start_probe()
    breaker.success()
    assert not breaker.is_open and not breaker.probing
    assert (breaker.failures, breaker.open_until, breaker.cooldown) == (0, None, 1.0)
    assert breaker.allows(NOW + 15) is None
    # It takes the whole threshold to open again, and then with the initial cool-down.
    for _ in range(BREAKER_THRESHOLD - 1):
        breaker.failure(NOW + 20)
    assert breaker.allows(NOW + 20) is None
    breaker.failure(NOW + 20)
    assert breaker.open_until == NOW + 21


def test_the_first_cooldown_is_capped_too() -> None:
    """The class docstring: the cool-down is "at most BREAKER_MAX_COOLDOWN or max_backoff if smaller"."""
    breaker = CircuitBreaker(RetryPolicy(initial_backoff=100, max_backoff=300))
    open_breaker(breaker)
    assert breaker.open_until is not None
    assert breaker.open_until - NOW <= BREAKER_MAX_COOLDOWN
