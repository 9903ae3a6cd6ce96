# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linode API options of this collection's plugins (inventory), with their environment variables.

The same options as the ``golden_image.linode.api`` fragment of the modules, spelled for plugins:
a plugin reads its options through Ansible's configuration system, which takes environment
variables from ``env:`` entries (a module takes them from its argument spec's ``fallback``).
"""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  api_token:
    description:
      - A Linode API personal access token. It needs the C(linodes:read_only) scope.
      - If not set, the value of the E(LINODE_TOKEN) environment variable is used, then E(LINODE_API_TOKEN)
        (when both are set, E(LINODE_TOKEN) wins, as for the modules), then the contents of the file that
        E(LINODE_TOKEN_FILE) names (as the collection's AWX credential type injects it).
      - May be a template, for example a vaulted variable given as an extra var, or an C(ansible.builtin.env) lookup.
      - The token is never logged, cached or shown in errors.
      - One of these sources is required. A missing, unreadable or empty token file is an error that names
        E(LINODE_TOKEN_FILE) and the path.
      - A token is one word of printable ASCII characters. One line ending at the end of the token file is dropped;
        a token that holds whitespace (a second line, a space, a tab) or control characters anywhere else is refused
        before any request, with an error that says where it came from but does not show it.
    type: str
    env:
      - name: LINODE_API_TOKEN
      - name: LINODE_TOKEN
  api_url:
    description:
      - Base URL of the Linode API, without or with the version segment.
      - An C(https://) or C(http://) URL with a host, for example C(https://api.linode.com) or C(https://api.linode.com/v4);
        anything else is refused before any request.
      - When the URL already ends in C(/v4) or C(/v4beta), that version is used and O(api_version) is ignored.
    type: str
    default: https://api.linode.com
    env:
      - name: LINODE_API_URL
  api_version:
    description:
      - Version of the Linode API.
    type: str
    default: v4
    choices: [v4, v4beta]
  ca_path:
    description:
      - Path to a CA bundle to trust for the API's TLS certificate, for example a private CA in front of the API.
      - If not set, the system's CAs are used.
      - A path that names no readable file or directory is refused before any request.
    type: path
    env:
      - name: LINODE_CA
  request_timeout:
    description:
      - Seconds to wait for the API to answer one HTTP request.
      - A request that gets no answer in time fails the plugin instead of hanging it.
      - A request that reaches no server (connection refused, host unknown or unreachable) is tried again only
        within this time from its first attempt, so a wrong O(api_url) or a closed port fails within it.
    type: float
    default: 30
requirements:
  - python >= 3.8
  - linode_api4 >= 5.48.0, < 6
notes:
  - GET requests are retried on 408, 429 and 5xx answers with jittered exponential backoff (at most 8 attempts) that
    honours C(Retry-After), for at most five minutes in all; connection errors are retried only within
    O(request_timeout).
"""
