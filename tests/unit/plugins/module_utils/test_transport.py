from __future__ import annotations

import math
import random

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.golden_image.linode.plugins.module_utils import transport
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, NoAnswer
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline, RetryPolicy
from ansible_collections.golden_image.linode.plugins.module_utils.transport import (
    USER_AGENT,
    LinodeSession,
    api_base_url,
    build_client,
    operation_of,
)
from virtual_time import VirtualTime

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


# --------------------------------------------------------------------------- requests that reach no server

REFUSED = requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")


def test_a_closed_port_gives_up_within_request_timeout(session_with, clock):
    # Retried on the task's deadline, a closed port took 41 s to fail (8 attempts of growing backoff).
    session = session_with([REFUSED] * 20, request_timeout=5.0, deadline_s=600.0)
    with pytest.raises(NoAnswer) as raised:
        session.get(URL)
    assert str(raised.value) == ("Could not reach the Linode API for GET /v4/images within 5.0 s (request_timeout): "
                                 "[Errno 111] Connection refused")
    assert 1 < len(session.adapter.sent) < 8
    assert sum(clock.sleeps) < 5.0


def test_a_retry_after_a_refused_connection_connects_only_for_what_is_left(session_with, clock):
    session = session_with([REFUSED, OK], request_timeout=5.0)
    assert session.get(URL).status_code == 200
    assert session.adapter.sent[0][1]["timeout"] == 5.0
    connect, read = session.adapter.sent[1][1]["timeout"]
    assert connect == pytest.approx(5.0 - clock.sleeps[0])
    assert read == 5.0


class ConnectTimeoutAdapter(BaseAdapter):
    """A server that never accepts the connection: each attempt costs its whole connect timeout."""

    def __init__(self, clock) -> None:
        super(ConnectTimeoutAdapter, self).__init__()
        self.clock = clock
        self.sent = []

    def close(self):
        pass

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append((request, kwargs))
        timeout = kwargs["timeout"]
        self.clock.time += timeout[0] if isinstance(timeout, tuple) else timeout
        raise requests.exceptions.ConnectTimeout("Connection to api.example timed out. (connect timeout=%s)" % timeout)


def test_a_connect_timeout_is_not_tried_again(session_with, clock):
    session = session_with([], request_timeout=5.0, deadline_s=600.0)
    session.adapter = ConnectTimeoutAdapter(clock)
    session.mount("https://", session.adapter)
    with pytest.raises(NoAnswer, match=r"^Could not reach the Linode API for GET /v4/images within 5.0 s \(request_timeout\)"):
        session.get(URL)
    assert len(session.adapter.sent) == 1
    assert clock.time - clock.start == 5.0


def test_answers_are_still_retried_on_the_task_deadline(session_with, clock):
    # A server that answers 503 is alive: its retries are not held to request_timeout.
    unavailable = (503, {"errors": [{"reason": "unavailable"}]}, {"Retry-After": "4"})
    session = session_with([unavailable] * 3 + [OK], request_timeout=5.0)
    assert session.get(URL).status_code == 200
    assert sum(clock.sleeps) > 5.0


def test_a_certificate_failure_is_not_retried_and_names_ca_path(session_with):
    failure = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                           "unable to get local issuer certificate (_ssl.c:1006)")
    session = session_with([failure, OK])
    with pytest.raises(NoAnswer, match=r"^TLS failed for GET /v4/images: .*certificate verify failed.*"
                                       r"The CA bundle to trust is ca_path \(or LINODE_CA\)") as raised:
        session.get(URL)
    assert raised.value.field == "ca_path"
    assert len(session.adapter.sent) == 1


# --------------------------------------------------------------------------- the token in error texts

TOKEN_PARTS = ("first-line-secret-4f1e", "second-line-secret-8c2d")
TWO_LINE_TOKEN = "%s\n%s" % TOKEN_PARTS


def assert_no_token_part(text: str) -> None:
    for part in TOKEN_PARTS + ("secret",):
        assert part not in text


def test_an_unsendable_header_fails_without_quoting_the_token(session_with):
    # requests refuses the header before sending and quotes it whole: 'Bearer first-line...\nsecond-line...'.
    session = session_with([OK])
    with pytest.raises(LinodeError) as raised:
        session.get(URL, headers={"Authorization": "Bearer " + TWO_LINE_TOKEN})
    assert str(raised.value).startswith("Could not send GET /v4/images: InvalidHeader: ")
    assert_no_token_part(str(raised.value))
    # Nothing chained either: a traceback would print the original error.
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert session.adapter.sent == []


def test_a_connection_error_quoting_the_header_is_scrubbed(session_with):
    quoting = requests.exceptions.ConnectionError("proxy refused headers {'Authorization': 'Bearer %s'}" % TOKEN_PARTS[0])
    session = session_with([quoting] * 20, request_timeout=1.0)
    with pytest.raises(NoAnswer) as raised:
        session.get(URL, headers={"Authorization": "Bearer " + TOKEN_PARTS[0]})
    assert "Bearer ********" in str(raised.value)
    assert_no_token_part(str(raised.value))


@pytest.mark.parametrize("token, what", [
    (TWO_LINE_TOKEN, "a line break (character 23 of 46)"),
    (TOKEN_PARTS[0] + "\n", "a line break (character 23 of 23)"),
    (TOKEN_PARTS[0] + "\r\n", "a carriage return (character 23 of 24)"),
    (" " + TOKEN_PARTS[0], "a space (character 1 of 23)"),
    (TOKEN_PARTS[0] + "\t" + TOKEN_PARTS[1], "a tab (character 23 of 46)"),
    (TOKEN_PARTS[0] + "\x00", "a control character (character 23 of 23)"),
    (TOKEN_PARTS[0] + "\u00e9", "a non-ASCII character (character 23 of 23)"),
])
def test_a_token_with_whitespace_or_control_characters_is_refused_before_any_request(token, what):
    with pytest.raises(LinodeError) as raised:
        build_client(token, "https://api.example", "v4", None, 5.0, deadline=None)
    message = str(raised.value)
    assert message.startswith("The Linode API token from api_token holds %s, so it was not sent" % what)
    assert "api_token (or LINODE_TOKEN, LINODE_API_TOKEN, LINODE_TOKEN_FILE)" in message
    assert raised.value.field == "api_token"
    assert_no_token_part(message)


# --------------------------------------------------------------------------- settings named with their variables

@pytest.mark.parametrize("url, problem", [
    ("htp:/x", "it does not start with https:// or http://"),
    ("api.linode.com", "it does not start with https:// or http://"),
    ("https:/api.linode.com", "it names no host"),
    ("https://", "it names no host"),
    ("https://api.linode.com:99999", "Port out of range 0-65535"),
    ("https://api.linode.com/v4 ", "it holds whitespace or control characters"),
    ("https://api.linode.com/v4?x=1", "it has a query or a fragment"),
])
def test_a_garbage_api_url_is_refused_naming_the_option(url, problem):
    with pytest.raises(LinodeError) as raised:
        build_client("t0ken", url, "v4", None, 5.0, deadline=None)
    assert str(raised.value) == (
        "api_url (or LINODE_API_URL) must be an https:// or http:// URL with a host, such as https://api.linode.com "
        "or https://api.linode.com/v4; %r is not (%s)" % (url, problem))
    assert raised.value.field == "api_url"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "https://[::1]:8443/v4beta", "https://api.linode.com/"])
def test_usable_api_urls_are_taken(url):
    build_client("t0ken", url, "v4", None, 5.0, deadline=None)


def test_an_empty_api_url_is_the_default():
    assert build_client("t0ken", "", "v4", None, 5.0, deadline=None).base_url == "https://api.linode.com/v4"


def test_a_missing_ca_file_is_named_with_its_variable(tmp_path):
    missing = str(tmp_path / "nowhere" / "ca.pem")
    with pytest.raises(LinodeError) as raised:
        build_client("t0ken", "https://api.example", "v4", missing, 5.0, deadline=None)
    assert str(raised.value) == ("ca_path (or LINODE_CA) names %s, which is not a readable CA bundle file "
                                 "(or directory of CA certificates)" % missing)
    assert raised.value.field == "ca_path"


def test_a_ca_file_or_directory_that_exists_is_taken(tmp_path):
    (tmp_path / "ca.pem").write_text("")
    assert build_client("t0ken", "https://api.example", "v4", str(tmp_path / "ca.pem"), 5.0, None).ca_path.endswith("ca.pem")
    build_client("t0ken", "https://api.example", "v4", str(tmp_path), 5.0, deadline=None)
    assert build_client("t0ken", "https://api.example", "v4", "", 5.0, deadline=None).ca_path is None


# --------------------------------------------------------------------------- pacing on X-RateLimit-Remaining / -Reset

def budget(clock, remaining, reset_in, limit=400):
    """The documented rate-limit headers: ``remaining`` of ``limit`` left, the window resetting in ``reset_in`` s."""
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(clock.wall() + reset_in)}


def test_answers_with_only_the_recorded_limit_header_change_nothing(session_with, clock):
    # The recordings carry X-RateLimit-Limit alone: no Remaining, no Reset, so no pacing.
    session = session_with([(200, OK[1], {"X-RateLimit-Limit": "20"})] * 5)
    for dummy in range(5):
        session.get(URL)
    assert clock.sleeps == []
    assert session.pacing() == {"waits": 0, "seconds": 0.0}


def test_requests_go_at_once_while_any_are_left(session_with, clock):
    # 1 of 400 left, the reset a minute away: the next request still goes at once.
    session = session_with([(200, OK[1], budget(clock, 1, 60))] * 3)
    for dummy in range(3):
        session.get(URL)
    assert clock.sleeps == []
    assert len(session.adapter.sent) == 3


def test_an_exhausted_budget_holds_the_next_request_until_the_reset(session_with, clock):
    # The answer that spends the budget is not delayed; the next request waits 12 s (up to 20% jitter).
    session = session_with([(200, OK[1], budget(clock, 0, 12)), OK])
    session.get(URL)
    assert clock.sleeps == []
    session.get(URL)
    assert len(clock.sleeps) == 1 and 12.0 <= clock.sleeps[0] <= 14.4
    assert session.pacing()["waits"] == 1 and 12.0 <= session.pacing()["seconds"] <= 14.4
    assert len(session.adapter.sent) == 2


def test_pacing_is_per_operation_with_ids_folded(session_with, clock):
    low = (200, {"id": 1}, budget(clock, 0, 20))
    session = session_with([low, OK, (200, {}, {}), (200, {"id": 2}, {})])
    session.get("https://api.example/v4/linode/instances/1")
    session.get(URL)                                                       # another operation: not held back
    session.post("https://api.example/v4/linode/instances/1/shutdown", data="{}")   # neither is this one
    assert clock.sleeps == []
    session.get("https://api.example/v4/linode/instances/2")              # the same operation, another id: waits
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 20.0


def test_a_wait_never_passes_the_deadline(session_with, clock):
    session = session_with([(200, OK[1], budget(clock, 0, 100)), OK], deadline_s=7.0)
    session.get(URL)
    session.get(URL)
    assert sum(clock.sleeps) == pytest.approx(7.0)
    assert len(session.adapter.sent) == 2


def test_a_reset_far_off_or_past_is_bounded(session_with, clock):
    # A skewed clock (or a misread header) can put the reset an hour away: no wait is longer than the longest window.
    session = session_with([(200, OK[1], budget(clock, 0, 3600)), (200, OK[1], budget(clock, 0, -5)), OK])
    session.get(URL)
    session.get(URL)
    session.get(URL)
    assert len(clock.sleeps) == 1 and 120.0 <= clock.sleeps[0] <= 144.0


def test_a_429_is_still_retried_after_retry_after(session_with, clock):
    refused = (429, {"errors": [{"reason": "Too many requests"}]}, dict(budget(clock, 0, 4), **{"Retry-After": "4"}))
    session = session_with([refused, OK])
    assert session.get(URL).status_code == 200
    assert len(session.adapter.sent) == 2
    # The retry's sleep honours Retry-After; the pacing adds at most its jitter on top, never a second full wait.
    assert 4.0 <= sum(clock.sleeps) <= 4.0 * 1.2 + 0.01


class SlidingWindowApi(BaseAdapter):
    """One token's budget, as the API counts it: ``limit`` requests in any ``window`` seconds.

    Answers 200 with the documented headers (Remaining after this request; Reset when the oldest counted
    request leaves the window), or 429 with Retry-After (whole seconds) when the window is full; every
    answer takes ``latency`` seconds. Shared by several sessions, it is one token used by several jobs.
    """

    def __init__(self, clock, limit: int, window: float, latency: float = 0.05) -> None:
        super(SlidingWindowApi, self).__init__()
        self.clock, self.limit, self.window, self.latency = clock, limit, window, latency
        self.hits = []
        self.answers = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        now = self.clock.now()
        self.hits = [hit for hit in self.hits if hit > now - self.window]
        response = requests.Response()
        if len(self.hits) >= self.limit:
            response.status_code = 429
            response._content = b'{"errors": [{"reason": "Too many requests"}]}'  # pylint: disable=protected-access
            response.headers["Retry-After"] = str(max(1, math.ceil(self.hits[0] + self.window - now)))
        else:
            self.hits.append(now)
            response.status_code = 200
            response._content = b'{"data": [], "page": 1, "pages": 1, "results": 0}'  # pylint: disable=protected-access
        reset = (self.hits[0] + self.window) if self.hits else now + self.window
        response.headers.update({"Content-Type": "application/json", "X-RateLimit-Limit": str(self.limit),
                                 "X-RateLimit-Remaining": str(max(0, self.limit - len(self.hits))),
                                 "X-RateLimit-Reset": str(math.ceil(self.clock.wall() + reset - now))})
        response.request, response.url = request, request.url
        self.answers.append((now, response.status_code))
        self.clock.sleep(self.latency)
        return response

    def close(self):
        pass


def jobs_sharing_a_token(jobs: int, requests_each: int, limit: int, window: float) -> tuple:
    """``jobs`` concurrent jobs, each a session sending ``requests_each`` GETs in a row, on one token's budget."""
    clock = VirtualTime()
    api = SlidingWindowApi(clock, limit, window)
    sessions, statuses = [], []

    def job(session):
        for dummy in range(requests_each):
            try:
                statuses.append(session.get(URL).status_code)
            except LinodeError as exc:
                statuses.append(str(exc))

    for index in range(jobs):
        session = LinodeSession(5.0, Deadline(3600.0, clock), RetryPolicy(rng=random.Random(index)))
        session.mount("https://", api)
        sessions.append(session)
    clock.run([lambda session=session: job(session) for session in sessions])
    return api, sessions, statuses, clock.time - clock.start


def refused(api) -> int:
    return sum(1 for dummy, status in api.answers if status == 429)


# 4 jobs x 50 requests against 20 a minute: 200 requests need at least 9 minutes, whatever anyone does.
SHARED = dict(jobs=4, requests_each=50, limit=20, window=60.0)
FLOOR_S = (200 // 20 - 1) * 60.0


def test_jobs_sharing_a_token_meet_fewer_429s_paced_than_unpaced(monkeypatch):
    api, sessions, statuses, elapsed = jobs_sharing_a_token(**SHARED)
    assert statuses == [200] * 200
    assert all(session.pacing()["waits"] for session in sessions), "every job was held at least once"
    # Held, not stalled: close to the budget's floor.
    assert FLOOR_S <= elapsed <= FLOOR_S * 1.1
    # The same jobs unpaced (the control): they spend the same budget and meet many more 429s.
    monkeypatch.setattr(transport, "pacing_delay", lambda *args, **kwargs: 0.0)
    unpaced_api, unpaced_sessions, unpaced_statuses, dummy = jobs_sharing_a_token(**SHARED)
    assert unpaced_statuses == [200] * 200 and not any(session.pacing()["waits"] for session in unpaced_sessions)
    assert refused(api) <= 0.7 * refused(unpaced_api), "429s: %d paced, %d unpaced" % (refused(api), refused(unpaced_api))


def test_a_lone_job_that_spends_the_budget_waits_for_the_reset_instead_of_a_429():
    api, sessions, statuses, elapsed = jobs_sharing_a_token(jobs=1, requests_each=25, limit=20, window=60.0)
    assert statuses == [200] * 25 and refused(api) == 0
    # The first 20 at once; the 21st waits for the window to slide past them, and the rest follow at once.
    assert sessions[0].pacing()["waits"] == 1
    assert 60.0 <= elapsed <= 60.0 * 1.2 + 25 * 0.05 + 1


def test_a_lone_burst_within_the_budget_goes_at_full_speed():
    api, sessions, statuses, elapsed = jobs_sharing_a_token(jobs=1, requests_each=20, limit=20, window=60.0)
    assert statuses == [200] * 20 and refused(api) == 0
    assert sessions[0].pacing()["waits"] == 0
    assert elapsed == pytest.approx(20 * 0.05)


@pytest.mark.parametrize("method,url,operation", [
    ("get", "https://api.example/v4/linode/instances/123/disks/456?page=2", "GET /v4/linode/instances/N/disks/N"),
    ("GET", "https://api.example/v4/images/private/77", "GET /v4/images/N"),
    ("POST", "https://api.example/v4/images", "POST /v4/images"),
    ("PUT", "https://api.example/v4beta/linode/instances/9", "PUT /v4beta/linode/instances/N"),
])
def test_operation_of(method, url, operation):
    assert operation_of(method, url) == operation
