"""Paging and X-Filter on images, instances and events."""

from __future__ import annotations

import json
from typing import Any, Callable

import requests

from conftest import Emulator, expect_invalid_request, new_session, wait_for


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


def test_empty_list_has_one_page(api: requests.Session, emu: Emulator) -> None:
    body = listing(api, f"{emu.api_url}/account/events")
    assert body == {"data": [], "page": 1, "pages": 1, "results": 0}


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
    assert labels({"type": "manual", "is_public": False, "size": {"+gt": 0}}) == ["golden-base"]
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
    wait_for(lambda: all(e["status"] == "finished" for e in listing(api, url)["data"]), what="power events")
    assert api.post(f"{emu.api_url}/linode/instances/1001/boot").status_code == 200

    def actions(filt: dict[str, Any]) -> list[str]:
        return [e["action"] for e in listing(api, url, filt)["data"]]

    assert actions({}) == ["linode_boot", "linode_boot", "linode_shutdown"]  # newest first
    assert actions({"+order_by": "created", "+order": "asc"})[0] == "linode_shutdown"
    assert actions({"entity.id": 1001}) == ["linode_boot", "linode_shutdown"]
    assert actions({"entity": {"id": 1002}, "entity.type": "linode"}) == ["linode_boot"]
    assert actions({"action": "linode_shutdown", "status": "finished"}) == ["linode_shutdown"]
    assert actions({"status": "started"}) == ["linode_boot"]
    newest = listing(api, url)["data"][0]
    assert api.get(f"{url}/{newest['id']}").json()["id"] == newest["id"]


def test_bad_filters_are_400(api: requests.Session, emu: Emulator) -> None:
    url = f"{emu.api_url}/images"
    response = api.get(url, headers={"X-Filter": '{"favourite_colour": "blue"}'})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "X-Filter"
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
