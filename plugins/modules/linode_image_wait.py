#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_image_wait
short_description: Wait for many image captures at once, at the cost of one
version_added: 0.1.0
description:
  - Waits until every image given is V(available), for captures started by
    M(golden_image.linode.linode_image_capture) with O(golden_image.linode.linode_image_capture#module:wait=false).
  - Meant to run once for a whole fleet (C(run_once)). Each round reads the captures' events in one request per
    100 Linodes, on the schedule O(poll_interval) describes, and reads an image only once its event has ended or is
    not listed, so a fleet of a hundred captures costs little more than one does, and no host holds a fork while it
    waits.
  - A capture that fails, or whose image vanishes (Linode deletes an image whose disk usage is over the account's
    image size limit), stops being waited for at once. The task fails afterwards naming each one; RV(available) and
    RV(failed) say how every image ended.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
  - golden_image.linode.wait
attributes:
  check_mode:
    support: full
    description: Reads only. In check mode it returns at once without waiting.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
options:
  images:
    description:
      - The images to wait for, as M(golden_image.linode.linode_image_capture) returns them in RV(golden_image.linode.linode_image_capture#module:image).
      - Each needs its C(id) and the source tag the capture module records (C(source=linode:<id>,disk:<id>)), which
        says which Linode's events to read. Images already V(available) are returned as they are.
    type: list
    elements: dict
    required: true
  wait_timeout:
    description:
      - Seconds the whole task may take.
    type: int
    default: 3600
seealso:
  - module: golden_image.linode.linode_image_capture
"""

EXAMPLES = r"""
- name: Start a capture on every host
  golden_image.linode.linode_image_capture:
    linode_id: "{{ linode_id }}"
    label: "{{ inventory_hostname }}-golden"
    wait: false
  register: started

- name: Wait for all of them at once
  golden_image.linode.linode_image_wait:
    images: "{{ ansible_play_hosts | map('extract', hostvars, ['started', 'image']) | list }}"
  run_once: true
  register: waited
"""

RETURN = r"""
available:
  description: The images that are available, by id, as the API returns them.
  returned: always
  type: dict
  sample: {private/100001: {id: private/100001, status: available, size: 2900}}
failed:
  description: The images whose capture failed, by id, with the reason.
  returned: always
  type: dict
  sample: {private/100002: "Capture of image private/100002 failed (event 7). Linode deleted the image ..."}
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 4, total: 4}
"""

from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.base import WAIT_ARGUMENT_SPEC, LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import wait_for_captures


class LinodeImageWait(LinodeModuleBase):
    argument_spec = dict(
        images=dict(type="list", elements="dict", required=True),
        wait_timeout=dict(type="int", default=3600),
    )
    argument_spec.update(WAIT_ARGUMENT_SPEC)

    def run_task(self):
        available, pending = {}, {}
        for image in self.params["images"]:
            if not image.get("id"):
                raise LinodeError("images: every image needs an id (got %r)" % (image,), field="images")
            source = img.image_source(image)
            if image.get("status") == "available":
                available[image["id"]] = image
            elif source is None:
                raise LinodeError("images: %s has no source tag, so its capture cannot be followed; pass the images "
                                  "linode_image_capture returns" % image["id"], field="images")
            else:
                pending[image["id"]] = source
        failed = {}
        if pending and not self.module.check_mode:
            since = min(image.get("created") or "" for image in self.params["images"] if image["id"] in pending)
            done, failed = wait_for_captures(self.client, pending, self.deadline, self.schedule(captures=True), since)
            available.update(done)
        self.result.update(available=available, failed=failed)
        if failed:
            raise LinodeError("; ".join(failed[i] for i in sorted(failed)))


def main():
    LinodeImageWait.execute()


if __name__ == "__main__":
    main()
