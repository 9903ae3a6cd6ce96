"""Every X-Filter the collection builds names only fields the real API can filter on.

The canned transport (conftest.py) refuses any request whose filter names a field outside the
spec's allow-list, so each call below fails if it builds such a filter; the first tests show that
the check catches the filters the real API refused.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.golden_image.linode.plugins.inventory.instances import api_filter
from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.errors import NoAnswer
from ansible_collections.golden_image.linode.plugins.module_utils.instances import find_instances, get_instance
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import capture_events, list_events
from filter_allowlist import refused_fields


def page(*items):
    return (200, {"data": list(items), "page": 1, "pages": 1, "results": len(items)})


EMPTY = (200, {"data": [], "page": 0, "pages": 0, "results": 0})


@pytest.mark.parametrize("path,query,refused", [
    ("/v4/images", {"is_public": False, "+order_by": "created", "+order": "desc"}, ["created"]),
    ("/v4/images", {"+or": [{"id": "private/1"}, {"id": "private/2"}]}, ["id", "id"]),
    ("/v4/account/events", {"status": "started", "+or": [{"entity.id": 1}]}, ["status"]),
    ("/v4/linode/instances", {"status": "running"}, ["status"]),
    ("/v4/linode/instances/5/disks", {"filesystem": "ext4"}, ["filesystem"]),
    ("/v4/images/private/5", {"label": "x"}, ["label"]),
    ("/v4/images", {"is_public": False, "label": {"+contains": "web"}, "+and": [{"tags": "a"}]}, []),
    ("/v4/account/events", {"action": "disk_imagize", "entity": {"id": 4}, "created": {"+gte": "2024-01-01T00:00:00"},
                            "+order_by": "created", "+order": "desc"}, []),
])
def test_the_check_refuses_what_the_real_api_refuses(path, query, refused):
    assert refused_fields(path, json.dumps(query)) == refused


def test_image_listings_filter_on_filterable_fields_and_order_here(client_with):
    older = {"id": "private/1", "label": "web", "created": "2024-01-01T00:00:00", "is_public": False, "tags": []}
    newer = dict(older, id="private/2", created="2024-02-01T00:00:00")
    client = client_with([page(older, newer), page(older, newer), EMPTY])
    assert [i["id"] for i in img.list_private_images(client, {"label": "web"})] == ["private/2", "private/1"]
    assert [i["id"] for i in img.select_private_images(client, label_prefix="we", tags=["a"])] == []
    assert img.select_private_images(client, label="web", tags=["prod", "x"]) == []
    filters = [json.loads(r.headers["X-Filter"]) for r, _kwargs in client.session.adapter.sent]
    assert all("+order_by" not in f for f in filters)


def test_a_capture_in_doubt_looks_for_its_image_by_label(client_with):
    body = img.capture_body(2, "web", None, [], False, 1)
    made = {"id": "private/9", "label": "web", "created": "2024-01-01T00:00:00", "tags": [img.source_tag(1, 2)]}
    client = client_with([NoAnswer("reset"), page(made)])
    assert img.capture(client, body, 1, [])["id"] == "private/9"


def test_instance_lookups_filter_on_filterable_fields(client_with):
    instance = {"id": 1, "label": "web-1", "status": "running", "tags": ["prod"]}
    client = client_with([page(instance), page(instance)])
    assert get_instance(client, linode_label="web-1")["id"] == 1
    assert [i["id"] for i in find_instances(client, [1, 2], ["web-3"], ["prod"])] == [1]


def test_event_reads_filter_on_filterable_fields(client_with):
    event = {"id": 5, "action": "disk_imagize", "status": "started", "created": "2024-01-01T00:00:00",
             "entity": {"id": 1, "type": "linode"}, "secondary_entity": {"id": 9, "type": "image"}}
    client = client_with([page(event), page(event)])
    assert list_events(client, "linode_boot", [1, 2], "2024-01-01T00:00:00") == [event]
    assert capture_events(client, {"private/9": 1}, "2024-01-01T00:00:00") == {"private/9": event}


@pytest.mark.parametrize("regions,tags", [([], []), (["us-east"], []), (["us-east", "eu-west"], ["web", "prod"])])
def test_inventory_filters_on_filterable_fields(regions, tags):
    query = api_filter(regions, tags)
    assert refused_fields("/v4/linode/instances", json.dumps(query) if query else None) == []
