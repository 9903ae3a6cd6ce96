"""Capturing, validating, updating, replicating and deleting images."""

from __future__ import annotations

from typing import Any, Callable

import requests

from conftest import FLEETS, Emulator, expect_invalid_request, new_session, wait_for


def capture(api: requests.Session, emu: Emulator, **body: Any) -> requests.Response:
    return api.post(f"{emu.api_url}/images", json=body)


def imagize_event(api: requests.Session, emu: Emulator, image_id: str) -> dict[str, Any]:
    events = api.get(f"{emu.api_url}/account/events", headers={"X-Filter": '{"action": "disk_imagize"}'}).json()["data"]
    return next(e for e in events if e["secondary_entity"]["id"] == image_id)


def errors(response: requests.Response) -> list[dict[str, str]]:
    assert response.status_code == 400, response.text
    return response.json()["errors"]


def test_capture_lifecycle_creating_to_available(api: requests.Session, emu: Emulator) -> None:
    # app-1's disk: 5,000 MB used, a 1.75 s capture at the suite's speed.
    response = capture(api, emu, disk_id=2008, label="golden-app", description="app tier", tags=["golden", "app"])
    assert response.status_code == 200
    image = response.json()
    assert image["id"] == "private/100000"  # above every pre-existing id, from 100000 on
    assert image["status"] == "creating"
    assert image["is_public"] is False and image["type"] == "manual"
    assert (image["label"], image["description"], image["tags"]) == ("golden-app", "app tier", ["golden", "app"])
    assert image["regions"] == [{"region": "us-central", "status": "creating"}]

    event = imagize_event(api, emu, image["id"])
    assert event["entity"]["id"] == 1004 and event["entity"]["type"] == "linode"
    assert event["status"] == "started"
    progress: list[tuple[int, str]] = [(event["percent_complete"], event["time_remaining"])]

    def available() -> bool:
        current = api.get(f"{emu.api_url}/images/{image['id']}").json()
        event = imagize_event(api, emu, image["id"])
        if event["status"] == "started":
            progress.append((event["percent_complete"], event["time_remaining"]))
        return current["status"] == "available"

    wait_for(available, what="image available")
    percents = [percent for percent, _remaining in progress]
    remaining = [left for _percent, left in progress]
    assert percents == sorted(percents) and len(set(percents)) > 2
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) > 1
    assert all(len(r) == 8 and r.count(":") == 2 for r in remaining)  # "hh:mm:ss"

    done = api.get(f"{emu.api_url}/images/{image['id']}").json()
    assert done["size"] == 5000  # the disk's used MB, not its size
    assert done["regions"] == [{"region": "us-central", "status": "available"}]
    event = imagize_event(api, emu, image["id"])
    assert (event["status"], event["percent_complete"], event["time_remaining"]) == ("finished", 100, None)


def test_capture_label_defaults_to_the_disk_label(api: requests.Session, emu: Emulator) -> None:
    image = capture(api, emu, disk_id=2003).json()
    assert image["label"] == "Debian 12 Disk"
    assert image["regions"][0]["region"] == "us-west"  # the linode's region


def test_unknown_body_field_is_400_naming_the_field(api: requests.Session, emu: Emulator) -> None:
    with expect_invalid_request():
        response = capture(api, emu, disk_id=2001, region="us-east")
    assert errors(response) == [{"field": "region", "reason": "region is not a recognized field"}]
    with expect_invalid_request():
        response = capture(api, emu, label="no disk")
    assert errors(response)[0]["field"] == "disk_id"
    with expect_invalid_request():
        response = capture(api, emu, disk_id=2001, tags=["ok-tag", "x"])
    assert errors(response)[0]["field"] == "tags[1]"
    assert [i["id"] for i in emu.state()["images"]] == ["private/4242"]  # nothing was created


def test_raw_swap_and_initrd_disks_are_refused_on_disk_id(api: requests.Session, emu: Emulator) -> None:
    for disk_id, filesystem in ((2002, "swap"), (2004, "raw"), (2005, "initrd")):
        (error,) = errors(capture(api, emu, disk_id=disk_id))
        assert error["field"] == "disk_id"
        assert filesystem in error["reason"]


def test_disk_not_ready_and_missing_disk_are_refused(api: requests.Session, emu: Emulator) -> None:
    (error,) = errors(capture(api, emu, disk_id=2007))
    assert error["field"] == "disk_id" and "not ready" in error["reason"]
    (error,) = errors(capture(api, emu, disk_id=99999))
    assert error == {"field": "disk_id", "reason": "Disk not found"}


def test_image_count_limit_is_400(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator("--speed", "40", fleet=FLEETS / "limits.yml")
    with new_session(emu) as api:
        (error,) = errors(capture(api, emu, disk_id=6001))
        assert "maximum number of images" in error["reason"]
        assert "field" not in error
        assert api.delete(f"{emu.api_url}/images/private/300").status_code == 200
        assert capture(api, emu, disk_id=6001).status_code == 200


def test_oversize_capture_fails_and_the_image_disappears(api: requests.Session, emu: Emulator) -> None:
    # Disk 2006 uses 7,000 MB, above the account's 6,144 MB image limit.
    response = capture(api, emu, disk_id=2006, label="too-big")
    assert response.status_code == 200
    image = response.json()
    assert image["status"] == "creating"
    wait_for(lambda: imagize_event(api, emu, image["id"])["status"] != "started", what="capture to end")
    event = imagize_event(api, emu, image["id"])
    assert event["status"] == "failed"
    assert event["entity"]["id"] == 1003
    response = api.get(f"{emu.api_url}/images/{image['id']}")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"reason": "Not found"}]}
    assert image["id"] not in [i["id"] for i in emu.state()["images"]]


def test_update_image_label_description_tags(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images/private/4242"
    response = api.put(url, json={"label": "golden-base-v2", "description": "new words", "tags": ["golden", "v2x"]})
    assert response.status_code == 200
    body = response.json()
    assert (body["label"], body["description"], body["tags"]) == ("golden-base-v2", "new words", ["golden", "v2x"])
    assert api.get(url).json()["label"] == "golden-base-v2"
    with expect_invalid_request():
        response = api.put(url, json={"label": "x", "color": "blue"})
    assert errors(response) == [{"field": "color", "reason": "color is not a recognized field"}]
    assert api.get(url).json()["label"] == "golden-base-v2"  # all or nothing


def test_delete_image_answers_empty_object_and_logs_an_event(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images/private/4242"
    response = api.delete(url)
    assert response.status_code == 200 and response.json() == {}
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404
    events = api.get(f"{emu.api_url}/account/events", headers={"X-Filter": '{"action": "image_delete"}'}).json()["data"]
    assert [(e["entity"]["id"], e["entity"]["type"]) for e in events] == [(4242, "image")]


def test_deleting_an_image_being_captured_cancels_the_capture(api: requests.Session, emu: Emulator) -> None:
    image = capture(api, emu, disk_id=2001).json()
    assert api.delete(f"{emu.api_url}/images/{image['id']}").status_code == 200
    assert imagize_event(api, emu, image["id"])["status"] == "failed"
    # The linode is free again at once.
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200


def test_replication_adds_and_removes_regions(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images/private/4242"
    response = api.post(f"{url}/regions", json={"regions": ["us-east", "eu-west"]})
    assert response.status_code == 200
    assert response.json()["regions"] == [
        {"region": "us-east", "status": "available"},
        {"region": "eu-west", "status": "pending replication"},
    ]
    seen = set()

    def replicated() -> bool:
        status = api.get(url).json()["regions"][1]["status"]
        seen.add(status)
        return status == "available"

    wait_for(replicated, what="replication")
    assert "replicating" in seen
    # Regions left out are removed.
    response = api.post(f"{url}/regions", json={"regions": ["eu-west"]})
    assert response.json()["regions"] == [{"region": "eu-west", "status": "available"}]


def test_replication_refusals(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images/private/4242/regions"
    (error,) = errors(api.post(url, json={"regions": []}))
    assert error["field"] == "regions"
    (error,) = errors(api.post(url, json={"regions": ["mars-north"]}))
    assert error["field"] == "regions" and "mars-north" in error["reason"]
    # At least one region must already hold the image.
    (error,) = errors(api.post(url, json={"regions": ["eu-west"]}))
    assert error["field"] == "regions"
    creating = capture(api, emu, disk_id=2001).json()
    (error,) = errors(api.post(f"{emu.api_url}/images/{creating['id']}/regions", json={"regions": ["us-east"]}))
    assert "available" in error["reason"]


def test_public_images_are_listed_but_read_only(api: requests.Session, emu: Emulator) -> None:
    response = api.get(f"{emu.api_url}/images/linode/debian12")
    assert response.status_code == 200
    assert response.json()["is_public"] is True
    assert api.delete(f"{emu.api_url}/images/linode/debian12").status_code == 403
