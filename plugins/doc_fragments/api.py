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
      - One of these sources is required; an empty value counts as unset. A missing, unreadable or empty token file
        is an error that names E(LINODE_TOKEN_FILE) and the path.
      - A token is one word of printable ASCII characters. One line ending at the end of the token file is dropped;
        a token that holds whitespace (a second line, a space, a tab) or control characters anywhere else is refused
        before any request, with an error that says where it came from but does not show it.
      - The token is never logged or shown in results or error messages.
    type: str
  api_url:
    description:
      - Base URL of the Linode API, without or with the version segment.
      - If not set, the value of the E(LINODE_API_URL) environment variable is used.
      - An C(https://) or C(http://) URL with a host, for example C(https://api.linode.com) or C(https://api.linode.com/v4);
        anything else is refused before any request.
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
      - A path that names no readable file or directory is refused before any request.
    type: path
  request_timeout:
    description:
      - Seconds to wait for the API to answer one HTTP request.
      - A request that gets no answer in time fails the task instead of hanging it.
      - A request that reaches no server (connection refused, host unknown or unreachable) is tried again only
        within this time from its first attempt, so a wrong O(api_url) or a closed port fails within it.
    type: float
    default: 30
requirements:
  - python >= 3.8
  - linode_api4 >= 5.48.0, < 6
notes:
  - All modules of this collection are in the C(golden_image.linode.linode) action group, so
    C(module_defaults) for C(group/golden_image.linode.linode) can carry these options.
  - GET requests are retried on 408, 429, 5xx and connection errors with jittered exponential backoff (at most 8
    attempts) that honours C(Retry-After) and never outlives the task's deadline; connection errors are retried only
    within O(request_timeout); other requests are never sent twice blindly (any request is repeated after a 429).
"""
