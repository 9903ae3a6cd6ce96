#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_image_prune
short_description: Keep the newest N golden images and delete the rest
version_added: 0.1.0
description:
  - Retention for golden images. Among the account's private images selected by O(label_prefix) and/or O(tags), keeps
    the O(keep) newest V(available) ones and deletes the other available ones.
  - Never deletes an image that is still being created, so a capture in progress is safe.
  - Costs one list request, and one delete per image that goes.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
attributes:
  check_mode:
    support: full
    description: Lists what would be deleted and deletes nothing.
  diff_mode:
    support: full
    description: Shows the selected images before and after.
options:
  label_prefix:
    description:
      - Start of the label of the images to consider. At least one of O(label_prefix) and O(tags) is required.
    type: str
  tags:
    description:
      - Tags the images to consider must all have.
    type: list
    elements: str
  keep:
    description:
      - How many of the newest available images to keep. V(0) deletes them all.
    type: int
    required: true
seealso:
  - module: golden_image.linode.linode_image_info
"""

EXAMPLES = r"""
- name: Keep the three newest web golden images
  golden_image.linode.linode_image_prune:
    label_prefix: web-golden-
    tags: [golden]
    keep: 3
"""

RETURN = r"""
kept:
  description: The available images kept, newest first.
  returned: always
  type: list
  elements: dict
deleted:
  description: The images deleted (in check mode, the ones that would be), newest first.
  returned: always
  type: list
  elements: dict
in_progress:
  description: IDs of selected images still being created, which are never deleted.
  returned: always
  type: list
  elements: str
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
"""

from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError


class LinodeImagePrune(LinodeModuleBase):
    argument_spec = dict(
        label_prefix=dict(type="str"),
        tags=dict(type="list", elements="str"),
        keep=dict(type="int", required=True),
    )
    module_kwargs = dict(required_one_of=[("label_prefix", "tags")])

    def run_task(self):
        if self.params["keep"] < 0:
            raise LinodeError("keep must be 0 or more", field="keep")
        selected = self._get_images()
        available = [i for i in selected if i.get("status") == "available"]
        kept, doomed = available[:self.params["keep"]], available[self.params["keep"]:]
        for image in doomed:
            if not self.module.check_mode:
                img.delete_image(self.client, image["id"])
            self.mark_changed()
        self.result.update(
            kept=kept, deleted=doomed,
            in_progress=[i["id"] for i in selected if i.get("status") != "available"],
            diff=dict(before=dict(images=[i["id"] for i in selected]),
                      after=dict(images=[i["id"] for i in selected if i not in doomed])))

    def _get_images(self):
        return img.select_private_images(self.client, label_prefix=self.params["label_prefix"],
                                         tags=self.params["tags"])


def main():
    LinodeImagePrune.execute()


if __name__ == "__main__":
    main()
