"""What every module gets from ``LinodeModuleBase``: settings refused before any request, named with their
environment variables, and the token in no result, error or traceback, wherever it came from.

A real AnsibleModule runs (its arguments patched in, its JSON result read from stdout); HTTP is
mocked at the transport adapter, so a test sees every request that would have left.
"""

from __future__ import annotations

import json

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible.module_utils._internal import _traceback
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase

TOKEN_LINES = ("gi-first-line-secret-4f1e", "gi-second-line-secret-8c2d")
API_URL = "https://api.example"
TOKEN_VARIABLES = ("api_token", "LINODE_TOKEN", "LINODE_API_TOKEN", "LINODE_TOKEN_FILE")


class ProfileApi(BaseAdapter):
    """Answers ``GET /v4/profile`` for one token (401 for any other); records what was sent."""

    def __init__(self, token: str) -> None:
        super(ProfileApi, self).__init__()
        self.token = token
        self.sent = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append(request)
        response = requests.Response()
        if request.headers.get("Authorization") == "Bearer " + self.token:
            response.status_code, body = 200, {"username": "golden"}
        else:
            response.status_code, body = 401, {"errors": [{"reason": "Invalid Token"}]}
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers["Content-Type"] = "application/json"
        response.request = request
        return response

    def close(self):
        pass


class ReadProfile(LinodeModuleBase):
    """The smallest module: one read."""

    def run_task(self) -> None:
        self.result["username"] = self.client.get("/profile")["username"]


class Crash(LinodeModuleBase):
    """A module with a bug whose exception quotes the Authorization header."""

    def run_task(self) -> None:
        raise ValueError("header value: %r" % ("Bearer " + self.client.token))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in TOKEN_VARIABLES[1:] + ("LINODE_API_URL", "LINODE_CA", "LINODE_POLL_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api(monkeypatch):
    """``api(token)``: every requests session answers from a ProfileApi that accepts ``token``."""

    def build(token: str = TOKEN_LINES[0]) -> ProfileApi:
        fake = ProfileApi(token)
        monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: fake)
        return fake

    return build


def run(module_class, args: dict, capsys) -> dict:
    """Run ``module_class`` as Ansible would, and return its JSON result (with ``failed`` when it failed)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module_class.execute()
    out = capsys.readouterr().out
    return dict(json.loads(out), _raw=out)


def assert_no_token(result: dict) -> None:
    for line in TOKEN_LINES:
        assert line not in result["_raw"]
        # Nor any recognisable piece of it.
        assert line[-10:] not in result["_raw"]


def two_line_token_file(tmp_path) -> str:
    path = tmp_path / "token"
    path.write_text("%s\n%s\n" % TOKEN_LINES)
    return str(path)


@pytest.mark.parametrize("where", ["option", "LINODE_TOKEN", "LINODE_TOKEN_FILE"])
def test_a_two_line_token_is_refused_before_any_request_without_showing_it(api, capsys, monkeypatch, tmp_path, where):
    fake = api()
    args = {"api_url": API_URL}
    if where == "option":
        args["api_token"] = "%s\n%s" % TOKEN_LINES
    elif where == "LINODE_TOKEN":
        monkeypatch.setenv("LINODE_TOKEN", "%s\n%s" % TOKEN_LINES)
    else:
        monkeypatch.setenv("LINODE_TOKEN_FILE", two_line_token_file(tmp_path))
    result = run(ReadProfile, args, capsys)
    assert result["failed"] is True
    assert "holds a line break (character 26 of 52), so it was not sent" in result["msg"]
    for name in TOKEN_VARIABLES:
        assert name in result["msg"]
    assert result["field"] == "api_token"
    assert_no_token(result)
    assert fake.sent == []


def test_the_source_of_a_refused_token_is_named(api, capsys, monkeypatch, tmp_path):
    api()
    path = two_line_token_file(tmp_path)
    monkeypatch.setenv("LINODE_TOKEN_FILE", path)
    assert run(ReadProfile, {"api_url": API_URL}, capsys)["msg"].startswith(
        "The Linode API token from the file LINODE_TOKEN_FILE names (%s) holds a line break" % path)
    monkeypatch.setenv("LINODE_API_TOKEN", "tab\there")
    assert run(ReadProfile, {"api_url": API_URL}, capsys)["msg"].startswith(
        "The Linode API token from LINODE_API_TOKEN holds a tab (character 4 of 8)")


def test_a_token_file_with_one_line_ending_works_and_stays_hidden(api, capsys, monkeypatch, tmp_path):
    fake = api()
    path = tmp_path / "token"
    path.write_text(TOKEN_LINES[0] + "\n")
    monkeypatch.setenv("LINODE_TOKEN_FILE", str(path))
    result = run(ReadProfile, {"api_url": API_URL}, capsys)
    assert result.get("failed") is not True, result["msg"]
    assert result["username"] == "golden"
    assert fake.sent[0].headers["Authorization"] == "Bearer " + TOKEN_LINES[0]
    assert_no_token(result)


def test_a_missing_token_file_names_the_variable_and_the_path(api, capsys, monkeypatch, tmp_path):
    fake = api()
    path = str(tmp_path / "absent-token")
    monkeypatch.setenv("LINODE_TOKEN_FILE", path)
    result = run(ReadProfile, {"api_url": API_URL}, capsys)
    # Not "missing required arguments: api_token".
    assert result["msg"] == "LINODE_TOKEN_FILE names %s, which cannot be read: No such file or directory" % path
    assert fake.sent == []


def test_no_token_at_all_names_the_option_and_its_variables(api, capsys):
    fake = api()
    result = run(ReadProfile, {"api_url": API_URL}, capsys)
    assert result["msg"].startswith("No Linode API token: set the api_token option, or LINODE_TOKEN")
    for name in TOKEN_VARIABLES:
        assert name in result["msg"]
    assert fake.sent == []


@pytest.mark.parametrize("args, message, field", [
    ({"api_url": "htp:/x"}, "api_url (or LINODE_API_URL) must be an https:// or http:// URL with a host", "api_url"),
    ({"ca_path": "/nonexistent/ca.pem"}, "ca_path (or LINODE_CA) names /nonexistent/ca.pem, which is not a readable",
     "ca_path"),
])
def test_bad_settings_are_named_before_any_request(api, capsys, args, message, field):
    fake = api()
    result = run(ReadProfile, dict({"api_url": API_URL, "api_token": TOKEN_LINES[0]}, **args), capsys)
    assert result["msg"].startswith(message)
    assert result["field"] == field
    assert fake.sent == []


def test_settings_from_the_environment_are_checked_too(api, capsys, monkeypatch):
    fake = api()
    monkeypatch.setenv("LINODE_TOKEN", TOKEN_LINES[0])
    monkeypatch.setenv("LINODE_API_URL", "htp:/x")
    assert run(ReadProfile, {}, capsys)["msg"].startswith("api_url (or LINODE_API_URL) must be")
    monkeypatch.setenv("LINODE_API_URL", API_URL)
    monkeypatch.setenv("LINODE_CA", "/nonexistent/env-ca.pem")
    assert run(ReadProfile, {}, capsys)["msg"].startswith("ca_path (or LINODE_CA) names /nonexistent/env-ca.pem")
    assert fake.sent == []


def test_a_token_from_the_environment_is_masked_in_results(api, capsys, monkeypatch):
    api()
    monkeypatch.setenv("LINODE_TOKEN", TOKEN_LINES[0])
    result = run(ReadProfile, {"api_url": API_URL}, capsys)
    assert result["username"] == "golden"
    assert_no_token(result)


def test_an_unexpected_exception_quoting_the_header_is_scrubbed(api, capsys, monkeypatch):
    api()
    # Tracebacks on, as ANSIBLE_DISPLAY_TRACEBACK=error asks.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: True)
    result = run(Crash, {"api_url": API_URL, "api_token": TOKEN_LINES[0]}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("Unexpected ValueError: header value: 'Bearer ")
    assert "Traceback" in result["exception"]
    assert_no_token(result)


def test_a_token_given_as_api_url_by_mistake_is_not_shown(api, capsys, monkeypatch):
    fake = api()
    monkeypatch.setenv("LINODE_TOKEN", TOKEN_LINES[0])
    monkeypatch.setenv("LINODE_API_URL", TOKEN_LINES[0])
    result = run(ReadProfile, {}, capsys)
    assert result["msg"].startswith("api_url (or LINODE_API_URL) must be")
    assert_no_token(result)
    assert fake.sent == []


class CrashOnTwoLines(LinodeModuleBase):
    """A module with a bug whose exception's message spans lines, and a warning that does too."""

    def run_task(self) -> None:
        self.warn("first\r\n  warning line")
        raise ValueError("first line\r\n\r\n  second line")


def test_a_failure_and_a_warning_are_shown_on_one_line(api, capsys, monkeypatch):
    api()
    warned = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda module, message: warned.append(message))
    result = run(CrashOnTwoLines, {"api_url": API_URL, "api_token": TOKEN_LINES[0]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "Unexpected ValueError: first line second line"
    assert warned == ["first warning line"]
