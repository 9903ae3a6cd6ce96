"""The inventory plugin refuses what it cannot honour, loudly: unknown options, settings that cannot work,
a token that cannot be sent (never shown), an API that refuses or does not answer.

Same fake API as test_instances.py (HTTP mocked at the transport adapter); the last tests go
through Ansible's InventoryManager, as ansible-inventory and ansible-playbook do.
"""

from __future__ import annotations

import pytest
import requests
import yaml

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

from test_instances import (  # pylint: disable=unused-import
    API,
    API_URL,
    FLEET,
    PLUGIN,
    TOKEN,
    api,
    clean_environment,
    parse,
)
from ansible_collections.golden_image.linode.plugins.module_utils import retries

TOKEN_LINES = ("inv-first-line-secret-4f1e", "inv-second-line-secret-8c2d")
TOKEN_NAMES = ("api_token", "LINODE_TOKEN", "LINODE_API_TOKEN", "LINODE_TOKEN_FILE")


@pytest.fixture(autouse=True)
def no_token_file(monkeypatch):
    monkeypatch.delenv("LINODE_TOKEN_FILE", raising=False)


def failure_of(parse, config: dict) -> str:
    with pytest.raises(AnsibleError) as raised:
        parse(config)
    return str(raised.value)


# --------------------------------------------------------------------------- unknown options

def test_a_misspelt_filter_is_refused_not_ignored(api, parse):
    fake = api(FLEET)
    message = failure_of(parse, dict(API, tag=["web"]))
    assert "unknown option 'tag' (did you mean 'tags'?)" in message
    assert "The golden_image.linode.instances inventory plugin takes: " in message
    for option in ("api_token", "label_regex", "regions", "status", "tags", "keyed_groups", "cache", "fail_on_errors"):
        assert option in message.split("takes: ", 1)[1]
    assert fake.sent == []


def test_every_unknown_option_is_named(api, parse):
    api(FLEET)
    message = failure_of(parse, dict(API, tag=["web"], region=["us-east"], colour="blue"))
    assert "unknown options 'colour', 'region', 'tag' (did you mean 'regions' for 'region', 'tags' for 'tag'?)" in message


# --------------------------------------------------------------------------- settings and the token

def assert_names_the_token_settings_not_the_token(message: str) -> None:
    for name in TOKEN_NAMES:
        assert name in message
    for line in TOKEN_LINES:
        assert line not in message
        assert line[-9:] not in message


@pytest.mark.parametrize("where", ["api_token", "LINODE_TOKEN", "LINODE_API_TOKEN", "LINODE_TOKEN_FILE"])
def test_a_two_line_token_is_refused_before_any_request_without_showing_it(api, parse, monkeypatch, tmp_path, where):
    fake = api(FLEET)
    token = "%s\n%s" % TOKEN_LINES
    config = {"api_url": API_URL}
    if where == "api_token":
        config["api_token"] = token
    elif where == "LINODE_TOKEN_FILE":
        (tmp_path / "token").write_text(token + "\n")
        monkeypatch.setenv(where, str(tmp_path / "token"))
    else:
        monkeypatch.setenv(where, token)
    message = failure_of(parse, config)
    assert "holds a line break (character 27 of 54), so it was not sent" in message
    assert message.startswith("The Linode API token from %s" % ("the file LINODE_TOKEN_FILE names" if where == "LINODE_TOKEN_FILE" else where))
    assert_names_the_token_settings_not_the_token(message)
    assert fake.sent == []


def test_a_token_with_a_tab_in_the_file_config_is_refused(api, parse):
    fake = api(FLEET)
    message = failure_of(parse, dict(API, api_token="%s\t%s" % TOKEN_LINES))
    assert "holds a tab" in message
    assert_names_the_token_settings_not_the_token(message)
    assert fake.sent == []


def test_a_missing_token_file_names_the_variable_and_the_path(api, parse, monkeypatch, tmp_path):
    fake = api(FLEET)
    monkeypatch.setenv("LINODE_TOKEN_FILE", str(tmp_path / "absent"))
    assert failure_of(parse, {"api_url": API_URL}) == (
        "LINODE_TOKEN_FILE names %s, which cannot be read: No such file or directory" % (tmp_path / "absent"))
    assert fake.sent == []


def test_no_token_names_the_option_and_every_variable(api, parse):
    fake = api(FLEET)
    message = failure_of(parse, {"api_url": API_URL})
    assert message.startswith("No Linode API token: set the api_token option")
    assert_names_the_token_settings_not_the_token(message)
    assert fake.sent == []


@pytest.mark.parametrize("url", ["htp:/x", "https:/api.linode.com", "api.linode.com/v4"])
def test_a_garbage_api_url_is_named_before_any_request(api, parse, url):
    fake = api(FLEET)
    message = failure_of(parse, dict(API, api_url=url))
    assert message.startswith("api_url (or LINODE_API_URL) must be an https:// or http:// URL with a host")
    assert repr(url) in message
    assert "No connection adapters" not in message
    assert fake.sent == []


def test_a_garbage_api_url_from_the_environment_is_named(api, parse, monkeypatch):
    fake = api(FLEET)
    monkeypatch.setenv("LINODE_API_URL", "htp:/x")
    assert failure_of(parse, {"api_token": TOKEN}).startswith("api_url (or LINODE_API_URL) must be")
    assert fake.sent == []


def test_a_missing_ca_file_is_named_with_its_variable(api, parse, tmp_path):
    fake = api(FLEET)
    missing = str(tmp_path / "ca.pem")
    assert failure_of(parse, dict(API, ca_path=missing)) == (
        "ca_path (or LINODE_CA) names %s, which is not a readable CA bundle file (or directory of CA certificates)"
        % missing)
    assert fake.sent == []


# --------------------------------------------------------------------------- an API that does not answer

class ClosedPort(requests.adapters.BaseAdapter):
    def __init__(self) -> None:
        super(ClosedPort, self).__init__()
        self.sent = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append((request, kwargs))
        raise requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")

    def close(self):
        pass


@pytest.fixture
def sleeps(monkeypatch):
    """Time that moves only when the retries sleep: every sleep is recorded, none is slept."""
    now = [1000.0]
    slept = []

    def sleep(_clock, seconds):
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(retries.Clock, "now", lambda _clock: now[0])
    monkeypatch.setattr(retries.Clock, "sleep", sleep)
    return slept


def test_a_closed_port_fails_within_request_timeout(parse, monkeypatch, sleeps):
    closed = ClosedPort()
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: closed)
    message = failure_of(parse, dict(API, request_timeout=4))
    assert message == ("Could not reach the Linode API for GET /v4/linode/instances within 4.0 s (request_timeout): "
                       "[Errno 111] Connection refused")
    # Retried on the inventory's 300 s deadline, this took 41 s.
    assert sum(sleeps) < 4.0
    assert len(closed.sent) >= 2


# --------------------------------------------------------------------------- the failure stops the run

@pytest.fixture
def ansible_defaults(monkeypatch):
    """Ansible's own defaults: a source that fails to parse is a warning, and the run goes on."""
    monkeypatch.setattr(C, "INVENTORY_ANY_UNPARSED_IS_FAILED", False)
    monkeypatch.setattr(C, "INVENTORY_UNPARSED_IS_FAILED", False)


def manager(tmp_path, config: dict) -> InventoryManager:
    """What ansible-inventory -i <file> builds: the inventory manager, the auto plugin, then ours."""
    path = tmp_path / "fleet.linode.yml"
    path.write_text(yaml.safe_dump(dict({"plugin": PLUGIN}, **config)))
    return InventoryManager(loader=DataLoader(), sources=[str(path)])


@pytest.mark.parametrize("config, reason", [
    (dict(API, api_token="wrong-token-77"), "401"),
    (dict(API, tag=["web"]), "unknown option"),
    (dict(API, api_token="%s\n%s" % TOKEN_LINES), "line break"),
])
def test_a_failure_stops_ansible_even_with_its_default_settings(api, tmp_path, ansible_defaults, config, reason):
    api(FLEET)
    with pytest.raises(AnsibleError, match="Completely failed to parse inventory source"):
        manager(tmp_path, config)


def test_with_fail_on_errors_off_ansible_settings_decide(api, tmp_path, ansible_defaults):
    fake = api(FLEET)
    inventory = manager(tmp_path, dict(API, api_token="wrong-token-77", fail_on_errors=False))
    assert inventory.hosts == {}
    assert len(fake.sent) == 1
    assert C.INVENTORY_ANY_UNPARSED_IS_FAILED is False


def test_a_working_source_changes_nothing(api, tmp_path, ansible_defaults):
    api(FLEET)
    inventory = manager(tmp_path, API)
    assert len(inventory.hosts) == 6
    assert C.INVENTORY_ANY_UNPARSED_IS_FAILED is False


def test_a_token_given_as_api_url_by_mistake_is_not_shown(api, parse, monkeypatch):
    fake = api(FLEET)
    monkeypatch.setenv("LINODE_TOKEN", TOKEN)
    monkeypatch.setenv("LINODE_API_URL", TOKEN)
    message = failure_of(parse, {})
    assert message.startswith("api_url (or LINODE_API_URL) must be an https:// or http:// URL with a host")
    assert TOKEN not in message
    assert fake.sent == []
