"""The version smoke's own logic: which versions it picks, which warnings fail it, how it reads a graph.

The warning samples are the texts ansible-core prints (2.16 wraps them at 80 columns; 2.19 and later add
an ``Origin`` line); the "converted to bool" one is 2.21's message for a result key of the wrong type.
"""

from __future__ import annotations

import json
import sys

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import smoke
from smoke import (UPSTREAM_WARNINGS, Pins, attach_emissions, graph_groups, newest_patches, parse_index_versions,
                   parse_warnings, pinned_plan, play_recap, read_pins)

INDEX_OUTPUT = """ansible-core (2.19.14)
Available versions: 2.19.14, 2.19.13, 2.18.19, 2.18.2, 2.17.14, 2.16.19, 2.16.18, 2.15.13, 2.14.18
  INSTALLED: 2.19.14
"""


def test_pip_index_versions_line_is_read():
    assert parse_index_versions(INDEX_OUTPUT)[:3] == [Version("2.19.14"), Version("2.19.13"), Version("2.18.19")]


def test_no_versions_line_is_an_error():
    with pytest.raises(ValueError, match="Available versions"):
        parse_index_versions("ERROR: No matching distribution found for ansible-core\n")


def test_newest_patch_of_each_claimed_minor_oldest_first():
    versions = parse_index_versions(INDEX_OUTPUT) + [Version("2.20.0rc1")]
    assert newest_patches(versions, SpecifierSet(">=2.16.0")) == [Version(v) for v in ("2.16.19", "2.17.14", "2.18.19", "2.19.14")]


def test_an_upper_bound_of_requires_ansible_is_honoured():
    assert newest_patches(parse_index_versions(INDEX_OUTPUT), SpecifierSet(">=2.17.0,<2.19")) == [
        Version("2.17.14"), Version("2.18.19")]


WRAPPED_ALLOWED = """TASK [golden_image.linode.image_capture : Read every instance of the batch once] ***
ok: [web-1 -> localhost]
[WARNING]: 2 of the instances are running, not offline: web-1 (1001), web-2
(1002). A running database may be captured mid-write; shut them down first, or
set require_offline to refuse.

TASK [golden_image.linode.image_capture : Keep what the preflight found, or why it refused] ***
"""

CONVERTED = """TASK [golden_image.linode.image_capture : Keep this host's outcome] ************
[WARNING]: Value for result key 'changed' of type str was converted to bool.
Origin: /x/ansible_collections/golden_image/linode/roles/image_capture/tasks/report.yml:40:3

38
39 - name: Keep this host's outcome
     ^ column 3

changed: [web-1]
"""

DEPRECATION = """[DEPRECATION WARNING]: The 'golden_image.linode.example' module is deprecated. This feature will be removed
from golden_image.linode in version 2.0.0.
ok: [localhost]
"""


@pytest.mark.parametrize("output, expected", [
    (WRAPPED_ALLOWED, [("WARNING", True)]),
    (CONVERTED, [("WARNING", False)]),
    (DEPRECATION, [("DEPRECATION WARNING", False)]),
    ("PLAY RECAP ****\nlocalhost : ok=1\n", []),
])
def test_warnings_fail_unless_allowed(output, expected):
    assert [(warning.kind, warning.allowed) for warning in parse_warnings(output)] == expected


def test_a_warning_keeps_its_origin_and_stops_at_the_next_output():
    warning = parse_warnings(CONVERTED)[0]
    assert "converted to bool" in str(warning) and "roles/image_capture/tasks/report.yml:40:3" in str(warning)
    assert "changed: [web-1]" not in str(warning)


def test_an_allowed_message_with_more_after_it_still_fails_only_when_different():
    other = WRAPPED_ALLOWED.replace("2 of the instances are running", "2 of the instances are gone")
    assert [warning.allowed for warning in parse_warnings(other)] == [False]


GRAPH = """@all:
  |--@ungrouped:
  |--@region_us_east:
  |  |--web-1
  |  |--coreos-1
  |--@region_eu_west:
  |  |--web-2
"""


def test_graph_groups_every_host_under_all_and_its_region():
    groups = graph_groups(GRAPH)
    assert sorted(groups["all"]) == ["coreos-1", "web-1", "web-2"]
    assert groups["region_us_east"] == ["web-1", "coreos-1"] and groups["region_eu_west"] == ["web-2"]
    assert groups["ungrouped"] == []


RECAP = """PLAY RECAP *********************************************************************
coreos-1                   : ok=3    changed=0    unreachable=0    failed=1    skipped=4    rescued=0    ignored=0
localhost                  : ok=0    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
web-1                      : ok=27   changed=1    unreachable=0    failed=0    skipped=9    rescued=0    ignored=0
"""


def test_play_recap_counts_by_host():
    recap = play_recap("TASK [x] ***\nok: [web-1]\n\n" + RECAP)
    assert sorted(host for host, counts in recap.items() if counts["failed"]) == ["coreos-1", "localhost"]
    assert recap["web-1"] == {"ok": 27, "changed": 1, "unreachable": 0, "failed": 0, "skipped": 9, "rescued": 0, "ignored": 0}


# -- ansible-core's own warnings and the pins ------------------------------------------------------------

MAPPING_ACTION = """TASK [golden_image.linode.image_capture : Keep this host's outcome] ************
changed: [web-1]

[DEPRECATION WARNING]: Using a mapping for `action` is deprecated. Use a string
 value for `action`. This feature will be removed in version 2.23. Deprecation
warnings can be disabled by setting deprecation_warnings=False in ansible.cfg.
"""
CORE_EMISSION = {"kind": "DEPRECATION WARNING", "message": "Using a mapping for `action` is deprecated. Use a string "
                 "value for `action`.", "emitter": "ansible/parsing/mod_args.py:264:parse", "data_origin": [],
                 "stack": [], "replayed": False}
OUR_EMISSION = dict(CORE_EMISSION, data_origin=["/c/roles/image_capture/tasks/main.yml:7:3"])


def printed_with(emissions, tmp_path, output=MAPPING_ACTION):
    log = tmp_path / "warnings.jsonl"
    log.write_text("".join(json.dumps(emission) + "\n" for emission in emissions), encoding="utf-8")
    warnings = parse_warnings(output)
    attach_emissions(warnings, log)
    return warnings


@pytest.mark.parametrize("emissions, version, allowed", [
    ([CORE_EMISSION], "2.16.20", True),
    # The same text caused by our own YAML (a file and line): printed once, as Ansible prints a text once.
    ([CORE_EMISSION, OUR_EMISSION], "2.16.20", False),
    ([OUR_EMISSION], "2.16.20", False),
    # Emitted elsewhere in ansible-core, or a version the rule does not name, or never seen by the probe.
    ([dict(CORE_EMISSION, emitter="ansible/playbook/task.py:10:load")], "2.16.20", False),
    ([CORE_EMISSION], "2.17.14", False),
    ([], "2.16.20", False),
])
def test_an_upstream_warning_is_allowed_only_when_ansible_core_alone_emitted_it(emissions, version, allowed, tmp_path):
    warning, = printed_with(emissions, tmp_path)
    assert (warning.upstream(Version(version)) is UPSTREAM_WARNINGS[0]) is allowed
    if not allowed and OUR_EMISSION in emissions:
        assert "about /c/roles/image_capture/tasks/main.yml:7:3" in str(warning)
        assert "emitted at ansible/parsing/mod_args.py:264:parse" in str(warning)


def test_an_upstream_rule_needs_the_exact_text(tmp_path):
    warning, = printed_with([CORE_EMISSION], tmp_path, MAPPING_ACTION.replace("version 2.23", "version 2.24"))
    assert warning.upstream(Version("2.16.20")) is None


def test_the_probe_records_of_a_worker_win_over_the_main_process_replay(tmp_path):
    replay = dict(CORE_EMISSION, emitter="ansible/plugins/strategy/__init__.py:90:results_thread_main", replayed=True)
    warning, = printed_with([CORE_EMISSION, replay], tmp_path)
    assert warning.emissions == [CORE_EMISSION]


def write(tmp_path, text):
    path = tmp_path / "constraints.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_pins_one_ansible_core_per_minor_and_shared_packages(tmp_path):
    text = ('# comment\nansible-core==2.19.15\nansible-core==2.16.20\nlinode_api4==5.48.0\n'
            'ansible-core==2.20.1 ; python_version >= "3.12"\n')
    pins = read_pins(write(tmp_path, text))
    assert [str(requirement) for requirement in pins.ansible_core][:2] == ["ansible-core==2.16.20", "ansible-core==2.19.15"]
    assert pins.constraints(Version("2.16.20")) == ["linode_api4==5.48.0", "ansible-core==2.16.20"]
    # The marker keeps 2.20 off an interpreter that cannot install it.
    python = sys.executable
    minor = "%d.%d" % sys.version_info[:2]
    expected = ["2.16.20", "2.19.15"] + (["2.20.1"] if Version(minor) >= Version("3.12") else [])
    assert [str(version) for version, _python in pinned_plan([python], pins)] == expected


@pytest.mark.parametrize("text, message", [
    ("ansible-core==2.16.20\nansible-core==2.16.19\n", "2.16 is pinned twice"),
    ("ansible-core==2.15.13\n", "not admitted by requires_ansible"),
    ("ansible-core==2.16.20\nlinode_api4>=5.48\n", "not pinned with =="),
    ("linode_api4==5.48.0\n", "no ansible-core pinned"),
])
def test_bad_pins_are_refused_naming_the_line(text, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        read_pins(write(tmp_path, text))


def test_the_committed_pins_cover_every_claimed_minor_up_to_the_newest_pinned():
    pins = read_pins()
    minors = [smoke.pinned_version(requirement).release[:2] for requirement in pins.ansible_core]
    lowest = min(spec.version for spec in smoke.requires_ansible() if spec.operator.startswith(">"))
    first = Version(lowest).release[:2]
    assert minors == [(first[0], minor) for minor in range(first[1], minors[-1][1] + 1)], minors
    assert isinstance(pins, Pins) and all("==" in line for line in pins.shared)
