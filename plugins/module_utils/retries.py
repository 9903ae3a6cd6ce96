# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deadlines, the retry policy and pacing: the one place that decides when and how long to wait.

Everything here is pure (the clock, the sleep and the random source are injectable), so the
policy is unit-tested with a fake clock and no network.
"""

from __future__ import annotations

import math
import random
import time

# Answers after which the server did not act, or acted in a way a GET can safely repeat.
RETRYABLE_GET_STATUSES = frozenset([408, 429, 500, 502, 503, 504])
# A 429 is refused before the server acts, so repeating any method after it is safe.
RETRYABLE_ANY_METHOD_STATUSES = frozenset([429])

# Pacing (``pacing_delay``). Linode's longest documented window is 800 requests per 2 minutes: a
# ``X-RateLimit-Reset`` further off than that is a skewed clock or a misread header, and never makes
# a request wait longer.
MAX_RATE_WINDOW_S = 120.0


class Clock(object):
    """Wall time and sleeping, behind one seam so tests can replace both."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        """Seconds since the epoch, as ``X-RateLimit-Reset`` gives its times."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class DeadlineExceeded(Exception):
    """The task's deadline passed before the work was done."""


class Deadline(object):
    """A point in time after which a task must not go on waiting or retrying."""

    def __init__(self, seconds: float, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.started = self.clock.now()
        self.seconds = float(seconds)
        self.expires = self.started + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - self.clock.now())

    def elapsed(self) -> float:
        return self.clock.now() - self.started

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sleep(self, seconds: float) -> float:
        """Sleep for ``seconds`` but never past the deadline; return the time actually slept."""
        seconds = min(max(0.0, seconds), self.remaining())
        self.clock.sleep(seconds)
        return seconds


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), or None if absent or unusable."""
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def parse_header_number(value: str | None) -> float | None:
    """A rate-limit header's number (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``), or None if absent or unusable."""
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def pacing_delay(remaining: float | None, seconds_to_reset: float | None) -> float:
    """Seconds to hold an operation's next request, from its last answer's rate-limit headers.

    An answer that says no request is left (``X-RateLimit-Remaining: 0``) holds the next one until
    ``X-RateLimit-Reset``, when the window frees a slot, instead of sending it into a certain 429:
    a job that spent a token's budget leaves what frees up to the other jobs on the same token (AWX
    slices, parallel playbooks) until then. With requests left, nothing waits: spreading the last
    few out over the time left (``seconds_to_reset / remaining``) was measured to cause more 429s
    among concurrent jobs, not fewer, since each spreads as if it were alone (tests/perf/README.md).
    Without ``Remaining`` or ``Reset`` (the recorded API sends only ``X-RateLimit-Limit``) nothing
    waits. Never more than MAX_RATE_WINDOW_S.
    """
    if remaining is None or seconds_to_reset is None or remaining >= 1:
        return 0.0
    return min(max(0.0, seconds_to_reset), MAX_RATE_WINDOW_S)


class RetryPolicy(object):
    """Jittered exponential backoff, bounded by attempts and by the task's deadline.

    ``delay(attempt)`` for attempt 1, 2, 3 ... grows as ``base * factor ** (attempt - 1)`` up to
    ``max_delay``, with "full jitter" (a random share of it) so that a fleet of hosts throttled
    together does not come back together. A server's ``Retry-After`` is a floor, not a suggestion.
    """

    def __init__(self, max_attempts: int = 8, base_delay: float = 0.5, factor: float = 2.0,
                 max_delay: float = 30.0, rng: random.Random | None = None) -> None:
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.factor = factor
        self.max_delay = max_delay
        self.rng = rng or random.Random()

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * (self.factor ** (attempt - 1)))
        # Keep at least half of the step so a retry is never immediate.
        backoff = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            return max(retry_after, min(backoff, self.max_delay))
        return backoff

    @staticmethod
    def is_retryable(method: str, status: int | None) -> bool:
        """Whether an answer (``status`` None: no answer at all) may be repeated for ``method``."""
        method = method.upper()
        if status in RETRYABLE_ANY_METHOD_STATUSES:
            return True
        if method == "GET":
            return status is None or status in RETRYABLE_GET_STATUSES
        return False

    def next_delay(self, attempt: int, deadline: Deadline, retry_after: float | None = None) -> float | None:
        """The sleep before attempt ``attempt + 1``, or None if the policy or the deadline says stop."""
        if attempt >= self.max_attempts:
            return None
        delay = self.delay(attempt, retry_after)
        if delay >= deadline.remaining():
            return None
        return delay
