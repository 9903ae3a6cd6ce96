"""Paging and X-Filter on images, instances and events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml

from conftest import FLEETS, Emulator, expect_invalid_request, new_session, wait_for
from linode_emulator.filterable import FILTERABLE


def listing(api: requests.Session, url: str, filt: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    headers = {"X-Filter": json.dumps(filt)} if filt is not None else {}
    response = api.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_paging_envelope_and_page_size_bounds(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator("--fleet-size", "130", fleet=None)
    url = f"{emu.api_url}/linode/instances"
    with new_session(emu) as api:
        first = listing(api, url)
        assert (first["page"], first["pages"], first["results"], len(first["data"])) == (1, 2, 130, 100)
        second = listing(api, url, page=2)
        assert (second["page"], len(second["data"])) == (2, 30)
        assert {l["id"] for l in first["data"]} | {l["id"] for l in second["data"]} == set(range(1001, 1131))
        small = listing(api, url, page_size=25, page=6)
        assert (small["pages"], len(small["data"]), small["data"][0]["id"]) == (6, 5, 1126)
        assert len(listing(api, url, page_size=500)["data"]) == 130
        for bad in (24, 501):
            with expect_invalid_request():
                response = api.get(url, params={"page_size": bad})
            assert response.status_code == 400
            assert response.json()["errors"][0]["field"] == "page_size"


def fleet_with(tmp_path: Path, **changes: Any) -> Path:
    fleet = yaml.safe_load((FLEETS / "basic.yml").read_text())
    fleet.update(changes)
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(fleet))
    return path


def test_empty_list_has_one_page(api: requests.Session, emu: Emulator) -> None:
    body = listing(api, f"{emu.api_url}/account/events")
    assert body == {"data": [], "page": 1, "pages": 1, "results": 0}


def test_empty_filtered_list_is_page_0_of_0(api: requests.Session, emu: Emulator) -> None:
    # Recorded (GET /images with {"label": "not-found"}).
    assert listing(api, f"{emu.api_url}/images", {"label": "not-found"}) == {
        "data": [], "page": 0, "pages": 0, "results": 0,
    }
    assert listing(api, f"{emu.api_url}/account/events", {"action": "linode_boot"})["page"] == 0
    # A filter that matches keeps the usual envelope.
    assert listing(api, f"{emu.api_url}/images", {"label": "golden-base"})["page"] == 1


def test_idealised_empty_list_page_one(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    emu = own_emulator(fleet=fleet_with(tmp_path, idealised={"empty_list_page_one": True}))
    with new_session(emu) as api:
        assert listing(api, f"{emu.api_url}/images", {"label": "not-found"}) == {
            "data": [], "page": 1, "pages": 1, "results": 0,
        }


def test_image_filters(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images"
    for label, tags in (("golden-web-1", ["golden", "web"]), ("golden-db-1", ["golden", "db-tier"])):
        disk = 2001 if "web" in label else 2003
        assert api.post(url, json={"disk_id": disk, "label": label, "tags": tags}).status_code == 200

    def labels(filt: dict[str, Any]) -> list[str]:
        return [i["label"] for i in listing(api, url, filt)["data"]]

    everything = labels({})
    assert {"Debian 12", "golden-base", "golden-web-1", "golden-db-1"} <= set(everything)
    assert labels({"is_public": False}) == ["golden-base", "golden-web-1", "golden-db-1"]
    assert labels({"label": "golden-web-1"}) == ["golden-web-1"]
    assert labels({"tags": "web"}) == ["golden-web-1"]
    assert labels({"label": {"+contains": "db"}}) == ["golden-db-1"]
    assert labels({"+or": [{"label": "golden-base"}, {"tags": "db-tier"}]}) == ["golden-base", "golden-db-1"]
    assert labels({"+and": [{"is_public": False}, {"tags": "golden"}]}) == [
        "golden-base",
        "golden-web-1",
        "golden-db-1",
    ]
    assert labels({"is_public": False, "+order_by": "label", "+order": "desc"}) == [
        "golden-web-1",
        "golden-db-1",
        "golden-base",
    ]
    assert labels({"type": "manual", "is_public": False, "status": "available"}) == ["golden-base"]
    # While creating, an image's size is its disk's size (25,088 MB here), as recorded.
    assert labels({"is_public": False, "size": {"+lt": 25088}}) == ["golden-base"]
    assert labels({"is_public": False, "size": 25088}) == ["golden-web-1", "golden-db-1"]
    assert labels({"label": {"+neq": "golden-base"}, "is_public": False}) == ["golden-web-1", "golden-db-1"]


def test_instance_filters(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/linode/instances"

    def ids(filt: dict[str, Any]) -> list[int]:
        return [l["id"] for l in listing(api, url, filt)["data"]]

    assert ids({"label": "web-2"}) == [1002]
    assert ids({"region": "eu-west"}) == [1003]
    assert ids({"tags": "web"}) == [1001, 1002]
    assert ids({"+or": [{"region": "us-west"}, {"tags": "db"}]}) == [1002, 1003]
    assert ids({"label": {"+contains": "web"}, "+order_by": "label", "+order": "desc"}) == [1002, 1001]


def test_event_filters_and_ordering(api: requests.Session, emu: Emulator) -> None:
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
    assert api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 3002}).status_code == 200
    url = f"{emu.api_url}/account/events"

    def all_finished() -> bool:
        events = listing(api, url)["data"]
        return len(events) == 2 and all(e["status"] == "finished" for e in events)

    wait_for(all_finished, what="power events")
    assert api.post(f"{emu.api_url}/linode/instances/1001/boot").status_code == 200
    wait_for(lambda: listing(api, url)["results"] == 3, what="the third event to be listed")

    def actions(filt: dict[str, Any]) -> list[str]:
        return [e["action"] for e in listing(api, url, filt)["data"]]

    assert actions({}) == ["linode_boot", "linode_boot", "linode_shutdown"]  # newest first
    assert actions({"+order_by": "created", "+order": "asc"})[0] == "linode_shutdown"
    assert actions({"entity.id": 1001}) == ["linode_boot", "linode_shutdown"]
    assert actions({"entity": {"id": 1002}, "entity.type": "linode"}) == ["linode_boot"]
    assert actions({"action": "linode_shutdown", "read": False}) == ["linode_shutdown"]
    newest = listing(api, url)["data"][0]
    assert actions({"id": {"+gte": newest["id"]}}) == ["linode_boot"]
    assert api.get(f"{url}/{newest['id']}").json()["id"] == newest["id"]
    # Not filterable on the real API (not marked __Filterable__), so refused here too.
    response = api.get(url, headers={"X-Filter": '{"status": "finished"}'})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"reason": "Cannot filter on status", "field": "X-Filter"}]}


def test_bad_filters_are_400(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images"
    response = api.get(url, headers={"X-Filter": '{"favourite_colour": "blue"}'})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"reason": "Cannot filter on favourite_colour", "field": "X-Filter"}]}
    response = api.get(url, headers={"X-Filter": '{"label": {"+like": "x"}}'})
    assert response.status_code == 400
    with expect_invalid_request():
        response = api.get(url, headers={"X-Filter": "{not json"})
    assert response.status_code == 400


def test_put_instance_updates_tags_and_label_and_validates(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/linode/instances/1001"
    answer = api.put(url, json={"tags": ["web", "golden-image:power=running"]})
    assert answer.status_code == 200
    assert answer.json()["tags"] == ["web", "golden-image:power=running"]
    assert api.get(url).json()["tags"] == ["web", "golden-image:power=running"]
    with expect_invalid_request():
        refused = api.put(url, json={"tags": ["ab"], "color": "red"})
    assert refused.status_code == 400
    assert {e["field"] for e in refused.json()["errors"]} == {"tags[0]", "color"}
    assert api.put(url, json={"label": "web-one"}).json()["label"] == "web-one"


# Fields the spec does not mark __Filterable__ (the real API answers 400 "Cannot filter on ...").
NOT_FILTERABLE = {
    "/images": ("id", "created", "updated", "description", "created_by", "expiry"),
    "/account/events": ("status", "percent_complete", "username", "secondary_entity.id", "entity.label"),
    "/linode/instances": ("status", "type", "created", "image"),
    "/linode/instances/{linodeId}/disks": ("id", "status", "filesystem", "created"),
    "/linode/instances/{linodeId}/configs": ("id", "kernel", "root_device"),
    "/linode/types": ("id", "price.monthly", "successor"),
    "/regions": ("id", "label", "status"),
}


def _list_url(emu: Emulator, list_path: str) -> str:
    return emu.api_url + list_path.replace("{linodeId}", "1001")


@pytest.mark.parametrize("list_path", sorted(FILTERABLE))
def test_filters_are_exactly_as_strict_as_the_spec(api: requests.Session, emu: Emulator, list_path: str) -> None:
    url = _list_url(emu, list_path)
    for field in FILTERABLE[list_path]:
        for filt in ({field: "x"}, {field: {"+neq": "x"}}, {"+order_by": field, "+order": "desc"}):
            response = api.get(url, headers={"X-Filter": json.dumps(filt)})
            assert response.status_code == 200, (filt, response.text)
    for field in NOT_FILTERABLE[list_path]:
        for filt in (
            {field: "x"},
            {field: {"+gt": 1}},
            {"+or": [{field: "x"}, {field: "y"}]},
            {"+order_by": field},
        ):
            response = api.get(url, headers={"X-Filter": json.dumps(filt)})
            assert response.status_code == 400, filt
            assert response.json() == {"errors": [{"reason": f"Cannot filter on {field}", "field": "X-Filter"}]}


def test_nested_and_list_fields_filter(api: requests.Session, emu: Emulator) -> None:
    # interfaces.label goes through a list of objects; ipv4 is a list of addresses.
    configs = f"{emu.api_url}/linode/instances/1001/configs"
    assert listing(api, configs, {"interfaces.label": "nothing"})["results"] == 0
    assert [c["id"] for c in listing(api, configs, {"label": "Boot Config"})["data"]] == [3001]
    ipv4 = api.get(f"{emu.api_url}/linode/instances/1002").json()["ipv4"][0]
    assert [l["id"] for l in listing(api, f"{emu.api_url}/linode/instances", {"ipv4": ipv4})["data"]] == [1002]


def test_idealised_lenient_filters(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    emu = own_emulator(fleet=fleet_with(tmp_path, idealised={"lenient_filters": True}))
    with new_session(emu) as api:
        url = f"{emu.api_url}/linode/instances"
        assert [l["id"] for l in listing(api, url, {"status": "offline"})["data"]] == [1002]
        assert listing(api, f"{emu.api_url}/images", {"id": "private/4242"})["results"] == 1
        # Malformed filters are still refused.
        response = api.get(url, headers={"X-Filter": '{"label": {"+like": "x"}}'})
        assert response.status_code == 400
