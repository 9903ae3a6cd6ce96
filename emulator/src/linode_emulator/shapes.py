"""The API's JSON shapes, built from the state model.

Shapes follow the spec (``openapi.yaml`` v4.189.0), whose objects all say
``additionalProperties: false``: a field the spec does not list is left out
even when newer API versions send it, and a field the spec types as
non-nullable is left out rather than sent as ``null`` when it has no value
(for example a disk's usage). Clients such as linode_api4 read a missing
field as ``None``, the same as ``null``. The exceptions are where the real
API itself sends other values than the spec allows, as recorded: empty config
device slots (and ``volume_id``), ``Event.rate``, ``Event.secondary_entity``
(null, or an integer id) and ``Event.duration`` (null while scheduled).
"""

from __future__ import annotations

import uuid
from typing import Any

from .catalog import type_specs
from .clock import format_countdown, format_time
from .fleet import DEVICE_NAMES, TokenSpec
from .state import Config, Disk, Event, Image, Linode, State


def render_disk(disk: Disk) -> dict[str, Any]:
    # `used_mb` is emulator-only (the real API does not report usage); see render_disk_state.
    return {
        "id": disk.id,
        "label": disk.label,
        "filesystem": disk.filesystem,
        "size": disk.size,
        "status": disk.status,
        "created": format_time(disk.created),
        "updated": format_time(disk.updated),
    }


def render_config(config: Config) -> dict[str, Any]:
    # As the real API (and linode_api4's fixtures) have it: all eight slots, null
    # when empty, and a disk slot's volume_id null. The spec calls neither nullable.
    devices = {
        name: {"disk_id": config.devices[name], "volume_id": None} if name in config.devices else None
        for name in DEVICE_NAMES
    }
    return {
        "id": config.id,
        "label": config.label,
        "comments": None,
        "kernel": "linode/grub2",
        "memory_limit": 0,
        "root_device": config.root_device,
        "run_level": "default",
        "virt_mode": "paravirt",
        "devices": devices,
        "helpers": {
            "devtmpfs_automount": True,
            "distro": True,
            "modules_dep": True,
            "network": True,
            "updatedb_disabled": True,
        },
        # The spec wants at least one interface; a legacy config's implicit one is public.
        "interfaces": [
            {
                "id": config.id * 10 + 1,
                "purpose": "public",
                "primary": False,
                "active": True,
                "label": None,
                "ipam_address": None,
                "ip_ranges": None,
                "vpc_id": None,
                "subnet_id": None,
            }
        ],
    }


def render_linode(linode: Linode) -> dict[str, Any]:
    return {
        "id": linode.id,
        "label": linode.label,
        "region": linode.region,
        "type": linode.type,
        "status": linode.status,
        "image": linode.image,
        "group": "",
        "tags": list(linode.tags),
        "created": format_time(linode.created),
        "updated": format_time(linode.updated),
        "hypervisor": "kvm",
        "ipv4": [linode.ipv4],
        "ipv6": linode.ipv6,
        # The type's figures; a type the catalog lacks gets a 2 GB machine the size of its disks.
        "specs": type_specs(linode.type)
        or {"disk": sum(d.size for d in linode.disks.values()), "memory": 2048, "vcpus": 1, "transfer": 2000, "gpus": 0},
        "alerts": {"cpu": 90, "io": 10000, "network_in": 10, "network_out": 10, "transfer_quota": 80},
        # The real API sends null day/window while backups are off; the spec's
        # enums do not admit null, so send the value the API uses until scheduled.
        "backups": {"available": False, "enabled": False, "schedule": {"day": "Scheduling", "window": "Scheduling"}},
        "watchdog_enabled": True,
        "host_uuid": linode.host_uuid,
        "has_user_data": False,
        "lke_cluster_id": None,
        "placement_group": None,
        "capabilities": [],
    }


def render_image(image: Image) -> dict[str, Any]:
    available_regions = sum(1 for r in image.regions if r.status == "available")
    return {
        "id": image.id,
        "label": image.label,
        "description": image.description,
        "created": format_time(image.created),
        "updated": format_time(image.updated),
        "created_by": image.created_by,
        "deprecated": False,
        "is_public": False,
        "size": image.size,
        "status": image.status,
        "type": image.type,
        "vendor": None,
        "eol": None,
        "expiry": image.expiry,
        "capabilities": list(image.capabilities),
        "tags": list(image.tags),
        # MB summed over the regions holding a copy, as in the SDK's fixtures.
        "total_size": image.total_size if image.total_size is not None else image.size * available_regions,
        "regions": [{"region": r.region, "status": r.status} for r in image.regions],
    }


def _spec_entity_id(entity: dict[str, Any]) -> str:
    """The spec's string form of a secondary entity id: "private/N" for an image."""
    if entity.get("type") == "image" and isinstance(entity.get("id"), int):
        return f"private/{entity['id']}"
    return str(entity.get("id"))


def render_event(state: State, event: Event, now: float) -> dict[str, Any]:
    """An Event as the recordings show it (or, with ``idealised.spec_event_shapes``, as the spec types it).

    Recorded: ``time_remaining`` null throughout; ``duration`` null while
    scheduled, the elapsed seconds while started, the total once done;
    ``secondary_entity`` null when there is none, its ``id`` an integer;
    ``message`` an empty string.
    """
    idealised = state.fleet.idealised
    status = state.event_status(event, now)
    running = status in ("scheduled", "started")
    body: dict[str, Any] = {
        "id": event.id,
        "action": event.action,
        "created": format_time(event.created),
        "entity": dict(event.entity),
        "status": status,
        "percent_complete": state.event_progress(event, now),
        # Real seconds left, rounded up, as "hh:mm:ss" (the spec types it as a string).
        "time_remaining": format_countdown(event.ends - now) if running and idealised.time_remaining else None,
        "message": event.message,
        # Null for every event the emulator has (the real API's value; not nullable in the spec).
        "rate": None,
        "username": event.username,
        "read": False,
        "seen": False,
        "secondary_entity": dict(event.secondary_entity) if event.secondary_entity is not None else None,
    }
    if event.finished_at is not None:
        body["duration"] = round(event.finished_at - event.created, 6)
    elif status == "started":
        body["duration"] = round(max(0.0, now - event.created), 6)
    else:
        body["duration"] = None
    if idealised.spec_event_shapes:
        if body["secondary_entity"] is None:
            del body["secondary_entity"]
        else:
            body["secondary_entity"]["id"] = _spec_entity_id(body["secondary_entity"])
        if event.finished_at is None:
            del body["duration"]
        body["message"] = event.message or None
    return body


def render_profile(token: TokenSpec) -> dict[str, Any]:
    return {
        "uid": 1000 + sum(token.username.encode()) % 9000,
        "username": token.username,
        "email": f"{token.username}@example.com",
        "timezone": "UTC",
        "email_notifications": False,
        "ip_whitelist_enabled": False,
        "lish_auth_method": "keys_only",
        "authentication_type": "password",
        "authorized_keys": None,
        "two_factor_auth": False,
        "restricted": False,
        "verified_phone_number": None,
        "referrals": {
            "code": "0" * 40,
            "url": "https://www.linode.com/?r=" + "0" * 40,
            "completed": 0,
            "credit": 0,
            "pending": 0,
            "total": 0,
        },
    }


def render_account(created: float) -> dict[str, Any]:
    return {
        "active_since": format_time(created),
        "active_promotions": [],
        "address_1": "1 Example Street",
        "address_2": "",
        "balance": 0,
        "balance_uninvoiced": 0,
        "billing_source": "akamai",
        "capabilities": ["Linodes", "NodeBalancers", "Block Storage", "Object Storage"],
        "city": "Philadelphia",
        "company": "Golden Image Emulation",
        "country": "US",
        "credit_card": {"expiry": "12/2030", "last_four": "1111"},
        "email": "emulator@example.com",
        "euuid": str(uuid.uuid5(uuid.NAMESPACE_OID, "linode-emulator-account")).upper(),
        "first_name": "Emulated",
        "last_name": "Account",
        "phone": "215-555-0100",
        "state": "PA",
        "tax_id": "",
        "zip": "19106",
    }


def render_linode_state(linode: Linode) -> dict[str, Any]:
    """A linode for the control API: the API shape plus its disks and configs.

    Disks carry ``used_mb`` here (only here), because tests and benchmarks
    need to know what a capture's ``size`` will be.
    """
    body = render_linode(linode)
    body["disks"] = [dict(render_disk(d), used_mb=d.used_mb) for d in linode.disks.values()]
    body["configs"] = [render_config(c) for c in linode.configs.values()]
    return body
