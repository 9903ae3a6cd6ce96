#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_instance_temporary
short_description: Create, delete and clean up temporary Linode instances for baking and verifying images
version_added: 0.2.0
description:
  - Creates a Linode instance from a public or private image, waits until it runs, and deletes it again, for a
    pipeline that bakes an image on a temporary instance or verifies an image by booting it.
  - A temporary instance carries the tag C(golden_image.linode:temporary) besides O(tags). Only instances with that tag
    are ever returned, deleted or cleaned up; an instance without it is a user's and is never adopted or touched.
  - Idempotent by O(label) (labels are unique in an account). With O(state=present), a temporary instance with that
    label is returned unchanged (after a wait for it to run, if it is still on its way); it is refused if it was
    created from another image, region or type, since it is then not the instance the task describes. A label held
    by an instance without the tag is refused with no write.
  - V(POST /linode/instances) is never sent again blindly. After an answer that leaves in doubt whether it acted
    (timeout, connection reset, 5xx) the instance is looked for by its label, and the create is sent again only if
    none exists; Linode refuses a second instance with a label in use anyway. A label Linode still holds for an
    instance being deleted (it does so until the delete has finished) is waited for, within O(wait_timeout).
  - The image, region and type are checked before any write; a refusal names the option and what the API has.
  - With neither O(authorized_keys) nor O(root_pass) a strong random root password is generated. It is sent only in
    the create request and is never returned, logged or shown.
  - O(state=cleanup) deletes every temporary instance (optionally only those whose label starts with O(label_prefix))
    created at least O(older_than) minutes ago on the API's clock, which a killed run left behind.
  - Waits on the instance's own C(status) (V(provisioning), then V(booting), then V(running)), one request a round,
    on the schedule O(poll_interval) describes, first looking after six poll intervals (on record a create from an
    image took 15 to 67 s, and its boot another 14 s or more).
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
  - golden_image.linode.wait
attributes:
  check_mode:
    support: full
    description:
      - Runs every check a real run makes, the reads included, and sends no write; RV(instance) (or RV(deleted)) says
        what a real run would create (or delete), and C(changed) is what a real run reports.
  diff_mode:
    support: full
    description: Shows the instance before and after (for O(state=cleanup), the labels of the temporary instances).
options:
  state:
    description:
      - V(present) creates the instance unless a temporary instance with O(label) exists, and waits until it runs.
      - V(absent) deletes the temporary instance with O(label), if there is one.
      - V(cleanup) deletes the temporary instances older than O(older_than) minutes.
    type: str
    default: present
    choices: [present, absent, cleanup]
  label:
    description:
      - Label of the temporary instance, which identifies it. Required with O(state=present) and O(state=absent).
      - 3-64 characters, a letter first, then letters, digits, C(-), C(_) or C(.), never two C(-), C(_) or C(.) in a
        row (Linode's rule).
    type: str
  image:
    description:
      - The image to create the instance from, a public one (C(linode/debian12)) or a private one of the account
        (C(private/12345)), which must be available. Required with O(state=present).
    type: str
  region:
    description:
      - Region to create the instance in, for example C(us-east). Required with O(state=present).
    type: str
  type:
    description:
      - Linode type (plan) of the instance. Its disk, less a 512 MB swap disk, holds the image.
    type: str
    default: g6-nanode-1
  authorized_keys:
    description:
      - OpenSSH public keys (lines as in a C(.pub) file) for the root user.
    type: list
    elements: str
  root_pass:
    description:
      - Root password, 7 to 128 characters, which the API also scores for strength.
      - With neither this nor O(authorized_keys) a random 40-character password is generated and used; it is never
        returned or shown (log in with a key, or through the Lish console after resetting it).
      - Never returned, logged or shown.
    type: str
  tags:
    description:
      - Tags of the instance, besides C(golden_image.linode:temporary), which is always added. Each 3 to 50 characters.
      - Applied when the instance is created; an existing instance keeps its tags.
    type: list
    elements: str
    default: []
  label_prefix:
    description:
      - With O(state=cleanup), only temporary instances whose label starts with this are deleted (for example the
        prefix one pipeline gives its instances), so that another pipeline's are left alone.
    type: str
  older_than:
    description:
      - With O(state=cleanup), minutes since its creation (on the API's clock) after which a temporary instance counts
        as left behind and is deleted. Younger ones are kept, listed in RV(kept).
      - Set it longer than a run that creates temporary instances can take, so that a cleanup never deletes the
        instance of a run still going on. V(0) deletes every one.
    type: int
    default: 120
  wait:
    description:
      - With O(state=present), wait until the instance is V(running).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take, its waits and retries included.
    type: int
    default: 600
seealso:
  - module: golden_image.linode.linode_image_capture
  - module: golden_image.linode.linode_instance_power
"""

EXAMPLES = r"""
- name: Create a temporary instance from Debian 12 to bake an image on
  golden_image.linode.linode_instance_temporary:
    label: bake-web-{{ tower_job_id | default('manual') }}
    image: linode/debian12
    region: us-east
    authorized_keys: ["{{ lookup('ansible.builtin.file', 'files/bake.pub') }}"]
    tags: [web-bake]
  register: bake

- name: Boot the new image on a temporary instance to verify it
  golden_image.linode.linode_instance_temporary:
    label: verify-web-{{ tower_job_id | default('manual') }}
    image: "{{ captured.image.id }}"
    region: us-east
    type: g6-standard-1
  register: verify

- name: Delete it again
  golden_image.linode.linode_instance_temporary:
    label: verify-web-{{ tower_job_id | default('manual') }}
    state: absent

- name: Delete what killed runs left behind (temporary instances of this pipeline older than two hours)
  golden_image.linode.linode_instance_temporary:
    state: cleanup
    label_prefix: bake-web-
    older_than: 120
"""

RETURN = r"""
instance:
  description:
    - With O(state=present), the instance as the Linode API returned it last (in check mode, when it would be created,
      the instance a real run would create, with a null C(id) and C(status) V(provisioning)).
    - With O(state=absent), the instance deleted (or that would be), null when there was none.
  returned: with O(state=present) and O(state=absent)
  type: dict
  sample: {id: 40001, label: bake-web-1, image: linode/debian12, region: us-east, type: g6-nanode-1, status: running,
           tags: ["golden_image.linode:temporary", web-bake], ipv4: ["198.51.100.7"]}
root_pass_generated:
  description: Whether a root password was generated (it is not returned).
  returned: with O(state=present)
  type: bool
  sample: false
deleted:
  description:
    - The temporary instances deleted (in check mode, that would be), each with its C(id), C(label), C(image),
      C(region), C(type), C(status), C(tags) and C(created) as read before the delete.
  returned: with O(state=absent) and O(state=cleanup)
  type: list
  elements: dict
  sample: [{id: 40001, label: bake-web-1, image: linode/debian12, region: us-east, type: g6-nanode-1, status: running,
            tags: ["golden_image.linode:temporary"], created: "2025-01-01T12:00:00"}]
kept:
  description: With O(state=cleanup), the temporary instances younger than O(older_than) minutes, left alone.
  returned: with O(state=cleanup)
  type: list
  elements: dict
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 6, POST: 1, total: 7}
field:
  description: The option at fault when the task failed because of one (the failure's C(msg) says why).
  returned: on failure, when an option is at fault
  type: str
  sample: label
"""

from ansible_collections.golden_image.linode.plugins.module_utils import temporary as tmp
from ansible_collections.golden_image.linode.plugins.module_utils.base import WAIT_ARGUMENT_SPEC, LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.transport import require_scopes
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    ON_THE_WAY_TO,
    PollSchedule,
    wait_for_instances,
)

# What an existing temporary instance must match to be the one the task describes.
IDENTITY = ("image", "region", "type")


class LinodeInstanceTemporary(LinodeModuleBase):
    argument_spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent", "cleanup"]),
        label=dict(type="str"),
        image=dict(type="str"),
        region=dict(type="str"),
        type=dict(type="str", default="g6-nanode-1"),
        authorized_keys=dict(type="list", elements="str", no_log=False),
        root_pass=dict(type="str", no_log=True),
        tags=dict(type="list", elements="str", default=[]),
        label_prefix=dict(type="str"),
        older_than=dict(type="int", default=120),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    argument_spec.update(WAIT_ARGUMENT_SPEC)
    module_kwargs = dict(
        required_if=[("state", "present", ("label", "image", "region")), ("state", "absent", ("label",))],
    )

    def __init__(self, module):
        super(LinodeInstanceTemporary, self).__init__(module)
        # The API's clock before the create: only events created since then are this task's.
        self.since = None

    def run_task(self):
        self._validate_options()
        state = self.params["state"]
        if state == "present":
            self.present()
        elif state == "absent":
            self.absent()
        else:
            self.cleanup()

    def _validate_options(self):
        """Checks that need no API request, so bad input fails before anything is sent."""
        state = self.params["state"]
        if state == "cleanup":
            if self.params["label"] is not None:
                raise LinodeError("label selects one instance, for state present or absent; with state cleanup, "
                                  "select by label_prefix", field="label")
            if self.params["label_prefix"] is not None:
                tmp.validate_label_prefix(self.params["label_prefix"])
            if self.params["older_than"] < 0:
                raise LinodeError("older_than must be 0 or more minutes (got %d)" % self.params["older_than"],
                                  field="older_than")
            return
        if self.params["label_prefix"] is not None:
            raise LinodeError("label_prefix is for state cleanup only", field="label_prefix")
        tmp.validate_label(self.params["label"])
        if state == "present":
            tmp.validate_tags(self.params["tags"])
            tmp.validate_authorized_keys(self.params["authorized_keys"])
            tmp.validate_root_pass(self.params["root_pass"])

    def _existing(self):
        """The instance with the task's label, refused if it is not a temporary one."""
        instance = tmp.find_by_label(self.client, self.params["label"])
        if instance is not None and not tmp.is_temporary(instance):
            raise LinodeError(tmp.holder_error(instance), field="label")
        return instance

    def present(self):
        existing = self._existing()
        require_scopes(self.client, ["linodes:read_write", "images:read_only"], "create temporary instances")
        self.result["root_pass_generated"] = False
        if existing is not None:
            self._check_identity(existing)
            instance = existing
        else:
            instance = self._create()
        if self.params["wait"] and instance["status"] != "running":
            instance = self._wait_running(instance)
        self.result["instance"] = instance
        self.result["diff"] = dict(before=tmp.summary(existing) if existing else {}, after=tmp.summary(instance))

    def _check_identity(self, instance):
        for option in IDENTITY:
            if instance.get(option) != self.params[option]:
                raise LinodeError(
                    "The temporary instance %s (%s) has %s %s, not %s: it is not the instance this task describes. "
                    "Delete it (state: absent) or choose another label" % (
                        instance["label"], instance["id"], option, instance.get(option), self.params[option]),
                    field=option)

    def _create(self):
        params = self.params
        tmp.check_choices(self.client, params["image"], params["region"], params["type"])
        root_pass = params["root_pass"]
        if not root_pass and not params["authorized_keys"]:
            root_pass = tmp.generate_root_pass()
            # Masked wherever Ansible would show it, should anything ever quote it.
            self.module.no_log_values.add(root_pass)
            self.result["root_pass_generated"] = True
        body = tmp.create_body(params["label"], params["image"], params["region"], params["type"], params["tags"],
                               params["authorized_keys"], root_pass)
        self.mark_changed()
        if self.module.check_mode:
            return dict(id=None, label=body["label"], image=body["image"], region=body["region"], type=body["type"],
                        tags=body["tags"], status="provisioning")
        self.since = self.client.session.server_time()
        return tmp.create_instance(self.client, body, self.deadline, self._create_schedule())

    def _create_schedule(self):
        return PollSchedule.for_creates(self.schedule().interval)

    def _wait_running(self, instance):
        """Wait until the instance runs; one that is not on its way fails at once (in check mode too)."""
        if instance["status"] not in ON_THE_WAY_TO["running"]:
            raise LinodeError("The temporary instance %s (%s) is %s and will not run by itself: boot it "
                              "(linode_instance_power) or delete it (state: absent)" % (
                                  instance["label"], instance["id"], instance["status"]))
        if self.module.check_mode:
            return instance
        latest, failed = wait_for_instances(self.client, {instance["id"]: "running"}, "linode_create", self.deadline,
                                            self._create_schedule(), self.since)
        self.result["instance"] = latest.get(instance["id"], instance)
        if failed:
            raise LinodeError(failed[instance["id"]])
        return latest[instance["id"]]

    def absent(self):
        existing = self._existing()
        require_scopes(self.client, ["linodes:read_write"], "delete temporary instances")
        self.result.update(instance=existing, deleted=[])
        if existing is not None:
            self._delete([existing])
        self.result["diff"] = dict(before=tmp.summary(existing) if existing else {}, after={})

    def cleanup(self):
        temporary = tmp.list_temporary(self.client, self.params["label_prefix"])
        require_scopes(self.client, ["linodes:read_write"], "delete temporary instances")
        old, young = tmp.older_than(self.client, temporary, self.params["older_than"])
        self.result.update(deleted=[], kept=[tmp.summary(i) for i in young])
        self._delete(old)
        self.result["diff"] = dict(before=dict(instances=[i["label"] for i in temporary]),
                                   after=dict(instances=[i["label"] for i in young]))

    def _delete(self, instances):
        for instance in instances:
            gone = self.module.check_mode or tmp.delete_instance(self.client, instance["id"], self.deadline,
                                                                 self.schedule())
            if gone:
                self.result["deleted"].append(tmp.summary(instance))
                self.mark_changed()


def main():
    LinodeInstanceTemporary.execute()


if __name__ == "__main__":
    main()
