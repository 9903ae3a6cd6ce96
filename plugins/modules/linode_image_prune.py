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
  - Never deletes an image that is still being created, so a capture in progress is safe, nor an image O(protect)
    names, such as the one a playbook has just captured.
  - Refuses vague selections before any request, since they would delete another team's images too. Refused are an empty
    or blank O(label_prefix), an empty O(tags) list, a blank tag, and a O(keep) below V(1).
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
      - Must not be empty or only spaces, and must be made of the characters of an image label (letters, digits,
        plain spaces and C(, . ? - _ ')), since an empty prefix would select every private image of the account.
    type: str
  tags:
    description:
      - Tags the images to consider must all have.
      - When given, must name at least one tag, and no tag may be empty or only spaces, since an empty list would
        select every private image of the account.
    type: list
    elements: str
  keep:
    description:
      - How many of the newest available images to keep, at least V(1); the images in O(protect) count among them.
      - V(0), a negative number and anything that is not a whole number are refused. To delete images by hand, use
        M(golden_image.linode.linode_image_capture) with O(golden_image.linode.linode_image_capture#module:state=absent).
    type: int
    required: true
  protect:
    description:
      - IDs of images never to delete, for example the images a playbook has just captured (C(private/12345)).
      - A protected image that is selected and available is kept and counts among the O(keep) kept, so with
        O(keep=1) and one protected image, every other available image selected goes. When more images are protected
        than O(keep), all of them are kept.
      - IDs of images that are not selected, or no longer exist, change nothing.
    type: list
    elements: str
    default: []
seealso:
  - module: golden_image.linode.linode_image_info
"""

EXAMPLES = r"""
- name: Keep the three newest web golden images
  golden_image.linode.linode_image_prune:
    label_prefix: web-golden-
    tags: [golden]
    keep: 3

- name: Keep the image just captured and the newest older one
  golden_image.linode.linode_image_prune:
    label_prefix: web-golden-
    keep: 2
    protect: ["{{ captured.image.id }}"]
"""

RETURN = r"""
kept:
  description: The available images kept, newest first, the protected ones included.
  returned: always
  type: list
  elements: dict
protected:
  description: IDs of the selected available images kept because O(protect) names them.
  returned: always
  type: list
  elements: str
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
field:
  description:
    - The option at fault when the task failed because of one (the failure's C(msg) says why), for example
      V(keep) or V(label_prefix).
  returned: on failure, when an option is at fault
  type: str
  sample: label_prefix
"""

from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase


class LinodeImagePrune(LinodeModuleBase):
    argument_spec = dict(
        label_prefix=dict(type="str"),
        tags=dict(type="list", elements="str"),
        keep=dict(type="int", required=True),
        protect=dict(type="list", elements="str", default=[]),
    )
    module_kwargs = dict(required_one_of=[("label_prefix", "tags")])

    def run_task(self):
        # Vague options are refused before the first request.
        img.validate_keep(self.params["keep"])
        img.validate_deletion_selector(self.params["label_prefix"], self.params["tags"])
        selected = self._get_images()
        kept, doomed = img.plan_retention(selected, self.params["keep"], self.params["protect"])
        for image in doomed:
            if not self.module.check_mode:
                img.delete_image(self.client, image["id"])
            self.mark_changed()
        self.result.update(
            kept=kept, deleted=doomed,
            protected=[i["id"] for i in kept if i["id"] in self.params["protect"]],
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
