"""Static data of the emulated cloud: regions, Linode types and public (distribution) images.

Real accounts see Linode's public images next to their private ones in
``GET /images``; serving a few here keeps clients honest about filtering on
``is_public`` or the ``private/`` id prefix. A fleet file can turn them off
with ``public_images: false`` (then they cannot be read or deployed either). Types
and images carry the figures recorded from the real API (linodego's
fixtures): sizes in MB, prices in US dollars.
"""

from __future__ import annotations

from typing import Any

# id -> (label, country). A subset of Linode's core compute regions.
REGIONS: dict[str, tuple[str, str]] = {
    "us-east": ("Newark, NJ", "us"),
    "us-central": ("Dallas, TX", "us"),
    "us-west": ("Fremont, CA", "us"),
    "us-southeast": ("Atlanta, GA", "us"),
    "us-iad": ("Washington, DC", "us"),
    "us-ord": ("Chicago, IL", "us"),
    "ca-central": ("Toronto, CA", "ca"),
    "eu-west": ("London, UK", "gb"),
    "eu-central": ("Frankfurt, DE", "de"),
    "fr-par": ("Paris, FR", "fr"),
    "ap-south": ("Singapore, SG", "sg"),
    "ap-northeast": ("Tokyo, JP", "jp"),
    "ap-west": ("Mumbai, IN", "in"),
    "ap-southeast": ("Sydney, AU", "au"),
}

DEFAULT_REGION_IDS: tuple[str, ...] = tuple(REGIONS)

REGION_CAPABILITIES = [
    "Linodes",
    "Backups",
    "NodeBalancers",
    "Block Storage",
    "Object Storage",
    "Kubernetes",
    "Cloud Firewall",
    "Vlans",
    "VPCs",
    "Metadata",
    "Placement Group",
]


def render_region(region_id: str, index: int) -> dict[str, Any]:
    """A Region object as in the spec (``site-type`` left out, see README)."""
    label, country = REGIONS.get(region_id, (region_id, "us"))
    return {
        "id": region_id,
        "label": label,
        "country": country,
        "capabilities": list(REGION_CAPABILITIES),
        "status": "ok",
        "resolvers": {
            "ipv4": f"192.0.2.{10 + index},192.0.2.{40 + index}",
            "ipv6": f"2001:db8:{index:x}::5,2001:db8:{index:x}::6",
        },
        "placement_group_limits": {"maximum_linodes_per_pg": 5, "maximum_pgs_per_customer": None},
    }


# id -> (label, class, disk MB, memory MB, vcpus, transfer GB, network_out Mbps, hourly, monthly,
#        backups hourly, backups monthly), as the real API lists them. A new instance's root disk is
# the type's disk minus its swap disk (512 MB unless swap_size says otherwise).
TYPES: dict[str, tuple[str, str, int, int, int, int, int, float, float, float, float]] = {
    "g6-nanode-1": ("Nanode 1GB", "nanode", 25600, 1024, 1, 1000, 1000, 0.0075, 5.0, 0.003, 2.0),
    "g6-standard-1": ("Linode 2GB", "standard", 51200, 2048, 1, 2000, 2000, 0.018, 12.0, 0.004, 2.5),
    "g6-standard-2": ("Linode 4GB", "standard", 81920, 4096, 2, 4000, 4000, 0.036, 24.0, 0.008, 5.0),
    "g6-standard-4": ("Linode 8GB", "standard", 163840, 8192, 4, 5000, 5000, 0.072, 48.0, 0.015, 10.0),
    "g6-dedicated-2": ("Dedicated 4GB", "dedicated", 81920, 4096, 2, 4000, 4000, 0.054, 36.0, 0.008, 5.0),
}


def render_type(type_id: str) -> dict[str, Any]:
    """A Linode Type object as in the spec (no region-specific prices for the emulated regions)."""
    label, kind, disk, memory, vcpus, transfer, network_out, hourly, monthly, backup_h, backup_m = TYPES[type_id]
    return {
        "id": type_id,
        "label": label,
        "class": kind,
        "disk": disk,
        "memory": memory,
        "vcpus": vcpus,
        "gpus": 0,
        "transfer": transfer,
        "network_out": network_out,
        "price": {"hourly": hourly, "monthly": monthly},
        "region_prices": [],
        "addons": {"backups": {"price": {"hourly": backup_h, "monthly": backup_m}, "region_prices": []}},
        "successor": None,
    }


def type_specs(type_id: str) -> dict[str, int] | None:
    """A Linode's ``specs`` for its type, or None for a type the catalog does not have."""
    if type_id not in TYPES:
        return None
    _label, _kind, disk, memory, vcpus, transfer, _out, *_prices = TYPES[type_id]
    return {"disk": disk, "memory": memory, "vcpus": vcpus, "transfer": transfer, "gpus": 0}


# Sizes (MB) as recorded: what a disk deployed from the image holds at first.
PUBLIC_IMAGES: tuple[dict[str, Any], ...] = (
    {
        "id": "linode/debian12",
        "label": "Debian 12",
        "vendor": "Debian",
        "size": 1500,
        "created": "2023-06-12T00:00:00",
        "eol": "2028-06-30T04:00:00",
    },
    {
        "id": "linode/ubuntu24.04",
        "label": "Ubuntu 24.04 LTS",
        "vendor": "Ubuntu",
        "size": 3500,
        "created": "2024-04-25T00:00:00",
        "eol": "2029-05-31T04:00:00",
    },
    {
        "id": "linode/alpine3.20",
        "label": "Alpine 3.20",
        "vendor": "Alpine",
        "size": 400,
        "created": "2024-05-22T00:00:00",
        "eol": "2026-04-01T04:00:00",
    },
)


def public_image(image_id: str) -> dict[str, Any] | None:
    return next((image for image in PUBLIC_IMAGES if image["id"] == image_id), None)


def render_public_image(base: dict[str, Any]) -> dict[str, Any]:
    """A public Image object; public images are not replicated per region."""
    return {
        "id": base["id"],
        "label": base["label"],
        "description": None,
        "created": base["created"],
        "updated": base["created"],
        "created_by": "linode",
        "deprecated": False,
        "is_public": True,
        "size": base["size"],
        "status": "available",
        "type": "manual",
        "vendor": base["vendor"],
        "eol": base["eol"],
        "expiry": None,
        "capabilities": ["cloud-init", "distributed-sites"],
        "tags": [],
        "total_size": base["size"],
        "regions": [],
    }
