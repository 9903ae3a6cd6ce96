#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_image_info
short_description: Look up private Linode Images by id, label, label prefix or tags
version_added: 0.1.0
description:
  - Returns the account's private images that match every selector given, newest first.
  - Costs one list request per call (pages of 500 images; more only for accounts with more than 500), or one read by
    O(id). The Linode API allows only 20 image listings a minute per token, so a fleet should look up once
    (C(run_once)) and pass the result to M(golden_image.linode.linode_image_capture) as O(golden_image.linode.linode_image_capture#module:known_images).
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
  id:
    description:
      - ID of one image, for example C(private/12345).
    type: str
  label:
    description:
      - Exact label of the images.
    type: str
  label_prefix:
    description:
      - Start of the label of the images.
    type: str
  required_scopes:
    description:
      - Scopes the token must have (C(images:read_write), C(linodes:read_write), C(events:read_only), ...), for the
        tasks that follow this lookup. Fails, naming the missing ones, when it lacks any, so that a playbook can refuse
        a token before its first write instead of halfway.
      - Read from the lookup's own answer (C(X-OAuth-Scopes)), with no extra request. Nothing is checked when the API
        does not say.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  tags:
    description:
      - Tags the images must all have.
    type: list
    elements: str
  query:
    description:
      - A JMESPath expression applied to the list of matching images, newest first, for example
        V([?status=='available'] | [0]).
      - Its result is returned in RV(query_result).
    type: str
requirements:
  - jmespath
"""

EXAMPLES = r"""
- name: All golden images of the web tier
  golden_image.linode.linode_image_info:
    label_prefix: web-golden-
    tags: [golden]
  register: web_images

- name: Check that no image has the new label yet, and that the token can do everything the play does next
  golden_image.linode.linode_image_info:
    label: web-golden-20260101-120000
    required_scopes: [images:read_write, linodes:read_write, events:read_only]
  register: taken

- name: The newest available one
  golden_image.linode.linode_image_info:
    label_prefix: web-golden-
    query: "[?status=='available'] | [0]"
  register: newest

- name: Look up the fleet's images once and share them with every host
  golden_image.linode.linode_image_info:
  run_once: true
  register: fleet_images
"""

RETURN = r"""
images:
  description: The matching private images as the API returns them, newest first.
  returned: always
  type: list
  elements: dict
  sample: [{id: private/100001, label: web-golden-20261127, status: available, size: 2900}]
image:
  description: The first of RV(images), or null when none matches.
  returned: always
  type: dict
query_result:
  description: The result of O(query) applied to RV(images).
  returned: when O(query) is set
  type: raw
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
      V(query) or V(label_prefix).
  returned: on failure, when an option is at fault
  type: str
  sample: query
"""

import re
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.golden_image.linode.plugins.module_utils import images as img
from ansible_collections.golden_image.linode.plugins.module_utils.base import LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.transport import require_scopes

try:
    import jmespath
except ImportError:
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None

SCOPE_PATTERN = re.compile(r"^[a-z_]+:read_(only|write)\Z")


class LinodeImageInfo(LinodeModuleBase):
    argument_spec = dict(
        id=dict(type="str"),
        label=dict(type="str"),
        label_prefix=dict(type="str"),
        tags=dict(type="list", elements="str"),
        query=dict(type="str"),
        required_scopes=dict(type="list", elements="str", default=[]),
    )

    def run_task(self):
        compiled = self._compile_query()
        for scope in self.params["required_scopes"]:
            if not SCOPE_PATTERN.match(scope):
                raise LinodeError("required_scopes: %r is not a scope: <area>:read_only or <area>:read_write, for "
                                  "example images:read_write" % (scope,), field="required_scopes")
        images = self._get_images()
        if self.params["required_scopes"]:
            require_scopes(self.client, self.params["required_scopes"], "run the tasks that follow (required_scopes)")
        self.result["images"] = images
        self.result["image"] = images[0] if images else None
        if compiled is not None:
            self.result["query_result"] = compiled.search(images)

    def _compile_query(self):
        if self.params["query"] is None:
            return None
        if not HAS_JMESPATH:
            self.module.fail_json(msg=missing_required_lib("jmespath"), exception=JMESPATH_IMPORT_ERROR)
        try:
            return jmespath.compile(self.params["query"])
        except jmespath.exceptions.JMESPathError as exc:
            raise LinodeError("query is not a valid JMESPath expression: %s" % exc, field="query")

    def _get_images(self):
        params = self.params
        if params["id"] is None:
            return img.select_private_images(self.client, params["label"], params["label_prefix"], params["tags"])
        found = img.get_image(self.client, params["id"])
        if found is None or not img.image_matches(found, params["label"], params["label_prefix"], params["tags"]):
            return []
        return [found]


def main():
    LinodeImageInfo.execute()


if __name__ == "__main__":
    main()
