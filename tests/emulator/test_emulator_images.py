"""Capturing, validating, updating, replicating and deleting images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import requests

from conftest import FLEETS, Emulator, dedupe, expect_invalid_request, fleet_with, is_subsequence, new_session, wait_for


def capture(api: requests.Session, emu: Emulator, **body: Any) -> requests.Response:
    return api.post(f"{emu.api_url}/images", json=body)


def image_number(image_id: str) -> int:
    return int(image_id.split("/")[1])


def imagize_event(api: requests.Session, emu: Emulator, image_id: str) -> dict[str, Any]:
    """The image's disk_imagize event, once listed (events show up timing.event_delay_s after the request)."""

    def listed() -> dict[str, Any] | None:
        events = api.get(f"{emu.api_url}/account/events", headers={"X-Filter": '{"action": "disk_imagize"}'})
        # Recorded: secondary_entity.id is the integer N of private/N.
        return next((e for e in events.json()["data"] if e["secondary_entity"]["id"] == image_number(image_id)), None)

    return wait_for(listed, what=f"disk_imagize event of {image_id}")


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
    # Recorded: while creating, size and total_size are the disk's size (MB) and regions are empty.
    assert (image["size"], image["total_size"], image["regions"]) == (25088, 25088, [])

    event = imagize_event(api, emu, image["id"])
    assert event["entity"]["id"] == 1004 and event["entity"]["type"] == "linode"
    assert event["secondary_entity"] == {
        "id": 100000, "label": "golden-app", "type": "image", "url": "/v4/images/private/100000",
    }
    assert (event["message"], event["time_remaining"]) == ("", None)
    progress: list[int] = []

    def available() -> bool:
        current = api.get(f"{emu.api_url}/images/{image['id']}").json()
        event = imagize_event(api, emu, image["id"])
        if event["status"] == "started":
            progress.append(event["percent_complete"])
            assert event["time_remaining"] is None  # recorded: null while running
            assert isinstance(event["duration"], float)  # recorded: elapsed seconds while running
        return current["status"] == "available"

    wait_for(available, what="image available")
    # The recorded-like step curve: 64, 83, 87, 90, then back to 0 until finished; never linear.
    assert is_subsequence(dedupe(progress), [0, 64, 83, 87, 90, 0]), progress
    assert len(set(progress)) >= 2, progress

    done = api.get(f"{emu.api_url}/images/{image['id']}").json()
    assert done["size"] == 5000  # the disk's used MB, not its size
    assert done["total_size"] == 5000  # size x available regions
    assert done["regions"] == [{"region": "us-central", "status": "available"}]
    event = imagize_event(api, emu, image["id"])
    assert (event["status"], event["percent_complete"], event["time_remaining"]) == ("finished", 100, None)
    assert 1.5 < event["duration"] < 2.5  # (20 s + 5000 MB / 100 MB/s) / 40 = 1.75 s


def test_capture_label_defaults_to_the_disk_label(api: requests.Session, emu: Emulator) -> None:
    image = capture(api, emu, disk_id=2003).json()
    assert image["label"] == "Debian 12 Disk"
    url = f"{emu.api_url}/images/{image['id']}"
    done = wait_for(lambda: (body := api.get(url).json())["status"] == "available" and body, what="capture")
    assert done["regions"] == [{"region": "us-west", "status": "available"}]  # the linode's region


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


def test_missing_disk_is_refused(api: requests.Session, emu: Emulator) -> None:
    (error,) = errors(capture(api, emu, disk_id=99999))
    assert error == {"field": "disk_id", "reason": "Disk not found"}


def test_capture_of_a_disk_not_ready_is_queued_until_the_disk_is_ready(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    # Recorded twice: POST /images on a disk still `not ready` answers 200 `creating`; Linode
    # queues the copy. Here disk 2007 becomes ready 60 s (1.5 s at speed 40) after start.
    emu = own_emulator("--speed", "40", fleet=fleet_with(tmp_path, timing={"disk_ready_s": 60, "event_delay_s": 0}))
    with new_session(emu) as api:
        disk_url = f"{emu.api_url}/linode/instances/1003/disks/2007"
        assert api.get(disk_url).json()["status"] == "not ready"
        response = capture(api, emu, disk_id=2007, label="queued")
        assert response.status_code == 200
        image = response.json()
        assert (image["status"], image["size"], image["regions"]) == ("creating", 10240, [])
        event = imagize_event(api, emu, image["id"])
        if api.get(disk_url).json()["status"] == "not ready":
            # The copy has not begun: the event waits, as a boot does.
            assert (event["status"], event["percent_complete"], event["duration"]) == ("scheduled", 0, None)
        # The linode is busy meanwhile.
        assert errors(api.post(f"{emu.api_url}/linode/instances/1003/shutdown")) == [{"reason": "Linode busy."}]
        wait_for(lambda: api.get(disk_url).json()["status"] == "ready", what="disk ready")
        url = f"{emu.api_url}/images/{image['id']}"
        done = wait_for(lambda: (body := api.get(url).json())["status"] == "available" and body, what="capture")
        assert done["size"] == 800
        event = imagize_event(api, emu, image["id"])
        assert event["status"] == "finished"
        assert event["duration"] > (20 + 800 / 100) / 40 + 0.5  # waited for the disk, then copied


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
    wait_for(lambda: imagize_event(api, emu, image["id"])["status"] == "failed", what="capture to fail")
    event = imagize_event(api, emu, image["id"])
    assert event["entity"]["id"] == 1003
    assert event["message"] == ""  # no useful message
    response = api.get(f"{emu.api_url}/images/{image['id']}")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"reason": "Not found"}]}
    assert image["id"] not in [i["id"] for i in emu.state()["images"]]


def test_failed_capture_can_leave_the_image_creating_instead(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    # Never recorded, so the alternative is a named option: unrecorded.failed_capture: stay_creating.
    emu = own_emulator("--speed", "40", fleet=fleet_with(tmp_path, unrecorded={"failed_capture": "stay_creating"}))
    with new_session(emu) as api:
        image = capture(api, emu, disk_id=2006, label="too-big").json()
        wait_for(lambda: imagize_event(api, emu, image["id"])["status"] == "failed", what="capture to fail")
        stuck = api.get(f"{emu.api_url}/images/{image['id']}")
        assert stuck.status_code == 200
        assert (stuck.json()["status"], stuck.json()["regions"]) == ("creating", [])
        # The linode is free again, and the stuck image can be deleted.
        assert api.post(f"{emu.api_url}/linode/instances/1003/shutdown").status_code == 200
        assert api.delete(f"{emu.api_url}/images/{image['id']}").status_code == 200


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
    events = wait_for(
        lambda: api.get(f"{emu.api_url}/account/events", headers={"X-Filter": '{"action": "image_delete"}'}).json()[
            "data"
        ],
        what="image_delete event",
    )
    assert [(e["entity"]["id"], e["entity"]["type"], e["status"]) for e in events] == [(4242, "image", "finished")]


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
