"""linode_image_capture with captures: the outcomes keyed by the entries' names, which are checked before
any request, and no key of Ansible's own in them. (Real captures are asserted against the emulator, in the
linode_image_capture integration target; these run in check mode, over a fake API.)

A real AnsibleModule runs (its arguments patched in, its JSON result read from stdout); HTTP is mocked
at the transport adapter, which records every request that would have left.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from requests.adapters import BaseAdapter

from ansible.module_utils.testing import patch_module_args
from ansible_collections.golden_image.linode.plugins.modules import linode_image_capture
from ansible_collections.golden_image.linode.plugins.modules.linode_image_capture import LinodeImageCapture


# What the fake API answers to a GET, by path: a status and a body. Anything else is 404.
ROUTES = {
    "/v4/profile": (200, {"username": "golden"}),
    "/v4/linode/instances/1001": (200, {"id": 1001, "label": "web-1", "status": "offline", "region": "us-east",
                                        "tags": []}),
    "/v4/linode/instances/1001/disks/2001": (200, {"id": 2001, "label": "Ubuntu Disk", "filesystem": "ext4",
                                                   "status": "ready"}),
    "/v4/linode/instances/1001/disks/2002": (200, {"id": 2002, "label": "Swap", "filesystem": "swap",
                                                   "status": "ready"}),
    "/v4/linode/instances/1003": (400, {"errors": [{"reason": "Something\r\n  went\r\nwrong\r\n"}]}),
    "/v4/images": (200, {"data": [], "page": 1, "pages": 1, "results": 0}),
}


class FakeApi(BaseAdapter):
    """Answers the GETs of ROUTES (404 for any other request) and records every request."""

    def __init__(self) -> None:
        super(FakeApi, self).__init__()
        self.sent = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append(request)
        path = urlsplit(request.url).path
        status, body = ROUTES.get(path, (404, {"errors": [{"reason": "Not found"}]})) if request.method == "GET" \
            else (404, {"errors": [{"reason": "Not found"}]})
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: fake)
    for name in ("LINODE_TOKEN", "LINODE_API_TOKEN", "LINODE_TOKEN_FILE", "LINODE_API_URL", "LINODE_CA"):
        monkeypatch.delenv(name, raising=False)
    return fake


def run_capture(capsys, **args) -> dict:
    with patch_module_args(dict(args, api_token="secret-token-123", api_url="https://api.example")):
        with pytest.raises(SystemExit):
            LinodeImageCapture.execute()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("check_mode", [False, True])
def test_entries_that_share_a_name_are_refused_naming_the_second_before_any_request(api, capsys, check_mode):
    result = run_capture(capsys, _ansible_check_mode=check_mode, captures=[
        dict(name="web-1", linode_id=1001, label="a"),
        dict(name="web-2", linode_id=1002, label="b"),
        dict(name="web-1", linode_id=1003, label="c"),
    ])
    assert result["failed"] is True
    assert result["field"] == "captures[2].name"
    assert result["msg"].startswith("captures[2].name 'web-1' is also the name of captures[0]: each entry needs its "
                                    "own name")
    assert "captures" not in result
    assert api.sent == []


def test_an_entry_without_a_name_is_refused_before_any_request(api, capsys):
    result = run_capture(capsys, captures=[dict(name="web-1", linode_id=1001), dict(linode_id=1002)])
    assert result["failed"] is True
    assert "missing required arguments: name" in result["msg"] and "captures" in result["msg"]
    assert api.sent == []


# The keys RETURN documents for an entry: an outcome has no other.
ENTRY_KEYS = set(yaml.safe_load(linode_image_capture.RETURN)["captures"]["contains"]["<name>"]["contains"])


def test_outcomes_are_keyed_by_name_in_order_with_error_and_field_and_no_key_of_ansibles(api, capsys):
    result = run_capture(capsys, _ansible_check_mode=True, captures=[
        dict(name="web-1", linode_id=1001, disk_id=2001, label="golden-web-1"),
        dict(name="swap", linode_id=1001, disk_id=2002, label="golden-swap"),
        dict(name="gone", linode_id=424242, disk_id=1, label="golden-gone"),
        dict(name="odd", linode_id=1003, disk_id=1, label="golden-odd"),
    ])
    captures = result["captures"]
    assert list(captures) == ["web-1", "swap", "gone", "odd"]
    assert ENTRY_KEYS == {"name", "changed", "source", "image", "error", "field"}
    for name, entry in captures.items():
        assert entry["name"] == name
        assert set(entry) <= ENTRY_KEYS, "%s has %s" % (name, sorted(set(entry) - ENTRY_KEYS))
    web = captures["web-1"]
    assert web["changed"] is True and "error" not in web and "field" not in web
    assert web["image"]["label"] == "golden-web-1" and web["source"]["disk_id"] == 2001
    assert captures["swap"]["field"] == "captures[1].disk_id" and "swap" in captures["swap"]["error"]
    assert captures["gone"]["field"] == "captures[2].linode_id"
    assert captures["gone"]["error"] == "No Linode instance has id 424242 (linode_id)"
    # An API error body's line breaks are one space in the entry and in the task's message.
    assert "field" not in captures["odd"]
    assert captures["odd"]["error"] == "Linode API 400 on GET /v4/linode/instances/1003: Something went wrong"
    assert result["failed"] is True and "field" not in result
    assert result["msg"].startswith("3 of 4 captures failed: swap: ")
    assert "; gone: No Linode instance has id 424242 (linode_id); odd: Linode API 400 on GET " in result["msg"]
    assert "\n" not in result["msg"] and "\r" not in result["msg"]
    assert list(result["diff"]["after"]) == ["web-1", "swap", "gone", "odd"]
    assert [r.method for r in api.sent if r.method != "GET"] == []


def test_names_that_differ_only_in_part_pass_the_check(api, capsys):
    result = run_capture(capsys, _ansible_check_mode=True, captures=[
        dict(name="web-1", linode_id=1001, disk_id=2001, label="a"),
        dict(name="web-10", linode_id=1001, disk_id=2001, label="b")])
    assert list(result["captures"]) == ["web-1", "web-10"]
    assert api.sent != []


# ---------------------------------------------------------------------------- instances in a transitional status (issue 22)

MARKED = {"me": ["golden_image:me:1700000000:running"], "other": ["golden_image:other:1700000000:running"], None: []}


def web_1(status, marked_by=None):
    return {"id": 1001, "label": "web-1", "status": status, "region": "us-east", "tags": MARKED[marked_by]}


@pytest.mark.parametrize("status,marked_by,run_id,refusal", [
    ("migrating", None, "me", "migrating: try again when it is running or offline"),
    ("resizing", "me", "me", "resizing: try again when it is running or offline"),
    ("restoring", None, None, "restoring: try again when it is running or offline"),
    ("busy", None, "me", "busy: try again when it is running or offline"),
    ("shutting_down", None, "me", "shutting_down: try again when it is running or offline (a boot or shutdown that is "
                                  "not this run's is under way)"),
    ("booting", "other", "me", "booting: try again when it is running or offline (a boot or shutdown that is not this "
                               "run's is under way)"),
    ("rebooting", "me", None, "rebooting: try again when it is running or offline (a boot or shutdown that is not "
                              "this run's is under way)"),
])
def test_a_new_capture_of_an_instance_in_a_transitional_status_is_refused_before_any_write(api, capsys, status, marked_by, run_id, refusal):
    result = run_capture(capsys, run_id=run_id, known_instances=[web_1(status, marked_by)], captures=[
        dict(name="web-1", linode_id=1001, disk_id=2001, label="golden-web-1")])
    entry = result["captures"]["web-1"]
    assert entry["error"] == "Linode web-1 (1001) is " + refusal
    assert entry["field"] == "captures[0].linode_id" and result["failed"] is True
    assert [r.method for r in api.sent if r.method != "GET"] == []
    assert not any("running, not offline" in w for w in result.get("warnings", []))


def test_one_capture_by_label_names_the_option_at_fault(api, capsys):
    result = run_capture(capsys, linode_label="web-1", disk_id=2001, label="golden-web-1",
                         known_instances=[web_1("cloning")])
    assert result["failed"] is True and result["field"] == "linode_label"
    assert result["msg"] == "Linode web-1 (1001) is cloning: try again when it is running or offline"
    assert [r.method for r in api.sent if r.method != "GET"] == []


@pytest.mark.parametrize("status,marked_by", [("running", None), ("offline", "other"), ("shutting_down", "me"),
                                              ("booting", "me")])
def test_a_steady_instance_or_this_runs_own_boot_or_shutdown_passes_the_preflight(api, capsys, status, marked_by):
    result = run_capture(capsys, _ansible_check_mode=True, run_id="me", known_instances=[web_1(status, marked_by)],
                         captures=[dict(name="web-1", linode_id=1001, disk_id=2001, label="golden-web-1")])
    entry = result["captures"]["web-1"]
    assert "error" not in entry and entry["changed"] is True and entry["source"]["linode_status"] == status


def test_an_existing_image_of_a_migrating_instance_is_still_reported_unchanged(api, capsys, monkeypatch):
    image = {"id": "private/77", "label": "golden-web-1", "status": "available", "created": "2026-01-01T00:00:00",
             "tags": ["source=linode:1001,disk:2001"], "regions": [{"region": "us-east", "status": "available"}]}
    monkeypatch.setitem(ROUTES, "/v4/images/private/77", (200, image))
    result = run_capture(capsys, known_instances=[web_1("migrating")], known_images=[image], captures=[
        dict(name="web-1", linode_id=1001, disk_id=2001, label="golden-web-1")])
    entry = result["captures"]["web-1"]
    assert "error" not in entry and entry["changed"] is False and entry["image"]["id"] == "private/77"
    assert [r.method for r in api.sent if r.method != "GET"] == []
