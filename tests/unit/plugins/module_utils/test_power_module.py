"""The power module as a task runs it, over a fleet on the fake clock.

These are the module's own paths that the emulator runs too fast to reach (at the integration
tests' speed a shutdown lasts 0.1 s) or that need two runs to interleave at a chosen request.
Each asserts the fleet after the task and the requests it cost.
"""

from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.modules.linode_instance_power import LinodeInstancePower
from fleet_api import DURATIONS, FleetApi, epoch, other_run_writes
from module_runner import run_module

# The tag earlier versions wrote: still read as "was running", with no run and no time.
LEGACY_POWER_MARKER_TAG = "golden_image.linode:restore=running"


def run_power(api, clock, **args):
    """Run the module with ``args`` against ``api``; the result, with ``failed`` True or False."""
    args.setdefault("poll_interval", 5)
    args.setdefault("wait_timeout", 600)
    result, failed, warnings = run_module(LinodeInstancePower, api, clock, args)
    return dict(result, failed=failed, warnings=warnings)


def by_id(result):
    """The entries of ``result["instances"]`` by integer id, checking that each is keyed by its id as a string."""
    assert all(key == str(entry["id"]) for key, entry in result["instances"].items()), result["instances"]
    return dict((entry["id"], entry) for entry in result["instances"].values())


@pytest.fixture
def api(clock):
    return FleetApi(clock)


def marker(run_id, when, status="running"):
    return "golden_image:%s:%d:%s" % (run_id, when, status)


# ---------------------------------------------------------------------------- waits (item 3)

def test_stopped_waits_for_an_instance_already_shutting_down(api, clock):
    api.add(1, "running")
    job = api.start_job(1, "shutdown")
    clock.sleep(3)
    result = run_power(api, clock, linode_id=1, state="stopped")
    assert not result["failed"]
    assert result["status"] == "offline" and api.instances[1]["status"] == "offline"
    assert clock.now() - clock.start >= job.ends
    assert api.requests("POST") == []
    assert result["changed"] is False  # nothing sent: someone else's shutdown


def test_a_fleet_stop_waits_for_those_on_their_way_with_those_it_shuts_down(api, clock):
    api.add(1, "running")
    api.add(2, "running")
    api.start_job(2, "shutdown")
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped")
    assert dict((key, e["status"]) for key, e in result["instances"].items()) == {"1": "offline", "2": "offline"}
    assert [e["path"] for e in api.requests("POST")] == ["/linode/instances/1/shutdown"]


# ---------------------------------------------------------------------------- one instance fails alone (item 1)

def test_a_missing_id_fails_alone_and_the_others_are_restored(api, clock):
    api.add(1, "offline", [LEGACY_POWER_MARKER_TAG])
    result = run_power(api, clock, linode_ids=[424242, 1], state="restored")
    assert result["failed"] and result["field"] == "linode_ids"
    assert result["msg"] == "Linode 424242: No Linode instance has id 424242 (linode_ids)"
    entries = by_id(result)
    assert entries[424242]["error"] and entries[424242]["instance"] is None
    assert "error" not in entries[1] and entries[1]["status"] == "running"
    assert api.instances[1]["status"] == "running" and api.tags(1) == []


def test_a_failed_claim_write_keeps_that_instance_up_and_the_others_go_on(api, clock):
    api.add(1, "running")
    api.add(2, "running")
    api.fault("PUT", "/instances/1$", status=500)
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True)
    assert result["failed"]
    entries = by_id(result)
    assert "restore marker could not be written" in entries[1]["error"] and "500" in entries[1]["error"]
    assert api.instances[1]["status"] == "running" and api.tags(1) == []
    assert api.instances[2]["status"] == "offline" and api.tags(2) == [marker(result["run_id"], epoch(0))]
    assert [e["path"] for e in api.requests("POST")] == ["/linode/instances/2/shutdown"]


# ---------------------------------------------------------------------------- restore (items 2 and 4)

def test_a_boot_answered_503_after_it_acted_is_not_repeated_and_leaves_no_marker(api, clock):
    api.add(1, "offline", [LEGACY_POWER_MARKER_TAG])
    api.fault("POST", "/boot$", status=503, after_effect=True)
    result = run_power(api, clock, linode_ids=[1], state="restored")
    assert not result["failed"]
    assert api.instances[1]["status"] == "running" and api.tags(1) == []
    assert len(api.requests("POST")) == 1


def test_the_marker_goes_only_once_the_instance_is_read_back_running(api, clock):
    api.add(1, "offline", [marker("r1", epoch(-300))])
    seen = []
    api.hooks.append(lambda fleet, entry: seen.append(fleet.instances[1]["status"]) if entry["method"] == "PUT" else None)
    result = run_power(api, clock, linode_ids=[1], state="restored", run_id="r1")
    assert result["instances"]["1"]["changed"] and seen == ["running"]


def test_without_wait_the_marker_of_a_booted_instance_stays(api, clock):
    api.add(1, "offline", [marker("r1", epoch(-300))])
    run_power(api, clock, linode_ids=[1], state="restored", run_id="r1", wait=False)
    assert api.instances[1]["status"] == "booting" and api.tags(1) == [marker("r1", epoch(-300))]
    assert api.requests("PUT") == []


def test_a_failed_untag_is_retried_then_warned_about_and_the_stray_marker_never_boots_it_again(api, clock):
    api.add(1, "offline", [marker("r1", epoch(-300))])
    api.fault("PUT", "/instances/1$", status=500, times=None)
    result = run_power(api, clock, linode_ids=[1], state="restored", run_id="r1", wait_timeout=120)
    assert not result["failed"] and api.instances[1]["status"] == "running"
    assert len(api.requests("PUT")) >= 3 and "could not be removed" in result["warnings"][0]
    assert api.tags(1) == [marker("r1", epoch(-300))]
    # Its owner turns it off on purpose, then the same run is restored again (as a rerun of a role would).
    api.faults.clear()
    api.start_job(1, "shutdown")
    clock.sleep(60)
    before = len(api.log)
    again = run_power(api, clock, linode_ids=[1], state="restored", run_id="r1")
    assert not again["failed"] and again["instances"]["1"]["changed"]
    assert api.instances[1]["status"] == "offline" and api.tags(1) == []
    # A read, the events that show the boot after the marker, the removal: no boot.
    assert [(e["method"], e["path"]) for e in api.log[before:]] == [
        ("GET", "/linode/instances"), ("GET", "/account/events"), ("PUT", "/linode/instances/1")]


def test_a_stale_marker_of_an_expired_run_is_removed_not_acted_on(api, clock):
    api.add(1, "offline", [marker("old", epoch(-5000))])
    api.start_job(1, "boot", starts=-4000)
    api.start_job(1, "shutdown", starts=-3000)
    result = run_power(api, clock, linode_ids=[1], state="restored", run_id="new")
    assert not result["failed"] and api.instances[1]["status"] == "offline" and api.tags(1) == []
    assert api.requests("POST") == []
    assert result["instances"]["1"]["restore_status"] == "offline"


def test_restore_leaves_a_live_claim_of_another_run_alone_and_boots_an_expired_one(api, clock):
    api.add(1, "offline", [marker("other", epoch(-100))])
    api.add(2, "offline", [marker("other", epoch(-2000))])
    api.add(3, "offline", [marker("killed", epoch(-100))])
    api.add(4, "offline", [marker("other", epoch(-2000), "offline")])
    api.add(5, "offline", [marker("other", epoch(-100), "offline")])
    api.add(6, "running", [marker("other", epoch(-100))])
    result = run_power(api, clock, linode_ids=[1, 2, 3, 4, 5, 6], state="restored", run_id="me", take_over=["killed"])
    entries = by_id(result)
    assert [entries[i].get("claimed_by") for i in range(1, 7)] == ["other", None, None, None, "other", "other"]
    assert not any(entries[i]["changed"] for i in (1, 5, 6))
    assert [api.tags(i) for i in (1, 5, 6)] == [
        [marker("other", epoch(-100))], [marker("other", epoch(-100), "offline")], [marker("other", epoch(-100))]]
    # Left off although its marker says it ran: never silently, even though it is that run's to boot.
    assert result["failed"] and [i for i in range(1, 7) if "error" in entries[i]] == [1]
    assert entries[1]["error"].startswith("left offline: run other claims it until %s UTC (claim_ttl)"
                                          % api_time_of(epoch(-100 + 3 * 600)))
    assert [api.instances[i]["status"] for i in (1, 2, 3, 4, 5)] == ["offline", "running", "running", "offline", "offline"]
    assert [api.tags(i) for i in (2, 3, 4)] == [[], [], []]
    assert sorted(e["path"] for e in api.requests("POST")) == ["/linode/instances/2/boot", "/linode/instances/3/boot"]


# ---------------------------------------------------------------------------- claims (item 5)

def test_a_claim_marks_running_and_offline_instances_with_what_it_found(api, clock):
    api.add(1, "running", ["env=prod"])
    api.add(2, "offline")
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True, run_id="r1")
    assert not result["failed"] and result["run_id"] == "r1"
    assert api.tags(1) == ["env=prod", marker("r1", epoch(0))] and api.tags(2) == [marker("r1", epoch(0), "offline")]
    assert [api.instances[i]["status"] for i in (1, 2)] == ["offline", "offline"]
    assert [(key, e["restore_status"]) for key, e in result["instances"].items()] == [("1", "running"), ("2", "offline")]
    # read, two claims, the read-back a poll interval after them, the shutdown, then the wait's reads.
    methods = [(e["method"], e["path"]) for e in api.log]
    assert methods[:5] == [("GET", "/linode/instances"), ("PUT", "/linode/instances/1"), ("PUT", "/linode/instances/2"),
                           ("GET", "/linode/instances"), ("POST", "/linode/instances/1/shutdown")]
    assert api.log[3]["time"] - api.log[2]["time"] >= 5.0


def test_a_claim_lost_to_another_run_at_the_read_back_is_refused_and_not_shut_down(api, clock):
    api.add(1, "running")
    api.add(2, "running")
    api.hooks.append(other_run_writes(2, marker("other", epoch(0)), after_puts=2))
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True, run_id="me", claim_ttl=900)
    assert result["failed"]
    entries = by_id(result)
    assert entries[2]["claimed_by"] == "other"
    assert "claimed by run other until" in entries[2]["error"]
    assert api.instances[2]["status"] == "running" and api.tags(2) == [marker("other", epoch(0))]
    assert api.instances[1]["status"] == "offline"
    assert [e["path"] for e in api.requests("POST")] == ["/linode/instances/1/shutdown"]


def test_a_live_claim_of_another_run_is_refused_with_its_run_and_time(api, clock):
    api.add(1, "offline", [marker("other", epoch(-100))])
    api.add(2, "running")
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True, run_id="me", claim_ttl=600)
    entries = by_id(result)
    assert result["failed"] and entries[1]["claimed_by"] == "other"
    assert "claimed by run other until %s UTC (claim_ttl)" % api_time_of(epoch(500)) in entries[1]["error"]
    assert api.tags(1) == [marker("other", epoch(-100))]
    assert [e["path"] for e in api.requests("PUT")] == ["/linode/instances/2"]


def api_time_of(unix):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix))


def test_an_expired_or_killed_runs_claim_is_taken_over_keeping_what_it_recorded(api, clock):
    api.add(1, "offline", [marker("old", epoch(-4000))])
    api.add(2, "offline", [marker("killed", epoch(-100))])
    api.add(3, "offline", [LEGACY_POWER_MARKER_TAG])
    result = run_power(api, clock, linode_ids=[1, 2, 3], state="stopped", remember=True, run_id="me",
                       take_over=["killed"])
    assert not result["failed"]
    assert [api.tags(i) for i in (1, 2, 3)] == [[marker("me", epoch(0))]] * 3
    assert [by_id(result)[i]["restore_status"] for i in (1, 2, 3)] == ["running"] * 3
    restored = run_power(api, clock, linode_ids=[1, 2, 3], state="restored", run_id="me")
    assert [api.instances[i]["status"] for i in (1, 2, 3)] == ["running"] * 3
    assert [api.tags(i) for i in (1, 2, 3)] == [[], [], []] and not restored["failed"]


def test_the_default_claim_ttl_is_three_wait_timeouts(api, clock):
    api.add(1, "offline", [marker("other", epoch(-299))])
    api.add(2, "offline", [marker("other", epoch(-300))])
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True, run_id="me", wait_timeout=100)
    assert by_id(result)[1]["claimed_by"] == "other" and "claimed_by" not in by_id(result)[2]


def test_a_rerun_of_the_same_run_keeps_its_claims_without_writing(api, clock):
    api.add(1, "offline", [marker("me", epoch(-50))])
    result = run_power(api, clock, linode_ids=[1], state="stopped", remember=True, run_id="me")
    assert not result["failed"] and not result["changed"]
    assert api.requests("PUT") == [] and api.tags(1) == [marker("me", epoch(-50))]


def test_check_mode_predicts_claims_and_refusals_without_writing(api, clock):
    api.add(1, "running")
    api.add(2, "running", [marker("other", epoch(-10))])
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True, run_id="me",
                       _ansible_check_mode=True)
    entries = by_id(result)
    assert result["failed"] and entries[2]["claimed_by"] == "other"
    assert entries[1]["changed"] and entries[1]["status"] == "offline"
    assert [e["method"] for e in api.log] == ["GET"]


def test_a_fleet_claim_costs_one_tag_write_each_and_one_read_back_per_hundred(api, clock):
    ids = list(range(1, 151))
    for linode_id in ids:
        api.add(linode_id, "running")
    result = run_power(api, clock, linode_ids=ids, state="stopped", remember=True, run_id="me")
    assert not result["failed"]
    assert all(api.instances[i]["status"] == "offline" for i in ids)
    assert len(api.requests("PUT")) == 150 and len(api.requests("POST")) == 150
    first_post = min(e["time"] for e in api.requests("POST"))
    before = [e for e in api.requests("GET") if e["time"] <= first_post]
    assert len(before) == 4  # the read and the read-back, each two listings of at most 100
    assert api.requests("GET", "^/account/events$") == []
    # The wait: one listing per 100 a round, the shutdown (28 s) noticed within a poll interval.
    assert clock.now() - clock.start <= 5 + DURATIONS["shutdown"] + 5


@pytest.mark.parametrize("option,value", [("run_id", "a:b"), ("run_id", "much-too-long-id"), ("take_over", ["x y"]),
                                          ("claim_ttl", 0)])
def test_bad_claim_options_fail_naming_the_option_before_any_request(api, clock, option, value):
    api.add(1, "running")
    result = run_power(api, clock, linode_ids=[1], state="stopped", remember=True, **{option: value})
    assert result["failed"] and result["field"] == option and option in result["msg"]
    assert api.log == []


# ---------------------------------------------------------------------------- the result's shape (issue 12)

def documented_entry_keys():
    """The keys RETURN documents for an entry of instances."""
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible_collections.golden_image.linode.plugins.modules import linode_instance_power  # pylint: disable=import-outside-toplevel
    return set(yaml.safe_load(linode_instance_power.RETURN)["instances"]["contains"]["<id>"]["contains"])


def test_instances_are_keyed_by_id_as_a_string_in_the_order_of_linode_ids(api, clock):
    for linode_id in (1, 2, 3):
        api.add(linode_id, "running")
    api.add(4, "running", [marker("other", epoch(0))])
    result = run_power(api, clock, linode_ids=[3, 424242, 1, 4, 2], state="stopped", remember=True, run_id="me")
    instances = result["instances"]
    assert list(instances) == ["3", "424242", "1", "4", "2"]
    assert [entry["id"] for entry in instances.values()] == [3, 424242, 1, 4, 2]
    for entry in instances.values():
        assert set(entry) <= documented_entry_keys(), sorted(set(entry) - documented_entry_keys())
        assert "failed" not in entry and "msg" not in entry
    assert [key for key, entry in instances.items() if "error" in entry] == ["424242", "4"]
    assert instances["4"]["claimed_by"] == "other"
    assert instances["3"]["changed"] and instances["3"]["status"] == "offline"
    assert result["failed"] and result["field"] == "linode_ids"
    assert result["diff"]["after"] == {"3": "offline", "424242": None, "1": "offline", "4": "running", "2": "offline"}


def test_one_instance_is_keyed_by_its_id_and_also_at_the_top(api, clock):
    api.add(7, "running")
    result = run_power(api, clock, linode_id=7, state="stopped")
    assert not result["failed"]
    assert list(result["instances"]) == ["7"]
    entry = result["instances"]["7"]
    assert entry["previous_status"] == result["previous_status"] == "running"
    assert entry["status"] == result["status"] == "offline"
    assert entry["instance"] == result["instance"] and entry["changed"] is True


def test_an_api_error_body_with_line_breaks_is_one_line_in_the_entry_and_the_message(api, clock):
    api.add(1, "running")
    api.add(2, "running")
    api.fault("PUT", "/instances/1$", status=400, reason="Tags are\r\n  invalid.\r\nSee the docs.\r\n")
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped", remember=True)
    error = result["instances"]["1"]["error"]
    assert "Tags are invalid. See the docs." in error
    assert "\r" not in error and "\n" not in error
    assert "\r" not in result["msg"] and "\n" not in result["msg"] and "Tags are invalid. See the docs." in result["msg"]
    assert "error" not in result["instances"]["2"]


# ---------------------------------------------------------------------------- instances in a transitional status (issue 22)

# Statuses of jobs of Linode's: the fake fleet answers "Linode busy." to any power action on them, as the API does.
JOB_STATUSES = ["migrating", "resizing", "provisioning", "rebuilding", "cloning", "restoring", "busy"]
REFUSED = "%s: try again when it is running or offline"
NOT_OURS = REFUSED + " (a boot or shutdown that is not this run's is under way)"


def writes_for(api, linode_id):
    return [(e["method"], e["path"]) for e in api.log if e["method"] != "GET" and "/instances/%d" % linode_id in e["path"]]


@pytest.mark.parametrize("status", JOB_STATUSES)
@pytest.mark.parametrize("args", [
    dict(state="stopped", remember=True, run_id="me"),
    dict(state="stopped", remember=True, run_id="me", _ansible_check_mode=True),
    dict(state="stopped"),
    dict(state="running"),
    dict(state="restarted"),
], ids=["claim", "claim-check-mode", "stopped", "running", "restarted"])
def test_an_instance_in_a_jobs_status_is_refused_before_any_write_and_the_others_go_on(api, clock, status, args):
    api.add(1, "running")
    api.add(2, status)
    api.add(3, "offline")
    result = run_power(api, clock, linode_ids=[1, 2, 3], **args)
    entries = by_id(result)
    assert result["failed"] and result["msg"] == "Linode 2: " + REFUSED % status
    assert entries[2]["error"] == REFUSED % status and entries[2]["refused_status"] == status
    # Never recorded as offline: it may end running.
    assert entries[2]["restore_status"] is None and entries[2]["changed"] is False
    assert writes_for(api, 2) == [] and api.tags(2) == [] and api.instances[2]["status"] == status
    assert [i for i in (1, 3) if "error" in entries[i] or "refused_status" in entries[i]] == []
    if args.get("_ansible_check_mode"):
        assert [e for e in api.log if e["method"] != "GET"] == []
    elif args["state"] == "stopped":
        assert [api.instances[i]["status"] for i in (1, 3)] == ["offline", "offline"]
    else:
        assert [api.instances[i]["status"] for i in (1, 3)] == ["running", "running"]


@pytest.mark.parametrize("action,start,tags,refused", [
    ("shutdown", "running", [], True),
    ("boot", "offline", [], True),
    ("reboot", "running", [], True),
    # An expired claim of another run may be taken over, but the boot under way is still not this run's.
    ("shutdown", "running", [marker("other", epoch(-5000))], True),
    ("boot", "offline", [marker("other", epoch(-5000))], True),
    # This run's own claim explains it: a rerun of the run finds its own shutdown or boot under way.
    ("shutdown", "running", [marker("me", epoch(-10))], False),
    ("boot", "offline", [marker("me", epoch(-10))], False),
])
def test_a_claim_refuses_a_boot_or_shutdown_under_way_unless_this_runs_claim_explains_it(api, clock, action, start, tags, refused):
    api.add(1, start, tags)
    api.start_job(1, action)
    status = api.instances[1]["status"]
    result = run_power(api, clock, linode_ids=[1], state="stopped", remember=True, run_id="me")
    entry = result["instances"]["1"]
    if refused:
        assert result["failed"] and entry["error"] == NOT_OURS % status and entry["refused_status"] == status
        assert writes_for(api, 1) == [] and api.tags(1) == tags
    else:
        assert not result["failed"] and "refused_status" not in entry
        assert api.instances[1]["status"] == "offline" and api.tags(1) == tags
        # Its own shutdown is waited for; after its own boot, the shutdown goes through once the boot is done.
        assert [e["status"] for e in api.requests("PUT")] == []
        posts = [e["status"] for e in api.requests("POST", "/shutdown$")]
        assert posts == [] if action == "shutdown" else posts[-1] == 200


def test_without_a_claim_a_shutdown_under_way_is_waited_for_and_a_boot_retried_as_before(api, clock):
    api.add(1, "running")
    api.add(2, "offline")
    api.start_job(1, "shutdown")
    api.start_job(2, "boot")
    result = run_power(api, clock, linode_ids=[1, 2], state="stopped")
    assert not result["failed"] and [api.instances[i]["status"] for i in (1, 2)] == ["offline", "offline"]
    assert writes_for(api, 1) == [] and statuses_of(api, "/2/shutdown$")[0] == 400


def statuses_of(api, path):
    return [e["status"] for e in api.requests("POST", path)]


def test_a_restore_never_refuses_and_boots_a_claimed_instance_back_once_its_job_is_over(api, clock):
    # Captured while offline under this run's claim, then moved by Linode: the boot is retried until it is free.
    api.add(1, "migrating", [marker("me", epoch(-100))])
    api.add(2, "migrating")

    def migration_ends(fleet, entry):
        if len(fleet.requests("POST", "/1/boot$")) == 3:
            fleet.instances[1]["status"] = "offline"

    api.hooks.append(migration_ends)
    result = run_power(api, clock, linode_ids=[1, 2], state="restored", run_id="me")
    assert not result["failed"], result["msg"]
    assert statuses_of(api, "/1/boot$")[:3] == [400, 400, 400] and api.instances[1]["status"] == "running"
    assert api.tags(1) == []
    # No marker: nothing to restore, nothing sent, and no error (it is not this run's to boot).
    assert writes_for(api, 2) == [] and "error" not in result["instances"]["2"]
