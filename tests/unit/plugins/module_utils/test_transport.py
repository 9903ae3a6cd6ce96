from __future__ import annotations

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, NoAnswer
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
