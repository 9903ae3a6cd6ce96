from __future__ import annotations

import random

import pytest

from ansible_collections.golden_image.linode.plugins.module_utils.retries import (
    MAX_RATE_WINDOW_S,
    Deadline,
    RetryPolicy,
    pacing_delay,
    parse_header_number,
    parse_retry_after,
)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(base_delay=1.0, factor=2.0, max_delay=8.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        delays = [policy.delay(attempt) for dummy in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert len(set(delays)) > 100, "jitter spreads the delays"


def test_retry_after_is_a_floor():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, rng=random.Random(2))
    assert policy.delay(1, retry_after=7.0) == 7.0
    # A Retry-After shorter than the backoff does not shorten it.
    assert policy.delay(6, retry_after=0.1) >= 8.0


@pytest.mark.parametrize("method,status,expected", [
    ("GET", 408, True), ("GET", 429, True), ("GET", 500, True), ("GET", 502, True), ("GET", 503, True),
    ("GET", 504, True), ("GET", None, True), ("GET", 400, False), ("GET", 404, False),
    ("POST", 429, True), ("POST", 502, False), ("POST", 500, False), ("POST", None, False),
    ("PUT", 503, False), ("DELETE", None, False),
])
def test_what_may_be_repeated(method, status, expected):
    assert RetryPolicy.is_retryable(method, status) is expected


def test_next_delay_stops_at_max_attempts_and_never_outlives_the_deadline(clock):
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, rng=random.Random(3))
    deadline = Deadline(100.0, clock)
    assert policy.next_delay(1, deadline) is not None
    assert policy.next_delay(3, deadline) is None
    short = Deadline(5.0, clock)
    assert policy.next_delay(1, short, retry_after=10.0) is None


def test_deadline_sleep_is_clipped_to_the_time_left(clock):
    deadline = Deadline(10.0, clock)
    assert deadline.sleep(4.0) == 4.0
    assert deadline.sleep(50.0) == pytest.approx(6.0)
    assert deadline.expired()
    assert clock.sleeps == [4.0, pytest.approx(6.0)]


@pytest.mark.parametrize("header,seconds", [("3", 3.0), (" 12 ", 12.0), ("0.5", 0.5), (None, None),
                                            ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("-1", None)])
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize("remaining,seconds_to_reset,delay", [
    (None, None, 0.0),            # the recorded API: X-RateLimit-Limit only
    (None, 30.0, 0.0),
    (0.0, None, 0.0),
    (5.0, 30.0, 0.0),             # requests left: they go at once
    (1.0, 30.0, 0.0),
    (0.0, 30.0, 30.0),            # spent: wait for the reset
    (0.0, 0.4, 0.4),
    (0.0, -3.0, 0.0),             # the reset has passed
    (0.0, 3600.0, MAX_RATE_WINDOW_S),   # a skewed clock: never longer than the longest window
])
def test_pacing_delay(remaining, seconds_to_reset, delay):
    assert pacing_delay(remaining, seconds_to_reset) == delay


@pytest.mark.parametrize("header,number", [("400", 400.0), (" 0 ", 0.0), ("1700000000", 1700000000.0), (None, None),
                                           ("", None), ("soon", None), ("-1", None), ("nan", None), ("inf", None)])
def test_parse_header_number(header, number):
    assert parse_header_number(header) == number
