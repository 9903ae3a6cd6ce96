"""The golden_image.linode.instances inventory plugin, over a fake Linode API at the transport adapter.

HTTP is mocked at the adapter, the boundary below requests: Ansible's inventory machinery (plugin
loader, configuration, cache plugins, constructed groups), the plugin, linode_api4's client and the
collection's session and retries are the real code.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from requests.adapters import BaseAdapter

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.utils.display import Display

# The directory that holds ansible_collections/golden_image/linode (tests/unit/conftest.py insists on that layout).
COLLECTIONS_PATH = os.path.abspath(__file__).split(os.sep + "ansible_collections" + os.sep)[0]


def install_collection_loader() -> None:
    """Ansible's collection loader, as ansible-inventory installs it, so the plugin loads by FQCN with its options.

    The loader must import the collection itself (it records the collection's metadata then). When other tests
    already imported it as a plain namespace package through ``sys.path``, those modules are dropped first.
    """
    collection = sys.modules.get("ansible_collections.golden_image.linode")
    if collection is not None and getattr(collection, "_collection_meta", None) is None:
        for name in [n for n in sys.modules if n == "ansible_collections" or n.startswith("ansible_collections.")]:
            del sys.modules[name]
    init_plugin_loader([COLLECTIONS_PATH])


install_collection_loader()

from ansible_collections.golden_image.linode.plugins.module_utils import retries  # noqa: E402 pylint: disable=wrong-import-position

PLUGIN = "golden_image.linode.instances"
TOKEN = "unit-secret-token-4d2c9e"
API_URL = "https://api.example"


def linode(linode_id: int, label: str, region: str = "us-east", status: str = "running", tags=(), ipv4=None) -> dict:
    """A Linode object in the API's shape (the fields the plugin reads, and a few it does not)."""
    return {
        "id": linode_id,
        "label": label,
        "region": region,
        "status": status,
        "tags": list(tags),
        "type": "g6-standard-1",
        "ipv4": ["198.51.100.%d" % (linode_id % 250)] if ipv4 is None else list(ipv4),
        "ipv6": "2001:db8::%x/128" % linode_id,
        "group": "",
        "image": "linode/ubuntu24.04",
    }


class FakeLinodeApi(BaseAdapter):
    """``GET /v4/linode/instances`` with pages, ``X-Filter`` (equality, list membership, ``+and``, ``+or``) and tokens.

    Records every request (``self.sent``); ``self.failures`` are ``(status, reason)`` answers to give first;
    ``ignore_filters`` makes it answer as if the API did not understand the filter.
    """

    def __init__(self, instances: list, token: str = TOKEN) -> None:
        super(FakeLinodeApi, self).__init__()
        self.instances = instances
        self.token = token
        self.sent = []
        self.failures = []
        self.ignore_filters = False

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.sent.append((request, kwargs))
        url = urlsplit(request.url)
        if self.failures:
            status, reason = self.failures.pop(0)
            return self._answer(request, status, {"errors": [{"reason": reason}]})
        if request.headers.get("Authorization") != "Bearer %s" % self.token:
            return self._answer(request, 401, {"errors": [{"reason": "Invalid Token"}]})
        if request.method != "GET" or url.path not in ("/v4/linode/instances", "/v4beta/linode/instances"):
            return self._answer(request, 404, {"errors": [{"reason": "Not found"}]})
        query = parse_qs(url.query)
        page = int(query.get("page", ["1"])[0])
        page_size = int(query.get("page_size", ["100"])[0])
        if not 25 <= page_size <= 500:
            return self._answer(request, 400, {"errors": [{"field": "page_size", "reason": "Must be 25-500"}]})
        spec = json.loads(request.headers.get("X-Filter") or "{}")
        items = [i for i in self.instances if self.ignore_filters or self.matches(i, spec)]
        pages = max(1, -(-len(items) // page_size))
        data = items[(page - 1) * page_size:page * page_size]
        return self._answer(request, 200, {"data": data, "page": page, "pages": pages, "results": len(items)})

    @classmethod
    def matches(cls, item: dict, spec: dict) -> bool:
        for key, wanted in spec.items():
            if key == "+and":
                if not all(cls.matches(item, clause) for clause in wanted):
                    return False
            elif key == "+or":
                if not any(cls.matches(item, clause) for clause in wanted):
                    return False
            else:
                actual = item.get(key)
                if not (wanted in actual if isinstance(actual, list) else actual == wanted):
                    return False
        return True

    @staticmethod
    def _answer(request, status: int, body: dict):
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers.update({"Content-Type": "application/json"})
        response.request = request
        response.url = request.url
        return response

    def list_requests(self) -> list:
        """The instance list requests: ``(query dict, X-Filter dict or None)`` each."""
        return [(dict((k, v[0]) for k, v in parse_qs(urlsplit(r.url).query).items()),
                 json.loads(r.headers["X-Filter"]) if "X-Filter" in r.headers else None)
                for r, _kwargs in self.sent]

    def close(self):
        pass


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("LINODE_TOKEN", "LINODE_API_TOKEN", "LINODE_API_URL", "LINODE_CA", "ANSIBLE_INVENTORY_CACHE",
                 "ANSIBLE_CACHE_PLUGIN", "ANSIBLE_INVENTORY_CACHE_PLUGIN", "ANSIBLE_CACHE_PLUGIN_CONNECTION",
                 "ANSIBLE_INVENTORY_CACHE_CONNECTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps(monkeypatch):
    """Retries sleep on a fake clock: every sleep is recorded, none is slept."""
    slept = []
    monkeypatch.setattr(retries.Clock, "sleep", lambda self, seconds: slept.append(seconds))
    return slept


@pytest.fixture
def api(monkeypatch):
    """``api(instances)``: every requests session answers from a FakeLinodeApi holding ``instances``."""

    def build(instances: list, token: str = TOKEN) -> FakeLinodeApi:
        fake = FakeLinodeApi(instances, token)
        monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: fake)
        return fake

    return build


class Run(object):
    """One parse of an inventory file by the plugin, and what it built."""

    def __init__(self, plugin, inventory: InventoryData) -> None:
        self.plugin = plugin
        self.inventory = inventory

    @property
    def hosts(self) -> list:
        return sorted(self.inventory.hosts)

    def vars(self, host: str) -> dict:
        return self.inventory.get_host(host).get_vars()

    def group(self, name: str) -> list:
        return sorted(h.name for h in self.inventory.groups[name].get_hosts()) if name in self.inventory.groups else []


@pytest.fixture
def parse(tmp_path):
    """``parse(config, name=..., cache=True)``: write ``config`` to an inventory file and parse it as Ansible would."""

    def run(config: dict, name: str = "fleet.linode.yml", cache: bool = True) -> Run:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(dict({"plugin": PLUGIN}, **config)))
        plugin = inventory_loader.get(PLUGIN)
        inventory = InventoryData()
        assert plugin.verify_file(str(path))
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        if getattr(plugin, "_cache", None):
            # What the InventoryManager does after a Cacheable plugin's parse.
            plugin.update_cache_if_changed()
        return Run(plugin, inventory)

    return run


# --------------------------------------------------------------------------- tests

API = {"api_token": TOKEN, "api_url": API_URL}
FLEET = [
    linode(1001, "web-1", "us-east", "running", ["web", "prod"]),
    linode(1002, "web-2", "us-east", "offline", ["web"]),
    linode(1003, "web-3", "eu-central", "running", ["web", "prod"]),
    linode(1004, "db-1", "us-west", "running", ["data", "prod"]),
    # A private address first: ansible_host is the public one.
    linode(1005, "db-2", "eu-central", "stopped", ["data"], ipv4=["192.168.133.7", "203.0.113.9"]),
    # Private addresses only: no ansible_host at all.
    linode(1006, "vpn-1", "us-east", "running", [], ipv4=["192.168.140.2", "10.0.0.9"]),
]


def own_vars(variables: dict) -> dict:
    """A host's variables without the ones Ansible adds (inventory_file, group_names ...)."""
    return dict((k, v) for k, v in variables.items() if k.startswith("linode_") or k == "ansible_host")


def test_verify_file_takes_only_linode_yml_files(tmp_path):
    plugin = inventory_loader.get(PLUGIN)
    for name, expected in [("fleet.linode.yml", True), ("fleet.linode.yaml", True), ("linode.yml", False),
                           ("fleet.yml", False), ("instances.yml", False), ("hosts.ini", False)]:
        path = tmp_path / name
        path.write_text("plugin: %s\n" % PLUGIN)
        assert plugin.verify_file(str(path)) is expected, name
    assert not plugin.verify_file(str(tmp_path / "missing.linode.yml"))


def test_every_instance_becomes_a_host_with_its_variables(api, parse):
    fake = api(FLEET)
    run = parse(API)
    assert run.hosts == ["db-1", "db-2", "vpn-1", "web-1", "web-2", "web-3"]
    assert own_vars(run.vars("web-1")) == {
        "linode_id": 1001,
        "linode_label": "web-1",
        "linode_region": "us-east",
        "linode_tags": ["web", "prod"],
        "linode_status": "running",
        "linode_type": "g6-standard-1",
        "linode_ipv4": ["198.51.100.1"],
        "linode_ipv6": "2001:db8::3e9/128",
        "ansible_host": "198.51.100.1",
    }
    assert run.vars("db-2")["ansible_host"] == "203.0.113.9"
    assert "ansible_host" not in run.vars("vpn-1")
    # The capture playbook's default capture_hosts.
    assert run.group("linodes") == run.hosts
    # One request, the most instances a page allows, no filter.
    assert fake.list_requests() == [({"page_size": "500", "page": "1"}, None)]


def test_requests_have_the_token_the_timeout_the_ca_and_the_user_agent(api, parse, tmp_path):
    fake = api(FLEET)
    ca = tmp_path / "ca.pem"
    ca.write_text("not read by the fake")
    parse(dict(API, api_url=API_URL + "/v4beta", ca_path=str(ca), request_timeout=7.5))
    request, kwargs = fake.sent[0]
    assert request.url.startswith(API_URL + "/v4beta/linode/instances?")
    assert request.headers["Authorization"] == "Bearer " + TOKEN
    assert request.headers["User-Agent"].startswith("golden_image.linode/")
    assert kwargs["timeout"] == 7.5
    assert kwargs["verify"] == str(ca)


def test_regions_and_tags_go_to_the_api_as_an_x_filter(api, parse):
    fake = api(FLEET)
    run = parse(dict(API, regions=["us-east", "eu-central"], tags=["web", "prod"]))
    assert run.hosts == ["web-1", "web-3"]
    assert fake.list_requests()[0][1] == {"+and": [
        {"+or": [{"region": "us-east"}, {"region": "eu-central"}]}, {"tags": "web"}, {"tags": "prod"}]}


@pytest.mark.parametrize("config, x_filter, hosts", [
    ({"regions": ["us-west"]}, {"region": "us-west"}, ["db-1"]),
    ({"tags": ["data"]}, {"tags": "data"}, ["db-1", "db-2"]),
    ({"regions": ["eu-central"], "tags": ["data"]}, {"+and": [{"region": "eu-central"}, {"tags": "data"}]}, ["db-2"]),
    ({"label_regex": "^web-[12]$"}, None, ["web-1", "web-2"]),
    ({"label_regex": "b-"}, None, ["db-1", "db-2", "web-1", "web-2", "web-3"]),
    ({"status": ["offline", "stopped"]}, None, ["db-2", "web-2"]),
    ({"tags": ["web"], "status": ["running"], "label_regex": "3"}, {"tags": "web"}, ["web-3"]),
    ({"regions": ["ap-south"]}, {"region": "ap-south"}, []),
])
def test_filters(api, parse, config, x_filter, hosts):
    fake = api(FLEET)
    run = parse(dict(API, **config))
    assert run.hosts == hosts
    assert run.group("linodes") == hosts
    assert fake.list_requests() == [({"page_size": "500", "page": "1"}, x_filter)]


def test_filters_hold_even_if_the_api_ignores_the_x_filter(api, parse):
    fake = api(FLEET)
    fake.ignore_filters = True
    run = parse(dict(API, regions=["us-east", "eu-central"], tags=["prod"]))
    assert run.hosts == ["web-1", "web-3"]


def test_pages_over_more_than_500_instances(api, parse):
    fake = api([linode(1000 + i, "node-%04d" % i, tags=["big"]) for i in range(1, 1202)])
    run = parse(dict(API, tags=["big"]))
    assert len(run.hosts) == 1201
    assert [query for query, _filter in fake.list_requests()] == [
        {"page_size": "500", "page": "1"}, {"page_size": "500", "page": "2"}, {"page_size": "500", "page": "3"}]
    assert all(x_filter == {"tags": "big"} for _query, x_filter in fake.list_requests())
    assert run.vars("node-1201")["linode_id"] == 2201


def test_exactly_500_instances_take_one_request(api, parse):
    fake = api([linode(1000 + i, "node-%04d" % i) for i in range(1, 501)])
    assert len(parse(API).hosts) == 500
    assert len(fake.sent) == 1


def test_compose_groups_and_keyed_groups(api, parse):
    api(FLEET)
    run = parse(dict(
        API,
        compose={"ansible_port": "2200 + linode_id - 1000", "ansible_user": "'root'"},
        groups={"production": "'prod' in linode_tags", "high_ports": "ansible_port > 2204"},
        keyed_groups=[{"key": "linode_region", "prefix": "region"},
                      {"key": "linode_tags", "prefix": "tag"},
                      {"key": "linode_status", "separator": "", "prefix": ""}],
    ))
    assert run.vars("web-2")["ansible_port"] == 2202
    assert run.vars("web-2")["ansible_user"] == "root"
    assert run.group("production") == ["db-1", "web-1", "web-3"]
    # Groups see composed variables.
    assert run.group("high_ports") == ["db-2", "vpn-1"]
    assert run.group("region_eu_central") == ["db-2", "web-3"]
    assert run.group("tag_data") == ["db-1", "db-2"]
    assert run.group("running") == ["db-1", "vpn-1", "web-1", "web-3"]


@pytest.fixture
def warnings(monkeypatch):
    """The warnings Ansible would print, in order."""
    shown = []
    monkeypatch.setattr(Display, "warning", lambda self, msg, *args, **kwargs: shown.append(msg))
    return shown


def test_an_inventory_with_hosts_warns_of_nothing(api, parse, warnings):
    api(FLEET)
    parse(dict(API, tags=["web"]))
    assert warnings == []


@pytest.mark.parametrize("config, fleet, named", [
    ({"tags": ["golden-image"]}, FLEET, 'tags: ["golden-image"]'),
    ({"regions": ["us-west"], "label_regex": "^web-", "status": ["running"]}, FLEET,
     'regions: ["us-west"], label_regex: "^web-", status: ["running"]'),
    ({}, [], "the account has no instance"),
])
def test_an_empty_inventory_says_so_and_still_has_the_linodes_group(api, parse, warnings, config, fleet, named):
    api(fleet)
    run = parse(dict(API, **config))
    assert run.hosts == []
    # `hosts: linodes` matches an empty group: "no hosts matched" rather than an unknown pattern.
    assert "linodes" in run.inventory.groups
    assert len(warnings) == 1 and named in warnings[0] and "'linodes' are empty" in warnings[0], warnings
    assert TOKEN not in warnings[0]


def test_compose_can_override_ansible_host(api, parse):
    api(FLEET)
    run = parse(dict(API, compose={"ansible_host": "linode_ipv6.split('/')[0]"}))
    assert run.vars("web-1")["ansible_host"] == "2001:db8::3e9"


def test_strict_makes_a_broken_expression_fatal(api, parse):
    api(FLEET)
    run = parse(dict(API, compose={"broken": "linode_nope + 1"}))
    assert "broken" not in run.vars("web-1")
    with pytest.raises(AnsibleError, match="Could not set broken"):
        parse(dict(API, compose={"broken": "linode_nope + 1"}, strict=True))


def cache_config(tmp_path, **extra):
    return dict(API, cache=True, cache_plugin="ansible.builtin.jsonfile", cache_connection=str(tmp_path / "cache"),
                **extra)


def test_a_cached_inventory_sends_no_request(api, parse, tmp_path):
    fake = api(FLEET)
    first = parse(cache_config(tmp_path, keyed_groups=[{"key": "linode_region", "prefix": "region"}]))
    assert len(fake.sent) == 1
    second = parse(cache_config(tmp_path, keyed_groups=[{"key": "linode_region", "prefix": "region"}]))
    assert len(fake.sent) == 1
    assert second.hosts == first.hosts
    assert second.vars("db-2") == first.vars("db-2")
    assert second.group("region_us_east") == ["vpn-1", "web-1", "web-2"]
    assert second.group("linodes") == first.hosts
    cached = "".join(p.read_text() for p in (tmp_path / "cache").iterdir())
    assert "web-1" in cached
    assert TOKEN not in cached


def test_flush_cache_reads_the_api_again_and_refreshes_the_cache(api, parse, tmp_path):
    fake = api(FLEET)
    parse(cache_config(tmp_path))
    fake.instances = FLEET[:2]
    assert parse(cache_config(tmp_path), cache=False).hosts == ["web-1", "web-2"]
    assert len(fake.sent) == 2
    assert parse(cache_config(tmp_path)).hosts == ["web-1", "web-2"]
    assert len(fake.sent) == 2


def test_a_changed_filter_does_not_use_the_cache(api, parse, tmp_path):
    fake = api(FLEET)
    parse(cache_config(tmp_path))
    assert parse(cache_config(tmp_path, tags=["data"])).hosts == ["db-1", "db-2"]
    assert len(fake.sent) == 2
    assert parse(cache_config(tmp_path, tags=["data"])).hosts == ["db-1", "db-2"]
    assert len(fake.sent) == 2


def test_without_cache_every_parse_reads_the_api(api, parse):
    fake = api(FLEET)
    parse(API)
    parse(API)
    assert len(fake.sent) == 2


def test_options_come_from_the_environment(api, parse, monkeypatch, tmp_path):
    fake = api(FLEET)
    ca = tmp_path / "env-ca.pem"
    ca.write_text("")
    monkeypatch.setenv("LINODE_TOKEN", TOKEN)
    monkeypatch.setenv("LINODE_API_URL", "https://env.example/v4")
    monkeypatch.setenv("LINODE_CA", str(ca))
    assert len(parse({}).hosts) == 6
    request, kwargs = fake.sent[0]
    assert request.url.startswith("https://env.example/v4/linode/instances")
    assert kwargs["verify"] == str(ca)


def test_linode_api_token_works_and_linode_token_wins(api, parse, monkeypatch):
    fake = api(FLEET)
    monkeypatch.setenv("LINODE_API_TOKEN", TOKEN)
    assert len(parse({}).hosts) == 6
    monkeypatch.setenv("LINODE_TOKEN", "other-token")
    fake.token = "other-token"
    assert len(parse({}).hosts) == 6
    assert fake.sent[-1][0].headers["Authorization"] == "Bearer other-token"


def test_the_file_beats_the_environment(api, parse, monkeypatch):
    fake = api(FLEET)
    monkeypatch.setenv("LINODE_TOKEN", "env-token")
    monkeypatch.setenv("LINODE_API_URL", "https://env.example")
    parse(API)
    assert fake.sent[0][0].headers["Authorization"] == "Bearer " + TOKEN
    assert fake.sent[0][0].url.startswith(API_URL + "/v4/")


def test_the_token_may_be_a_template(api, parse):
    fake = api(FLEET)
    assert len(parse(dict(API, api_token="{{ 'unit-secret-' ~ 'token-4d2c9e' }}")).hosts) == 6
    assert fake.sent[0][0].headers["Authorization"] == "Bearer " + TOKEN


def test_a_wrong_token_fails_clearly_without_showing_it(api, parse):
    fake = api(FLEET)
    with pytest.raises(AnsibleError) as failure:
        parse(dict(API, api_token="wrong-secret-token-77"))
    assert str(failure.value).startswith("Linode API 401 on GET /v4/linode/instances: Invalid Token")
    assert "wrong-secret-token-77" not in str(failure.value)
    # A 401 is not retried.
    assert len(fake.sent) == 1


def test_no_token_at_all_fails_clearly(api, parse):
    api(FLEET)
    with pytest.raises(AnsibleError, match="api_token"):
        parse({"api_url": API_URL})


def test_transient_failures_are_retried(api, parse, sleeps):
    fake = api(FLEET)
    fake.failures = [(502, "bad gateway"), (429, "slow down")]
    assert len(parse(API).hosts) == 6
    assert len(fake.sent) == 3
    assert len(sleeps) == 2


def test_a_lasting_failure_ends_with_the_api_error(api, parse, sleeps):
    fake = api(FLEET)
    fake.failures = [(503, "unavailable")] * 20
    with pytest.raises(AnsibleError, match="Linode API 503 on GET /v4/linode/instances: unavailable"):
        parse(API)
    assert 1 < len(fake.sent) <= 8


@pytest.mark.parametrize("config, message", [
    ({"label_regex": "web-("}, "label_regex 'web-\\(' is not a valid Python regular expression"),
    ({"status": ["sleeping"]}, "status"),
    ({"api_version": "v3"}, "api_version"),
    ({"request_timeout": 0}, "request_timeout must be a positive number"),
])
def test_bad_options_are_refused_before_any_request(api, parse, config, message):
    fake = api(FLEET)
    with pytest.raises(AnsibleError, match=message):
        parse(dict(API, **config))
    assert fake.sent == []


def test_a_file_for_another_plugin_is_refused(api, parse):
    api(FLEET)
    with pytest.raises(AnsibleError, match="Incorrect plugin name"):
        parse(dict(API, plugin="linode.cloud.instance"))
