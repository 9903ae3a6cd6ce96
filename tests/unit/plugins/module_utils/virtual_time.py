"""Several jobs on one token, in virtual time: a discrete-event run of real sessions, one thread a job.

Each job is a thread running real code (a ``LinodeSession`` and its retries and pacing); only one
runs at a time. A job's ``sleep`` hands the turn to whichever job is due first, and time jumps to
it, so the requests reach the fake API in the order of their virtual times, as those of concurrent
processes would, and a run of minutes takes milliseconds. A run that does not end within
``REAL_TIMEOUT_S`` of real time fails instead of hanging.
"""

from __future__ import annotations

import heapq
import itertools
import threading

from conftest import EPOCH_AT_START

REAL_TIMEOUT_S = 30.0


class VirtualTime(object):
    """The jobs' shared clock: ``now``, ``wall`` and a ``sleep`` that lets the other jobs run meanwhile."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.time = start
        self._due = []  # (virtual time, order, the job's event)
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.failures = []

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return EPOCH_AT_START + self.time - self.start

    def sleep(self, seconds: float) -> None:
        turn = self._local.turn
        with self._lock:
            heapq.heappush(self._due, (self.time + max(0.0, seconds), next(self._order), turn))
        turn.clear()
        self._next()
        if not turn.wait(REAL_TIMEOUT_S):
            raise RuntimeError("virtual time stalled")

    def _next(self) -> None:
        """Give the turn to the job due first, and move time to when it is due."""
        with self._lock:
            if not self._due:
                return
            when, _order, turn = heapq.heappop(self._due)
            self.time = max(self.time, when)
        turn.set()

    def run(self, jobs: list) -> None:
        """Run every callable of ``jobs`` to its end, as concurrent jobs starting together."""
        threads = []
        for job in jobs:
            turn = threading.Event()
            threads.append(threading.Thread(target=self._job, args=(job, turn), daemon=True))
            with self._lock:
                heapq.heappush(self._due, (self.time, next(self._order), turn))
        for thread in threads:
            thread.start()
        self._next()
        for thread in threads:
            thread.join(REAL_TIMEOUT_S)
            if thread.is_alive():
                raise RuntimeError("a job did not end within %s s of real time" % REAL_TIMEOUT_S)
        if self.failures:
            raise self.failures[0]

    def _job(self, job, turn) -> None:
        self._local.turn = turn
        if not turn.wait(REAL_TIMEOUT_S):
            self.failures.append(RuntimeError("a job never got its turn"))
            return
        try:
            job()
        except Exception as exc:  # pylint: disable=broad-except
            self.failures.append(exc)
        finally:
            self._next()
