"""Test doubles for the module_utils unit tests: a fake clock and a canned HTTP transport.

HTTP is mocked at the transport adapter, the boundary below requests; everything above it
(linode_api4's client, the collection's session, retries and waiters) is the real code.
"""

from __future__ import annotations

import json
import random

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline, RetryPolicy
from ansible_collections.golden_image.linode.plugins.module_utils.transport import LinodeSession, build_client
from filter_allowlist import refused_fields
from recorded_api import RecordedApi


# What FakeClock.wall() reads when the test starts.
EPOCH_AT_START = 1700000000.0


class FakeClock(object):
    """Time that moves only when someone sleeps; every sleep is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.time = start
        self.sleeps = []

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        """Epoch seconds (for X-RateLimit-Reset), moving with ``now``."""
        return EPOCH_AT_START + self.time - self.start

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


class CannedAdapter(BaseAdapter):
    """A requests transport adapter that answers from a script, one entry a request.

    Each entry is an exception instance to raise, or ``(status, body, headers)``.
    """

    def __init__(self, script: list) -> None:
        super(CannedAdapter, self).__init__()
        self.script = list(script)
        self.sent = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append((request, kwargs))
        # Every filter a test makes the collection send must be one the real API accepts.
        refused = refused_fields(request.url, request.headers.get("X-Filter"))
        assert not refused, "%s %s filters on %s, which the Linode API refuses" % (request.method, request.url, refused)
        entry = self.script.pop(0)
        if isinstance(entry, Exception):
            raise entry
        status, body, headers = entry if len(entry) == 3 else (entry[0], entry[1], {})
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers.update({"Content-Type": "application/json"})
        response.headers.update(headers)
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def session_with(clock):
    """``session_with(script)``: a LinodeSession on a fake clock whose transport answers from ``script``."""

    def build(script, request_timeout=5.0, deadline_s=600.0, policy=None):
        session = LinodeSession(request_timeout, Deadline(deadline_s, clock), policy or RetryPolicy(rng=random.Random(7)))
        adapter = CannedAdapter(script)
        session.mount("https://", adapter)
        session.adapter = adapter
        return session

    return build


@pytest.fixture
def client_with(session_with):
    """``client_with(script)``: a real LinodeClient built by the collection's factory, over a canned transport."""

    def build(script, **kwargs):
        session = session_with(script, **kwargs)
        client = build_client("secret-token-123", "https://api.example", "v4", None, 5.0, session.deadline)
        client.session = session
        return client

    return build


@pytest.fixture
def recorded_api(clock):
    """``(api, client)``: a RecordedApi on the fake clock, and a real client over it with a 3600 s deadline."""
    api = RecordedApi(clock)
    session = LinodeSession(5.0, Deadline(3600.0, clock), RetryPolicy(rng=random.Random(7)))
    session.mount("https://", api)
    client = build_client("secret-token-123", "https://api.example", "v4", None, 5.0, session.deadline)
    client.session = session
    return api, client
