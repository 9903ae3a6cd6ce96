# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet files and inventories for the fleet benchmark (tests/perf/bench.py).

    .venv/bin/python tests/perf/fleetgen.py N FLEET.yml [INVENTORY.yml]

A fleet of N running, capturable Linodes whose root disks have mixed used sizes, so captures take
different times. Host 1 always has the biggest disk, so the critical path (shutdown + the slowest
capture + boot) is the same at every N and wall/ideal can be compared across N. The other sizes are
spread over the whole range by a fixed stride (no randomness: every run sees the same fleet).
The account limits are raised so that N images fit; the rate limits stay the documented ones.
"""

from __future__ import annotations

import dataclasses
import sys

import yaml
from linode_emulator.fleet import Timing

TOKEN = "bench-token"
FIRST_LINODE_ID = 1001
FIRST_DISK_ID = 2001
FIRST_CONFIG_ID = 3001
# Emulated seconds at speed 1: the emulator's defaults (calibrated on recorded real traffic), so the ideal can be
# modelled too.
TIMING = dict((f.name, getattr(Timing(), f.name)) for f in dataclasses.fields(Timing)
              if f.name in ("shutdown_s", "boot_s", "capture_base_s", "capture_mb_per_s"))
# df "Used" in MB: every disk stays under 90% of the default 6144 MB image limit (5529.6), as Linode asks.
MIN_USED_MB = 400
MAX_USED_MB = 5400
SIZE_STRIDE_MB = 1237
REGIONS = ("us-east", "us-central", "eu-west")


def label_of(index: int) -> str:
    """The label (and inventory name) of host ``index`` (0-based)."""
    return "bench-%04d" % (index + 1)


def used_mb_of(index: int) -> int:
    """Mixed used sizes: the biggest first, then a stride through [MIN_USED_MB, MAX_USED_MB)."""
    if index == 0:
        return MAX_USED_MB
    return MIN_USED_MB + (index * SIZE_STRIDE_MB) % (MAX_USED_MB - MIN_USED_MB)


def capture_s(used_mb: int) -> float:
    """The emulator's capture time in emulated seconds."""
    return TIMING["capture_base_s"] + used_mb / float(TIMING["capture_mb_per_s"])


def model_chain_s(used_mb: int) -> float:
    """Shutdown + capture + boot of one host, in emulated seconds (the timing model, not a measurement)."""
    return TIMING["shutdown_s"] + capture_s(used_mb) + TIMING["boot_s"]


def hosts(count: int) -> list:
    """One dict per host: label, linode_id, disk_id, config_id, region, used_mb, status."""
    rows = []
    for index in range(count):
        rows.append({
            "label": label_of(index),
            "linode_id": FIRST_LINODE_ID + index,
            "disk_id": FIRST_DISK_ID + 2 * index,
            "swap_id": FIRST_DISK_ID + 2 * index + 1,
            "config_id": FIRST_CONFIG_ID + index,
            "region": REGIONS[index % len(REGIONS)],
            "used_mb": used_mb_of(index),
            "status": "running",
        })
    return rows


def fleet(count: int) -> dict:
    """The emulator's fleet file for ``count`` hosts."""
    linodes = []
    for host in hosts(count):
        linodes.append({
            "id": host["linode_id"],
            "label": host["label"],
            "region": host["region"],
            "status": host["status"],
            "type": "g6-standard-1",
            "tags": ["bench"],
            "disks": [
                {"id": host["disk_id"], "label": "Ubuntu 24.04 Disk", "filesystem": "ext4", "size": 25088,
                 "used_mb": host["used_mb"], "status": "ready"},
                {"id": host["swap_id"], "label": "512 MB Swap Image", "filesystem": "swap", "size": 512,
                 "used_mb": 0, "status": "ready"},
            ],
            "configs": [
                {"id": host["config_id"], "label": "Boot Config", "root_device": "/dev/sda",
                 "devices": {"sda": host["disk_id"], "sdb": host["swap_id"]}},
            ],
        })
    return {
        "tokens": [{"token": TOKEN, "scopes": "*"}],
        # Room for one image per host and a few more; the size limit stays Linode's default.
        "account": {"image_size_limit_mb": 6144, "image_count_limit": max(25, 2 * count + 10)},
        "public_images": True,
        "linodes": linodes,
        "images": [],
    }


def inventory(count: int) -> dict:
    """Our contender's inventory: one emulated host per Linode, SSH host checks off."""
    return {
        "linodes": {"hosts": dict((h["label"], {"linode_id": h["linode_id"], "disk_id": h["disk_id"]}) for h in hosts(count))},
        "all": {"vars": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "image_capture_host_checks": False,
        }},
    }


def write_yaml(path: str, document: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(document, handle, sort_keys=False)


def main(argv: list) -> int:
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__.split("\n\n", 1)[1].split("\n\n", 1)[0] + "\n")
        return 2
    count = int(argv[0])
    write_yaml(argv[1], fleet(count))
    if len(argv) == 3:
        write_yaml(argv[2], inventory(count))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
