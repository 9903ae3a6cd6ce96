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
    RV(errors) say how every image ended.
  - While it waits, a line on the terminal (and in the AWX job output) says every O(progress_interval) seconds how the
    wait stands, from what its own rounds have read, so the progress costs no API request. See O(progress_interval).
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
  - golden_image.linode.wait
attributes:
  check_mode:
    support: full
    description:
      - Sends no request and returns at once. The images a real run would wait for, those a check-mode capture
        would create (their C(id) is null) included, are returned in RV(would_wait).
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to show.
  action:
    support: full
    description: The action plugin of the same name runs the module and shows its progress; see O(progress_interval).
  async:
    support: full
    description: Can run with C(async); no progress is shown then.
options:
  images:
    description:
      - The images to wait for, as M(golden_image.linode.linode_image_capture) returns them in RV(golden_image.linode.linode_image_capture#module:image).
      - Each needs its C(id) and the source tag the capture module records (C(source=linode:<id>,disk:<id>)), which
        says which Linode's events to read. Images already V(available) are returned as they are.
      - In check mode an image may have no C(id) (a check-mode capture returns C(id=null) for an image it would
        create); it is returned in RV(would_wait).
    type: list
    elements: dict
    required: true
  wait_timeout:
    description:
      - Seconds the whole task may take.
    type: int
    default: 3600
  progress_interval:
    description:
      - "Seconds between two progress lines while the task waits, for example
        C(linode_image_wait: 37 of 100 done, 2 failed, 61 running (58 started, 3 scheduled); 812 s elapsed, 41 polls,
        last 12 s ago, 95 API requests)."
      - C(done) counts the available images and the captures whose event has finished (their images are read with
        the last ones); C(running) counts the others by their event's status, or as C(not listed yet) while the API
        lists no event for them. The API's C(percent_complete) is not shown, as it falls back to 0 for the last third
        of a capture.
      - The lines are written by the action plugin from what the module's own rounds have read, so they cost no API
        request. They are shown when the module runs on the controller (C(connection=local) or
        C(delegate_to=localhost), as the role runs it) without C(become) or C(async); otherwise the task runs as it
        would without them.
      - V(0) shows none. Otherwise at least 5 and at most 600.
    type: int
    default: 60
  progress_file:
    description:
      - Internal, set by the action plugin; do not set it.
      - A file on the host that runs the module, to which it writes a JSON snapshot of the wait after each round
        (replaced at once, never half-written). A file that cannot be written costs a warning and no progress.
    type: path
notes:
  - The result has no key named C(failed) of its own. The captures that failed used to be returned in C(failed), which
    collided with the key Ansible sets on every result; they are in RV(errors).
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

- name: Wait for all of them at once, with a progress line every 30 s
  golden_image.linode.linode_image_wait:
    images: "{{ ansible_play_hosts | map('extract', hostvars, ['started', 'image']) | list }}"
    progress_interval: 30
  run_once: true
  delegate_to: localhost
  register: waited
  # A failed capture fails the task; each image's own reason is in waited.errors.
  failed_when: false

- name: Say how this host's capture ended
  ansible.builtin.debug:
    msg: "{{ waited.errors[started.image.id] | default('available') }}"
"""

RETURN = r"""
available:
  description:
    - The images that are available, by id, as the API returns them (those given as V(available) included).
    - When the task times out, those that were available by then.
  returned: always
  type: dict
  sample: {private/100001: {id: private/100001, status: available, size: 2900}}
errors:
  description:
    - The images whose capture failed or whose image vanished, by id, each with its reason on one line.
    - When the task times out, also every image still being captured, with the timeout as its reason.
    - Formerly called C(failed).
  returned: always
  type: dict
  sample: {private/100002: "Capture of image private/100002 failed (event 7). Linode deleted the image ..."}
would_wait:
  description:
    - In check mode, the images a real run would wait for, as given; those a check-mode capture would create have
      C(id=null). No request is sent for them.
    - Empty outside check mode.
  returned: always
  type: list
  elements: dict
  sample: [{id: null, label: web-1-golden, status: creating, tags: ["source=linode:1001,disk:2001"]}]
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 4, total: 4}
field:
  description: The option at fault, when the task failed because of one.
  returned: on failure, when an option is at fault
  type: str
  sample: images
"""

import json
import os
import time

from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.base import WAIT_ARGUMENT_SPEC, LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    CapturesTimedOut,
    PROGRESS_INTERVAL_BOUNDS,
    single_line,
    wait_for_captures,
)


class LinodeImageWait(LinodeModuleBase):
    argument_spec = dict(
        images=dict(type="list", elements="dict", required=True),
        wait_timeout=dict(type="int", default=3600),
        progress_interval=dict(type="int", default=60),
        progress_file=dict(type="path"),
    )
    argument_spec.update(WAIT_ARGUMENT_SPEC)

    def run_task(self):
        interval = self.params["progress_interval"]
        low, high = PROGRESS_INTERVAL_BOUNDS
        if interval != 0 and not low <= interval <= high:
            raise LinodeError("progress_interval must be 0 (no progress) or from %d to %d seconds (got %s)"
                              % (low, high, interval), field="progress_interval")
        check_mode = self.module.check_mode
        available, pending, would_wait = {}, {}, []
        for index, image in enumerate(self.params["images"]):
            if image.get("id") and image.get("status") == "available":
                available[image["id"]] = image
                continue
            name = "images[%d] (%s)" % (index, image.get("id") or "label %s" % image.get("label"))
            source = img.image_source(image)
            if source is None:
                raise LinodeError("%s has no source tag, so its capture cannot be followed; pass the images "
                                  "linode_image_capture returns" % name, field="images")
            if check_mode:
                would_wait.append(image)
            elif not image.get("id"):
                raise LinodeError("%s has no id; only a check-mode capture returns an image without one, so pass "
                                  "the images linode_image_capture returned in a real run" % name, field="images")
            else:
                pending[image["id"]] = source
        errors = {}
        self.result.update(available=available, errors=errors, would_wait=would_wait)
        if pending:
            since = min(image.get("created") or "" for image in self.params["images"] if image.get("id") in pending)
            try:
                done, failed = wait_for_captures(self.client, pending, self.deadline, self.schedule(captures=True),
                                                 since, self._progress_writer(len(available)))
            except CapturesTimedOut as timed_out:
                done, failed = timed_out.available, dict(timed_out.failed)
                for image_id in timed_out.pending:
                    failed[image_id] = "Timed out after %d s waiting for image %s to become available (wait_timeout)%s" % (
                        timed_out.seconds, image_id, "; its capture had finished, but the image was not read again"
                        if image_id in timed_out.finished else "")
            available.update(done)
            errors.update((image_id, single_line(reason)) for image_id, reason in failed.items())
        if errors:
            raise LinodeError("%d of %d captures failed: %s" % (
                len(errors), len(available) + len(errors), "; ".join(errors[i] for i in sorted(errors))))

    def _progress_writer(self, already_available: int):
        """The ``progress`` callback of the wait: the snapshot, as JSON, in ``progress_file``; None without one."""
        path = self.params["progress_file"]
        if not path or not self.params["progress_interval"]:
            return None
        broken = []

        def write(snapshot: dict) -> None:
            if broken:
                return
            snapshot = dict(snapshot, total=snapshot["total"] + already_available,
                            done=snapshot["done"] + already_available,
                            available=snapshot["available"] + already_available,
                            api_requests=self.client.session.requests_count()["total"], written_at=time.time())
            partial = "%s.%d.tmp" % (path, os.getpid())
            try:
                with open(partial, "w", encoding="utf-8") as out:
                    json.dump(snapshot, out)
                os.replace(partial, path)
            except OSError as exc:
                broken.append(exc)
                self.warn("progress_file: cannot write %s (%s); the wait goes on without progress" % (path, exc))

        return write


def main():
    LinodeImageWait.execute()


if __name__ == "__main__":
    main()
