"""Tests of the OpenAPI contract checker itself (contract.py): no emulator, no network.

Exchanges are built by hand (requests.PreparedRequest + requests.Response) or go through a
requests Session whose transport adapter returns canned responses.
"""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter

try:  # tests/emulator as a package
    from . import contract as contract_module
except ImportError:  # rootdir-relative import (tests/emulator has no __init__.py)
    import contract as contract_module

Contract = contract_module.Contract

API = "https://127.0.0.1:8443/v4"
TOKEN_HEADERS = {"Authorization": "Bearer demo-token"}

# A complete private Image as the spec (v4.189.0) describes it, timestamps in RFC 3339.
VALID_IMAGE = {
    "id": "private/1337",
    "label": "golden-web",
    "description": None,
    "created": "2025-01-02T03:04:05Z",
    "updated": "2025-01-02T03:09:05Z",
    "created_by": "demo-user",
    "type": "manual",
    "is_public": False,
    "deprecated": False,
    "size": 2900,
    "total_size": 2900,
    "vendor": None,
    "status": "available",
    "eol": None,
    "expiry": None,
    "capabilities": [],
    "tags": ["golden-image"],
    "regions": [{"region": "us-east", "status": "available"}],
}
ERROR_404 = {"errors": [{"reason": "Not found"}]}


# ---- helpers ---------------------------------------------------------------------------------


def make_response(request, status=200, body=None, content_type="application/json", raw=None):
    """A requests.Response as requests' own HTTPAdapter builds it from a urllib3 response."""
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    raw_response = urllib3.HTTPResponse(
        body=io.BytesIO(data), headers=headers, status=status, preload_content=False, decode_content=False
    )
    return HTTPAdapter().build_response(request, raw_response)


def exchange(method, path, status=200, body=None, json_body=None, headers=None, **response_kwargs):
    """(PreparedRequest, Response) for ``method API+path`` answered ``status`` with ``body``."""
    url = path if "://" in path else API + path
    request = requests.Request(method, url, json=json_body, headers={**TOKEN_HEADERS, **(headers or {})}).prepare()
    return request, make_response(request, status, body, **response_kwargs)


class CannedAdapter(BaseAdapter):
    """A transport adapter answering from a table: {(METHOD, path): (status, body)}."""

    def __init__(self, routes):
        super().__init__()
        self.routes = routes
        self.sent = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        # pylint: disable=too-many-arguments,too-many-positional-arguments,unused-argument
        self.sent.append(request)
        status, body = self.routes[(request.method, urlsplit(request.url).path)]
        return make_response(request, status, body)

    def close(self):
        pass


def canned_session(routes, contract):
    session = requests.Session()
    adapter = CannedAdapter(routes)
    session.mount("https://127.0.0.1:8443/", adapter)
    return contract_module.attach(session, contract), adapter


def problems_of(contract, request, response):
    violation = contract.check_exchange(request, response)
    return violation.problems if violation else []


@pytest.fixture(name="contract", scope="module")
def fixture_contract():
    """A private Contract on the shared spec: the deliberate violations below stay out of the shared one."""
    shared = contract_module.require_contract()
    return Contract(shared.spec_file)


@pytest.fixture(name="sdk_image")
def fixture_sdk_image():
    """The SDK fixture images_private_1337.json (beside the spec), or VALID_IMAGE where it is absent."""
    for folder in (contract_module.spec_path().parent, contract_module.DEFAULT_SPEC_PATH.parent):
        fixture = folder / "fixtures" / "images_private_1337.json"
        if fixture.is_file():
            return json.loads(fixture.read_text(encoding="utf-8"))
    return dict(VALID_IMAGE)


# ---- locating the spec -----------------------------------------------------------------------


def test_require_contract_is_cached_and_reads_the_spec():
    first = contract_module.require_contract()
    assert contract_module.require_contract() is first
    assert first.version and first.spec_sha256
    assert first.spec_file.is_file()


def test_spec_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(contract_module.SPEC_ENV, raising=False)
    assert contract_module.spec_path() == contract_module.REPO_ROOT.parent / "shared" / "linode-api" / "openapi.yaml"
    monkeypatch.setenv(contract_module.SPEC_ENV, str(tmp_path / "spec.yaml"))
    assert contract_module.spec_path() == tmp_path / "spec.yaml"


def test_missing_spec_skips_with_a_reason_or_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv(contract_module.SPEC_ENV, str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.warns(contract_module.ContractSkipped, match="spec not found"):
        with pytest.raises(pytest.skip.Exception, match="spec not found at .*absent.yaml"):
            contract_module.require_contract()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        contract_module.require_contract()


def test_the_parsed_spec_is_cached_by_sha256(contract, tmp_path):
    cached = list(contract_module.CACHE_DIR.glob(f"linode-openapi-{contract.spec_sha256}-*.json"))
    if cached:
        (tmp_path / cached[0].name).write_bytes(cached[0].read_bytes())
    else:  # a read-only checkout: build one here
        assert not Contract(contract.spec_file, cache_dir=tmp_path).loaded_from_cache
    again = Contract(contract.spec_file, cache_dir=tmp_path)
    assert again.loaded_from_cache and again.spec_sha256 == contract.spec_sha256


# ---- valid exchanges -------------------------------------------------------------------------


def test_sdk_fixture_image_validates(contract, sdk_image):
    """images_private_1337.json validates; its offset-less timestamps need the naive-date-time allowance."""
    before = contract.allowance_hits["naive-date-time"]
    contract.validate_exchange(*exchange("GET", "/images/private/1337", body=sdk_image))
    contract.validate_exchange(*exchange("GET", "/images/private/1337", body=VALID_IMAGE))
    assert contract.allowance_hits["naive-date-time"] > before or sdk_image == VALID_IMAGE


def test_v4beta_is_checked_too(contract):
    contract.validate_exchange(
        *exchange("GET", API.replace("/v4", "/v4beta") + "/images/private/1337", body=VALID_IMAGE)
    )
    request, response = exchange("GET", API.replace("/v4", "/v4beta") + "/images/private/1337", 201, VALID_IMAGE)
    assert contract.check_exchange(request, response) is not None


def test_valid_list_response_with_filter_and_paging(contract, sdk_image):
    page = {"data": [VALID_IMAGE, dict(sdk_image, id="private/1338")], "page": 1, "pages": 1, "results": 2}
    filters = {"+and": [{"label": {"+contains": "golden"}}, {"is_public": False}], "+order_by": "created"}
    contract.validate_exchange(
        *exchange("GET", "/images?page=1&page_size=100", body=page, headers={"X-Filter": json.dumps(filters)})
    )
    instances = {"data": [], "page": 1, "pages": 1, "results": 0}
    contract.validate_exchange(
        *exchange("GET", "/linode/instances", body=instances, headers={"X-Filter": json.dumps({"label": "web-1"})})
    )


def test_valid_post_images_request_and_replication(contract):
    body = {
        "disk_id": 2001,
        "label": "golden-web",
        "description": "web tier",
        "tags": ["golden-image"],
        "cloud_init": True,
    }
    creating = dict(VALID_IMAGE, status="creating", size=0, total_size=0, regions=[])
    contract.validate_exchange(*exchange("POST", "/images", body=creating, json_body=body))
    contract.validate_exchange(
        *exchange("POST", "/images/private/1337/regions", body=VALID_IMAGE, json_body={"regions": ["us-east"]})
    )
    contract.validate_exchange(*exchange("DELETE", "/images/private/1337", body={}))


def test_private_image_ids_map_onto_image_id(contract):
    assert contract.route("GET", "/v4/images/private/123") == (
        "/{apiVersion}/images/{imageId}",
        {"apiVersion": "v4", "imageId": "private/123"},
    )
    assert contract.route("POST", "/v4/images/private/123/regions") == (
        "/{apiVersion}/images/{imageId}/regions",
        {"apiVersion": "v4", "imageId": "private/123"},
    )
    assert contract.route("POST", "/v4/images/upload")[0] == "/{apiVersion}/images/upload"
    assert contract.route("GET", "/v4/linode/instances/1001/disks/2001")[1] == {
        "apiVersion": "v4",
        "linodeId": "1001",
        "diskId": "2001",
    }


def test_power_actions_and_errors_in_linode_shape(contract):
    contract.validate_exchange(*exchange("POST", "/linode/instances/1001/shutdown", body={}))
    contract.validate_exchange(*exchange("POST", "/linode/instances/1001/boot", body={}, json_body={"config_id": 3001}))
    busy = {"errors": [{"reason": "Linode busy"}]}
    contract.validate_exchange(*exchange("POST", "/linode/instances/1001/boot", 400, busy))
    invalid = {"errors": [{"field": "disk_id", "reason": "You cannot create an image from a swap disk."}]}
    contract.validate_exchange(*exchange("POST", "/images", 400, invalid, json_body={"disk_id": 2002}))
    contract.validate_exchange(*exchange("GET", "/images", 429, {"errors": [{"reason": "Too many requests"}]}))


# ---- rejected exchanges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"size": "2900"}, r"\$\.size: '2900' is not of type 'integer'"),
        ({"status": "ready"}, r"\$\.status: 'ready' is not one of \['creating', 'pending_upload', 'available'\]"),
        ({"is_public": None}, r"\$\.is_public: None for not nullable"),
        ({"is_shared": False}, r"Additional properties are not allowed \('is_shared' was unexpected\)"),
        ({"created": "yesterday"}, r"\$\.created: 'yesterday' is not a 'date-time'"),
        ({"regions": [{"region": "us-east", "status": "ready"}]}, r"\$\.regions\[0\]\.status: 'ready' is not one of"),
    ],
)
def test_rejects_an_invalid_image(contract, change, expected):
    """The spec's Image lists no `required` properties: what fails is a wrong type, value or extra field."""
    request, response = exchange("GET", "/images/private/1337", body=dict(VALID_IMAGE, **change))
    with pytest.raises(AssertionError) as caught:
        contract.validate_exchange(request, response)
    message = str(caught.value)
    assert message.startswith("OpenAPI contract violation: GET /v4/images/private/1337 -> 200")
    assert "[GET /{apiVersion}/images/{imageId}]" in message
    assert "response body" in message
    assert caught.match(expected)
    assert contract.violations[-1].status == 200


def test_rejects_an_image_in_a_list_page(contract):
    page = {"data": [VALID_IMAGE, dict(VALID_IMAGE, size=-1.5)], "page": 1, "pages": 1, "results": 2}
    problems = problems_of(contract, *exchange("GET", "/images", body=page))
    assert problems == ["response body $.data[1].size: -1.5 is not of type 'integer'"]


@pytest.mark.parametrize(
    "method, path, status, body",
    [
        ("GET", "/images/private/1337", 201, VALID_IMAGE),
        ("POST", "/linode/instances/1001/shutdown", 204, None),
        ("POST", "/images", 202, VALID_IMAGE),
    ],
)
def test_rejects_an_undocumented_status(contract, method, path, status, body):
    json_body = {"disk_id": 2001} if path == "/images" else None
    raw = b"" if body is None else None
    request, response = exchange(method, path, status, body, json_body=json_body, raw=raw)
    with pytest.raises(AssertionError, match=rf"status {status} is not documented for {method} /{{apiVersion}}"):
        contract.validate_exchange(request, response)


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"disk_id": "2001"}, r"request body \$\.disk_id: '2001' is not of type 'integer'"),
        ({"disk_id": None}, r"request body \$\.disk_id: None for not nullable"),
        ({"label": "no-disk"}, r"request body \$: 'disk_id' is a required property"),
        ({"disk_id": 2001, "region": "us-east"}, r"'region' was unexpected"),
        ({"disk_id": 2001, "tags": ["ab"]}, r"request body \$\.tags\[0\]: 'ab' is too short"),
    ],
)
def test_rejects_an_invalid_post_images_body(contract, body, expected):
    request, response = exchange("POST", "/images", 200, VALID_IMAGE, json_body=body)
    with pytest.raises(AssertionError, match=expected) as caught:
        contract.validate_exchange(request, response)
    assert "POST /v4/images -> 200  [POST /{apiVersion}/images]" in str(caught.value)


@pytest.mark.parametrize(
    "status, body, content_type, expected",
    [
        (400, {"error": "bad disk"}, "application/json", r"'errors' is a required property"),
        (
            404,
            {"errors": [{"field": "label"}]},
            "application/json",
            r"\$\.errors\[0\]: 'reason' is a required property",
        ),
        (400, {"errors": []}, "application/json", r"\$\.errors: \[\] should be non-empty"),
        (400, {"errors": [{"reason": "x", "code": 7}]}, "application/json", r"'code' was unexpected"),
        (500, None, "text/html", r"must carry a JSON ErrorObject body, got Content-Type 'text/html'"),
    ],
)
def test_rejects_an_error_body_not_in_error_object_shape(contract, status, body, content_type, expected):
    raw = b"<html>oops</html>" if body is None else None
    request, response = exchange("GET", "/images/private/1337", status, body, content_type=content_type, raw=raw)
    with pytest.raises(AssertionError, match=expected):
        contract.validate_exchange(request, response)


def test_error_bodies_are_checked_even_on_unknown_paths(contract):
    request, response = exchange("GET", "/nope", 404, {"message": "no"})
    problems = problems_of(contract, request, response)
    assert problems[0] == f"request: no path of the spec (v{contract.version}) matches /v4/nope"
    assert any("'errors' is a required property" in p for p in problems)
    problems = problems_of(contract, *exchange("PATCH", "/images", 405, ERROR_404))
    assert problems == ["request: PATCH is not an operation of /{apiVersion}/images (spec has: GET, POST)"]


def test_request_parameters_and_security_are_checked(contract):
    problems = problems_of(contract, *exchange("GET", "/images?page_size=10", body={"data": []}))
    assert any("query parameter 'page_size'" in p and "less than the minimum of 25" in p for p in problems)
    problems = problems_of(contract, *exchange("GET", "/account/events/abc", body={}))
    assert any("eventId" in p for p in problems)
    request = requests.Request("GET", API + "/images/private/1337").prepare()  # no Authorization header
    problems = problems_of(contract, request, make_response(request, 401, {"errors": [{"reason": "Invalid Token"}]}))
    assert problems and problems[0].startswith("request: ")
    public = requests.Request("GET", API + "/regions").prepare()  # GET /regions needs no token
    assert not problems_of(
        contract, public, make_response(public, 200, {"data": [], "page": 1, "pages": 1, "results": 0})
    )


def test_non_api_paths_are_ignored(contract):
    request, response = exchange("GET", "https://127.0.0.1:8443/__emulator__/state", 200, {"linodes": []})
    assert contract.check_exchange(request, response) is None
    request, response = exchange("POST", "https://127.0.0.1:8443/__emulator__/faults", 201, "not-an-object")
    assert contract.check_exchange(request, response) is None


# ---- allowances ------------------------------------------------------------------------------


def test_allowances_are_named_and_justified():
    names = [a.name for a in contract_module.ALLOWANCES]
    assert len(names) == len(set(names))
    assert all(len(a.reason) > 40 for a in contract_module.ALLOWANCES)


def test_naive_date_time_allowance_is_narrow(contract):
    assert not problems_of(
        contract, *exchange("GET", "/images/private/1", body=dict(VALID_IMAGE, created="2025-01-02T03:04:05"))
    )
    for bad in ("2025-01-02", "2025-13-02T03:04:05", "2025-01-02 03:04:05", "2025-01-02T03:04:05+0100"):
        problems = problems_of(contract, *exchange("GET", "/images/private/1", body=dict(VALID_IMAGE, created=bad)))
        assert problems == [f"response body $.created: '{bad}' is not a 'date-time'"], bad


def test_x_filter_must_be_a_json_object(contract):
    for bad in ('{"label": ', '["label"]'):
        problems = problems_of(contract, *exchange("GET", "/images", body={"data": []}, headers={"X-Filter": bad}))
        assert len(problems) == 1 and problems[0].startswith("request header X-Filter"), problems


def test_config_nulls_follow_the_api_not_the_spec(contract):
    devices = {"sda": {"disk_id": 2001, "volume_id": None}, "sdb": {"disk_id": 2002, "volume_id": None}}
    devices.update({slot: None for slot in ("sdc", "sdd", "sde", "sdf", "sdg", "sdh")})
    config = {
        "id": 3001,
        "label": "Boot Config",
        "root_device": "/dev/sda",
        "devices": devices,
        "kernel": "linode/grub2",
        "comments": None,
        "memory_limit": 0,
        "run_level": "default",
        "virt_mode": "paravirt",
        "helpers": {
            "updatedb_disabled": True,
            "distro": True,
            "modules_dep": True,
            "network": True,
            "devtmpfs_automount": True,
        },
    }
    page = {"data": [config], "page": 1, "pages": 1, "results": 1}
    assert not problems_of(contract, *exchange("GET", "/linode/instances/1001/configs", body=page))
    # The configs list has no `default` response: errors are accepted by allowance, in ErrorObject shape.
    assert not problems_of(contract, *exchange("GET", "/linode/instances/1001/configs", 404, ERROR_404))
    # Null is allowed only where the allowance says: not for disk_id, not for label.
    broken = dict(config, label=None, devices=dict(devices, sda={"disk_id": None}))
    problems = problems_of(contract, *exchange("GET", "/linode/instances/1001/configs", body=dict(page, data=[broken])))
    assert sorted({p.split(":")[0] for p in problems}) == [
        "response body $.data[0].devices.sda.disk_id",
        "response body $.data[0].label",
    ]


def test_event_rate_may_be_null_but_percent_complete_may_not(contract):
    event = {
        "id": 5001,
        "action": "disk_imagize",
        "created": "2025-01-02T03:04:05",
        "entity": {"id": 1001, "label": "web-1", "type": "linode", "url": "/v4/linode/instances/1001"},
        "percent_complete": 40,
        "rate": None,
        "read": False,
        "seen": False,
        "status": "started",
        "time_remaining": None,
        "username": "demo-user",
        "message": None,
        "duration": 8.0,
    }
    assert not problems_of(contract, *exchange("GET", "/account/events/5001", body=event))
    problems = problems_of(contract, *exchange("GET", "/account/events/5001", body=dict(event, percent_complete=None)))
    assert problems and all(p.startswith("response body $.percent_complete") for p in problems)


def test_event_allowances_follow_recorded_traffic(contract):
    # As recorded by linodego's integration tests: a scheduled boot with duration null, a
    # shutdown with secondary_entity null, a capture whose image id is an integer.
    event = {
        "id": 5002,
        "action": "linode_boot",
        "created": "2025-01-02T03:04:05",
        "entity": {"id": 1001, "label": "web-1", "type": "linode", "url": "/v4/linode/instances/1001"},
        "percent_complete": 0,
        "rate": None,
        "read": False,
        "seen": False,
        "status": "scheduled",
        "time_remaining": None,
        "username": "demo-user",
        "message": "",
        "duration": None,
        "secondary_entity": None,
    }
    image = {"id": 33812167, "label": "golden", "type": "image", "url": "/v4/images/private/33812167"}
    page = {"data": [dict(event, secondary_entity=image)], "page": 1, "pages": 1, "results": 1}
    before = dict(contract.allowance_hits)
    assert not problems_of(contract, *exchange("GET", "/account/events/5002", body=event))
    assert not problems_of(contract, *exchange("GET", "/account/events", body=page))
    for name in ("event-secondary-entity-null", "event-duration-null-while-scheduled", "event-secondary-entity-integer-id"):
        assert contract.allowance_hits[name] > before.get(name, 0), name
    # Narrow: only an integer, only secondary_entity.id, only on events.
    for bad in (1.5, True, ["x"]):
        problems = problems_of(
            contract, *exchange("GET", "/account/events/5002", body=dict(event, secondary_entity=dict(image, id=bad)))
        )
        assert problems and all(p.startswith("response body $.secondary_entity.id") for p in problems), bad
    problems = problems_of(
        contract, *exchange("GET", "/account/events/5002", body=dict(event, entity=dict(event["entity"], label=5)))
    )
    assert problems and problems[0].startswith("response body $.entity.label")
    # An empty filtered list is page 0 of 0 (recorded); the spec sets no minimum, so no allowance is needed.
    assert not problems_of(
        contract, *exchange("GET", "/images", body={"data": [], "page": 0, "pages": 0, "results": 0})
    )


# ---- sessions --------------------------------------------------------------------------------


def test_attach_validates_every_exchange_and_records_violations(contract):
    routes = {
        ("GET", "/v4/images/private/1337"): (200, VALID_IMAGE),
        ("GET", "/v4/images/private/1338"): (200, dict(VALID_IMAGE, size="big")),
        ("GET", "/__emulator__/requests"): (200, {"requests": []}),
    }
    session, adapter = canned_session(routes, contract)
    assert contract_module.attach(session, contract) is session
    assert session.hooks["response"].count(contract._hook) == 1  # pylint: disable=protected-access

    start, checked = len(contract.violations), contract.checked
    # requests' default headers (User-Agent, Accept, Accept-Encoding, Connection) are fine.
    assert session.get(API + "/images/private/1337", headers=TOKEN_HEADERS).json()["id"] == "private/1337"
    session.get("https://127.0.0.1:8443/__emulator__/requests")  # not an API path: not checked
    assert contract.checked == checked + 1 and len(contract.violations) == start

    try:
        session.get(API + "/images/private/1338", headers=TOKEN_HEADERS)
    except AssertionError:
        pass  # a caller that swallows the failure...
    assert len(adapter.sent) == 3
    recorded = contract.violations[start:]  # ...does not hide it
    assert len(recorded) == 1 and recorded[0].problems == ["response body $.size: 'big' is not of type 'integer'"]
    with pytest.raises(AssertionError, match="1 OpenAPI contract violation"):
        contract.assert_no_violations(since=start)
    with pytest.raises(AssertionError, match=r"GET /v4/images/private/1338 -> 200"):
        with contract.guard():
            session.get(API + "/images/private/1337", headers=TOKEN_HEADERS)
            with pytest.raises(AssertionError):
                session.get(API + "/images/private/1338", headers=TOKEN_HEADERS)


def test_attach_checks_what_linode_api4_sends(contract):
    from linode_api4 import Image, LinodeClient  # pylint: disable=import-outside-toplevel

    page = {"data": [VALID_IMAGE], "page": 1, "pages": 1, "results": 1}
    routes = {
        ("GET", "/v4/images"): (200, page),
        ("GET", "/v4/images/private/1337"): (200, VALID_IMAGE),
        ("POST", "/v4/images"): (200, dict(VALID_IMAGE, status="creating")),
    }
    client = LinodeClient("demo-token", base_url=API)
    adapter = CannedAdapter(routes)
    client.session.mount("https://127.0.0.1:8443/", adapter)
    contract_module.attach(client.session, contract)
    start = len(contract.violations)
    with contract.guard():
        assert [i.id for i in client.images(Image.label == "golden-web")] == ["private/1337"]  # X-Filter header
        assert client.load(Image, "private/1337").status == "available"
        assert client.images.create(2001, label="golden-web", tags=["golden-image"]).status == "creating"
    assert [r.method for r in adapter.sent] == ["GET", "GET", "POST"]
    assert len(contract.violations) == start


def test_expect_invalid_request(contract):
    routes = {("GET", "/v4/images/private/1337"): (401, {"errors": [{"reason": "Invalid Token"}]})}
    session = canned_session(routes, contract)[0]
    with contract.expect_invalid_request() as seen:
        assert session.get(API + "/images/private/1337").status_code == 401  # no token
    assert seen and seen[0] and "request" in seen[0][0]
    with pytest.raises(AssertionError, match="none of the 1 API request"):
        with contract.expect_invalid_request():
            session.get(API + "/images/private/1337", headers=TOKEN_HEADERS)
    routes[("GET", "/v4/images/private/1337")] = (401, {"detail": "no"})
    with contract.expect_invalid_request(), pytest.raises(AssertionError, match="'errors' is a required property"):
        session.get(API + "/images/private/1337")  # the response is still checked
