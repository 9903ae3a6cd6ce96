"""linode_instance_temporary as a task runs it, over instances on the fake clock (HTTP mocked at the adapter).

Each test asserts the instances after the task and the requests it sent: never two instances for one
label, no write in check mode or before a refusal, never a user's instance touched, never a root
password in a result.
"""

from __future__ import annotations

import base64
import json
import string

import pytest
import requests

from ansible_collections.golden_image.linode.plugins.module_utils import temporary as tmp
from ansible_collections.golden_image.linode.plugins.modules.linode_instance_temporary import LinodeInstanceTemporary
from module_runner import run_module
from temporary_api import BOOT_S, CREATE_S, DELETE_S, TemporaryApi

MARKER = "golden_image.linode:temporary"


def ssh_key(kind: str = "ssh-ed25519") -> str:
    blob = len(kind).to_bytes(4, "big") + kind.encode() + (32).to_bytes(4, "big") + bytes(32)
    return "%s %s ci@example" % (kind, base64.b64encode(blob).decode())


def run(api, clock, **args):
    args.setdefault("poll_interval", 5)
    args.setdefault("wait_timeout", 600)
    result, failed, warnings = run_module(LinodeInstanceTemporary, api, clock, args)
    return dict(result, failed=failed, warnings=warnings)


def present(api, clock, **args):
    args = dict(dict(label="bake-1", image="linode/debian12", region="us-east"), **args)
    return run(api, clock, **args)


@pytest.fixture
def api(clock):
    return TemporaryApi(clock)


# ---------------------------------------------------------------------------- present

def test_creates_waits_until_running_and_never_shows_the_generated_password(api, clock):
    result = present(api, clock, tags=["web-bake"])
    assert not result["failed"] and result["changed"]
    [post] = api.requests("POST")
    body = post["body"]
    assert (body["label"], body["image"], body["region"], body["type"]) == (
        "bake-1", "linode/debian12", "us-east", "g6-nanode-1")
    assert body["tags"] == [MARKER, "web-bake"] and body["booted"] is True and "authorized_keys" not in body
    password = body["root_pass"]
    assert len(password) == 40 and all(any(c in kind for c in password) for kind in (
        string.ascii_lowercase, string.ascii_uppercase, string.digits))
    assert result["root_pass_generated"] is True
    assert password not in json.dumps(result)
    assert result["instance"]["status"] == "running" and api.instances[result["instance"]["id"]]["status"] == "running"
    # Noticed within a poll interval of the end of create and boot (64 s), looking first after 30 s.
    waited = clock.now() - clock.start
    assert CREATE_S + BOOT_S <= waited <= CREATE_S + BOOT_S + 5
    polls = api.requests("GET", "^/linode/instances$")[1:]  # after the label's lookup
    assert polls[0]["time"] >= 30 and len(polls) <= 8
    # The checks before the write: the label, the region, the type and the image, then one POST.
    assert [(e["method"], e["path"]) for e in api.log[:5]] == [
        ("GET", "/linode/instances"), ("GET", "/regions"), ("GET", "/linode/types"),
        ("GET", "/images/linode/debian12"), ("POST", "/linode/instances")]
    assert result["diff"]["before"] == {} and result["diff"]["after"]["label"] == "bake-1"


def test_keys_or_a_given_password_are_sent_and_no_password_is_generated(api, clock):
    with_keys = present(api, clock, authorized_keys=[ssh_key()], wait=False)
    with_pass = present(api, clock, label="bake-2", root_pass="thisIsYourRootPassword", wait=False)
    first, second = (e["body"] for e in api.requests("POST"))
    assert first["authorized_keys"] == [ssh_key()] and "root_pass" not in first
    assert second["root_pass"] == "thisIsYourRootPassword" and "authorized_keys" not in second
    assert not with_keys["root_pass_generated"] and not with_pass["root_pass_generated"]
    assert "thisIsYourRootPassword" not in json.dumps(with_pass)
    assert with_keys["instance"]["status"] == "provisioning"  # wait: false


def test_a_second_run_returns_the_instance_unchanged(api, clock):
    first = present(api, clock)
    second = present(api, clock)
    assert second["changed"] is False and not second["failed"]
    assert second["instance"]["id"] == first["instance"]["id"]
    assert len(api.requests("POST")) == 1 and len(api.by_label("bake-1")) == 1
    assert second["api_requests"]["total"] == 1  # the label's lookup


def test_a_second_run_waits_for_an_instance_still_on_its_way(api, clock):
    present(api, clock, wait=False)
    result = present(api, clock)
    assert result["changed"] is False and result["instance"]["status"] == "running"
    assert len(api.requests("POST")) == 1


def test_a_label_held_by_a_users_instance_is_refused_with_no_write(api, clock):
    users = api.add("bake-1", tags=("web",))
    result = present(api, clock)
    assert result["failed"] and result["field"] == "label"
    assert "is not a temporary instance" in result["msg"] and str(users["id"]) in result["msg"]
    assert api.writes() == []


def test_a_temporary_instance_from_another_image_is_refused(api, clock):
    api.add("bake-1", image="private/7")
    result = present(api, clock)
    assert result["failed"] and result["field"] == "image"
    assert "has image private/7, not linode/debian12" in result["msg"]
    assert api.writes() == []


def test_an_offline_temporary_instance_fails_at_once_in_check_mode_too(api, clock):
    api.add("bake-1", status="offline")
    for check_mode in (True, False):
        result = present(api, clock, _ansible_check_mode=check_mode)
        assert result["failed"] and "is offline and will not run by itself" in result["msg"]
    assert api.writes() == []


@pytest.mark.parametrize("option,value,field", [
    ("region", "mars-1", "region"), ("type", "g9-huge", "type"), ("image", "linode/templeos", "image"),
    ("image", "private/8", "image")])
def test_unknown_choices_are_refused_naming_the_option_before_any_write(api, clock, option, value, field):
    result = present(api, clock, **{option: value})
    assert result["failed"] and result["field"] == field
    assert api.writes() == []


def test_check_mode_predicts_a_create_and_writes_nothing(api, clock):
    result = present(api, clock, _ansible_check_mode=True)
    assert result["changed"] and not result["failed"]
    assert result["instance"]["id"] is None and result["instance"]["status"] == "provisioning"
    assert result["instance"]["tags"] == [MARKER]
    assert api.writes() == [] and api.instances == {}


# ---------------------------------------------------------------------------- never two instances

def test_a_5xx_after_the_create_acted_finds_the_instance_instead_of_creating_again(api, clock):
    api.fault("POST", "^/linode/instances$", status=500, after_effect=True)
    result = present(api, clock)
    assert not result["failed"] and result["changed"]
    assert [e["status"] for e in api.requests("POST")] == [500]
    assert len(api.by_label("bake-1")) == 1 and result["instance"]["status"] == "running"


def test_no_answer_after_the_create_acted_finds_the_instance(api, clock):
    api.fault("POST", "^/linode/instances$", error=requests.exceptions.ReadTimeout, after_effect=True)
    result = present(api, clock)
    assert not result["failed"]
    assert len(api.requests("POST")) == 1 and len(api.by_label("bake-1")) == 1


def test_a_5xx_before_the_create_acted_sends_it_again_once_the_label_is_not_found(api, clock):
    api.fault("POST", "^/linode/instances$", status=502)
    result = present(api, clock)
    assert not result["failed"]
    assert [e["status"] for e in api.requests("POST")] == [502, 200]
    assert len(api.by_label("bake-1")) == 1


def test_a_label_still_held_by_a_deleted_instance_is_waited_for(api, clock):
    old = api.add("bake-1")
    assert run(api, clock, label="bake-1", state="absent")["changed"]
    assert old["id"] not in api.instances
    result = present(api, clock)
    assert not result["failed"] and result["instance"]["id"] != old["id"]
    statuses = [e["status"] for e in api.requests("POST")]
    assert statuses[0] == 400 and statuses[-1] == 200
    assert api.requests("POST")[-1]["time"] >= DELETE_S


def test_a_label_held_past_the_deadline_fails_naming_the_label(api, clock):
    api.held_labels["bake-1"] = 10_000
    result = present(api, clock, wait_timeout=60)
    assert result["failed"] and result["field"] == "label"
    assert "still taken at the deadline" in result["msg"]
    # Sent again a poll interval apart (5 s), never past the deadline: at most 60 / 5 + 1 tries.
    posts = api.requests("POST")
    assert 2 <= len(posts) <= 13 and posts[-1]["time"] <= 60 and api.instances == {}


def test_a_refused_create_is_not_sent_again(api, clock):
    api.weak_passwords = ("hunter22x",)
    result = present(api, clock, root_pass="hunter22x")
    assert result["failed"] and "Password does not meet strength requirement" in result["msg"]
    assert len(api.requests("POST")) == 1
    assert "hunter22x" not in json.dumps(result)


def test_the_wait_ends_at_the_deadline_with_the_instance_in_the_result(api, clock):
    result = present(api, clock, wait_timeout=20)
    assert result["failed"]
    assert "Timed out after 20 s waiting for Linode" in result["msg"] and "it is provisioning" in result["msg"]
    assert result["instance"]["status"] == "provisioning"
    assert clock.now() - clock.start <= 20 + 1
    assert len(api.requests("POST")) == 1


# ---------------------------------------------------------------------------- absent and cleanup

def test_absent_deletes_only_a_temporary_instance(api, clock):
    temporary = api.add("bake-1")
    result = run(api, clock, label="bake-1", state="absent")
    assert result["changed"] and [d["id"] for d in result["deleted"]] == [temporary["id"]]
    assert api.instances == {}
    again = run(api, clock, label="bake-1", state="absent")
    assert again["changed"] is False and again["deleted"] == [] and again["instance"] is None

    users = api.add("web-1", tags=("web",))
    refused = run(api, clock, label="web-1", state="absent")
    assert refused["failed"] and refused["field"] == "label"
    assert users["id"] in api.instances and api.requests("DELETE") == [api.log[1]]


def test_absent_in_check_mode_deletes_nothing(api, clock):
    api.add("bake-1")
    result = run(api, clock, label="bake-1", state="absent", _ansible_check_mode=True)
    assert result["changed"] and len(result["deleted"]) == 1
    assert api.writes() == [] and len(api.instances) == 1


def test_a_delete_answered_with_a_5xx_is_read_back_and_sent_again_only_if_the_instance_is_there(api, clock):
    acted, not_acted = api.add("bake-1"), api.add("bake-2")
    api.fault("DELETE", "/linode/instances/%d$" % acted["id"], status=502, after_effect=True)
    api.fault("DELETE", "/linode/instances/%d$" % not_acted["id"], status=503)
    assert run(api, clock, label="bake-1", state="absent")["changed"]
    assert run(api, clock, label="bake-2", state="absent")["changed"]
    assert api.instances == {}
    assert [e["status"] for e in api.requests("DELETE")] == [502, 503, 200]


def test_cleanup_deletes_old_temporary_instances_of_a_prefix_and_nothing_else(api, clock):
    old = api.add("bake-web-1", age_s=3 * 3600)
    young = api.add("bake-web-2", age_s=10 * 60)
    other_pipeline = api.add("bake-db-1", age_s=3 * 3600)
    users = api.add("bake-web-3", tags=("web",), age_s=3 * 3600)
    result = run(api, clock, state="cleanup", label_prefix="bake-web-", older_than=120)
    assert result["changed"] and not result["failed"]
    assert [d["label"] for d in result["deleted"]] == ["bake-web-1"]
    assert [k["label"] for k in result["kept"]] == ["bake-web-2"]
    assert sorted(api.instances) == sorted([young["id"], other_pipeline["id"], users["id"]])
    assert [e["path"] for e in api.requests("DELETE")] == ["/linode/instances/%d" % old["id"]]
    assert api.requests("GET", "^/linode/instances$")[0]["filter"] == {
        "tags": MARKER, "label": {"+contains": "bake-web-"}}


def test_cleanup_in_check_mode_and_a_second_cleanup(api, clock):
    api.add("bake-1", age_s=3 * 3600)
    predicted = run(api, clock, state="cleanup", _ansible_check_mode=True)
    assert predicted["changed"] and len(predicted["deleted"]) == 1 and api.writes() == []
    assert run(api, clock, state="cleanup")["changed"]
    assert run(api, clock, state="cleanup")["changed"] is False


# ---------------------------------------------------------------------------- options

@pytest.mark.parametrize("args,field", [
    (dict(label="b"), "label"),
    (dict(label="bake--1"), "label"),
    (dict(authorized_keys=["ssh-ed25519 AAAA_not_a_key"]), "authorized_keys"),
    (dict(authorized_keys=[]), "authorized_keys"),
    (dict(root_pass="Ab1!"), "root_pass"),
    (dict(tags=["x"]), "tags"),
    (dict(label_prefix="bake-"), "label_prefix"),
    (dict(state="cleanup", label_prefix=""), "label_prefix"),
    (dict(state="cleanup", older_than=-1), "older_than"),
    (dict(state="cleanup", label="bake-1"), "label"),
])
def test_bad_options_fail_naming_the_option_before_any_request(api, clock, args, field):
    if args.get("state") == "cleanup" and "label" not in args:
        result = run(api, clock, **args)
    else:
        result = present(api, clock, **args)
    assert result["failed"] and result["field"] == field, result["msg"]
    assert api.log == []


def test_a_token_without_write_scope_is_refused_before_any_write(api, clock):
    api.scopes = "linodes:read_only images:read_only"
    result = present(api, clock)
    assert result["failed"] and result["field"] == "api_token" and "linodes:read_write" in result["msg"]
    assert api.writes() == []


def test_ssh_key_problems():
    assert tmp.ssh_key_problem(ssh_key()) is None
    assert tmp.ssh_key_problem(ssh_key("ecdsa-sha2-nistp256")) is None
    assert tmp.ssh_key_problem(ssh_key().replace("ssh-ed25519 ", "ssh-rsa ", 1)) == "its data is not a ssh-rsa key"
    assert tmp.ssh_key_problem("ssh-ed25519") == "expected '<type> <base64 data> [comment]', as in a .pub file"
    assert tmp.ssh_key_problem(ssh_key() + "\n" + ssh_key()) == "one key per entry, on one line"
