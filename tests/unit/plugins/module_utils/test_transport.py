from __future__ import annotations

import pytest
import requests

from ansible_collections.golden_image.linode.plugins.module_utils.errors import NoAnswer
from ansible_collections.golden_image.linode.plugins.module_utils.transport import (
    USER_AGENT,
    api_base_url,
    build_client,
)

URL = "https://api.example/v4/images"
OK = (200, {"data": [], "page": 1, "pages": 1, "results": 0})


def test_every_request_gets_the_timeout(session_with):
    session = session_with([OK], request_timeout=7.5)
    session.get(URL)
    assert session.adapter.sent[0][1]["timeout"] == 7.5


@pytest.mark.parametrize("failure", [
    (429, {"errors": [{"reason": "Too many requests"}]}, {"Retry-After": "4"}),
    (408, {"errors": [{"reason": "timeout"}]}),
    (500, {"errors": [{"reason": "oops"}]}),
    (502, {"errors": [{"reason": "bad gateway"}]}),
    (503, {"errors": [{"reason": "unavailable"}]}),
    requests.exceptions.ConnectionError("reset by peer"),
])
def test_gets_are_retried_on_transient_failures(session_with, clock, failure):
    session = session_with([failure, failure, OK])
    response = session.get(URL)
    assert response.status_code == 200
    assert len(session.adapter.sent) == 3
    assert session.requests_count() == {"GET": 3, "total": 3}
    assert len(clock.sleeps) == 2


def test_retry_after_is_honoured(session_with, clock):
    session = session_with([(429, {"errors": [{"reason": "slow down"}]}, {"Retry-After": "9"}), OK])
    session.get(URL)
    assert clock.sleeps[0] >= 9.0


def test_a_post_is_not_repeated_after_a_5xx_or_a_reset(session_with):
    session = session_with([(502, {"errors": [{"reason": "bad gateway"}]})])
    assert session.post(URL, data="{}").status_code == 502
    session = session_with([requests.exceptions.ConnectionError("reset")])
    with pytest.raises(NoAnswer, match="Could not reach the Linode API for POST /v4/images"):
        session.post(URL, data="{}")
    assert len(session.adapter.sent) == 1


def test_a_post_is_repeated_after_a_429(session_with):
    session = session_with([(429, {"errors": [{"reason": "slow"}]}, {"Retry-After": "1"}), OK])
    assert session.post(URL, data="{}").status_code == 200
    assert session.requests_count()["POST"] == 2


def test_a_read_timeout_fails_at_once_without_retry(session_with):
    session = session_with([requests.exceptions.ReadTimeout("read timed out")], request_timeout=3)
    with pytest.raises(NoAnswer, match=r"did not answer GET /v4/images within 3 s \(request_timeout\)"):
        session.get(URL)


def test_retries_stop_at_the_deadline(session_with, clock):
    unavailable = (503, {"errors": [{"reason": "unavailable"}]}, {"Retry-After": "20"})
    session = session_with([unavailable] * 10, deadline_s=50.0)
    assert session.get(URL).status_code == 503
    assert sum(clock.sleeps) <= 50.0
    assert len(session.adapter.sent) < 10


def test_client_sends_user_agent_and_no_sdk_retries(client_with):
    client = client_with([OK])
    client.get("/images")
    request = client.session.adapter.sent[0][0]
    assert USER_AGENT in request.headers["User-Agent"]
    assert request.headers["Authorization"] == "Bearer secret-token-123"


def test_factory_switches_the_sdk_retries_off():
    client = build_client("t", "https://api.example", "v4", None, 5.0, deadline=None)
    assert client.retry is False
    assert client.base_url == "https://api.example/v4"


@pytest.mark.parametrize("url,version,expected", [
    ("https://api.linode.com", "v4", "https://api.linode.com/v4"),
    ("https://api.linode.com/", "v4beta", "https://api.linode.com/v4beta"),
    ("https://127.0.0.1:8443/v4", "v4", "https://127.0.0.1:8443/v4"),
    ("https://127.0.0.1:8443/v4beta/", "v4", "https://127.0.0.1:8443/v4beta"),
])
def test_api_base_url(url, version, expected):
    assert api_base_url(url, version) == expected
