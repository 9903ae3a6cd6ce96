"""The linode_api4 release is checked when a client is built: the requirements files carry no cap, the
transport states the range it works with, and a release outside it is named before any request."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
import requests

from ansible.module_utils.testing import patch_module_args
from ansible_collections.golden_image.linode.plugins.module_utils import transport
from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline

TOKEN = "version-check-token-5d1c"


@pytest.mark.parametrize("installed", ["5.48.0", "5.48", "v5.48.0", "5.60.2", "5.99.0.post1", "5.48.0+local"])
def test_releases_in_range_pass(installed):
    transport.check_linode_api4_version(installed)


@pytest.mark.parametrize("installed", ["5.47.9", "5.4.80", "4.0.0", "6.0.0", "6.0.0rc1", "7.1.0", "unknown"])
def test_releases_out_of_range_name_both_versions(installed):
    with pytest.raises(LinodeError) as raised:
        transport.check_linode_api4_version(installed)
    message = str(raised.value)
    assert "needs linode_api4 >=5.48.0,<6" in message
    assert "has linode_api4 %s:" % installed in message
    assert message.endswith("pip install 'linode_api4>=5.48.0,<6'")


def test_a_copy_without_package_metadata_is_not_refused():
    transport.check_linode_api4_version(None)


def test_the_installed_release_is_read_from_its_package_metadata():
    assert transport.LINODE_API4_VERSION == version("linode_api4")
    transport.check_linode_api4_version(transport.LINODE_API4_VERSION)


def test_build_client_refuses_an_old_release_before_anything_else(monkeypatch):
    monkeypatch.setattr(transport, "LINODE_API4_VERSION", "5.20.1")
    with pytest.raises(LinodeError, match=r"needs linode_api4 >=5\.48\.0,<6, .* has linode_api4 5\.20\.1"):
        # Even an unusable token is not looked at: the SDK is the first thing a run needs.
        transport.build_client("two\nlines", "https://api.example", "v4", None, 5.0, Deadline(10))


class ReadProfile(LinodeModuleBase):
    def run_task(self) -> None:
        self.result["username"] = self.client.get("/profile")["username"]


def test_a_module_fails_with_the_message_and_sends_nothing(monkeypatch, capsys):
    sent = []
    monkeypatch.setattr(requests.Session, "send", lambda self, request, **kwargs: sent.append(request))
    monkeypatch.setattr(transport, "LINODE_API4_VERSION", "6.1.0")
    with patch_module_args({"api_token": TOKEN, "api_url": "https://api.example"}):
        with pytest.raises(SystemExit):
            ReadProfile.execute()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert result["msg"].startswith("golden_image.linode needs linode_api4 >=5.48.0,<6, but the Python running it (")
    assert "has linode_api4 6.1.0" in result["msg"]
    assert sent == []
