# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linode API options every module of this collection takes."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  api_token:
    description:
      - A Linode API personal access token.
      - If not set, the value of the E(LINODE_TOKEN) environment variable is used, then E(LINODE_API_TOKEN), then the
        contents of the file that E(LINODE_TOKEN_FILE) names (as the AWX credential type of this collection injects it,
        so that the token is never in a job's environment).
      - The token is never logged or shown in results or error messages.
    type: str
    required: true
  api_url:
    description:
      - Base URL of the Linode API, without or with the version segment.
      - If not set, the value of the E(LINODE_API_URL) environment variable is used.
      - When the URL already ends in C(/v4) or C(/v4beta), that version is used and O(api_version) is ignored.
    type: str
    default: https://api.linode.com
  api_version:
    description:
      - Version of the Linode API.
    type: str
    default: v4
    choices: [v4, v4beta]
  ca_path:
    description:
      - Path to a CA bundle to trust for the API's TLS certificate, for example a private CA in front of the API.
      - If not set, the value of the E(LINODE_CA) environment variable is used, else the system's CAs.
    type: path
  request_timeout:
    description:
      - Seconds to wait for the API to answer one HTTP request.
      - A request that gets no answer in time fails the task instead of hanging it.
    type: float
    default: 30
requirements:
  - python >= 3.8
  - linode_api4 >= 5.48.0
notes:
  - All modules of this collection are in the C(golden_image.linode.linode) action group, so
    C(module_defaults) for C(group/golden_image.linode.linode) can carry these options.
  - GET requests are retried on 408, 429, 5xx and connection errors with jittered exponential backoff that
    honours C(Retry-After) and never outlives the task's deadline; other requests are never sent twice blindly.
"""
