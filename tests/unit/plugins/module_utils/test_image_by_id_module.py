"""linode_image_capture with image_id (one existing image, whatever became of its source) and
linode_image_info with required_scopes, as a task runs them, over a small fake of the images API
(HTTP mocked at the adapter). Each test asserts the images after the task and the requests it sent:
no write in check mode or before a refusal, the source record kept, another image never touched."""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.golden_image.linode.plugins.modules.linode_image_capture import LinodeImageCapture
from ansible_collections.golden_image.linode.plugins.modules.linode_image_info import LinodeImageInfo
from module_runner import run_module

NOT_FOUND = {"errors": [{"reason": "Not found"}]}
SOURCE = "source=linode:40001,disk:50001"
REPLICATE_S = 30.0


class ImagesApi(BaseAdapter):
    """Private images by id (PUT tags and description, DELETE, POST regions that replicate in 30 s) and
    one public image; every answer says the token's scopes; every request is logged."""

    def __init__(self, clock, scopes="*"):
        super(ImagesApi, self).__init__()
        self.clock = clock
        self.scopes = scopes
        self.log = []
        self.images = {
            "private/100001": {"id": "private/100001", "label": "golden-1", "status": "available", "is_public": False,
                               "description": "", "tags": ["golden", SOURCE], "created": "2026-01-01T12:00:00",
                               "regions": [{"region": "us-east", "status": "available"}]},
            "private/90": {"id": "private/90", "label": "golden-0", "status": "available", "is_public": False,
                           "description": "", "tags": ["golden"], "created": "2025-12-01T12:00:00",
                           "regions": [{"region": "us-east", "status": "available"}]},
            "linode/debian12": {"id": "linode/debian12", "label": "Debian 12", "status": "available", "is_public": True,
                                "tags": [], "regions": []},
        }
        self.replicated_at = {}

    def writes(self):
        return [(e["method"], e["path"]) for e in self.log if e["method"] != "GET"]

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        path = re.sub(r"^/v4", "", urlsplit(request.url).path)
        body = json.loads(request.body) if request.body else {}
        self.log.append({"method": request.method, "path": path, "body": body})
        status, answer = self._handle(request.method, path, body)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(answer).encode()  # pylint: disable=protected-access
        response.headers.update({"Content-Type": "application/json", "X-OAuth-Scopes": self.scopes})
        response.request = request
        response.url = request.url
        return response

    def _handle(self, method, path, body):
        now = self.clock.now()
        for image_id, at in self.replicated_at.items():
            if at <= now:
                for region in self.images[image_id]["regions"]:
                    region["status"] = "available"
        if path == "/profile":
            return 200, {"username": "tester"}
        if path == "/regions":
            return 200, {"data": [{"id": r} for r in ("us-east", "eu-west")], "page": 1, "pages": 1, "results": 2}
        if path == "/images":
            data = [i for i in self.images.values() if not i["is_public"]]
            return 200, {"data": copy.deepcopy(data), "page": 1, "pages": 1, "results": len(data)}
        match = re.match(r"^/images/(.+?)(/regions)?$", path)
        image = self.images.get(match.group(1)) if match else None
        if image is None:
            return 404, NOT_FOUND
        if method == "PUT":
            image.update((key, body[key]) for key in ("tags", "description") if key in body)
        elif method == "DELETE":
            del self.images[image["id"]]
            return 200, {}
        elif method == "POST":
            image["regions"] = [dict(r) for r in image["regions"] if r["region"] in body["regions"]] + [
                {"region": r, "status": "pending replication"} for r in body["regions"]
                if r not in [x["region"] for x in image["regions"]]]
            self.replicated_at[image["id"]] = now + REPLICATE_S
        return 200, copy.deepcopy(image)

    def close(self):
        pass


@pytest.fixture
def api(clock):
    return ImagesApi(clock)


def capture(api, clock, check_mode=False, **args):
    args = dict(dict(poll_interval=5, wait_timeout=600), **args)
    if check_mode:
        args["_ansible_check_mode"] = True
    result, failed, warnings = run_module(LinodeImageCapture, api, clock, args)
    return dict(result, failed=failed, warnings=warnings)


def test_marks_an_image_whose_builder_is_gone_keeping_its_source_record(api, clock):
    result = capture(api, clock, image_id="private/100001", tags=["golden", "golden_image.linode:verified"])
    assert not result["failed"] and result["changed"]
    assert api.images["private/100001"]["tags"] == ["golden", "golden_image.linode:verified", SOURCE]
    assert api.writes() == [("PUT", "/images/private/100001")]
    assert api.images["private/90"]["tags"] == ["golden"]
    assert result["diff"]["before"]["tags"] == ["golden", SOURCE]
    again = capture(api, clock, image_id="private/100001", tags=["golden", "golden_image.linode:verified"])
    assert not again["changed"] and api.writes() == [("PUT", "/images/private/100001")]


def test_check_mode_predicts_the_tags_and_writes_nothing(api, clock):
    result = capture(api, clock, check_mode=True, image_id="private/100001", tags=["golden_image.linode:verify-failed"])
    assert result["changed"] and result["image"]["tags"] == ["golden_image.linode:verify-failed", SOURCE]
    assert api.writes() == [] and api.images["private/100001"]["tags"] == ["golden", SOURCE]


def test_replicates_by_id_and_waits_for_the_new_region(api, clock):
    result = capture(api, clock, image_id="private/100001", replicate_regions=["eu-west"])
    assert not result["failed"] and result["changed"]
    assert sorted((r["region"], r["status"]) for r in result["image"]["regions"]) == [
        ("eu-west", "available"), ("us-east", "available")]
    assert api.writes() == [("POST", "/images/private/100001/regions")]
    assert clock.now() - clock.start >= REPLICATE_S


def test_deletes_by_id_only_that_image_and_again_changes_nothing(api, clock):
    predicted = capture(api, clock, check_mode=True, image_id="private/100001", state="absent")
    assert predicted["changed"] and predicted["deleted"] == ["private/100001"] and api.writes() == []
    deleted = capture(api, clock, image_id="private/100001", state="absent")
    assert deleted["changed"] and deleted["deleted"] == ["private/100001"]
    assert deleted["image"]["label"] == "golden-1"
    assert list(api.images) == ["private/90", "linode/debian12"]
    again = capture(api, clock, image_id="private/100001", state="absent")
    assert not again["changed"] and again["deleted"] == [] and again["image"] is None
    assert api.writes() == [("DELETE", "/images/private/100001")]


@pytest.mark.parametrize("args, field, message", [
    (dict(image_id="private/7", tags=["golden"]), "image_id", "image_id private/7 does not exist"),
    (dict(image_id="linode/debian12", tags=["golden"]), "image_id", "is a public image"),
    (dict(image_id="linode/debian12", state="absent"), "image_id", "is a public image"),
    (dict(image_id="private/100001", recreate=True), "recreate", "recreate captures anew"),
    (dict(image_id="private/100001", tags=["source=linode:1,disk:2"]), "tags", "is reserved"),
    (dict(image_id="private/100001", replicate_regions=["mars"]), "replicate_regions", "no region 'mars'"),
])
def test_refusals_name_the_option_and_write_nothing(api, clock, args, field, message):
    result = capture(api, clock, **args)
    assert result["failed"] and result["field"] == field and message in result["msg"]
    assert api.writes() == []


@pytest.mark.parametrize("other", [dict(label="golden-1"), dict(linode_id=40001), dict(disk_label="boot"),
                                   dict(captures=[dict(name="web-1", linode_id=1001)])])
def test_options_that_name_another_image_are_refused_by_the_argument_spec(api, clock, capsys, other):
    with pytest.raises(SystemExit):
        capture(api, clock, image_id="private/100001", **other)
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "mutually exclusive: image_id|%s" % list(other)[0] in result["msg"] and api.log == []


def test_a_token_that_cannot_write_images_is_refused_before_any_write(clock):
    api = ImagesApi(clock, scopes="images:read_only linodes:read_only")
    result = capture(api, clock, image_id="private/100001", tags=["golden"])
    assert result["failed"] and result["field"] == "api_token" and "images:read_write" in result["msg"]
    assert api.writes() == []


# ---------------------------------------------------------------------------- linode_image_info required_scopes

def info(api, clock, **args):
    result, failed, _warnings = run_module(LinodeImageInfo, api, clock, args)
    return dict(result, failed=failed)


@pytest.mark.parametrize("scopes, required, missing", [
    ("*", ["images:read_write", "linodes:read_write", "events:read_only"], None),
    ("images:read_write linodes:read_write events:read_only", ["images:read_only", "events:read_only"], None),
    ("images:read_only linodes:read_write", ["images:read_write", "events:read_only"], "images:read_write and events:read_only"),
])
def test_required_scopes_refuse_a_token_that_could_not_finish(clock, scopes, required, missing):
    api = ImagesApi(clock, scopes=scopes)
    result = info(api, clock, label="golden-1", required_scopes=required)
    assert api.writes() == [] and len(api.log) == 1
    if missing is None:
        assert not result["failed"] and [i["id"] for i in result["images"]] == ["private/100001"]
    else:
        assert result["failed"] and result["field"] == "api_token"
        assert "The token lacks %s" % missing in result["msg"]


def test_required_scopes_are_scopes(api, clock):
    result = info(api, clock, required_scopes=["images"])
    assert result["failed"] and result["field"] == "required_scopes" and api.log == []
