"""Time source of the emulator.

The emulator lives in real wall time: timestamps it returns are real UTC times,
and a client that sleeps for a second sees one second pass. What ``--speed S``
changes is how long things take: every configured duration (shutdown, boot,
capture, replication), every rate-limit window and every ``Retry-After`` is
divided by S. Keeping that division in one place (:meth:`Clock.duration`) means
no other module has to know about the speed.

The clock is injected everywhere instead of calling :func:`time.time`
directly, so the state model can be unit-tested with :class:`FakeClock`.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone

# Linode's timestamp format: ISO 8601 without fraction or zone, always UTC.
LINODE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class Clock:
    """Real wall time, with emulated durations shortened by ``speed``."""

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:  # also refuses NaN
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.speed = float(speed)

    def now(self) -> float:
        """Seconds since the epoch, real time."""
        return time.time()

    def duration(self, emulated_seconds: float) -> float:
        """Real seconds that an emulated duration of ``emulated_seconds`` lasts."""
        return float(emulated_seconds) / self.speed


class FakeClock(Clock):
    """A clock that only moves when told to; for unit tests of the state model."""

    def __init__(self, start: float = 1_700_000_000.0, speed: float = 1.0) -> None:
        super().__init__(speed)
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move real time forward by ``seconds``."""
        with self._lock:
            self._now += float(seconds)


def format_time(epoch: float) -> str:
    """Render an epoch time the way Linode does: ``2018-01-01T00:01:01`` (UTC)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(LINODE_TIME_FORMAT)


def parse_time(text: str) -> float:
    """Inverse of :func:`format_time`; used for timestamps given in fleet files."""
    parsed = datetime.strptime(text, LINODE_TIME_FORMAT)
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def ceil_seconds(seconds: float) -> int:
    """Whole seconds, rounded up, never negative (for countdowns shown to clients)."""
    return max(0, math.ceil(seconds - 1e-9))


def format_countdown(seconds: float) -> str:
    """``HH:MM:SS`` rendering of a countdown rounded up to whole seconds.

    Only used with ``idealised.time_remaining``: the recorded API sends null
    while power and capture events run. The spec types ``Event.time_remaining``
    as a string and linodego parses ``"hh:mm:ss"``, so that is the form.
    """
    total = ceil_seconds(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"
