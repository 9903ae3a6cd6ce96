"""Per-token rate limits, as Linode documents them.

Four limits can apply to one request, each a sliding window per token:

* overall: 800 requests per 2 minutes;
* per operation (method + route, e.g. ``GET /images/{imageId}``): 400 per minute;
* paginated list GETs: 200 per minute;
* ``GET /images``: 20 per minute.

A request counts against every limit that applies to it, unless it is refused.
Every response carries ``X-RateLimit-Limit/Remaining/Reset`` of the most
restrictive applicable limit (the one with the fewest requests left), and a
refused request gets 429 with ``Retry-After``. The recordings only ever show
``X-RateLimit-Limit`` (the rest was stripped or never sent), so
``headers="limit_only"`` (``unrecorded.rate_limit_headers``) sends just that,
and no ``Retry-After``. Windows and ``Retry-After`` are
in emulated time, so ``--speed`` shortens them; ``Retry-After`` is a whole
number of seconds, at least 1, because urllib3 only parses integers.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from .clock import Clock
from .fleet import RateLimits


@dataclass(frozen=True)
class Operation:
    """What the rate limiter needs to know about a request."""

    name: str  # e.g. "GET /images/{imageId}"
    is_list: bool = False
    is_list_images: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: int | None = None


@dataclass(frozen=True)
class _Limit:
    bucket: str
    limit: int
    window_s: float  # real seconds


class RateLimiter:
    def __init__(self, limits: RateLimits | None, clock: Clock, headers: str = "documented") -> None:
        self.limits = limits
        self.clock = clock
        self.limit_only = headers == "limit_only"
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], deque[float]] = {}

    @property
    def enabled(self) -> bool:
        return self.limits is not None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def _applicable(self, operation: Operation) -> list[_Limit]:
        limits = self.limits
        assert limits is not None
        minute, two_minutes = self.clock.duration(60), self.clock.duration(120)
        applicable = [
            _Limit("overall", limits.overall_per_2min, two_minutes),
            _Limit(f"op:{operation.name}", limits.per_operation_per_min, minute),
        ]
        if operation.is_list:
            applicable.append(_Limit("list", limits.list_per_min, minute))
        if operation.is_list_images:
            applicable.append(_Limit("list_images", limits.list_images_per_min, minute))
        return applicable

    def _window(self, key: str, limit: _Limit, now: float) -> deque[float]:
        hits = self._hits.setdefault((key, limit.bucket), deque())
        while hits and hits[0] <= now - limit.window_s:
            hits.popleft()
        return hits

    def _headers(self, limit: _Limit, hits: deque[float], now: float) -> dict[str, str]:
        if self.limit_only:
            return {"X-RateLimit-Limit": str(limit.limit)}
        # Reset: when the oldest counted request leaves the window (a slot frees).
        reset_at = hits[0] + limit.window_s if hits else now + limit.window_s
        return {
            "X-RateLimit-Limit": str(limit.limit),
            "X-RateLimit-Remaining": str(max(0, limit.limit - len(hits))),
            "X-RateLimit-Reset": str(math.ceil(reset_at)),
        }

    def check(self, key: str, operation: Operation) -> Decision:
        """Count the request if it is allowed; say so, with the headers to send."""
        if self.limits is None:
            return Decision(True, {})
        with self._lock:
            now = self.clock.now()
            windows = [(limit, self._window(key, limit, now)) for limit in self._applicable(operation)]
            full = [(limit, hits) for limit, hits in windows if len(hits) >= limit.limit]
            if full:
                # Wait until every full window has a free slot again.
                waits = [(hits[0] + limit.window_s - now, limit, hits) for limit, hits in full]
                wait, limit, hits = max(waits, key=lambda w: w[0])
                retry_after = max(1, math.ceil(wait))
                headers = self._headers(limit, hits, now)
                if not self.limit_only:
                    headers["Retry-After"] = str(retry_after)
                return Decision(False, headers, retry_after)
            for _, hits in windows:
                hits.append(now)
            limit, hits = min(windows, key=lambda w: (w[0].limit - len(w[1]), w[0].limit))
            return Decision(True, self._headers(limit, hits, now))

    def peek(self, key: str, operation: Operation) -> dict[str, str]:
        """Headers for a response that does not count (401/403/404 and faults)."""
        if self.limits is None:
            return {}
        with self._lock:
            now = self.clock.now()
            windows = [(limit, self._window(key, limit, now)) for limit in self._applicable(operation)]
            limit, hits = min(windows, key=lambda w: (w[0].limit - len(w[1]), w[0].limit))
            return self._headers(limit, hits, now)
