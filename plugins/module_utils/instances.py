# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linode instances and their disks: find them, choose the disk to capture, change power state."""

from __future__ import annotations

import collections
import re

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error

# Linode's "Capture an Image" guide: only ext3/ext4 disks can be captured.
CAPTURABLE_FILESYSTEMS = ("ext3", "ext4")
UNCAPTURABLE_REASONS = {
    "raw": "raw disks (for example CoreOS or custom filesystems) cannot be captured",
    "swap": "swap disks cannot be captured",
    "initrd": "initrd disks cannot be captured",
}

# The restore marker: a tag ``golden_image:<run_id>:<unix_time>:<status>`` that a run writes on each
# instance it claims, before any shutdown, so that a rerun after a killed run knows what to boot back
# and another run knows the instance is taken. The run and the time let a stray marker (one whose
# removal failed) be told from a live one; the status is the one to restore, ``running`` or ``offline``.
# Linode tags are at most 50 characters: with a run id of at most 12, a marker has at most 44.
POWER_MARKER_PREFIX = "golden_image:"
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,12}$")
_POWER_MARKER_PATTERN = re.compile(r"^golden_image:([A-Za-z0-9_.-]{1,12}):([0-9]{1,11}):(running|offline)$")
# The marker of earlier versions: "was running", with no run and no time.
LEGACY_POWER_MARKER_TAG = "golden_image.linode:restore=running"
# Kept for importers of the old name.
POWER_MARKER_TAG = LEGACY_POWER_MARKER_TAG
# Statuses that end, or are on their way to, ``running``: an instance found so is restored to running.
RUNNING_STATUSES = ("running", "booting", "rebooting")
# ... and ``offline``: an instance found so, with no marker, is restored to offline.
OFF_STATUSES = ("offline", "stopped", "shutting_down")
# The only statuses a run shuts down, boots or captures from. Any other is a job's (a migration, a
# resize, a restore, ...): it ends in running or offline, nothing says which, and power actions are "Linode busy.".
STEADY_STATUSES = ("running", "offline")
# Boots and shutdowns the API settles by itself within a minute (recorded: 24-28 s). Refused all the same
# unless this run's own claim explains them: someone else is changing the instance's power right now.
SETTLING_STATUSES = ("booting", "rebooting", "shutting_down", "stopped")
# Instances read per list request (ids go in one X-Filter "+or").
BATCH_SIZE = 100


def get_instance(client, linode_id: int | None = None, linode_label: str | None = None,
                 known: list | None = None) -> dict:
    """The instance by id, or by label (labels are unique per account).

    Found in ``known`` (instances a fleet read once) without a request, else with one request.
    """
    for instance in known or []:
        if (linode_id is not None and instance.get("id") == linode_id) or \
                (linode_id is None and instance.get("label") == linode_label):
            return instance
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
    """``{disk_id: [config, ...]}``: the config profiles that mount each disk as their root device."""
    roots = {}
    for config in configs:
        device = (config.get("root_device") or "/dev/sda").rsplit("/", 1)[-1]
        slot = (config.get("devices") or {}).get(device) or {}
        if slot.get("disk_id"):
            roots.setdefault(slot["disk_id"], []).append(config)
    return roots


def _config_names(configs: list) -> str:
    return ", ".join(c.get("label") or str(c.get("id")) for c in configs)


def get_disk(client, linode_id: int, disk_id: int) -> dict | None:
    """One disk by id, or None if the instance has no such disk."""
    try:
        return client.get("/linode/instances/%d/disks/%d" % (linode_id, disk_id))
    except Exception as exc:  # pylint: disable=broad-except
        if is_api_error(exc, 404):
            return None
        raise


def choose_disk(client, instance: dict, disk_id: int | None = None, disk_label: str | None = None) -> dict:
    """The disk to capture: by id, by label, or the root disk of the instance's config profiles.

    A root disk comes back with ``device``, the config profile's root device (``/dev/sda``), which
    tells the host checks where the disk is mounted.

    Fails, naming the option, when the disk does not exist on this instance or the choice is
    ambiguous. Costs one request, two when the root disk has to be read from the configs. Disks
    are read one by one where the id is known: lists of disks and configs share the API's
    tighter limit for paginated lists (200 a minute per token), which a fleet would soon reach.
    """
    if disk_id is not None:
        disk = get_disk(client, instance["id"], disk_id)
        if disk is None:
            raise LinodeError("Linode %s (%s) has no disk with id %s (disk_id); its disks: %s"
                              % (instance["label"], instance["id"], disk_id,
                                 _describe(list_disks(client, instance["id"]))), field="disk_id")
        return disk
    if disk_label is not None:
        disks = list_disks(client, instance["id"])
        matches = [d for d in disks if d["label"] == disk_label]
        if len(matches) != 1:
            problem = "no disk" if not matches else "%d disks" % len(matches)
            raise LinodeError("Linode %s (%s) has %s labelled %r (disk_label); its disks: %s"
                              % (instance["label"], instance["id"], problem, disk_label, _describe(disks)),
                              field="disk_label")
        return matches[0]
    roots = root_disk_ids(list_configs(client, instance["id"]))
    disk = get_disk(client, instance["id"], list(roots)[0]) if len(roots) == 1 else None
    if disk is None:
        by_id = dict((d["id"], d) for d in list_disks(client, instance["id"]))
        candidates = [by_id[i] for i in roots if i in by_id]
        if len(candidates) != 1:
            why = ("no config profile mounts a disk as its root device" if not candidates else
                   "its config profiles boot from different disks: %s" % "; ".join(
                       "%s (%s) in %s" % (d["label"], d["id"], _config_names(roots[d["id"]])) for d in candidates))
            raise LinodeError("Cannot tell which disk of Linode %s (%s) to capture: %s. Set disk_id or disk_label."
                              % (instance["label"], instance["id"], why), field="disk_id")
        disk = candidates[0]
    return dict(disk, device=roots[disk["id"]][0].get("root_device") or "/dev/sda")


def _describe(disks: list) -> str:
    return ", ".join("%s (%s, %s)" % (d["label"], d["id"], d["filesystem"]) for d in disks) or "none"


def check_capturable(disk: dict, field: str = "disk_id") -> None:
    """Refuse, before any write, a disk Linode cannot capture."""
    filesystem = disk.get("filesystem")
    if filesystem not in CAPTURABLE_FILESYSTEMS:
        reason = UNCAPTURABLE_REASONS.get(filesystem, "only ext3 and ext4 disks can be captured")
        raise LinodeError("Disk %r (%s) has filesystem %s: %s; Linode captures only ext3/ext4 disks (%s)"
                          % (disk["label"], disk["id"], filesystem, reason, field), field=field)
    # A disk that is "not ready" (just created or resized) can be captured once it is: the capture waits for it.
    if disk.get("status") not in ("ready", "not ready"):
        raise LinodeError("Disk %r (%s) is %r: only a ready disk can be captured (%s)"
                          % (disk["label"], disk["id"], disk.get("status"), field), field=field)


def find_instances(client, linode_ids: list = (), labels: list = (), tags: list = ()) -> list:
    """Instances with any of these ids or labels (all of them when none is given) and all these tags.

    One request per 100 ids and labels, whatever their number (they go in one X-Filter ``+or``).
    """
    wanted = [{"id": i} for i in linode_ids] + [{"label": label} for label in labels]
    chunks = [wanted[first:first + BATCH_SIZE] for first in range(0, len(wanted), BATCH_SIZE)] or [None]
    found = {}
    for chunk in chunks:
        query = {"+or": chunk} if chunk else {}
        if tags:
            query["+and"] = [{"tags": tag} for tag in tags]
        page, pages = 1, 1
        while page <= pages:
            answer = client.get("/linode/instances?page_size=500&page=%d" % page, filters=query)
            for instance in answer["data"]:
                if set(tags) <= set(instance.get("tags") or []):
                    found[instance["id"]] = instance
            pages = answer.get("pages", 1)
            page += 1
    return [found[i] for i in sorted(found)]


def list_instances(client, linode_ids: list) -> dict:
    """``{id: instance}`` for these ids."""
    return dict((i["id"], i) for i in find_instances(client, linode_ids=linode_ids))


def is_busy_error(exc: Exception) -> bool:
    """A 400 "Linode busy": another job runs on the instance; the action can be sent again later."""
    if not is_api_error(exc, 400):
        return False
    reasons = " ".join(str(r) for r in (getattr(exc, "errors", None) or []))
    return "busy" in reasons.lower()


PowerMarker = collections.namedtuple("PowerMarker", "tag run_id created status")
PowerMarker.__doc__ = """A restore marker read from an instance: ``run_id`` and ``created`` (unix seconds on the API's clock)
are None for the legacy tag; ``status`` is the status to restore."""


def power_marker_tag(run_id: str, created: int, status: str) -> str:
    """The marker a run writes: ``golden_image:<run_id>:<unix_time>:<status>``."""
    if not RUN_ID_PATTERN.match(run_id or ""):
        raise ValueError("run id %r is not 1-12 letters, digits, '.', '_' or '-'" % (run_id,))
    if status not in ("running", "offline"):
        raise ValueError("a marker records running or offline, not %r" % (status,))
    return "%s%s:%d:%s" % (POWER_MARKER_PREFIX, run_id, int(created), status)


def parse_power_marker(tag: str) -> PowerMarker | None:
    """The marker a tag is, or None for any other tag (a user's own ``golden_image:...`` tags included)."""
    if tag == LEGACY_POWER_MARKER_TAG:
        return PowerMarker(tag, None, None, "running")
    match = _POWER_MARKER_PATTERN.match(tag or "")
    if not match:
        return None
    return PowerMarker(tag, match.group(1), int(match.group(2)), match.group(3))


def read_power_marker(instance: dict) -> PowerMarker | None:
    """The instance's marker. Writers replace every marker with theirs, so there is at most one; if a
    hand-made tag list holds more, a new-style marker wins over the legacy tag."""
    markers = [m for m in (parse_power_marker(t) for t in instance.get("tags") or []) if m is not None]
    markers.sort(key=lambda m: m.run_id is None)
    return markers[0] if markers else None


def restore_status(instance: dict, marker: PowerMarker | None = None) -> str | None:
    """The status to bring an instance back to: ``running``, ``offline``, or None when it cannot be told.

    An instance that runs (or is on its way to) is restored to running; any other, to what ``marker``
    recorded (pass only a marker that still counts), else offline if it is off or on its way there.
    One in a job's status (``migrating``, ...) with no marker gives None: it may end running, so it is
    never recorded as offline (``status_refusal`` refuses it).
    """
    if instance["status"] in RUNNING_STATUSES:
        return "running"
    if marker is not None:
        return marker.status
    if instance["status"] in OFF_STATUSES:
        return "offline"
    return None


def status_refusal(instance: dict, run_id: str | None = None, settling: bool = False) -> str | None:
    """Why a run must not claim, shut down, boot or capture this instance now (before any write), or None.

    Refused: any status but running or offline, naming it. A boot or shutdown under way
    (``SETTLING_STATUSES``) is not refused when the instance carries a marker of ``run_id`` (this run's
    own), or when ``settling`` is true (the caller waits for it, or retries "Linode busy.").
    """
    status = instance.get("status")
    if status in STEADY_STATUSES:
        return None
    if status in SETTLING_STATUSES:
        marker = read_power_marker(instance)
        if settling or (run_id is not None and marker is not None and marker.run_id == run_id):
            return None
        return ("%s: try again when it is running or offline (a boot or shutdown that is not this run's is under way)"
                % status)
    return "%s: try again when it is running or offline" % status


def set_power_marker(client, instance: dict, tag: str | None) -> dict:
    """Write ``tag`` as the instance's only marker, or remove its markers (``tag`` None); the instance as written.

    One PUT, none when the tags would not change. A PUT replaces the whole tag list: the instance's
    other tags are sent back as they were read.
    """
    tags = tags_with_marker(instance, tag)
    if tags == (instance.get("tags") or []):
        return instance
    return client.put("/linode/instances/%d" % instance["id"], data={"tags": tags})


def tags_with_marker(instance: dict, tag: str | None) -> list:
    """The instance's tags with ``tag`` as their only marker (no marker if None), its other tags kept in order."""
    tags = [t for t in instance.get("tags") or [] if parse_power_marker(t) is None]
    return tags + [tag] if tag is not None else tags
