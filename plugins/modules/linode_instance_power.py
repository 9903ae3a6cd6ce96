#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_instance_power
short_description: Boot, shut down or reboot a Linode instance and wait for it
version_added: 0.1.0
description:
  - Brings a Linode instance to a power state and, by default, waits until it is there.
  - Reports no change when the instance is already in that state (except O(state=restarted), which always reboots),
    and waits without sending anything when it is already on its way there (for example V(shutting_down)).
  - An action answered "Linode busy" (another job, such as a capture, runs on the instance) waits for the instance to
    be free and is sent again, within O(wait_timeout).
  - Waits adaptively, reading the power event's estimate instead of polling at a fixed rate.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
attributes:
  check_mode:
    support: full
    description: Reads the instance and reports what a real run would change, without sending the action.
  diff_mode:
    support: full
    description: Shows the status before and after.
options:
  linode_id:
    description:
      - ID of the Linode instance. One of O(linode_id) or O(linode_label) is required.
    type: int
  linode_label:
    description:
      - Label of the Linode instance.
    type: str
  state:
    description:
      - V(running) boots the instance unless it runs; V(stopped) shuts it down unless it is offline;
        V(restarted) reboots it.
    type: str
    required: true
    choices: [running, stopped, restarted]
  config_id:
    description:
      - ID of the config profile to boot or reboot with. By default Linode uses the only or last booted one.
    type: int
  wait:
    description:
      - Wait until the instance is V(running) or V(offline).
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
"""

RETURN = r"""
previous_status:
  description: Status of the instance before the task.
  returned: always
  type: str
  sample: running
status:
  description: Status of the instance after the task (in check mode, the status a real run would end in).
  returned: always
  type: str
  sample: offline
instance:
  description: The instance as the Linode API returns it.
  returned: always
  type: dict
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

from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.instances import (
    POWER_ACTIONS,
    get_instance,
    set_power,
)
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import wait_for_instance_status

# Where a state already holds ("restarted" never does), and the statuses already on their way to it.
ALREADY_THERE = {"running": ("running",), "stopped": ("offline", "stopped"), "restarted": ()}
ON_THE_WAY = {"running": ("booting", "rebooting"), "stopped": ("shutting_down",), "restarted": ()}


class LinodeInstancePower(LinodeModuleBase):
    argument_spec = dict(
        linode_id=dict(type="int"),
        linode_label=dict(type="str"),
        state=dict(type="str", required=True, choices=["running", "stopped", "restarted"]),
        config_id=dict(type="int"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    module_kwargs = dict(
        mutually_exclusive=[("linode_id", "linode_label")],
        required_one_of=[("linode_id", "linode_label")],
    )

    def run_task(self):
        if self.params["wait_timeout"] <= 0:
            raise LinodeError("wait_timeout must be a positive number of seconds", field="wait_timeout")
        instance = get_instance(self.client, self.params["linode_id"], self.params["linode_label"])
        wanted = self.params["state"]
        self.result["previous_status"] = instance["status"]
        event_action, final_status = POWER_ACTIONS[wanted][1:]
        if instance["status"] in ON_THE_WAY[wanted]:
            # Someone else's action is already taking it there: wait for it rather than send another.
            if self.params["wait"] and not self.module.check_mode:
                instance = wait_for_instance_status(self.client, instance["id"], event_action, final_status,
                                                    self.deadline)
        elif instance["status"] not in ALREADY_THERE[wanted]:
            self.mark_changed()
            if self.module.check_mode:
                instance = dict(instance, status=final_status)
            else:
                instance = set_power(self.client, instance, wanted, self.deadline, self.params["config_id"],
                                     wait=self.params["wait"])
        self.result["status"] = instance["status"]
        self.result["instance"] = instance
        self.result["diff"] = dict(before=dict(status=self.result["previous_status"]),
                                   after=dict(status=instance["status"]))


def main():
    LinodeInstancePower.execute()


if __name__ == "__main__":
    main()
