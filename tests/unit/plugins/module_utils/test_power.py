"""Power module_utils against a fleet on the fake clock: markers, retries that never double an action, claims.

Each test asserts what the API was sent (the log of the fake fleet) and what the instances look like
after, not only what a function returned.
"""

from __future__ import annotations

import random

import pytest
import requests

from ansible_collections.golden_image.linode.plugins.module_utils.instances import (
    LEGACY_POWER_MARKER_TAG,
    PowerMarker,
    parse_power_marker,
    power_marker_tag,
    read_power_marker,
    restore_status,
    set_power_marker,
    status_refusal,
)
from ansible_collections.golden_image.linode.plugins.module_utils.power import (
    FREE,
    LIVE,
    OWN,
    STALE,
    confirm_claims,
    forget_power_markers,
    judge_markers,
    send_power_actions,
)
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline, RetryPolicy
from ansible_collections.golden_image.linode.plugins.module_utils.transport import LinodeSession, build_client
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import PollSchedule, wait_for_instances
from fleet_api import FleetApi, Job, api_time, epoch

BOOT = "/linode/instances/%d/boot"
SHUTDOWN = "/linode/instances/%d/shutdown"


@pytest.fixture
def fleet(clock):
    """``(api, client)``: a fleet on the fake clock and a real client over it, with a 600 s deadline."""
    api = FleetApi(clock)
    deadline = Deadline(600.0, clock)
    session = LinodeSession(5.0, deadline, RetryPolicy(rng=random.Random(7)))
    session.mount("https://", api)
    client = build_client("secret-token-123", "https://api.example", "v4", None, 5.0, deadline)
    client.session = session
    return api, client


def statuses(api, method, path):
    return [e["status"] for e in api.requests(method, "^%s$" % path)]


# ---------------------------------------------------------------------------- markers

def test_a_marker_names_the_run_the_time_and_the_status_and_stays_well_under_fifty_characters():
    tag = power_marker_tag("awx-12345678", 1700000000, "running")
    assert tag == "golden_image:awx-12345678:1700000000:running"
    assert len(tag) == 44
    assert parse_power_marker(tag) == PowerMarker(tag, "awx-12345678", 1700000000, "running")
    assert parse_power_marker("golden_image:r1:1700000000:offline").status == "offline"


def test_the_legacy_tag_reads_as_running_with_no_run_and_no_time():
    assert parse_power_marker(LEGACY_POWER_MARKER_TAG) == PowerMarker(LEGACY_POWER_MARKER_TAG, None, None, "running")


@pytest.mark.parametrize("tag", ["golden_image:web", "golden_image:r1:123:booting", "golden_image:r:1:2:running",
                                 "golden_image.linode:restore=offline", "golden_image:r1:1700000000:running ",
                                 "golden_image:thirteen-char:1700000000:running", "env=prod"])
def test_other_tags_are_not_markers(tag):
    assert parse_power_marker(tag) is None


@pytest.mark.parametrize("run_id", ["", "a:b", "thirteen-char", "with space"])
def test_a_run_id_that_would_break_the_tag_is_refused(run_id):
    with pytest.raises(ValueError):
        power_marker_tag(run_id, 1700000000, "running")


def test_a_new_marker_wins_over_the_legacy_tag_on_a_hand_made_tag_list():
    instance = {"tags": [LEGACY_POWER_MARKER_TAG, "golden_image:r1:1700000000:offline"]}
    assert read_power_marker(instance).run_id == "r1"


@pytest.mark.parametrize("status,marker,expected", [
    ("running", None, "running"),
    ("booting", None, "running"),
    ("offline", None, "offline"),
    ("shutting_down", None, "offline"),
    ("offline", PowerMarker("t", "r1", 1, "running"), "running"),
    ("running", PowerMarker("t", "r1", 1, "offline"), "running"),
    ("stopped", PowerMarker("t", None, None, "running"), "running"),
])
def test_restore_status(status, marker, expected):
    assert restore_status({"status": status}, marker) == expected


# Statuses of jobs of Linode's (``resizing`` is in older API documents, not the spec): they end running or offline.
JOB_STATUSES = ["migrating", "resizing", "provisioning", "rebuilding", "cloning", "restoring", "busy", "deleting",
                "billing_suspension", "a-status-of-tomorrow"]


@pytest.mark.parametrize("status", JOB_STATUSES)
def test_a_job_status_is_never_recorded_as_offline_and_only_a_marker_tells(status):
    assert restore_status({"status": status}) is None
    assert restore_status({"status": status}, PowerMarker("t", "r1", 1, "running")) == "running"
    assert restore_status({"status": status}, PowerMarker("t", "r1", 1, "offline")) == "offline"


OWN_CLAIM = ["golden_image:me:1700000000:running"]
OTHERS_CLAIM = ["golden_image:other:1700000000:running"]
REFUSED = "%s: try again when it is running or offline"
NOT_OURS = REFUSED + " (a boot or shutdown that is not this run's is under way)"


@pytest.mark.parametrize("status,tags,run_id,settling,expected", [
    ("running", [], None, False, None),
    ("offline", OTHERS_CLAIM, "me", False, None),
    # A job of Linode's: refused whatever the marker and the caller.
    *[(status, tags, "me", settling, REFUSED % status) for status in JOB_STATUSES
      for tags, settling in (([], False), (OWN_CLAIM, False), (OWN_CLAIM, True))],
    # A boot or shutdown under way: this run's own (its marker), or one the caller waits for, passes.
    *[(status, OWN_CLAIM, "me", False, None) for status in ("booting", "rebooting", "shutting_down", "stopped")],
    *[(status, [], None, True, None) for status in ("booting", "rebooting", "shutting_down", "stopped")],
    # ... anyone else's is refused.
    *[(status, tags, run_id, False, NOT_OURS % status) for status in ("booting", "rebooting", "shutting_down")
      for tags, run_id in (([], "me"), (OTHERS_CLAIM, "me"), (OWN_CLAIM, None), (OWN_CLAIM, "other"),
                           (["golden_image.linode:restore=running"], "me"))],
])
def test_status_refusal(status, tags, run_id, settling, expected):
    assert status_refusal({"status": status, "tags": tags}, run_id, settling) == expected


def test_writing_a_marker_replaces_any_marker_keeps_the_other_tags_and_skips_a_write_that_changes_nothing(fleet):
    api, client = fleet
    api.add(1, tags=["env=prod", LEGACY_POWER_MARKER_TAG, "team"])
    written = set_power_marker(client, client.get("/linode/instances/1"), "golden_image:r1:1700000000:running")
    assert api.tags(1) == written["tags"] == ["env=prod", "team", "golden_image:r1:1700000000:running"]
    set_power_marker(client, written, "golden_image:r1:1700000000:running")
    set_power_marker(client, written, None)
    assert api.tags(1) == ["env=prod", "team"]
    assert len(api.requests("PUT")) == 2


# ---------------------------------------------------------------------------- sending power actions

def test_a_boot_that_got_no_answer_and_did_not_act_is_read_then_sent_again(fleet, clock):
    api, client = fleet
    api.add(1, "offline")
    api.fault("POST", BOOT % 1 + "$", error=requests.exceptions.ConnectionError)
    errors = send_power_actions(client, {1: "boot"}, client.session.deadline, schedule=PollSchedule())
    assert errors == {}
    assert [(e["method"], e["path"], e["status"]) for e in api.log] == [
        ("POST", BOOT % 1, 0), ("GET", "/linode/instances", 200), ("POST", BOOT % 1, 200)]
    assert api.instances[1]["status"] == "booting"
    assert clock.sleeps == [pytest.approx(5.0)]


@pytest.mark.parametrize("fault", [dict(status=503), dict(status=500), dict(error=requests.exceptions.ReadTimeout),
                                   dict(error=requests.exceptions.ConnectionError)])
def test_an_action_that_acted_before_its_answer_was_lost_is_never_sent_twice(fleet, fault):
    api, client = fleet
    api.add(1, "offline")
    api.add(2, "running")
    api.fault("POST", BOOT % 1 + "$", after_effect=True, **fault)
    api.fault("POST", SHUTDOWN % 2 + "$", after_effect=True, **fault)
    errors = send_power_actions(client, {1: "boot", 2: "shutdown"}, client.session.deadline, schedule=PollSchedule())
    assert errors == {}
    assert len(api.requests("POST")) == 2
    assert [api.instances[1]["status"], api.instances[2]["status"]] == ["booting", "shutting_down"]


def test_5xx_answers_are_retried_on_the_poll_schedule_until_one_goes_through(fleet, clock):
    api, client = fleet
    api.add(1, "offline")
    api.fault("POST", BOOT % 1 + "$", status=502, times=3)
    assert send_power_actions(client, {1: "boot"}, client.session.deadline, schedule=PollSchedule()) == {}
    assert statuses(api, "POST", BOOT % 1) == [502, 502, 502, 200]
    assert clock.sleeps == [pytest.approx(5.0)] * 3


def test_an_instance_busy_to_the_deadline_fails_alone(fleet, clock):
    api, client = fleet
    api.add(1, "offline")
    api.add(2, "offline")
    api.fault("POST", BOOT % 1 + "$", status=400, reason="Linode busy.", times=None)
    errors = send_power_actions(client, {1: "boot", 2: "boot"}, Deadline(60, clock), schedule=PollSchedule())
    assert list(errors) == [1]
    assert "boot of Linode 1 did not go through within 60 s (wait_timeout)" in errors[1]
    assert "Linode busy." in errors[1]
    assert statuses(api, "POST", BOOT % 2) == [200]
    assert 5 <= len(api.requests("POST", BOOT % 1)) <= 14  # on the poll schedule, bounded by the deadline
    assert api.instances[2]["status"] == "running"


def test_an_instance_that_never_answers_fails_at_the_deadline_after_bounded_tries(fleet, clock):
    api, client = fleet
    api.add(1, "offline")
    api.fault("POST", BOOT % 1 + "$", error=requests.exceptions.ReadTimeout, times=None)
    errors = send_power_actions(client, {1: "boot"}, Deadline(60, clock), schedule=PollSchedule())
    assert "did not go through within 60 s (wait_timeout)" in errors[1]
    posts, reads = api.requests("POST"), api.requests("GET", "^/linode/instances$")
    assert len(posts) == len(reads) + 1 <= 14  # each repeat after a fresh read that shows no boot


def test_a_refusal_is_not_retried(fleet):
    api, client = fleet
    api.add(1, "offline")
    api.fault("POST", BOOT % 1 + "$", status=400, reason="config_id: Not found")
    errors = send_power_actions(client, {1: "boot"}, client.session.deadline, schedule=PollSchedule())
    assert "config_id: Not found" in errors[1]
    assert len(api.log) == 1


def test_a_reboot_that_got_no_answer_is_never_sent_twice(fleet):
    api, client = fleet
    api.add(1, "running")
    api.fault("POST", "/reboot$", error=requests.exceptions.ReadTimeout)
    errors = send_power_actions(client, {1: "reboot"}, client.session.deadline, schedule=PollSchedule())
    assert "may or may not have been done" in errors[1]
    assert len(api.requests("POST")) == 1


def test_an_instance_deleted_meanwhile_fails_alone(fleet):
    api, client = fleet
    api.add(1, "offline")
    api.add(2, "offline")

    def delete_1(fleet_api, entry):
        if entry["method"] == "POST":
            fleet_api.instances.pop(1, None)

    api.hooks.append(delete_1)
    api.fault("POST", BOOT % 1 + "$", status=503)
    errors = send_power_actions(client, {1: "boot", 2: "boot"}, client.session.deadline, schedule=PollSchedule())
    assert list(errors) == [1] and "no longer exists" in errors[1]


# ---------------------------------------------------------------------------- waiting

def test_one_instance_that_never_gets_there_does_not_hide_the_others(fleet, clock):
    api, client = fleet
    api.add(1, "offline")
    api.add(2, "offline")
    api.start_job(1, "boot")
    latest, failed = wait_for_instances(client, {1: "running", 2: "running"}, "linode_boot", Deadline(90, clock),
                                        PollSchedule())
    assert latest[1]["status"] == "running"
    assert list(failed) == [2]
    assert "Timed out after 90 s waiting for Linode 2 to be running (wait_timeout); it is offline" == failed[2]


# ---------------------------------------------------------------------------- judging markers

def test_markers_are_judged_own_free_live_and_stale_reading_events_only_where_it_matters(fleet, clock):
    api, client = fleet
    now = epoch(0)
    api.add(1, "offline", ["golden_image:me:%d:running" % (now - 100)])         # own
    api.add(2, "offline", ["golden_image:other:%d:running" % (now - 100)])      # live: 100 s of 600
    api.add(3, "offline", ["golden_image:other:%d:running" % (now - 700)])      # expired
    api.add(4, "offline", ["golden_image:killed:%d:running" % (now - 100)])     # taken over
    api.add(5, "offline", [LEGACY_POWER_MARKER_TAG])                            # legacy: no time
    api.add(6, "offline", ["golden_image:me:%d:running" % (now - 100)])         # booted since: stale
    api.add(7, "running", ["golden_image:other:%d:offline" % (now - 100)])      # live, running: no events needed
    api.add(8, "offline", ["golden_image:me:%d:offline" % (now - 100)])         # records offline: no events needed
    api.add(9, "offline")
    api.start_job(6, "boot", starts=-60)
    api.start_job(6, "shutdown", starts=-30)
    clock.sleep(1)
    instances = client.get("/linode/instances")["data"]
    verdicts = judge_markers(client, dict((i["id"], i) for i in instances), "me", 600, ["killed"])
    assert dict((i, v.kind) for i, v in verdicts.items()) == {
        1: OWN, 2: LIVE, 3: FREE, 4: FREE, 5: FREE, 6: STALE, 7: LIVE, 8: OWN}
    assert verdicts[2].until == now - 100 + 600
    (events,) = api.requests("GET", "^/account/events$")
    assert events["filter"]["action"] == "linode_boot"
    # Off, under a marker that records running or holds the instance; 7 runs, 8 records offline, 5 has no time.
    assert sorted(c["entity.id"] for c in events["filter"]["+or"]) == [1, 2, 3, 4, 6]
    assert events["filter"]["created"] == {"+gte": api_time(-700 + 1)}


def test_a_boot_before_the_marker_or_unfinished_does_not_make_it_stale(fleet, clock):
    api, client = fleet
    api.start_job(api.add(1, "offline")["id"], "boot", starts=-100)     # before the marker
    api.start_job(1, "shutdown", starts=-70)
    api.add(2, "offline")
    clock.sleep(1)
    api.instances[1]["tags"] = ["golden_image:me:%d:running" % epoch(-50)]
    api.instances[2]["tags"] = ["golden_image:me:%d:running" % epoch(-50)]
    api.jobs.append(Job(2, "boot", 0.5, 1000.0, 9999))  # started after the marker, not finished
    instances = dict((i["id"], i) for i in client.get("/linode/instances")["data"])
    assert dict((i, v.kind) for i, v in judge_markers(client, instances, "me", 600).items()) == {1: OWN, 2: OWN}


# ---------------------------------------------------------------------------- claims and their removal

def test_a_claim_replaced_by_another_run_is_lost_at_the_read_back(fleet, clock):
    api, client = fleet
    api.add(1, "running", ["golden_image:me:%d:running" % epoch(0)])
    api.add(2, "running", ["golden_image:other:%d:running" % epoch(0)])
    found, lost = confirm_claims(client, {1: "golden_image:me:%d:running" % epoch(0),
                                          2: "golden_image:me:%d:running" % epoch(0)}, client.session.deadline, 5.0)
    assert list(lost) == [2] and lost[2].run_id == "other"
    assert clock.sleeps == [5.0]
    assert [e["path"] for e in api.log] == ["/linode/instances"]


def test_a_failed_marker_removal_is_retried_within_the_deadline(fleet, clock):
    api, client = fleet
    api.add(1, "running", [LEGACY_POWER_MARKER_TAG])
    api.add(2, "running", ["env=prod", "golden_image:me:1700000000:running"])
    api.fault("PUT", "/1$", status=500, times=2)
    api.fault("PUT", "/2$", error=requests.exceptions.ConnectionError)
    latest, errors = forget_power_markers(client, dict((i, client.get("/linode/instances/%d" % i)) for i in (1, 2)),
                                          client.session.deadline, PollSchedule())
    assert errors == {}
    assert api.tags(1) == [] and api.tags(2) == ["env=prod"] == latest[2]["tags"]
    assert statuses(api, "PUT", "/linode/instances/1") == [500, 500, 200]


def test_a_marker_removal_gives_up_at_the_deadline_or_on_a_refusal(fleet, clock):
    api, client = fleet
    api.add(1, "running", [LEGACY_POWER_MARKER_TAG])
    api.add(2, "running", [LEGACY_POWER_MARKER_TAG])
    api.fault("PUT", "/1$", status=500, times=None)
    api.fault("PUT", "/2$", status=403, reason="Unauthorized")
    instances = dict((i, client.get("/linode/instances/%d" % i)) for i in (1, 2))
    latest, errors = forget_power_markers(client, instances, Deadline(30, clock), PollSchedule())
    assert "500" in errors[1] and "tried until wait_timeout" in errors[1]
    assert "403" in errors[2]
    assert len(api.requests("PUT", "/2$")) == 1
    assert 3 <= len(api.requests("PUT", "/1$")) <= 8
    assert api.tags(1) == [LEGACY_POWER_MARKER_TAG]
