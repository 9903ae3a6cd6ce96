"""The version smoke's own logic: which versions it picks, which warnings fail it, how it reads a graph.

The warning samples are the texts ansible-core prints (2.16 wraps them at 80 columns; 2.19 and later add
an ``Origin`` line); the "converted to bool" one is 2.21's message for a result key of the wrong type.
"""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from smoke import graph_groups, newest_patches, parse_index_versions, parse_warnings, play_recap

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
