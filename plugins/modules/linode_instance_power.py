#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_instance_power
short_description: Boot, shut down or reboot Linode instances, one or a fleet, and bring them back
version_added: 0.1.0
description:
  - Brings one Linode instance (O(linode_id) or O(linode_label)) or many (O(linode_ids)) to a power state and, by
    default, waits until they are there.
  - For many instances, every read and every wait is shared by all of them, so a fleet of a hundred costs a few reads
    plus one action per instance that needs it.
  - Reports no change for instances already in that state (except O(state=restarted), which always reboots), and
    waits without sending anything for instances already on their way there (for example V(shutting_down)).
  - An action answered "Linode busy" (another job, such as a capture, runs on the instance) waits for the instance to
    be free and is sent again, within O(wait_timeout).
  - With O(remember=true), O(state=stopped) first tags every running instance it shuts down with
    C(golden_image.linode:restore=running). O(state=restored) boots the instances that carry that tag and then removes
    it, so an instance is brought back even by a rerun after the run that stopped it was killed.
  - Waits on the instances' own C(status), one request a round for the whole fleet, on the schedule O(poll_interval)
    describes (every 5 s at first), because the power events' estimates are not usable. The events are read only for an
    instance that is neither there nor on its way after a minute, to tell a failed job from a slow one.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
  - golden_image.linode.wait
attributes:
  check_mode:
    support: full
    description: Reads the instances and reports what a real run would change, without any write.
  diff_mode:
    support: full
    description: Shows the statuses before and after.
options:
  linode_id:
    description:
      - ID of the Linode instance. Exactly one of O(linode_id), O(linode_label) and O(linode_ids) is required.
    type: int
  linode_label:
    description:
      - Label of the Linode instance.
    type: str
  linode_ids:
    description:
      - IDs of several Linode instances, handled together.
      - One instance that fails does not stop the others; the task fails afterwards, naming each one, and
        RV(instances) has every instance's outcome.
    type: list
    elements: int
  state:
    description:
      - V(running) boots the instances that do not run; V(stopped) shuts down those that are not offline;
        V(restarted) reboots them; V(restored) boots the ones tagged by an earlier O(remember=true) and removes the
        tag.
    type: str
    required: true
    choices: [running, stopped, restarted, restored]
  remember:
    description:
      - With O(state=stopped), tag each running instance before shutting it down, so O(state=restored) boots it back.
    type: bool
    default: false
  config_id:
    description:
      - ID of the config profile to boot or reboot with. By default Linode uses the only or last booted one.
      - Only with O(linode_id) or O(linode_label).
    type: int
  wait:
    description:
      - Wait until the instances are V(running) or V(offline).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take, "Linode busy" waits included.
    type: int
    default: 600
seealso:
  - module: golden_image.linode.linode_image_capture
"""

EXAMPLES = r"""
- name: Shut web-1 down before capturing it
  golden_image.linode.linode_instance_power:
    linode_label: web-1
    state: stopped
  register: power

- name: Boot it again with its usual config
  golden_image.linode.linode_instance_power:
    linode_id: "{{ power.instance.id }}"
    state: running
  when: power.previous_status == 'running'

- name: Shut a whole fleet down, remembering which ones ran
  golden_image.linode.linode_instance_power:
    linode_ids: "{{ groups['web'] | map('extract', hostvars, 'linode_id') | list }}"
    state: stopped
    remember: true
  run_once: true

- name: Bring back every instance that was running, even after a killed run
  golden_image.linode.linode_instance_power:
    linode_ids: "{{ groups['web'] | map('extract', hostvars, 'linode_id') | list }}"
    state: restored
  run_once: true
"""

RETURN = r"""
previous_status:
  description: Status of the instance before the task.
  returned: with O(linode_id) or O(linode_label)
  type: str
  sample: running
status:
  description: Status of the instance after the task (in check mode, the status a real run would end in).
  returned: with O(linode_id) or O(linode_label)
  type: str
  sample: offline
instance:
  description: The instance as the Linode API returns it.
  returned: with O(linode_id) or O(linode_label)
  type: dict
instances:
  description: One entry per instance, in the order of O(linode_ids) (one entry with O(linode_id) or O(linode_label)).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: ID of the instance.
      type: int
    label:
      description: Label of the instance.
      type: str
    previous_status:
      description: Status before the task.
      type: str
    status:
      description: Status after the task.
      type: str
    restore_status:
      description: The status a later O(state=restored) brings it back to, as recorded before the task.
      type: str
    changed:
      description: Whether the task changed this instance.
      type: bool
    error:
      description: Why this instance failed, if it did.
      type: str
    instance:
      description: The instance as the Linode API returned it last.
      type: dict
  sample: [{id: 1001, label: web-1, previous_status: running, status: offline, restore_status: running,
            changed: true}]
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 3, POST: 1, total: 4}
"""

from ansible_collections.golden_image.linode.plugins.module_utils.base import WAIT_ARGUMENT_SPEC, LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, format_api_error
from ansible_collections.golden_image.linode.plugins.module_utils.instances import (
    POWER_MARKER_TAG,
    get_instance,
    list_instances,
    restore_status,
    set_power_marker,
)
from ansible_collections.golden_image.linode.plugins.module_utils.power import (
    ALREADY_THERE,
    ON_THE_WAY,
    POWER_ACTIONS,
    send_power_actions,
)
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import wait_for_instances


class LinodeInstancePower(LinodeModuleBase):
    argument_spec = dict(
        linode_id=dict(type="int"),
        linode_label=dict(type="str"),
        linode_ids=dict(type="list", elements="int"),
        state=dict(type="str", required=True, choices=["running", "stopped", "restarted", "restored"]),
        remember=dict(type="bool", default=False),
        config_id=dict(type="int"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    argument_spec.update(WAIT_ARGUMENT_SPEC)
    module_kwargs = dict(
        mutually_exclusive=[("linode_id", "linode_label", "linode_ids"), ("linode_ids", "config_id")],
        required_one_of=[("linode_id", "linode_label", "linode_ids")],
    )

    def __init__(self, module):
        super(LinodeInstancePower, self).__init__(module)
        # The instances as last read or written, by id; the result reports these.
        self.latest = {}

    def run_task(self):
        instances = self._get_instances()
        self.latest = dict((i["id"], i) for i in instances)
        wanted = "running" if self.params["state"] == "restored" else self.params["state"]
        action, event_action, final_status = POWER_ACTIONS[wanted]
        plan = self._plan(instances)
        outcome = dict((i["id"], dict(id=i["id"], label=i["label"], previous_status=i["status"],
                                      restore_status=restore_status(i), changed=i["id"] in plan))
                       for i in instances)
        errors = {}
        if plan:
            self.mark_changed()
            if self.module.check_mode:
                for linode_id in plan:
                    self.latest[linode_id] = dict(self.latest[linode_id], status=final_status)
            else:
                errors = self._act(instances, plan, action, event_action, final_status)
        if self.params["state"] == "restored" and not self.module.check_mode:
            self._forget_markers(plan, errors)
        self._report(instances, outcome, errors)

    def _get_instances(self):
        ids = self.params["linode_ids"]
        if ids is None:
            return [get_instance(self.client, self.params["linode_id"], self.params["linode_label"])]
        found = list_instances(self.client, sorted(set(ids)))
        missing = [i for i in ids if i not in found]
        if missing:
            raise LinodeError("No Linode instance has id %s (linode_ids)" % ", ".join(map(str, missing)),
                              field="linode_ids")
        return [found[i] for i in ids]

    def _plan(self, instances):
        """The ids that need an action, in order; instances on their way there only need the wait."""
        state = self.params["state"]
        if state == "restored":
            return [i["id"] for i in instances
                    if POWER_MARKER_TAG in (i.get("tags") or []) and i["status"] not in ALREADY_THERE["running"]]
        return [i["id"] for i in instances if i["status"] not in ALREADY_THERE[state] + ON_THE_WAY[state]]

    def _act(self, instances, plan, action, event_action, final_status):
        if self.params["remember"] and self.params["state"] == "stopped":
            for linode_id in plan:
                if self.latest[linode_id]["status"] == "running":
                    self.latest[linode_id] = set_power_marker(self.client, self.latest[linode_id], True)
        # The API's clock before the actions: only events created since then are this run's.
        since = self.client.session.server_time()
        errors = send_power_actions(self.client, dict((i, action) for i in plan), self.deadline,
                                    self.params["config_id"], self.schedule())
        if not self.params["wait"]:
            return errors
        waiting = [i["id"] for i in instances if i["id"] not in errors
                   and (i["id"] in plan or i["status"] in ON_THE_WAY.get(self.params["state"], ()))]
        latest, failed = wait_for_instances(self.client, dict((i, final_status) for i in waiting), event_action,
                                            self.deadline, self.schedule(), since)
        self.latest.update(latest)
        errors.update(failed)
        return errors

    def _forget_markers(self, plan, errors):
        """restored: the tag goes once the instance runs again (or was never shut down by us)."""
        for linode_id, instance in list(self.latest.items()):
            if POWER_MARKER_TAG not in (instance.get("tags") or []) or linode_id in errors:
                continue
            if linode_id in plan and instance["status"] != "running" and self.params["wait"]:
                continue
            self.latest[linode_id] = set_power_marker(self.client, instance, False)

    def _report(self, instances, outcome, errors):
        for linode_id, entry in outcome.items():
            entry.update(status=self.latest[linode_id]["status"], instance=self.latest[linode_id])
        for linode_id, error in errors.items():
            outcome[linode_id]["error"] = error if isinstance(error, str) else (
                format_api_error(error) if getattr(error, "status", None) else str(error))
        self.result["instances"] = [outcome[i["id"]] for i in instances]
        self.result["diff"] = dict(before=dict((str(i["id"]), i["status"]) for i in instances),
                                   after=dict((str(k), v["status"]) for k, v in outcome.items()))
        if self.params["linode_ids"] is None:
            single = outcome[instances[0]["id"]]
            self.result.update(previous_status=single["previous_status"], status=single["status"],
                               instance=single["instance"])
        if errors:
            raise LinodeError("; ".join("Linode %s: %s" % (i, outcome[i]["error"]) for i in sorted(errors)))


def main():
    LinodeInstancePower.execute()


if __name__ == "__main__":
    main()
