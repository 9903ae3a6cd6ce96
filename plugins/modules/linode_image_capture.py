#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_image_capture
short_description: Capture a Linode Image from an instance's disk, idempotently and duplicate-safe
version_added: 0.1.0
description:
  - Captures a private Linode Image from one disk of a Linode instance, or deletes images by label.
  - With O(image_id), updates, replicates or deletes one existing private image by its id instead, whatever became of
    the instance it was captured from (such as a temporary builder deleted since).
  - An image is identified by its O(label) together with the disk it was captured from. The module records that
    source on the image as a tag C(source=linode:<id>,disk:<id>) and reads it back on later runs, so a rerun with the
    same label and source changes nothing, and an interrupted run resumes by waiting for the image it already started.
  - Checks everything it can before any write, each failure naming the option at fault. Only ext3 and ext4 disks can
    be captured; raw disks (for example CoreOS), swap, initrd and custom filesystems are refused, as Linode documents.
  - V(POST /images) is never sent again blindly. After an answer that leaves in doubt whether the image was created
    (timeout, connection reset, 5xx), the module looks for the image it may have created and only captures again if
    there is none.
  - A disk that is V(not ready) (just created or resized) is waited for, within O(wait_timeout), before it is captured.
  - A new capture of an instance in any status but V(running) and V(offline) is refused before any write, with an
    error that names the status and says to try again when it is running or offline. A job of Linode's
    (V(migrating), V(resizing), V(restoring), ...) is moving or rewriting the disk, and a boot or shutdown under way
    (V(booting), V(rebooting), V(shutting_down)) is someone else's unless the instance carries a restore marker of
    O(run_id). An existing image is still reported, updated or waited for.
  - Waits without trusting any estimate, since the API sends none it keeps. It looks at the capture's event on the schedule
    O(poll_interval) describes and reads the image once the event has ended or is not listed, so a capture lasting
    T seconds is noticed within a tenth of T and at most 30 s late, at fewer requests than a fixed 10 s poll. It
    stops at once when the capture fails or the image vanishes, and says why that usually happens.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
  - golden_image.linode.wait
attributes:
  check_mode:
    support: full
    description: Runs every check a real run makes and sends no write request; C(changed) is what a real run reports.
  diff_mode:
    support: full
    description: Shows the image before and after.
options:
  linode_id:
    description:
      - ID of the Linode instance whose disk is captured.
      - One of O(linode_id), O(linode_label), O(captures) or O(image_id) is required when O(state=present).
    type: int
  linode_label:
    description:
      - Label of the Linode instance whose disk is captured.
    type: str
  disk_id:
    description:
      - ID of the disk to capture.
      - If neither O(disk_id) nor O(disk_label) is set, the disk mounted as the root device of the instance's
        config profiles is captured; the task fails if the profiles boot from different disks.
    type: int
  disk_label:
    description:
      - Label of the disk to capture.
    type: str
  label:
    description:
      - Label of the image, 1-50 characters of letters, digits, spaces and C(, . ? - _ ').
      - Defaults to the disk's label, as Linode does.
      - With O(state=absent), O(label) or O(image_id) is required.
    type: str
  image_id:
    description:
      - ID of an existing private image (C(private/12345)) to work on instead of capturing one. Its O(tags) and
        O(description) are updated to match (the source record stays), O(replicate_regions) are added, and with
        O(state=absent) it is deleted (an image already gone counts as deleted).
      - The instance it was captured from need not exist any more.
      - Cannot be combined with O(linode_id), O(linode_label), O(disk_id), O(disk_label), O(label), O(captures) or
        O(recreate).
    type: str
    version_added: 0.2.0
  description:
    description:
      - Description of the image, up to 65000 characters. An existing image's description is updated to match.
    type: str
  tags:
    description:
      - Tags of the image, each 3-50 characters. An existing image's tags are updated to match.
      - Tags starting with C(source=linode:) are reserved for the module's source record.
    type: list
    elements: str
  cloud_init:
    description:
      - Whether the image supports cloud-init (metadata). Only used when the image is created.
    type: bool
    default: false
  state:
    description:
      - V(present) captures the image unless it exists.
      - V(absent) deletes the private images with this O(label) (only those captured from the given disk when an
        instance is given), or the image O(image_id).
    type: str
    default: present
    choices: [present, absent]
  recreate:
    description:
      - Capture a new image even if one with this label exists, or exists from another disk.
      - The old image is deleted only after the new one is available, so a failed capture leaves the old one.
    type: bool
    default: false
  wait:
    description:
      - Wait until the image is available (and replicated to every region in O(replicate_regions)).
      - With V(false) the module returns once the capture has started; a later run with V(true) resumes the wait.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take, retries and waits included.
    type: int
    default: 3600
  require_offline:
    description:
      - Fail when the instance is not offline. With V(false) a running instance is captured with a warning, because a
        running database may be captured mid-write.
    type: bool
    default: false
  replicate_regions:
    description:
      - Regions to replicate the image to once it is available. The regions it is in already stay.
      - Every region is checked against the API's list of regions before any change, so a misspelt region fails
        before the capture.
      - With O(captures), accepted in check mode only, to check the regions before a fleet's captures (replicate each
        image with a task of its own).
    type: list
    elements: str
    default: []
  known_images:
    description:
      - The account's private images as returned by M(golden_image.linode.linode_image_info) in C(images), looked up
        once for a whole fleet.
      - When set, the module finds existing images in this list instead of listing the account's images itself,
        which keeps a fleet within the API's limit of 20 image listings a minute. Found images are read again one by
        one, so their status is current.
    type: list
    elements: dict
  known_instances:
    description:
      - Linode instances as returned by M(golden_image.linode.linode_instance_info) or
        M(golden_image.linode.linode_instance_power), read once for a whole fleet.
      - When the instance is in this list, the module takes it (its status included) from there instead of reading
        it, which saves one request per host. Pass only a list read moments before, such as the one a shutdown's wait
        ends with.
    type: list
    elements: dict
  known_disks:
    description:
      - Disks as an earlier task of the same play found them, each the RV(source) (or an RV(captures.<name>.source))
        that a run of this module returned, check mode included.
      - A capture whose instance and O(disk_id) match one of them takes the disk's label, filesystem and status from there
        instead of reading it, which saves one request per host. The capture request itself still fails if the disk
        changed since.
    type: list
    elements: dict
  run_id:
    description:
      - The run (as the O(golden_image.linode.linode_instance_power#module:run_id) of its power tasks) whose restore
        marker on an instance explains a boot or shutdown under way (V(booting), V(rebooting), V(shutting_down)), so
        that instance is not refused for it. Without it, or under another run's marker, such an instance is refused.
      - A status of a job of Linode's (V(migrating), ...) is refused whatever the marker.
    type: str
    version_added: 0.2.0
  captures:
    description:
      - Several captures in one task, for a fleet. There is one entry per source disk. The entries are handled one
        after another with one API client and, with O(wait=true), waited for together. A fleet then costs one module run instead of one per host.
      - Each entry takes the keys below; O(description), O(tags), O(cloud_init) and O(require_offline) default to the
        task's options, and every other option applies to all entries.
      - An entry that fails does not stop the others. Each entry's outcome is in RV(captures), under the entry's
        O(captures[].name), and the task fails once all were handled if one failed.
      - Each entry needs its own O(captures[].name). Entries that share a name are refused, before any request.
      - Each entry needs its own image label. Entries that name the same label are all refused before any request;
        an entry whose label defaults to a disk label an earlier entry's image already takes is refused.
      - Cannot be combined with O(linode_id), O(linode_label), O(disk_id), O(disk_label), O(label), O(recreate),
        O(state=absent), or O(replicate_regions) outside check mode.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - A name of your choice for the entry (for example the inventory host), unique within O(captures).
          - The entry's outcome is RV(captures.<name>), under this name.
        type: str
        required: true
      linode_id:
        description:
          - ID of the instance, as O(linode_id). One of O(captures[].linode_id) or O(captures[].linode_label) is
            required.
        type: int
      linode_label:
        description:
          - Label of the instance, as O(linode_label).
        type: str
      disk_id:
        description:
          - ID of the disk, as O(disk_id).
        type: int
      disk_label:
        description:
          - Label of the disk, as O(disk_label).
        type: str
      label:
        description:
          - Label of the image, as O(label); defaults to the disk's label.
        type: str
      description:
        description:
          - Description of the image, as O(description).
        type: str
      tags:
        description:
          - Tags of the image, as O(tags).
        type: list
        elements: str
      cloud_init:
        description:
          - Whether the image supports cloud-init, as O(cloud_init).
        type: bool
      require_offline:
        description:
          - Whether to fail this entry when its instance is not offline, as O(require_offline).
        type: bool
seealso:
  - module: golden_image.linode.linode_image_info
  - name: Capture an Image (Linode docs)
    description: Linode's own procedure and limits for capturing images.
    link: https://techdocs.akamai.com/cloud-computing/docs/capture-an-image
"""

EXAMPLES = r"""
- name: Capture the root disk of web-1 as a golden image
  golden_image.linode.linode_image_capture:
    linode_label: web-1
    label: web-golden
    description: Web tier golden image
    tags: [golden, web]
    require_offline: true

- name: Capture a disk by label, start it and come back later
  golden_image.linode.linode_image_capture:
    linode_id: 1001
    disk_label: Ubuntu 24.04 Disk
    label: web-base
    wait: false

- name: Check what would happen, without any write
  golden_image.linode.linode_image_capture:
    linode_id: 1001
    disk_id: 2001
    label: web-base
  check_mode: true
  diff: true
  register: preview

- name: Replace the image by a new capture, then copy it to another region
  golden_image.linode.linode_image_capture:
    linode_id: 1001
    label: web-base
    recreate: true
    replicate_regions: [eu-west]

- name: Start the captures of a whole fleet in one task, one entry per host
  golden_image.linode.linode_image_capture:
    captures: "{{ ansible_play_hosts | map('extract', hostvars, 'capture_entry') | list }}"
    require_offline: true
    wait: false
  run_once: true
  delegate_to: localhost
  register: started

- name: Delete the image
  golden_image.linode.linode_image_capture:
    label: web-base
    state: absent

- name: Tag an image whose builder is gone, and replicate it
  golden_image.linode.linode_image_capture:
    image_id: "{{ baked.image_id }}"
    tags: [golden, golden_image.linode:verified]
    replicate_regions: [eu-west]
"""

RETURN = r"""
image:
  description:
    - The image as the Linode API returns it; in check mode, the image a real run would create or keep.
    - With O(image_id) and O(state=absent), the image as it was before it was deleted (null when there was none).
  returned: when O(state=present), without O(captures); with O(image_id)
  type: dict
  sample:
    id: private/100001
    label: web-base
    status: available
    size: 2900
    tags: [golden, "source=linode:1001,disk:2001"]
    regions: [{region: us-east, status: available}]
source:
  description: Where the image comes from.
  returned: when O(state=present), without O(captures) or O(image_id)
  type: dict
  contains:
    linode_id:
      description: ID of the instance.
      type: int
      sample: 1001
    linode_label:
      description: Label of the instance.
      type: str
      sample: web-1
    linode_status:
      description: Status of the instance when the module looked.
      type: str
      sample: offline
    disk_id:
      description: ID of the captured disk.
      type: int
      sample: 2001
    disk_label:
      description: Label of the captured disk.
      type: str
      sample: Ubuntu 24.04 Disk
    filesystem:
      description: Filesystem of the captured disk.
      type: str
      sample: ext4
    disk_status:
      description: Status of the disk when the module looked (V(ready), or V(not ready) while it is being created or resized).
      type: str
      sample: ready
    device:
      description:
        - The config profile's root device for the disk, when the disk was chosen as the one the profile boots from;
          null when it was given by O(disk_id) or O(disk_label).
      type: str
      sample: /dev/sda
captures:
  description:
    - With O(captures), the outcome of each entry, keyed by its O(captures[].name) (see RV(captures.<name>)), in the
      order of O(captures).
    - An entry that failed has RV(captures.<name>.error) and, when an option is at fault, RV(captures.<name>.field);
      it has RV(captures.<name>.source) when the instance and disk were found.
  returned: when O(captures) is set
  type: dict
  contains:
    <name>:
      description: The outcome of the entry whose O(captures[].name) is C(<name>), with the keys below.
      type: dict
      returned: for each entry of O(captures)
      contains:
        name:
          description: The entry's O(captures[].name), the key it is under.
          type: str
          returned: always
          sample: web-1
        changed:
          description: Whether the entry created or changed an image (in check mode, whether it would).
          type: bool
          returned: always
          sample: true
        image:
          description: As RV(image), for this entry.
          type: dict
          returned: when the entry's image was found, created or would be created
        source:
          description: As RV(source), for this entry.
          type: dict
          returned: when the entry's instance and disk were found
        error:
          description: Why the entry failed, on one line. The task fails when any entry has one.
          type: str
          returned: when the entry failed
          sample: "Disk 'Swap' (2002) has filesystem swap: swap disks cannot be captured; Linode captures only ext3/ext4 disks (disk_id)"
        field:
          description: The option at fault, as the entry's place in O(captures) and its key.
          type: str
          returned: when the entry failed and an option is at fault
          sample: captures[3].disk_id
  sample:
    web-1:
      name: web-1
      changed: true
      source: {linode_id: 1001, disk_id: 2001, filesystem: ext4}
      image: {id: private/100001, label: web-golden-web-1, status: available}
    swap:
      name: swap
      changed: false
      error: "Disk 'Swap' (2002) has filesystem swap: swap disks cannot be captured; Linode captures only ext3/ext4 disks (disk_id)"
      field: captures[1].disk_id
deleted:
  description: IDs of the images deleted, by O(state=absent) or by O(recreate).
  returned: always
  type: list
  elements: str
  sample: [private/100001]
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
  sample: 21.4
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 4, POST: 1, total: 5}
field:
  description:
    - The option at fault when the task failed because of one (the failure's C(msg) says why), for example
      V(captures[2].name) or V(replicate_regions).
    - Entries of O(captures) that failed on their own have theirs in RV(captures.<name>.field) instead.
  returned: on failure, when an option is at fault
  type: str
  sample: replicate_regions
"""

from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.base import WAIT_ARGUMENT_SPEC, LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, format_api_error, one_line
from ansible_collections.golden_image.linode.plugins.module_utils.instances import (
    check_capturable,
    choose_disk,
    get_instance,
    status_refusal,
)
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error, require_scopes
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    wait_for_capture,
    wait_for_captures,
    wait_for_disk_ready,
    wait_for_replication,
)

# The keys of a captures entry, with their types.
CAPTURE_ENTRY_KEYS = dict(name="str", linode_id="int", linode_label="str", disk_id="int", disk_label="str",
                          label="str", description="str", tags="list", cloud_init="bool", require_offline="bool")
SOURCE_KEYS = ("linode_id", "linode_label", "disk_id", "disk_label", "label")
# With captures, the warning about running instances names this many of them.
RUNNING_SHOWN = 10


class LinodeImageCapture(LinodeModuleBase):
    argument_spec = dict(
        linode_id=dict(type="int"),
        linode_label=dict(type="str"),
        disk_id=dict(type="int"),
        disk_label=dict(type="str"),
        label=dict(type="str"),
        image_id=dict(type="str"),
        description=dict(type="str"),
        tags=dict(type="list", elements="str"),
        cloud_init=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        recreate=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
        require_offline=dict(type="bool", default=False),
        replicate_regions=dict(type="list", elements="str", default=[]),
        known_images=dict(type="list", elements="dict"),
        known_instances=dict(type="list", elements="dict"),
        known_disks=dict(type="list", elements="dict"),
        run_id=dict(type="str"),
        captures=dict(
            type="list", elements="dict",
            # An entry's outcome is returned under its name: every entry needs one.
            options=dict((key, dict(type=kind, elements="str") if kind == "list"
                          else dict(type=kind, required=key == "name")) for key, kind in CAPTURE_ENTRY_KEYS.items()),
            mutually_exclusive=[("linode_id", "linode_label"), ("disk_id", "disk_label")],
            required_one_of=[("linode_id", "linode_label")],
        ),
    )
    argument_spec.update(WAIT_ARGUMENT_SPEC)
    # With captures: the running instances, for one warning about them all (see _check_power_state) ...
    running: list | None = None
    # ... the labels the entries handled so far take, with the entry's index, and the entry handled now.
    labels_taken: dict | None = None
    entry_index = 0
    needed_scopes: list = []

    module_kwargs = dict(
        mutually_exclusive=[("linode_id", "linode_label"), ("disk_id", "disk_label")]
        + [("captures", option) for option in ("linode_id", "linode_label", "disk_id", "disk_label", "label")]
        + [("image_id", option) for option in ("linode_id", "linode_label", "disk_id", "disk_label", "label", "captures")],
        required_if=[
            ("state", "present", ("linode_id", "linode_label", "captures", "image_id"), True),
            ("state", "absent", ("label", "image_id"), True),
        ],
    )

    def run_task(self):
        self._validate_options()
        self.result["deleted"] = []
        # Checked at the first capture or deletion, check mode included, so that a run finds a token it
        # cannot finish with before it shuts anything down (the events are what the waits read).
        self.needed_scopes = ["images:read_write", "linodes:read_only"] + (
            ["events:read_only"] if self.params["wait"] and self.params["state"] == "present" else [])
        self._check_regions()
        if self.params["image_id"] is not None:
            self.existing_image()
        elif self.params["captures"] is not None:
            self.capture_many()
        elif self.params["state"] == "absent":
            self.delete_images()
        else:
            self.present_image()

    def _validate_options(self):
        """Checks that need no API request, so bad input fails before anything is sent."""
        if self.params["captures"] is not None:
            if self.params["recreate"]:
                raise LinodeError("captures cannot be combined with recreate: capture one image per task for that",
                                  field="recreate")
            if self.params["replicate_regions"] and not self.module.check_mode:
                raise LinodeError("captures takes replicate_regions in check mode only (to check them before a fleet's "
                                  "captures): replicate each image with a task of its own", field="replicate_regions")
            if self.params["state"] == "absent":
                raise LinodeError("captures cannot be combined with state: absent", field="state")
            self._check_names(self.params["captures"])
        if self.params["image_id"] is not None and self.params["recreate"]:
            raise LinodeError("image_id names an image to update, replicate or delete: recreate captures anew, which "
                              "needs the instance (linode_id or linode_label)", field="recreate")
        self._validate_capture(self.params)

    @staticmethod
    def _check_names(entries):
        """Each entry's outcome is returned under its name, so no two entries may share one."""
        first = {}
        for index, entry in enumerate(entries):
            name = entry["name"]
            if name in first:
                raise LinodeError("captures[%d].name %r is also the name of captures[%d]: each entry needs its own name "
                                  "(its outcome is returned under it)" % (index, name, first[name]),
                                  field="captures[%d].name" % index)
            first[name] = index

    @staticmethod
    def _validate_capture(options):
        if options["label"] is not None:
            img.validate_label(options["label"])
        img.validate_tags(options["tags"] or [])
        img.validate_description(options["description"])

    def _check_regions(self):
        """Every region of replicate_regions exists (one request, which any token may send)."""
        wanted = self.params["replicate_regions"]
        if not wanted:
            return
        known = img.region_ids(self.client)
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise LinodeError("replicate_regions: no region %s; the API knows %s"
                              % (", ".join(map(repr, unknown)), ", ".join(sorted(known))), field="replicate_regions")

    def _get_source(self):
        instance = get_instance(self.client, self.params["linode_id"], self.params["linode_label"],
                                self.params["known_instances"])
        disk = self._known_disk(instance["id"]) or choose_disk(
            self.client, instance, self.params["disk_id"], self.params["disk_label"])
        check_capturable(disk, "disk_label" if self.params["disk_label"] is not None else "disk_id")
        self.result["source"] = dict(
            linode_id=instance["id"], linode_label=instance["label"], linode_status=instance["status"],
            disk_id=disk["id"], disk_label=disk["label"], filesystem=disk["filesystem"], disk_status=disk.get("status"),
            device=disk.get("device"))
        return instance, disk

    def _known_disk(self, linode_id):
        """The disk O(disk_id) names, as a source in known_disks read it, or None."""
        disk_id = self.params["disk_id"]
        if disk_id is None:
            return None
        for source in self.params["known_disks"] or ():
            if (source.get("linode_id"), source.get("disk_id")) == (linode_id, disk_id) and source.get("disk_status"):
                return dict(id=source["disk_id"], label=source.get("disk_label"), filesystem=source.get("filesystem"),
                            status=source.get("disk_status"), device=source.get("device"))
        return None

    def _image_label(self, disk):
        if self.params["label"] is not None:
            return self.params["label"]
        try:
            img.validate_label(disk["label"])
        except LinodeError:
            raise LinodeError("label defaults to the disk's label %r, which is not a valid image label "
                              "(1-50 characters of letters, digits, spaces and , . ? - _ '): set label"
                              % disk["label"], field="label")
        return disk["label"]

    def _check_power_state(self, instance):
        # Any status but running and offline is refused where a capture would start (_refuse_unsettled).
        if instance["status"] == "offline" or status_refusal(instance, self.params["run_id"]) is not None:
            return
        message = ("Linode %s (%s) is %s, not offline: a running database may be captured mid-write"
                   % (instance["label"], instance["id"], instance["status"]))
        if self.params["require_offline"]:
            raise LinodeError(message + " (require_offline)", field="require_offline")
        if self.params["captures"] is not None:
            self.running.append("%s (%s)" % (instance["label"], instance["id"]))
            return
        self.warn(message + "; shut it down first, or set require_offline to refuse.")

    def _refuse_unsettled(self, instance):
        """Before a capture starts: an instance in a job's status (migrating, ...), or booting or shutting down
        not under this run's claim (run_id), is refused, naming the status."""
        refusal = status_refusal(instance, self.params["run_id"])
        if refusal is not None:
            raise LinodeError("Linode %s (%s) is %s" % (instance["label"], instance["id"], refusal),
                              field="linode_id" if self.params["linode_id"] is not None else "linode_label")

    def _get_images(self, label):
        """Private images with this label, newest first: from known_images, else one list request."""
        known = self.params["known_images"]
        if known is None:
            return img.list_private_images(self.client, {"label": label})
        matching = []
        for image in img.newest_first([i for i in known if i.get("label") == label]):
            current = img.get_image(self.client, image["id"])
            if current is not None:
                matching.append(current)
        return matching

    def _create_image(self, instance, disk, label, images_before):
        if disk.get("status") == "not ready" and not self.module.check_mode:
            # The API accepts such a capture and queues it, but a wait with a deadline is clearer than a queue.
            disk = wait_for_disk_ready(self.client, instance["id"], disk, self.deadline, self.schedule())
        body = img.capture_body(disk["id"], label, self.params["description"], self.params["tags"] or [],
                                self.params["cloud_init"], instance["id"])
        self.mark_changed()
        if self.module.check_mode:
            return dict(id=None, label=label, description=self.params["description"] or "", status="creating",
                        tags=body["tags"], is_public=False, type="manual", size=None,
                        regions=[dict(region=instance["region"], status="pending")])
        return img.capture(self.client, body, instance["id"], images_before)

    def _update_image(self, image):
        changes = {}
        description = self.params["description"]
        if description is not None and description != (image.get("description") or ""):
            changes["description"] = description
        tags = self.params["tags"]
        if tags is not None and sorted(set(tags)) != img.user_tags(image):
            source = [t for t in image.get("tags") or [] if t.startswith(img.SOURCE_TAG_PREFIX)]
            changes["tags"] = sorted(set(tags)) + source
        if not changes:
            return image
        self.mark_changed()
        if self.module.check_mode:
            updated = dict(image)
            updated.update(changes)
            return updated
        return img.update_image(self.client, image["id"], changes)

    def _replicate(self, image):
        missing = img.missing_regions(image, self.params["replicate_regions"])
        if not missing:
            return image
        if image.get("status") != "available":
            self.warn("Image %s is %s: replication to %s starts once it is available; run again with wait: true"
                      % (image.get("id"), image.get("status"), ", ".join(missing)))
            return image
        self.mark_changed()
        if self.module.check_mode:
            image = dict(image)
            image["regions"] = image.get("regions", []) + [dict(region=r, status="pending replication") for r in missing]
            return image
        return img.replicate(self.client, image, self.params["replicate_regions"])

    def _wait(self, image, instance, disk):
        if not self.params["wait"] or self.module.check_mode or image.get("status") == "available":
            return image
        return wait_for_capture(self.client, image, instance["id"], disk["id"], self.deadline, self.schedule(captures=True))

    def present_image(self):
        instance, disk = self._get_source()
        require_scopes(self.client, self.needed_scopes, "capture images and wait for them"
                       if "events:read_only" in self.needed_scopes else "capture images")
        label = self._image_label(disk)
        if self.labels_taken is not None:
            if label in self.labels_taken:
                raise LinodeError("label %r is also the label of the image of captures[%d]: each capture needs its own "
                                  "label" % (label, self.labels_taken[label]), field="label")
            self.labels_taken[label] = self.entry_index
        self._check_power_state(instance)
        same_label = self._get_images(label)
        existing = img.find_captured(same_label, label, instance["id"], disk["id"])
        if existing is None and same_label and not self.params["recreate"]:
            other = same_label[0]
            source = img.image_source(other)
            origin = ("Linode %s disk %s" % source) if source else "an unrecorded source"
            raise LinodeError(
                "Image %r (%s) exists and was captured from %s, not from Linode %s disk %s: set recreate: true "
                "to replace it, or choose another label" % (label, other["id"], origin, instance["id"], disk["id"]),
                field="label")
        if existing is None or self.params["recreate"]:
            self._refuse_unsettled(instance)
            image = self._create_image(instance, disk, label, same_label)
            image = self._wait(image, instance, disk)
            if self.params["recreate"]:
                self._delete_after(image, same_label)
        else:
            image = self._wait(self._update_image(existing), instance, disk)
        self.result["image"] = self._replicate_and_wait(image)
        self.result["diff"] = dict(before=existing or {}, after=self.result["image"])

    def _replicate_and_wait(self, image):
        if not self.params["replicate_regions"]:
            return image
        image = self._replicate(image)
        if self.params["wait"] and not self.module.check_mode and img.pending_regions(image):
            image = wait_for_replication(self.client, image["id"], self.deadline, self.schedule())
        return image

    def existing_image(self):
        """image_id: one private image by id, whatever became of its source: updated and replicated, or deleted."""
        image_id = self.params["image_id"]
        require_scopes(self.client, ["images:read_write"], "update, replicate and delete images")
        image = img.get_image(self.client, image_id)
        if image is not None and image.get("is_public"):
            raise LinodeError("image_id %s is a public image: only the account's private images can be changed"
                              % image_id, field="image_id")
        if self.params["state"] == "absent":
            if image is not None:
                if not self.module.check_mode:
                    img.delete_image(self.client, image_id)
                self.result["deleted"].append(image_id)
                self.mark_changed()
            self.result["image"] = image
            self.result["diff"] = dict(before=image or {}, after={})
            return
        if image is None:
            raise LinodeError("image_id %s does not exist (any more)" % image_id, field="image_id")
        updated = self._replicate_and_wait(self._update_image(image))
        self.result["image"] = updated
        self.result["diff"] = dict(before=image, after=updated)

    def capture_many(self):
        """captures: each entry as its own capture, one after another, then one wait for all of them."""
        task_params, outcomes, before = self.params, {}, {}
        self.running, self.labels_taken = [], {}
        shared = self._shared_labels(task_params["captures"])
        for index, entry in enumerate(task_params["captures"]):
            self.entry_index = index
            # An entry's source keys replace the task's; its other keys, left out or null, fall back to the task's.
            self.params = dict(task_params, wait=False)
            self.params.update((key, value) for key, value in entry.items() if value is not None or key in SOURCE_KEYS)
            self.result = {"changed": False}
            try:
                if index in shared:
                    raise LinodeError(shared[index], field="label")
                self._validate_capture(self.params)
                self.present_image()
            except Exception as exc:  # pylint: disable=broad-except
                # An invalid token fails every entry alike: stop at the first.
                if not isinstance(exc, LinodeError) and (not is_api_error(exc) or is_api_error(exc, 401)):
                    raise
                self.result["error"] = str(exc) if isinstance(exc, LinodeError) else format_api_error(exc)
                if getattr(exc, "field", None):
                    self.result["field"] = "captures[%d].%s" % (index, exc.field)
            name = entry["name"]
            before[name] = self.result.pop("diff", {}).get("before", {})
            self.result["name"] = name
            outcomes[name] = self.result
        self.params = task_params
        if self.running:
            shown = ", ".join(self.running[:RUNNING_SHOWN]) + (
                " and %d more" % (len(self.running) - RUNNING_SHOWN) if len(self.running) > RUNNING_SHOWN else "")
            self.warn("%d of the instances are running, not offline: %s. A running database may be captured "
                      "mid-write; shut them down first, or set require_offline to refuse." % (len(self.running), shown))
        self.result = dict(changed=any(o["changed"] for o in outcomes.values()), deleted=[], captures=outcomes)
        if self.params["wait"] and not self.module.check_mode:
            self._wait_for_all(outcomes.values())
        self.result["diff"] = dict(before=before, after=dict((name, o.get("image", {})) for name, o in outcomes.items()))
        failed = [o for o in outcomes.values() if "error" in o]
        if failed:
            raise LinodeError("%d of %d captures failed: %s" % (len(failed), len(outcomes), "; ".join(
                "%s: %s" % (o["name"], o["error"]) for o in failed)))

    @staticmethod
    def _shared_labels(entries):
        """``{index: reason}`` for the entries that name a label another entry names too: which one should own it is
        anyone's guess, so all of them are refused, before any request."""
        by_label = {}
        for index, entry in enumerate(entries):
            if entry.get("label") is not None:
                by_label.setdefault(entry["label"], []).append(index)
        reasons = {}
        for label, indexes in by_label.items():
            for index in indexes if len(indexes) > 1 else ():
                names = ", ".join("captures[%d] (%s)" % (i, entries[i]["name"]) for i in indexes)
                reasons[index] = "label %r is the label of %s: each capture needs its own label" % (label, names)
        return reasons

    def _wait_for_all(self, outcomes):
        capturing = dict((o["image"]["id"], o) for o in outcomes
                         if "error" not in o and o["image"].get("status") != "available")
        if not capturing:
            return
        available, failed = wait_for_captures(self.client, dict(
            (image_id, (o["source"]["linode_id"], o["source"]["disk_id"])) for image_id, o in capturing.items()),
            self.deadline, self.schedule(captures=True), min(o["image"].get("created") or "" for o in capturing.values()))
        for image_id, outcome in capturing.items():
            if image_id in available:
                outcome["image"] = available[image_id]
            else:
                outcome["error"] = one_line(failed[image_id])

    def _delete_after(self, new_image, old_images):
        """recreate: delete the old images only once the new one is available."""
        if not self.module.check_mode and new_image.get("status") != "available":
            self.warn("The new image %s is not available yet, so the old ones (%s) are kept; run again with "
                      "wait: true to finish" % (new_image["id"], ", ".join(i["id"] for i in old_images)))
            return
        for old in old_images:
            if not self.module.check_mode:
                img.delete_image(self.client, old["id"])
            self.result["deleted"].append(old["id"])

    def delete_images(self):
        require_scopes(self.client, self.needed_scopes, "delete images")
        label = self.params["label"]
        images = [i for i in (self.params["known_images"] or img.list_private_images(self.client, {"label": label}))
                  if i.get("label") == label]
        if self.params["linode_id"] is not None or self.params["linode_label"] is not None:
            instance = get_instance(self.client, self.params["linode_id"], self.params["linode_label"])
            wanted_disk = self.params["disk_id"]
            if self.params["disk_label"] is not None:
                wanted_disk = choose_disk(self.client, instance, disk_label=self.params["disk_label"])["id"]
            images = [i for i in images if (img.image_source(i) or (None, None))[0] == instance["id"]
                      and wanted_disk in (None, img.image_source(i)[1])]
        for image in images:
            if not self.module.check_mode:
                img.delete_image(self.client, image["id"])
            self.result["deleted"].append(image["id"])
            self.mark_changed()
        self.result["diff"] = dict(before=dict(images=[i["id"] for i in images]), after=dict(images=[]))


def main():
    LinodeImageCapture.execute()


if __name__ == "__main__":
    main()
