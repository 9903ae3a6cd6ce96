# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linode instances and their disks: find them, choose the disk to capture, change power state."""

from __future__ import annotations

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    wait_for_instance_status,
    wait_until_free,
)

# Linode's "Capture an Image" guide: only ext3/ext4 disks can be captured.
CAPTURABLE_FILESYSTEMS = ("ext3", "ext4")
UNCAPTURABLE_REASONS = {
    "raw": "raw disks (for example CoreOS or custom filesystems) cannot be captured",
    "swap": "swap disks cannot be captured",
    "initrd": "initrd disks cannot be captured",
}

# Statuses a power action moves through; anything else is where the instance rests.
TRANSITIONAL_STATUSES = ("booting", "busy", "rebooting", "shutting_down", "provisioning", "migrating",
                         "rebuilding", "cloning", "restoring", "deleting")
# What each wanted state needs: the action to send and the status that ends its wait.
POWER_ACTIONS = {
    "running": ("boot", "linode_boot", "running"),
    "stopped": ("shutdown", "linode_shutdown", "offline"),
    "restarted": ("reboot", "linode_reboot", "running"),
}


def get_instance(client, linode_id: int | None = None, linode_label: str | None = None) -> dict:
    """One request: the instance by id, or by label (labels are unique per account)."""
    if linode_id is not None:
        try:
            return client.get("/linode/instances/%d" % linode_id)
        except Exception as exc:  # pylint: disable=broad-except
            if is_api_error(exc, 404):
                raise LinodeError("No Linode instance has id %s (linode_id)" % linode_id, field="linode_id")
            raise
    found = client.get("/linode/instances", filters={"label": linode_label})["data"]
    if not found:
        raise LinodeError("No Linode instance has label %r (linode_label)" % linode_label, field="linode_label")
    return found[0]


def list_disks(client, linode_id: int) -> list:
    return client.get("/linode/instances/%d/disks?page_size=100" % linode_id)["data"]


def list_configs(client, linode_id: int) -> list:
    return client.get("/linode/instances/%d/configs?page_size=100" % linode_id)["data"]


def root_disk_ids(configs: list) -> dict:
    """``{disk_id: [config labels]}`` for the disk each config profile mounts as its root device."""
    roots = {}
    for config in configs:
        device = (config.get("root_device") or "/dev/sda").rsplit("/", 1)[-1]
        slot = (config.get("devices") or {}).get(device) or {}
        if slot.get("disk_id"):
            roots.setdefault(slot["disk_id"], []).append(config.get("label") or str(config.get("id")))
    return roots


def choose_disk(client, instance: dict, disk_id: int | None = None, disk_label: str | None = None) -> dict:
    """The disk to capture: by id, by label, or the root disk of the instance's config profiles.

    Fails, naming the option, when the disk does not exist on this instance or the choice is
    ambiguous. Costs one request, two when the root disk has to be read from the configs.
    """
    disks = list_disks(client, instance["id"])
    if disk_id is not None:
        matches = [d for d in disks if d["id"] == disk_id]
        if not matches:
            raise LinodeError("Linode %s (%s) has no disk with id %s (disk_id); its disks: %s"
                              % (instance["label"], instance["id"], disk_id, _describe(disks)), field="disk_id")
        return matches[0]
    if disk_label is not None:
        matches = [d for d in disks if d["label"] == disk_label]
        if len(matches) != 1:
            problem = "no disk" if not matches else "%d disks" % len(matches)
            raise LinodeError("Linode %s (%s) has %s labelled %r (disk_label); its disks: %s"
                              % (instance["label"], instance["id"], problem, disk_label, _describe(disks)),
                              field="disk_label")
        return matches[0]
    roots = root_disk_ids(list_configs(client, instance["id"]))
    by_id = dict((d["id"], d) for d in disks)
    candidates = [by_id[i] for i in roots if i in by_id]
    if len(candidates) != 1:
        why = ("no config profile mounts a disk as its root device" if not candidates else
               "its config profiles boot from different disks: %s" % "; ".join(
                   "%s (%s) in %s" % (by_id[i]["label"], i, ", ".join(roots[i])) for i in roots if i in by_id))
        raise LinodeError("Cannot tell which disk of Linode %s (%s) to capture: %s. Set disk_id or disk_label."
                          % (instance["label"], instance["id"], why), field="disk_id")
    return candidates[0]


def _describe(disks: list) -> str:
    return ", ".join("%s (%s, %s)" % (d["label"], d["id"], d["filesystem"]) for d in disks) or "none"


def check_capturable(disk: dict, field: str = "disk_id") -> None:
    """Refuse, before any write, a disk Linode cannot capture."""
    filesystem = disk.get("filesystem")
    if filesystem not in CAPTURABLE_FILESYSTEMS:
        reason = UNCAPTURABLE_REASONS.get(filesystem, "only ext3 and ext4 disks can be captured")
        raise LinodeError("Disk %r (%s) has filesystem %s: %s; Linode captures only ext3/ext4 disks (%s)"
                          % (disk["label"], disk["id"], filesystem, reason, field), field=field)
    if disk.get("status") != "ready":
        raise LinodeError("Disk %r (%s) is %r, not ready: it can be captured once it is ready (%s)"
                          % (disk["label"], disk["id"], disk.get("status"), field), field=field)


def is_busy_error(exc: Exception) -> bool:
    """A 400 "Linode busy": another job runs on the instance; the action can be sent again later."""
    if not is_api_error(exc, 400):
        return False
    reasons = " ".join(str(r) for r in (getattr(exc, "errors", None) or []))
    return "busy" in reasons.lower()


def power_action(client, linode_id: int, action: str, deadline: Deadline, config_id: int | None = None) -> None:
    """Send ``boot``, ``shutdown`` or ``reboot``; on "Linode busy", wait for the Linode to be free and send again."""
    body = {"config_id": config_id} if (config_id is not None and action in ("boot", "reboot")) else {}
    while True:
        try:
            client.post("/linode/instances/%d/%s" % (linode_id, action), data=body)
            return
        except Exception as exc:  # pylint: disable=broad-except
            if not is_busy_error(exc):
                raise
            wait_until_free(client, linode_id, deadline)


def set_power(client, instance: dict, wanted: str, deadline: Deadline, config_id: int | None = None,
              wait: bool = True) -> dict:
    """Bring an instance to ``running``, ``stopped`` or ``restarted``; return the instance as it ends."""
    action, event_action, final_status = POWER_ACTIONS[wanted]
    power_action(client, instance["id"], action, deadline, config_id)
    if not wait:
        return client.get("/linode/instances/%d" % instance["id"])
    return wait_for_instance_status(client, instance["id"], event_action, final_status, deadline)
