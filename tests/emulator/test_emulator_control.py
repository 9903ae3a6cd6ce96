"""The control API's shapes, which other tools depend on."""

from __future__ import annotations

import time

import requests

from conftest import Emulator, expect_invalid_request, new_session, wait_for


def test_request_log_shape_and_order(api: requests.Session, emu: Emulator) -> None:
    before = time.time()
    api.get(f"{emu.api_url}/images", params={"page": 1})
    api.post(f"{emu.api_url}/linode/instances/1001/shutdown")
    api.get(f"{emu.url}/v4beta/linode/instances/1001")
    with new_session(emu, token="nobody") as stranger:
        stranger.get(f"{emu.api_url}/profile")
    with new_session(emu, token="readonly-token") as readonly:
        readonly.get(f"{emu.api_url}/account/events")
    emu.add_faults({"path": "^/v4/account$", "times": 1, "status": 502})
    api.get(f"{emu.api_url}/account")
    emu.state()  # control requests are not logged

    log = emu.request_log()
    assert [set(entry) for entry in log] == [{"method", "path", "query", "status", "time"}] * len(log)
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", "/v4/images", "page=1", 200),
        ("POST", "/v4/linode/instances/1001/shutdown", "", 200),
        ("GET", "/v4beta/linode/instances/1001", "", 200),
        ("GET", "/v4/profile", "", 401),
        ("GET", "/v4/account/events", "", 403),
        ("GET", "/v4/account", "", 502),
    ]
    times = [e["time"] for e in log]
    assert times == sorted(times)
    assert before - 1 <= times[0] <= time.time() + 1
    assert all(isinstance(t, float) for t in times)


def test_state_shape(api: requests.Session, emu: Emulator) -> None:
    assert api.post(f"{emu.api_url}/images", json={"disk_id": 2001, "label": "state-check"}).status_code == 200
    state = emu.state()
    assert set(state) == {"linodes", "images", "events"}
    linode = state["linodes"][0]
    # The API's Linode shape plus its disks and configs.
    assert linode == {
        **api.get(f"{emu.api_url}/linode/instances/1001").json(),
        "disks": linode["disks"],
        "configs": linode["configs"],
    }
    api_disks = api.get(f"{emu.api_url}/linode/instances/1001/disks").json()["data"]
    assert [{k: v for k, v in d.items() if k != "used_mb"} for d in linode["disks"]] == api_disks
    assert [d["used_mb"] for d in linode["disks"]] == [2900, 0]
    assert linode["configs"] == api.get(f"{emu.api_url}/linode/instances/1001/configs").json()["data"]
    devices = linode["configs"][0]["devices"]
    assert (devices["sda"]["disk_id"], devices["sdb"]["disk_id"], devices["sdc"]) == (2001, 2002, None)
    # Private images only, in the API's Image shape.
    assert [i["id"] for i in state["images"]] == ["private/4242", "private/100000"]
    wait_for(lambda: emu.state()["images"][1]["status"] == "available", what="capture")
    assert emu.state()["images"][1] == api.get(f"{emu.api_url}/images/private/100000").json()
    (event,) = state["events"]
    assert event["action"] == "disk_imagize"
    assert event["entity"]["id"] == 1001
    assert {"id", "action", "created", "entity", "status", "percent_complete", "time_remaining"} <= set(event)


def test_reset_restores_the_fleet_file_state(api: requests.Session, emu: Emulator) -> None:
    pristine = emu.state()
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
    assert api.delete(f"{emu.api_url}/images/private/4242").status_code == 200
    assert api.post(f"{emu.api_url}/images", json={"disk_id": 2003}).status_code == 200
    wait_for(lambda: emu.state()["linodes"][0]["status"] == "offline", what="shutdown")
    emu.reset()
    after = emu.state()
    assert after["events"] == [] and emu.request_log() == []
    assert [i["id"] for i in after["images"]] == ["private/4242"]
    assert [l["status"] for l in after["linodes"]] == [l["status"] for l in pristine["linodes"]]
    # Ids start over, as in a fresh process.
    assert api.post(f"{emu.api_url}/images", json={"disk_id": 2003}).json()["id"] == "private/100000"


def test_control_api_needs_no_token_and_rejects_unknown_actions(emu: Emulator) -> None:
    with new_session(emu, auth=False) as anonymous:
        assert anonymous.get(f"{emu.url}/__emulator__/state").status_code == 200
        assert anonymous.get(f"{emu.url}/__emulator__/nothing").status_code == 404
        assert anonymous.delete(f"{emu.url}/__emulator__/state").status_code == 405


def test_method_not_allowed_on_a_known_path(api: requests.Session, emu: Emulator) -> None:
    with expect_invalid_request():
        response = api.delete(f"{emu.api_url}/linode/instances/1001/disks")
    assert response.status_code == 405
    assert response.json() == {"errors": [{"reason": "Method Not Allowed"}]}
