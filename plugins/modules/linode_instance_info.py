#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_instance_info
short_description: Look up Linode instances by id, label or tags, a fleet at a time
version_added: 0.1.0
description:
  - Returns the Linode instances that have any of the O(ids) or O(labels) given (all instances when neither is given)
    and all of the O(tags).
  - Costs one request per 100 ids and labels, so a fleet is read once (C(run_once)) rather than host by host; the
    result can be passed to M(golden_image.linode.linode_image_capture) as
    O(golden_image.linode.linode_image_capture#module:known_instances).
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
options:
  ids:
    description: IDs of the instances.
    type: list
    elements: int
    default: []
  labels:
    description: Labels of the instances.
    type: list
    elements: str
    default: []
  tags:
    description: Tags the instances must all have.
    type: list
    elements: str
    default: []
  require_all:
    description: Fail, naming them, when some of the O(ids) or O(labels) match no instance.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read every instance of the play once
  golden_image.linode.linode_instance_info:
    ids: "{{ ansible_play_hosts | map('extract', hostvars, 'linode_id') | list }}"
  run_once: true
  register: fleet
"""

RETURN = r"""
instances:
  description: The matching instances as the Linode API returns them, by id.
  returned: always
  type: list
  elements: dict
  sample: [{id: 1001, label: web-1, status: running, region: us-east, tags: [web]}]
missing:
  description: The O(ids) and O(labels) that match no instance.
  returned: always
  type: list
  elements: raw
  sample: [424242]
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 1, total: 1}
field:
  description:
    - The option at fault when the task failed because of one (the failure's C(msg) says why), for example
      V(ids) when one of them matches no instance, or V(api_token).
  returned: on failure, when an option is at fault
  type: str
  sample: ids
"""

from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.instances import find_instances


class LinodeInstanceInfo(LinodeModuleBase):
    argument_spec = dict(
        ids=dict(type="list", elements="int", default=[]),
        labels=dict(type="list", elements="str", default=[]),
        tags=dict(type="list", elements="str", default=[]),
        require_all=dict(type="bool", default=False),
    )

    def run_task(self):
        ids, labels = self.params["ids"], self.params["labels"]
        instances = find_instances(self.client, ids, labels, self.params["tags"])
        found_ids = set(i["id"] for i in instances)
        found_labels = set(i["label"] for i in instances)
        missing = [i for i in ids if i not in found_ids] + [label for label in labels if label not in found_labels]
        self.result.update(instances=instances, missing=missing)
        if missing and self.params["require_all"]:
            raise LinodeError("No Linode instance matches %s" % ", ".join(map(str, missing)), field="ids")


def main():
    LinodeInstanceInfo.execute()


if __name__ == "__main__":
    main()
