# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: instances
short_description: Linode instances as an inventory, for fleets
version_added: 0.1.0
description:
  - Reads the Linode instances of an account through the Linode API v4 and adds each one as a host named after its
    label (labels are unique in an account).
  - "Uses a YAML configuration file whose name ends in C(.linode.yml) or C(.linode.yaml), for example
    C(fleet.linode.yml), with the line C(plugin: golden_image.linode.instances)."
  - O(regions) and O(tags) are sent to the API as an C(X-Filter), so only matching instances are listed; O(label_regex)
    and O(status) are applied to what comes back, because the API cannot filter on them.
  - Lists 500 instances per request, so a fleet of N instances costs one request per started 500 (at least one);
    with O(cache) on and a fresh cache entry, none.
  - "Each host gets these variables:
    C(linode_id) (int), C(linode_label), C(linode_region), C(linode_tags) (list), C(linode_status) (the instance's
    status when the inventory was read, for example C(running) or C(offline)), C(linode_type),
    C(linode_ipv4) (every IPv4 address, public and private), C(linode_ipv6) (the SLAAC address with its prefix length),
    and C(ansible_host): the first public IPv4 address, when the instance has one (addresses in the private ranges
    10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and 100.64.0.0/10 are skipped). O(compose) can override C(ansible_host)."
  - Every host is in the group C(linodes), the group the C(golden_image.linode.capture) playbook captures when its
    C(capture_hosts) is not given. The group exists even when no instance matches, and then the plugin warns that the
    inventory is empty, naming the filters. O(groups) and O(keyed_groups) add more groups.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api_plugin
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a configuration of this plugin.
    type: str
    required: true
    choices: [golden_image.linode.instances]
  regions:
    description:
      - Only instances in one of these regions, for example C(us-east).
      - All regions when empty.
    type: list
    elements: str
    default: []
  tags:
    description:
      - Only instances that have all of these tags, as O(golden_image.linode.linode_instance_info#module:tags) selects them.
      - Any tags when empty. To select instances that have any of several tags, use O(groups) or O(keyed_groups) on
        C(linode_tags) instead.
    type: list
    elements: str
    default: []
  label_regex:
    description:
      - Only instances whose label matches this Python regular expression, searched anywhere in the label
        (C(re.search)); anchor it with C(^) and C($) to match the whole label.
    type: str
  status:
    description:
      - Only instances whose status is one of these when the inventory is read.
      - Any status when empty.
    type: list
    elements: str
    default: []
    choices:
      - running
      - offline
      - booting
      - busy
      - rebooting
      - shutting_down
      - provisioning
      - deleting
      - migrating
      - rebuilding
      - cloning
      - restoring
      - stopped
      - billing_suspension
  fail_on_errors:
    description:
      - When true, a failure of this inventory source stops C(ansible-inventory) and C(ansible-playbook) with its
        reason, as if C(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED) were set for it. Failures are an unknown or invalid
        option, a setting that cannot work (a token with whitespace, a malformed O(api_url), a missing O(ca_path) or
        token file), a token the API refuses, or an API that does not answer. A run then never goes on with no hosts
        or with hosts this file did not select.
      - When false, Ansible's own settings decide, as for other inventory plugins; by default it warns and goes on
        without the hosts of this source (useful when one inventory directory holds several sources).
      - Not the same as O(strict), which is about O(compose), O(groups) and O(keyed_groups) expressions.
    type: bool
    default: true
notes:
  - Options this plugin does not know (a misspelt O(tags) as C(tag), for example) are refused with the list of the
    options it takes, rather than ignored, because an ignored filter would select every instance of the account.
  - With O(cache) on, the cache entry is keyed on the configuration file's path and also records the filters and the
    API URL it was read with; a changed filter or URL reads the API again. The token is never written to the cache.
  - "C(ansible-inventory --flush-cache) (or C(meta: refresh_inventory)) reads the API again and refreshes the cache."
seealso:
  - module: golden_image.linode.linode_instance_info
"""

EXAMPLES = r"""
# fleet.linode.yml: every instance; the token comes from LINODE_TOKEN (or LINODE_API_TOKEN) in the environment.
plugin: golden_image.linode.instances

---
# web.linode.yml: running web servers in two regions, grouped by region and tag, read at most once an hour.
plugin: golden_image.linode.instances
regions: [us-east, eu-central]
tags: [web]
label_regex: "^web-"
status: [running]
keyed_groups:
  - key: linode_region
    prefix: region
  - key: linode_tags
    prefix: tag
groups:
  golden_candidates: "'golden' in linode_tags"
compose:
  ansible_user: "'root'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory
cache_timeout: 3600

---
# private.linode.yml: a token from a vaulted extra var, an API behind a private CA, connect over IPv6.
plugin: golden_image.linode.instances
api_token: "{{ vault_linode_token }}"
api_url: https://linode-api.example.internal
ca_path: /etc/pki/linode-api-ca.pem
compose:
  ansible_host: linode_ipv6.split('/')[0]
"""

import difflib
import ipaddress
import json
import re

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible_collections.golden_image.linode.plugins.module_utils.errors import (
    LinodeError,
    format_api_error,
    redact,
)
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline
from ansible_collections.golden_image.linode.plugins.module_utils.transport import (
    DEFAULT_API_URL,
    HAS_LINODE_API4,
    api_base_url,
    build_client,
    check_api_url,
    check_token,
    find_token,
    is_api_error,
)

display = Display()

# Instances per list request: the most the API allows.
PAGE_SIZE = 500
# Retries of one inventory read (429 and 5xx answers) never go on longer than this; requests that reach
# no server give up within request_timeout.
DEADLINE_S = 300
# Addresses that are not reachable from outside: RFC 1918 (Linode's private IPs are 192.168.128.0/17)
# and shared address space. Documentation ranges count as public (the emulator hands them out).
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
# The configuration options that decide which instances the inventory holds.
FILTER_OPTIONS = ("regions", "tags", "label_regex", "status")
# Every host is in this group: the capture playbook's default `capture_hosts` (playbooks/capture.yml).
FLEET_GROUP = "linodes"


def api_filter(regions: list, tags: list) -> dict | None:
    """The ``X-Filter`` for the filters the API understands: any of the regions and all of the tags."""
    conditions = []
    if len(regions) == 1:
        conditions.append({"region": regions[0]})
    elif regions:
        conditions.append({"+or": [{"region": region} for region in regions]})
    conditions.extend({"tags": tag} for tag in tags)
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"+and": conditions}


def public_ipv4(addresses: list) -> str | None:
    """The first address of ``addresses`` outside the private ranges, if any."""
    for address in addresses or []:
        try:
            parsed = ipaddress.IPv4Address(str(address).split("/", 1)[0])
        except ValueError:
            continue
        if not any(parsed in network for network in PRIVATE_NETWORKS):
            return str(parsed)
    return None


def host_variables(instance: dict) -> dict:
    """The variables of one host, from the API's Linode object."""
    variables = {
        "linode_id": instance["id"],
        "linode_label": instance["label"],
        "linode_region": instance.get("region"),
        "linode_tags": list(instance.get("tags") or []),
        "linode_status": instance.get("status"),
        "linode_type": instance.get("type"),
        "linode_ipv4": list(instance.get("ipv4") or []),
        "linode_ipv6": instance.get("ipv6"),
    }
    address = public_ipv4(variables["linode_ipv4"])
    if address:
        variables["ansible_host"] = address
    return variables


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Linode instances as hosts: read through the collection's transport, filtered, grouped, cached."""

    NAME = "golden_image.linode.instances"

    def verify_file(self, path):
        """Only files named ``*.linode.yml`` or ``*.linode.yaml``."""
        return super(InventoryModule, self).verify_file(path) and path.endswith((".linode.yml", ".linode.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        try:
            self._parse(path, cache)
        except AnsibleParserError:
            # Not a configuration of this plugin (another plugin's, or not YAML): Ansible tries the next plugin.
            raise
        except AnsibleError:
            self._make_failure_fatal()
            raise

    def _make_failure_fatal(self) -> None:
        """Make Ansible stop on this source's failure instead of warning and going on without its hosts.

        Ansible turns any error of an inventory plugin into a warning unless INVENTORY_ANY_UNPARSED_IS_FAILED
        is set, and a capture run would then report success having found no host. Setting it here makes
        the inventory manager raise right after this source, with the reason already shown.
        """
        try:
            fatal = self.get_option("fail_on_errors")
        except (AnsibleError, KeyError):
            # The options could not be read (an invalid value): the default, fatal.
            fatal = True
        if fatal:
            C.INVENTORY_ANY_UNPARSED_IS_FAILED = True

    def _read_config_data(self, path):
        """The configuration, with options this plugin does not know refused rather than ignored."""
        config = super(InventoryModule, self)._read_config_data(path)
        unknown = sorted(set(config) - set(self._options))
        if unknown:
            raise AnsibleError("%s: unknown option%s %s%s. The %s inventory plugin takes: %s." % (
                path, "s" if len(unknown) > 1 else "", ", ".join(repr(name) for name in unknown),
                _suggestions(unknown, self._options), self.NAME, ", ".join(sorted(self._options))))
        return config

    def _parse(self, path, cache):
        # Extra vars (-e) are available to a templated api_token.
        self.templar.available_variables = self._vars
        self._read_config_data(path)
        label_regex = self._compile_label_regex()

        fingerprint = self._cache_fingerprint()
        cache_key = self.get_cache_key(path)
        # ``cache`` is False for --flush-cache and meta: refresh_inventory: read the API and refresh the entry.
        hosts = self._cached_hosts(cache_key, fingerprint) if self.get_option("cache") and cache else None
        if hosts is None:
            hosts = self._read_hosts(label_regex)
            if self.get_option("cache"):
                self._cache[cache_key] = {"fingerprint": fingerprint, "hosts": hosts}
        if not hosts:
            display.warning(self._empty_inventory_warning(path))
        self._populate(hosts)

    def _empty_inventory_warning(self, path) -> str:
        """Why a run would do nothing: the filters that selected no instance, or an account without any."""
        filters = ["%s: %s" % (name, json.dumps(self.get_option(name))) for name in FILTER_OPTIONS if self.get_option(name)]
        if not filters:
            return "%s: the account has no instance: the inventory and its group %r are empty." % (path, FLEET_GROUP)
        return "%s: no instance matches %s: the inventory and its group %r are empty." % (path, ", ".join(filters), FLEET_GROUP)

    def _cached_hosts(self, cache_key: str, fingerprint: dict) -> list | None:
        """The hosts of a fresh cache entry read with the same filters and API, else None."""
        entry = self._cache.get(cache_key)
        if isinstance(entry, dict) and entry.get("fingerprint") == fingerprint:
            return entry.get("hosts")
        return None

    def _option(self, name: str):
        """An option, templated when it is a template (only the inventory file's own values can be)."""
        value = self.get_option(name)
        if isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        return value

    def _compile_label_regex(self):
        pattern = self.get_option("label_regex")
        if not pattern:
            return None
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise AnsibleError("label_regex %r is not a valid Python regular expression: %s" % (pattern, exc)) from None

    def _cache_fingerprint(self) -> dict:
        """What a cache entry must have been read with to be used: the filters and the API's URL, never the token."""
        fingerprint = dict((name, self.get_option(name)) for name in FILTER_OPTIONS)
        fingerprint["api"] = api_base_url(self._api_url(), self.get_option("api_version"))
        # Plain JSON values, as the entry will hold them: no origin or trust tags from the configuration.
        return json.loads(json.dumps(fingerprint))

    def _api_url(self) -> str:
        """``api_url``, checked before it is used (an empty value, as an unset variable gives it, is the default)."""
        api_url = self._option("api_url") or DEFAULT_API_URL
        failure = None
        try:
            check_api_url(api_url)
        except LinodeError as exc:
            failure = str(exc)
        if failure:
            # The message quotes the URL: should the token have been put there by mistake, it goes.
            raise AnsibleError(redact(failure, self._token_if_any()))
        return api_url

    def _token_if_any(self) -> str | None:
        try:
            return find_token(self._option("api_token"))[0]
        except LinodeError:
            return None

    def _client(self):
        if not HAS_LINODE_API4:
            raise AnsibleError("The golden_image.linode.instances inventory plugin needs the linode_api4 Python library "
                               "(pip install 'linode_api4>=5.48.0,<6') on the controller.")
        request_timeout = self.get_option("request_timeout")
        if request_timeout <= 0:
            raise AnsibleError("request_timeout must be a positive number of seconds, not %s" % request_timeout)
        token = None
        failure = None
        try:
            token = self._token()
            return build_client(token, self._api_url(), self.get_option("api_version"), self._option("ca_path"),
                                request_timeout, Deadline(DEADLINE_S))
        except LinodeError as exc:
            failure = redact(str(exc), token)
        # Raised outside the except: no chained exception whose text could hold the token.
        raise AnsibleError(failure)

    def _token(self) -> str:
        """The token, from the inventory file, LINODE_TOKEN, LINODE_API_TOKEN or LINODE_TOKEN_FILE, checked."""
        value, origin = self.get_option_and_origin("api_token")
        if isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        token, source = find_token(value)
        if value and str(origin).startswith("env: "):
            source = str(origin)[len("env: "):]
        check_token(token, source)
        return token

    def _read_hosts(self, label_regex) -> list:
        """The variables of every matching instance, in id order."""
        regions = self.get_option("regions")
        tags = self.get_option("tags")
        statuses = self.get_option("status")
        client = self._client()
        instances, failure = self._instances_or_failure(client, api_filter(regions, tags))
        if failure:
            # Raised outside the except: no chained exception whose text could hold the token.
            raise AnsibleError(redact(failure, client.token))
        hosts = []
        for instance in instances:
            # The API filtered on regions and tags; checking again costs nothing and guards against a filter it ignored.
            if regions and instance.get("region") not in regions:
                continue
            if not set(tags) <= set(instance.get("tags") or []):
                continue
            if statuses and instance.get("status") not in statuses:
                continue
            if label_regex is not None and not label_regex.search(instance.get("label") or ""):
                continue
            hosts.append(host_variables(instance))
        return hosts

    def _instances_or_failure(self, client, query: dict | None) -> tuple:
        """``(instances, None)``, or ``(None, why the API could not be read)``."""
        try:
            return self._list_instances(client, query), None
        except LinodeError as exc:
            return None, str(exc)
        except Exception as exc:  # pylint: disable=broad-except
            if is_api_error(exc):
                return None, format_api_error(exc)
            return None, "Reading the instances failed: %s: %s" % (type(exc).__name__, exc)

    @staticmethod
    def _list_instances(client, query: dict | None) -> list:
        """Every instance the query selects, 500 a request, each one once even if the list moves meanwhile."""
        found = {}
        page, pages = 1, 1
        while page <= pages:
            answer = client.get("/linode/instances?page_size=%d&page=%d" % (PAGE_SIZE, page), filters=query)
            for instance in answer.get("data") or []:
                found[instance["id"]] = instance
            pages = int(answer.get("pages") or 1)
            page += 1
        return [found[linode_id] for linode_id in sorted(found)]

    def _populate(self, hosts: list) -> None:
        strict = self.get_option("strict")
        self.inventory.add_group(FLEET_GROUP)
        for variables in hosts:
            name = variables["linode_label"]
            self.inventory.add_host(name, group=FLEET_GROUP)
            for key, value in variables.items():
                self.inventory.set_variable(name, key, value)
            self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
            # Groups see the composed variables too.
            host_vars = self.inventory.get_host(name).get_vars()
            self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict=strict)


def _suggestions(unknown: list, known) -> str:
    """`` (did you mean 'tags'?)`` for misspelt options, or nothing."""
    guesses = dict((name, difflib.get_close_matches(name, known, 1)) for name in unknown)
    guesses = dict((name, close[0]) for name, close in guesses.items() if close)
    if not guesses:
        return ""
    if len(unknown) == 1:
        return " (did you mean %r?)" % guesses[unknown[0]]
    return " (did you mean %s?)" % ", ".join("%r for %r" % (guess, name) for name, guess in guesses.items())
