"""Static data of the emulated cloud: regions and public (distribution) images.

Real accounts see Linode's public images next to their private ones in
``GET /images``; serving a few here keeps clients honest about filtering on
``is_public`` or the ``private/`` id prefix. A fleet file can turn them off
with ``public_images: false``.
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


PUBLIC_IMAGES: tuple[dict[str, Any], ...] = (
    {
        "id": "linode/debian12",
        "label": "Debian 12",
        "vendor": "Debian",
        "size": 1300,
        "created": "2023-06-12T00:00:00",
        "eol": "2028-06-30T04:00:00",
    },
    {
        "id": "linode/ubuntu24.04",
        "label": "Ubuntu 24.04 LTS",
        "vendor": "Ubuntu",
        "size": 2500,
        "created": "2024-04-25T00:00:00",
        "eol": "2029-05-31T04:00:00",
    },
    {
        "id": "linode/alpine3.20",
        "label": "Alpine 3.20",
        "vendor": "Alpine",
        "size": 300,
        "created": "2024-05-22T00:00:00",
        "eol": "2026-04-01T04:00:00",
    },
)


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
