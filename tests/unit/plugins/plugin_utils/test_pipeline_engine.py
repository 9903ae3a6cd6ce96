"""Table-driven tests of the golden-image pipeline's engine: a bake's outcome, a verification's verdict,
and the pipeline's steps from start to report, in real runs and in check mode."""

from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.plugin_utils import pipeline_engine as engine
from ansible_collections.golden_image.linode.plugins.plugin_utils.capture_engine import MIB, EngineError

DF_HEADER = "Filesystem Type 1-blocks Used Available Capacity Mounted on"


def df(fstype="ext4", used_mib=1500, mount="/", rc=0):
    line = "/dev/sda %s 25000000000 %d 20000000000 10%% %s" % (fstype, int(used_mib * MIB), mount)
    return {"rc": rc, "stdout": DF_HEADER + "\n" + line, "stderr": "", "changed": False}


def created(linode_id=40001, label="bake-golden-20260101-120000", status="running", failed=False, msg=None):
    result = {"changed": True, "instance": {"id": linode_id, "label": label, "status": status}}
    if failed:
        result.update(failed=True, msg=msg or "failed")
    return result


GONE = {"changed": True, "instance": {"id": 40001}, "deleted": [{"id": 40001}]}
STILL_THERE = {"failed": True, "msg": "500 Internal Server Error", "instance": {"id": 40001}, "deleted": []}
# As registered with failed_when: false, which clears `failed`: the module's msg tells the failure.
STILL_THERE_QUIETLY = {"failed": False, "changed": False, "msg": "500 Internal Server Error", "instance": {"id": 40001},
                       "deleted": []}
CAPTURED = {"result": "captured", "image_id": "private/100001", "reason": ""}


# ---------------------------------------------------------------------------------------------- bake

# (name, answers, check mode, expected keys of the outcome, text the reason must contain)
BAKES = [
    ("baked: captured, builder deleted", {"builder": created(), "capture": CAPTURED, "deleted": GONE}, False,
     {"result": "baked", "image_id": "private/100001", "builder_left": False, "builder_id": 40001}, ""),
    ("the provisioning failed: the step and its message, builder deleted",
     {"builder": created(), "error": {"task": "Provision the builder", "msg": "apt failed:\n no net"}, "deleted": GONE},
     False, {"result": "failed", "image_id": None, "builder_left": False}, "Provision the builder: apt failed: no net"),
    ("the capture refused the builder's disk",
     {"builder": created(), "capture": {"result": "refused", "image_id": None, "reason": "host checks: / is xfs"},
      "deleted": GONE}, False, {"result": "failed", "builder_left": False}, "capture refused: host checks: / is xfs"),
    ("the create failed: nothing to delete, nothing left",
     {"builder": {"failed": True, "msg": "region is not valid"}, "error": {"task": "Create the builder", "msg": "region is not valid"},
      "deleted": {"skipped": True}}, False, {"result": "failed", "builder_left": False, "builder_id": None},
     "Create the builder: region is not valid"),
    ("the image was made but the builder is left: failed, loudly, the image id kept",
     {"builder": created(), "capture": CAPTURED, "deleted": STILL_THERE}, False,
     {"result": "failed", "builder_left": True, "image_id": "private/100001"},
     "the builder bake-golden-20260101-120000 (Linode 40001) was NOT deleted: 500 Internal Server Error"),
    ("a delete that failed, registered with failed_when: false",
     {"builder": created(), "capture": CAPTURED, "deleted": STILL_THERE_QUIETLY}, False,
     {"result": "failed", "builder_left": True}, "was NOT deleted: 500 Internal Server Error"),
    ("a delete that never ran leaves the builder",
     {"builder": created(), "error": {"task": "Wait for SSH", "msg": "timed out"}}, False,
     {"result": "failed", "builder_left": True}, "its delete did not run"),
    ("a delete that found it already gone", {"builder": created(), "capture": CAPTURED,
                                             "deleted": {"changed": False, "instance": None, "deleted": []}}, False,
     {"result": "baked", "builder_left": False}, ""),
    ("no capture and no error is not a bake", {"builder": created(), "deleted": GONE}, False,
     {"result": "failed"}, "the bake ended without a capture"),
    ("check mode: would bake, nothing to delete", {"builder": {"changed": True, "instance": {"id": None, "label": "b"}}},
     True, {"result": "would_bake", "builder_left": False, "image_id": None}, ""),
    ("check mode: a preflight refusal fails the check run",
     {"error": {"task": "Check the provisioning", "msg": "the role 'web' was not found"}}, True,
     {"result": "failed"}, "Check the provisioning: the role 'web' was not found"),
]


@pytest.mark.parametrize("name, answers, check_mode, expected, reason", BAKES, ids=[c[0] for c in BAKES])
def test_bake_outcome(name, answers, check_mode, expected, reason):
    outcome = engine.bake_outcome(answers, check_mode)
    assert dict((k, outcome[k]) for k in expected) == expected
    if reason:
        assert reason in outcome["reason"]
    else:
        assert outcome["reason"] == ""


# ---------------------------------------------------------------------------------------------- verify

SETTINGS = {"image": "private/100001", "host_checks": True, "size_limit": 6144, "margin": 0.1,
            "commands": ["systemctl is-active nginx", "test -f /etc/motd"], "tasks": "/srv/checks.yml"}
PASSED = {"tester": created(label="verify-golden-1"), "ssh": {"changed": False, "elapsed": 12},
          "df": df(), "commands": [{"item": "systemctl is-active nginx", "rc": 0}, {"item": "test -f /etc/motd", "rc": 0}],
          "tasks": {}, "deleted": GONE}


def answers(**changes):
    return dict(PASSED, **changes)


# (name, answers, settings changes, check mode, expected result, the checks' passed values, reason text)
VERDICTS = [
    ("every check passes", PASSED, {}, False, "verified", [True, True, True, True, True, True], ""),
    ("a command exits 3: failed, with its last line", answers(commands=[
        {"item": "systemctl is-active nginx", "rc": 3, "stdout": "inactive\n", "stderr": ""},
        {"item": "test -f /etc/motd", "rc": 0}]), {}, False, "failed", [True, True, True, False, True, True],
     "command: systemctl is-active nginx: exited 3: inactive"),
    ("the user's tasks fail", answers(tasks={"task": "nginx answers", "msg": "Status code was 502"}), {}, False,
     "failed", [True, True, True, True, True, False], "tasks: /srv/checks.yml: nginx answers: Status code was 502"),
    ("xfs root filesystem", answers(df=df("xfs")), {}, False, "failed", [True, True, False, True, True, True],
     "root filesystem: / is xfs, and Linode captures only ext3/ext4 disks"),
    ("usage above the limit", answers(df=df(used_mib=6000)), {}, False, "failed", [True, True, False, True, True, True],
     'df "Used" of / is 6000.0 MiB, not below 5529.6 MiB'),
    ("SSH does not answer: the checks over SSH are not run", answers(
        ssh={"failed": True, "msg": "timed out waiting for ping module test"}, df=None, commands=[], tasks=None),
     {}, False, "failed", [True, False, None, None, None, None], "SSH answers: timed out waiting for ping module test"),
    ("SSH's failure seen through failed_when: false (its msg, no failed)", answers(
        ssh={"msg": "timed out", "elapsed": 300}, df=None), {}, False, "failed", [True, False, None, True, True, True],
     "SSH answers: timed out"),
    ("the instance did not come up running: it does not boot", answers(
        tester=created(label="verify-golden-1", status="booting", failed=True, msg="Timed out after 600 s"),
        error={"task": "Create the test instance", "msg": "Timed out after 600 s"}), {}, False, "failed", [False],
     "boots: Linode 40001 is booting, not running: Create the test instance: Timed out after 600 s"),
    ("the test instance could not be created: an error, not the image's failure", answers(
        tester={"failed": True, "msg": "type is not valid"}, error={"task": "Create the test instance", "msg": "type is not valid"},
        deleted={"skipped": True}), {}, False, "error", [], "the test instance was not created: Create the test instance"),
    ("a step outside the checks failed with every check passed: error", answers(
        error={"task": "Measure the disk", "msg": "unexpected"}), {}, False, "error", [True] * 6, "Measure the disk: unexpected"),
    ("host checks off: not checked, and said so", answers(ssh={"skipped": True}, df={"skipped": True}),
     {"host_checks": False}, False, "verified", [True, None, None, True, True, True], ""),
    ("no user checks: the built-in ones", answers(commands=[], tasks=None), {"commands": [], "tasks": None}, False,
     "verified", [True, True, True], ""),
    ("tasks not run (null, or '' from an older ansible-core)", answers(tasks=""), {}, False, "verified",
     [True, True, True, True, True, None], ""),
    ("a command not run is not a pass", answers(commands=[{"item": "test -f /etc/motd", "rc": 0}]), {}, False,
     "verified", [True, True, True, None, True, True], ""),
    ("check mode: would verify, every check would run", {"tester": {"instance": {"id": None}}}, {}, True,
     "would_verify", [None] * 6, ""),
    ("check mode: a preflight refusal", {"error": {"task": "Check the image", "msg": "image is creating"}}, {}, True,
     "error", [None] * 6, "Check the image: image is creating"),
]


@pytest.mark.parametrize("name, given, changes, check_mode, result, passed, reason", VERDICTS, ids=[c[0] for c in VERDICTS])
def test_verify_verdict(name, given, changes, check_mode, result, passed, reason):
    verdict = engine.verify_verdict(given, dict(SETTINGS, **changes), check_mode)
    assert verdict["result"] == result
    assert [c["passed"] for c in verdict["checks"]] == passed
    if reason:
        assert reason in verdict["reason"]
    else:
        assert verdict["reason"] == ""
    assert verdict["image_id"] == "private/100001"


def test_verify_names_each_check_and_says_what_it_saw():
    verdict = engine.verify_verdict(PASSED, SETTINGS)
    assert [(c["check"], c["detail"]) for c in verdict["checks"]] == [
        ("boots", "Linode 40001 is running"), ("SSH answers", "within 12 s"),
        ("root filesystem", "ext4, 1500.0 MiB used, /"), ("command: systemctl is-active nginx", "exited 0"),
        ("command: test -f /etc/motd", "exited 0"), ("tasks: /srv/checks.yml", "passed")]


def test_verify_report_gives_the_verdict_then_a_line_a_check():
    failed = engine.verify_verdict(answers(commands=[{"item": "systemctl is-active nginx", "rc": 3, "stdout": "inactive"}],
                                           deleted=STILL_THERE), SETTINGS)
    assert engine.verify_report(failed) == [
        "image private/100001 FAILED its verification: command: systemctl is-active nginx: exited 3: inactive",
        "passed    boots: Linode 40001 is running",
        "passed    SSH answers: within 12 s",
        "passed    root filesystem: ext4, 1500.0 MiB used, /",
        "FAILED    command: systemctl is-active nginx: exited 3: inactive",
        "not run   command: test -f /etc/motd: not run",
        "passed    tasks: /srv/checks.yml: passed",
        failed["tester_error"]]
    planned = engine.verify_report(engine.verify_verdict({}, dict(SETTINGS, image=""), check_mode=True))
    assert planned[0] == "check mode, nothing written: would boot the image to be made on a test instance and run these checks"
    assert planned[1:] == ["would run boots", "would run SSH answers", "would run root filesystem",
                           "would run command: systemctl is-active nginx", "would run command: test -f /etc/motd",
                           "would run tasks: /srv/checks.yml"]


@pytest.mark.parametrize("deleted, left", [
    (GONE, False), (STILL_THERE, True), (STILL_THERE_QUIETLY, True), ({}, True),
    ({"changed": False, "instance": None, "deleted": []}, False)])
def test_a_test_instance_left_behind_is_said_whatever_the_verdict(deleted, left):
    verdict = engine.verify_verdict(answers(deleted=deleted), SETTINGS)
    assert verdict["result"] == "verified" and verdict["tester_left"] is left
    assert ("verify-golden-1 (Linode 40001) was NOT deleted" in verdict["tester_error"]) is left


@pytest.mark.parametrize("tags, verified, expected", [
    (["golden", "source=linode:40001,disk:50001"], True, ["golden", engine.VERIFIED_TAG]),
    (["golden", engine.VERIFIED_TAG], False, ["golden", engine.VERIFY_FAILED_TAG]),
    ([engine.VERIFY_FAILED_TAG, engine.VERIFIED_TAG], True, [engine.VERIFIED_TAG]),
    (None, False, [engine.VERIFY_FAILED_TAG]),
])
def test_verify_tags_carry_one_marker_and_leave_the_source_to_the_module(tags, verified, expected):
    assert engine.verify_tags(tags, verified) == expected


# ---------------------------------------------------------------------------------------------- pipeline

BAKE = {"source": "bake", "prefix": "golden", "stamp": "20260101-120000", "base_image": "linode/debian12",
        "region": "us-east", "type": "g6-nanode-1", "provision_role": "web", "check_commands": ["true"],
        "regions": ["eu-west"], "keep": 2, "host_checks": True}
VERIFIED = {"result": "verified", "image_id": "private/100001", "reason": "", "tester_left": False,
            "checks": [{"check": "boots", "passed": True}, {"check": "SSH answers", "passed": True}]}
REPLICATED = {"changed": True, "image": {"id": "private/100001", "regions": [{"region": "us-east"}, {"region": "eu-west"}]}}
PRUNED = {"changed": True, "kept": [{"id": "private/100001"}, {"id": "private/90"}], "deleted": [{"id": "private/80"}]}
READ_BACK = {"images": [{"id": "private/100001", "status": "available", "tags": ["golden", engine.VERIFIED_TAG]}]}


def run(state, *steps):
    for step, answer in steps:
        assert engine.next_step(state) == step
        state = engine.advance(state, step, answer)
    return state


def results(state):
    return [(s["step"], s["result"]) for s in state["steps"]]


def test_a_bake_goes_through_every_step_and_publishes_the_verified_image():
    state = engine.start(BAKE)
    assert (state["label"], state["builder"], state["tester"]) == (
        "golden-20260101-120000", "bake-golden-20260101-120000", "verify-golden-20260101-120000")
    assert (state["builder_prefix"], state["tester_prefix"], state["keep_prefix"]) == ("bake-golden-", "verify-golden-", "golden-")
    state = run(state, ("bake", {"result": "baked", "image_id": "private/100001"}), ("verify", VERIFIED),
                ("replicate", REPLICATED), ("retention", PRUNED), ("publish", READ_BACK))
    assert results(state) == [("bake", "done"), ("verify", "done"), ("replicate", "done"), ("retention", "done"),
                              ("publish", "done")]
    assert engine.next_step(state) is None and not engine.fails(state)
    details = dict((s["step"], s["detail"]) for s in state["steps"])
    assert details["replicate"] == "private/100001 is in eu-west, us-east"
    assert details["retention"] == "kept private/100001, private/90; deleted private/80"
    assert engine.stats(state)["golden_image_id"] == "private/100001"
    assert engine.stats(state)["golden_image_verification"]["result"] == "verified"
    assert engine.table(state)[-1] == "golden image golden-20260101-120000: published as private/100001"


@pytest.mark.parametrize("failing, answer, reason", [
    ("bake", {"result": "failed", "reason": "Provision the builder: apt failed"}, "Provision the builder: apt failed"),
    ("verify", {"result": "failed", "image_id": "private/100001", "reason": "command: true: exited 1"},
     "command: true: exited 1"),
    ("verify", {"result": "error", "image_id": "private/100001", "reason": "the test instance was not created"},
     "the test instance was not created"),
    ("verify", dict(VERIFIED, tester_left=True, tester_error="the test instance verify-1 (Linode 4) was NOT deleted"),
     "was NOT deleted"),
    ("replicate", {"failed": True, "msg": "replicate_regions: no region 'mars'"}, "replication: replicate_regions"),
    ("replicate", {"failed": False, "changed": False, "msg": "Timed out after 3600 s"}, "replication: Timed out"),
    ("retention", {"failed": True, "msg": "The token lacks images:read_write"}, "retention: The token lacks"),
    ("retention", {"failed": False, "msg": "keep must be a whole number"}, "retention: keep must be"),
])
def test_a_failed_step_stops_every_later_one_and_nothing_is_published(failing, answer, reason):
    good = [("bake", {"result": "baked", "image_id": "private/100001"}), ("verify", VERIFIED),
            ("replicate", REPLICATED), ("retention", PRUNED)]
    before = [step for step in good if step[0] != failing][:[s[0] for s in good].index(failing)]
    state = run(engine.start(BAKE), *(before + [(failing, answer)]))
    steps = dict((s["step"], s) for s in state["steps"])
    assert steps[failing]["result"] == "failed" and reason in steps[failing]["detail"]
    later = [s for s in state["steps"] if [x["step"] for x in state["steps"]].index(s["step"])
             > [x["step"] for x in state["steps"]].index(failing)]
    assert all(s["result"] == "stopped" and s["detail"] == "not run: %s failed" % failing for s in later)
    assert engine.fails(state) and engine.next_step(state) is None
    assert "golden_image_id" not in engine.stats(state)
    assert engine.table(state)[-1].endswith("failed at %s" % failing)


def test_a_failed_verification_is_published_as_such():
    state = run(engine.start(BAKE), ("bake", {"result": "baked", "image_id": "private/100001"}),
                ("verify", {"result": "failed", "image_id": "private/100001", "reason": "boots: no"}))
    assert engine.stats(state)["golden_image_verification"] == {
        "image_id": "private/100001", "label": "golden-20260101-120000", "result": "failed", "reason": "boots: no"}
    assert state["verified"] is False


def test_check_mode_says_what_each_step_would_do_and_publishes_nothing():
    state = engine.start(BAKE, check_mode=True)
    prune = {"changed": True, "kept": [{"id": "private/90"}, {"id": "private/85"}], "deleted": [{"id": "private/80"}]}
    would_verify = {"result": "would_verify", "checks": [{"check": "boots"}, {"check": "command: true"}]}
    state = run(state, ("bake", {"result": "would_bake", "image_id": None}), ("verify", would_verify),
                ("replicate", {}), ("retention", prune), ("publish", {}))
    assert [r for _s, r in results(state)] == ["would"] * 5
    details = dict((s["step"], s["detail"]) for s in state["steps"])
    assert details["bake"] == ("create builder bake-golden-20260101-120000 from linode/debian12 in us-east "
                               "(g6-nanode-1), provision it with role web, capture image golden-20260101-120000 from "
                               "its disk, delete the builder")
    assert details["verify"] == ("boot golden-20260101-120000 on test instance verify-golden-20260101-120000 and "
                                 "check: boots, command: true; tag it golden_image.linode:verified or "
                                 "golden_image.linode:verify-failed")
    # The new image does not exist yet: it would take the place of the second image the prune kept.
    assert details["retention"] == ("would keep golden-20260101-120000 (to be made), private/90; "
                                    "would delete private/85, private/80")
    assert "golden_image_id" not in engine.stats(state) and not engine.fails(state)
    assert engine.table(state)[-1].endswith("(check mode: nothing was written)")


def test_the_plan_says_what_each_step_will_do():
    details = dict((s["step"], s["detail"]) for s in engine.start(dict(BAKE, delete_failed=True))["steps"])
    assert details["verify"] == (
        "boot golden-20260101-120000 on test instance verify-golden-20260101-120000 in us-east (g6-nanode-1) and check "
        "that it boots, SSH answers, its root filesystem is ext3/ext4 and used as expected, 1 command exits 0; tag it "
        "golden_image.linode:verified, or golden_image.linode:verify-failed and delete it")
    assert details["retention"] == ("keep the 2 newest verified images labelled golden-*, golden-20260101-120000 among "
                                    "them, and delete the older verified ones")


@pytest.mark.parametrize("read_back, reason", [
    ({"images": []}, "private/100001 does not exist any more"),
    ({"images": [dict(READ_BACK["images"][0], tags=["golden"])]},
     "private/100001 is available, without the golden_image.linode:verified tag"),
    ({"images": [dict(READ_BACK["images"][0], status="creating")]}, "private/100001 is creating"),
    ({"failed": True, "msg": "401 Invalid Token"}, "reading private/100001 back: 401 Invalid Token"),
    ({"failed": False, "msg": "401 Invalid Token", "images": []}, "reading private/100001 back: 401 Invalid Token"),
])
def test_only_an_available_image_still_marked_verified_is_published(read_back, reason):
    state = run(engine.start(dict(BAKE, regions=[], keep=None)), ("bake", {"result": "baked", "image_id": "private/100001"}),
                ("verify", VERIFIED))
    state = engine.advance(state, "publish", read_back)
    assert results(state)[-1] == ("publish", "failed") and state["steps"][-1]["detail"] == reason
    assert "golden_image_id" not in engine.stats(state)


def test_check_mode_fails_where_a_real_run_would():
    state = run(engine.start(BAKE, check_mode=True),
                ("bake", {"result": "failed", "reason": "Check the builder: type is not valid"}))
    assert results(state)[:2] == [("bake", "failed"), ("verify", "stopped")] and engine.fails(state)


def test_a_reference_capture_and_the_steps_not_asked_for():
    state = engine.start(dict(BAKE, source="reference", reference="web-1", regions=[], keep=None,
                              provision_role=None, check_commands=[]))
    assert results(state) == [("capture", "pending"), ("verify", "pending"), ("replicate", "skipped"),
                              ("retention", "skipped"), ("publish", "pending")]
    assert state["steps"][0]["detail"] == "capture image golden-20260101-120000 from the disk of web-1"
    read_back = {"images": [dict(READ_BACK["images"][0], id="private/7")]}
    state = run(state, ("capture", {"result": "captured", "image_id": "private/7"}), ("verify", VERIFIED),
                ("publish", read_back))
    assert engine.stats(state)["golden_image_id"] == "private/7"
    assert dict((s["step"], s["detail"]) for s in state["steps"])["retention"] == \
        "golden_image_keep is not set: no image is deleted"


@pytest.mark.parametrize("answer", [{"result": "refused", "reason": "raw disk"}, {"result": "would_capture"}, {}])
def test_a_capture_that_made_no_image_fails(answer):
    state = engine.start(dict(BAKE, source="reference", reference="web-1"))
    state = engine.advance(state, "capture", answer)
    assert results(state)[0] == ("capture", "failed")


@pytest.mark.parametrize("kept, deleted, image_id, keep, expected", [
    (["new", "a"], ["b"], "new", 2, (["new", "a"], ["b"])),
    (["a", "b"], ["c"], None, 2, (["a"], ["b", "c"])),
    (["a"], ["b"], None, 1, ([], ["a", "b"])),
    ([], [], None, 3, ([], [])),
])
def test_retention_plan_counts_the_image_still_to_be_made(kept, deleted, image_id, keep, expected):
    answer = {"kept": [{"id": i} for i in kept], "deleted": [{"id": i} for i in deleted]}
    assert engine.retention_plan(answer, image_id, keep) == expected


def test_retention_that_deleted_the_verified_image_fails_and_publishes_nothing():
    state = run(engine.start(BAKE), ("bake", {"result": "baked", "image_id": "private/100001"}), ("verify", VERIFIED),
                ("replicate", REPLICATED))
    state = engine.advance(state, "retention", {"kept": [{"id": "private/9"}], "deleted": [{"id": "private/100001"}]})
    assert results(state)[3:] == [("retention", "failed"), ("publish", "stopped")]


@pytest.mark.parametrize("changes, message", [
    ({"source": "golden"}, "golden_image_source must be bake or reference"),
    ({"provision_role": None}, "exactly one of golden_image_provision_role"),
    ({"provision_tasks": "/srv/p.yml"}, "(got both)"),
    ({"source": "reference", "provision_role": None}, "needs golden_image_host"),
    ({"region": ""}, "golden_image_region is required"),
    ({"keep": 0}, "golden_image_keep must be a whole number of 1 or more"),
    ({"keep": "1.5"}, "got '1.5'"),
    ({"keep": True}, "golden_image_keep"),
    ({"prefix": "web golden"}, "golden_image_prefix 'web golden' makes the tester label verify-web golden-"),
    ({"prefix": "-web"}, "makes the tester label verify--web-20260101-120000, which is not valid"),
    ({"prefix": "web--golden"}, "makes the tester label"),
    ({"prefix": "web,golden"}, "makes the tester label"),
    ({"prefix": "w" * 35}, "makes the image label"),
    ({"prefix": ""}, "golden_image_prefix is required"),
    ({"stamp": "2026-01-01"}, "stamp must be YYYYmmdd-HHMMSS"),
    ({"check_commands": "true"}, "golden_image_check_commands must be a list"),
    ({"regions": [""]}, "golden_image_regions must be a list"),
])
def test_start_refuses_settings_naming_the_variable(changes, message):
    with pytest.raises(EngineError, match=None) as raised:
        engine.start(dict(BAKE, **changes))
    assert message in str(raised.value)


@pytest.mark.parametrize("keep, expected", [(None, None), ("", None), ("3", 3), (1, 1)])
def test_keep_unset_or_a_whole_number(keep, expected):
    assert engine.start(dict(BAKE, keep=keep))["keep"] == expected


def test_only_the_next_step_may_advance():
    state = engine.start(BAKE)
    with pytest.raises(EngineError, match="verify cannot run now: the next step is bake"):
        engine.advance(state, "verify", VERIFIED)
    with pytest.raises(EngineError, match="has no step 'capture'"):
        engine.advance(state, "capture", {})
    done = run(state, ("bake", {"result": "failed", "reason": "x"}))
    with pytest.raises(EngineError, match="the pipeline has ended"):
        engine.advance(done, "verify", VERIFIED)


def test_advance_leaves_the_state_it_got_alone():
    state = engine.start(BAKE)
    engine.advance(state, "bake", {"result": "baked", "image_id": "private/1"})
    assert state["steps"][0]["result"] == "pending" and state["image_id"] is None


# ---------------------------------------------------------------------------------------------- settings

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKD ci@example"
BAKE_SETTINGS = {"provision_role": "web", "label": "golden-20260101-120000", "builder_label": "bake-golden-1",
                 "host_checks": True, "authorized_keys": [KEY]}


@pytest.mark.parametrize("changes, problems", [
    ({}, []),
    ({"provision_role": None, "provision_tasks": "provision.yml"}, ["image_bake_provision_tasks must be an absolute path"]),
    ({"provision_tasks": "/srv/p.yml"}, ["give exactly one of image_bake_provision_role (a role name) and "
                                         "image_bake_provision_tasks (a tasks file) (got both)"]),
    ({"provision_role": ""}, ["give exactly one of image_bake_provision_role (a role name) and "
                              "image_bake_provision_tasks (a tasks file) (got neither)"]),
    ({"label": "golden\n1"}, ["image_bake_label must be 1-50 characters"]),
    ({"builder_label": "1-bake"}, ["image_bake_builder_label must be 3-64 characters"]),
    ({"authorized_keys": []}, ["image_bake_authorized_keys is empty: with image_bake_host_checks on"]),
    ({"authorized_keys": [], "host_checks": False}, []),
    ({"provision_role": None, "label": "", "builder_label": "b", "authorized_keys": None},
     ["give exactly one", "image_bake_label", "image_bake_builder_label", "image_bake_authorized_keys"]),
])
def test_bake_problems_name_the_role_variable(changes, problems):
    found = engine.bake_problems(dict(BAKE_SETTINGS, **changes))
    assert len(found) == len(problems) and all(p in f for p, f in zip(problems, found))


VERIFY_SETTINGS = {"image": "private/100001", "tester_label": "verify-golden-1", "host_checks": True,
                   "authorized_keys": [KEY], "commands": ["true"]}


@pytest.mark.parametrize("changes, image_pending, problems", [
    ({}, False, []),
    ({"image": ""}, False, ["image_verify_image is required"]),
    ({"image": ""}, True, []),
    ({"tester_label": "verify golden"}, False, ["image_verify_tester_label must be 3-64 characters"]),
    ({"authorized_keys": []}, False, ["image_verify_authorized_keys is empty"]),
    ({"commands": "true"}, False, ["image_verify_commands must be a list of commands"]),
    ({"commands": ["true", " "]}, False, ["image_verify_commands must be a list of commands"]),
    ({"tasks": "checks.yml"}, False, ["image_verify_tasks must be an absolute path (got 'checks.yml')"]),
    ({"tasks": "/srv/checks.yml"}, False, []),
])
def test_verify_problems_name_the_role_variable(changes, image_pending, problems):
    found = engine.verify_problems(dict(VERIFY_SETTINGS, **changes), image_pending)
    assert len(found) == len(problems) and all(p in f for p, f in zip(problems, found))


# ---------------------------------------------------------------------------------------------- stages

CANDIDATE = "private/100001"
# What each stage's settings add: the image the node before it published, as AWX passes its artifacts.
STAGE_INPUTS = {"all": {}, "bake": {}, "verify": {"candidate_id": CANDIDATE, "candidate_label": "golden-20251231-235959"},
                "promote": {"verified_id": CANDIDATE, "verified_label": "golden-20251231-235959"}}
NOT_IN_JOB = "not in this job: golden_image_pipeline_stage=%s runs %s only"

# (stage, [(step, result before the first step, detail or None when it is the plan's line)])
STAGE_PLANS = [
    ("all", [("bake", "pending", None), ("verify", "pending", None), ("replicate", "pending", None),
             ("retention", "pending", None), ("publish", "pending", None)]),
    ("bake", [("bake", "pending", None), ("verify", "skipped", NOT_IN_JOB % ("bake", "bake")),
              ("replicate", "skipped", NOT_IN_JOB % ("bake", "bake")), ("retention", "skipped", NOT_IN_JOB % ("bake", "bake")),
              ("publish", "skipped", NOT_IN_JOB % ("bake", "bake"))]),
    ("verify", [("bake", "skipped", NOT_IN_JOB % ("verify", "verify")), ("verify", "pending", None),
                ("replicate", "skipped", NOT_IN_JOB % ("verify", "verify")),
                ("retention", "skipped", NOT_IN_JOB % ("verify", "verify")),
                ("publish", "skipped", NOT_IN_JOB % ("verify", "verify"))]),
    ("promote", [("bake", "skipped", NOT_IN_JOB % ("promote", "replicate, retention, publish")),
                 ("verify", "skipped", NOT_IN_JOB % ("promote", "replicate, retention, publish")),
                 ("replicate", "pending", None), ("retention", "pending", None), ("publish", "pending", None)]),
]


@pytest.mark.parametrize("stage, expected", STAGE_PLANS, ids=[c[0] for c in STAGE_PLANS])
def test_a_stage_runs_its_steps_and_skips_the_others_saying_why(stage, expected):
    state = engine.start(dict(BAKE, stage=stage, **STAGE_INPUTS[stage]))
    assert [(s["step"], s["result"]) for s in state["steps"]] == [(step, result) for step, result, _d in expected]
    for step, (_name, _result, detail) in zip(state["steps"], expected):
        assert step["detail"] == detail if detail else not step["detail"].startswith("not in this job")
    if stage == "verify":
        # The image is the candidate the bake node published; the test instance is this job's own.
        assert state["steps"][1]["detail"].startswith("boot golden-20251231-235959 on test instance "
                                                      "verify-golden-20260101-120000 in us-east")
    assert engine.planned(state) == [step for step, result, _d in expected if result == "pending"]
    assert state["stage"] == stage


def test_a_stage_keeps_the_steps_not_asked_for_skipped_for_their_own_reason():
    state = engine.start(dict(BAKE, stage="promote", regions=[], keep=None, **STAGE_INPUTS["promote"]))
    details = dict((s["step"], (s["result"], s["detail"])) for s in state["steps"])
    assert details["replicate"] == ("skipped", "no regions to replicate to (golden_image_regions)")
    assert details["retention"] == ("skipped", "golden_image_keep is not set: no image is deleted")
    assert details["publish"][0] == "pending"
    reference = engine.start(dict(BAKE, stage="bake", source="reference", reference="web-1", provision_role=None))
    assert results(reference)[0] == ("capture", "pending")
    assert reference["steps"][1]["detail"] == NOT_IN_JOB % ("bake", "capture")


BAKED = {"result": "baked", "image_id": CANDIDATE}
PROMOTED = [("replicate", REPLICATED), ("retention", PRUNED), ("publish", READ_BACK)]

# (stage, the answers of its steps, what set_stats publishes, the table's last line)
STAGE_RUNS = [
    ("bake", [("bake", BAKED)],
     {"golden_image_candidate_id": CANDIDATE, "golden_image_candidate_label": "golden-20260101-120000"},
     "golden image golden-20260101-120000: candidate private/100001, to be verified"),
    ("verify", [("verify", VERIFIED)],
     {"golden_image_verified_id": CANDIDATE, "golden_image_verified_label": "golden-20251231-235959",
      "golden_image_verification": {"image_id": CANDIDATE, "label": "golden-20251231-235959", "result": "verified",
                                    "reason": ""}},
     "golden image golden-20251231-235959: verified private/100001, to be promoted"),
    ("promote", PROMOTED, {"golden_image_id": CANDIDATE, "golden_image_label": "golden-20251231-235959"},
     "golden image golden-20251231-235959: published as private/100001"),
]


@pytest.mark.parametrize("stage, steps, published, summary", STAGE_RUNS, ids=[c[0] for c in STAGE_RUNS])
def test_each_stage_publishes_what_the_next_one_takes(stage, steps, published, summary):
    state = run(engine.start(dict(BAKE, stage=stage, **STAGE_INPUTS[stage])), *steps)
    assert engine.next_step(state) is None and not engine.fails(state)
    data = engine.stats(state)
    steps_key = "golden_image_%s_steps" % stage
    # Not golden_image_pipeline: as the next node's extra var it would override that node's own state.
    assert set(data) == set(published) | {steps_key} and "golden_image_pipeline" not in data
    assert dict((k, data[k]) for k in published) == published
    assert data[steps_key] == state["steps"]
    assert engine.table(state)[-1] == summary


@pytest.mark.parametrize("stage, failing, answer, unpublished", [
    ("bake", "bake", {"result": "failed", "reason": "Provision the builder: apt failed"}, "golden_image_candidate_id"),
    ("verify", "verify", {"result": "failed", "image_id": CANDIDATE, "reason": "command: true: exited 1"},
     "golden_image_verified_id"),
    ("verify", "verify", {"result": "error", "image_id": CANDIDATE, "reason": "the test instance was not created"},
     "golden_image_verified_id"),
    ("promote", "replicate", {"failed": True, "msg": "no region 'mars'"}, "golden_image_id"),
])
def test_a_stage_that_fails_publishes_no_id(stage, failing, answer, unpublished):
    state = engine.start(dict(BAKE, stage=stage, **STAGE_INPUTS[stage]))
    state = engine.advance(state, failing, answer)
    assert engine.fails(state) and engine.next_step(state) is None
    data = engine.stats(state)
    assert not {"golden_image_candidate_id", "golden_image_verified_id", "golden_image_id"} & set(data)
    assert unpublished not in data and engine.table(state)[-1].endswith("failed at %s" % failing)


def test_a_failed_verification_stage_publishes_the_verdict():
    state = engine.start(dict(BAKE, stage="verify", **STAGE_INPUTS["verify"]))
    state = engine.advance(state, "verify", {"result": "failed", "image_id": CANDIDATE, "reason": "boots: no"})
    assert engine.stats(state)["golden_image_verification"]["result"] == "failed" and state["verified"] is False


@pytest.mark.parametrize("stage, steps, summary", [
    ("bake", [("bake", {"result": "would_bake", "image_id": None})], "would be made as a candidate"),
    ("verify", [("verify", {"result": "would_verify", "checks": [{"check": "boots"}]})], "would be verified"),
    ("promote", [("replicate", {}), ("retention", {"kept": [], "deleted": []}), ("publish", {})],
     "would be promoted and published"),
])
def test_check_mode_per_stage_says_what_it_would_do_and_publishes_no_id(stage, steps, summary):
    state = run(engine.start(dict(BAKE, stage=stage), check_mode=True), *steps)
    assert [r for _s, r in results(state) if r != "skipped"] == ["would"] * len(steps)
    assert not {"golden_image_candidate_id", "golden_image_verified_id", "golden_image_id"} & set(engine.stats(state))
    assert engine.table(state)[-1].endswith("%s (check mode: nothing was written)" % summary)


def test_a_check_run_of_a_stage_without_its_image_names_the_node_that_would_publish_it():
    state = engine.start(dict(BAKE, stage="verify"), check_mode=True)
    assert state["image_id"] is None and state["label"] == "the image the bake node publishes"


@pytest.mark.parametrize("changes, check_mode, message", [
    ({"stage": "deploy"}, False, "golden_image_pipeline_stage must be one of all, bake, verify, promote (got 'deploy')"),
    ({"stage": "verify"}, False, "golden_image_pipeline_stage=verify needs golden_image_candidate_id"),
    ({"stage": "promote"}, False, "golden_image_pipeline_stage=promote needs golden_image_verified_id"),
    ({"stage": "promote", "candidate_id": CANDIDATE}, False, "needs golden_image_verified_id"),
    ({"stage": "verify", "candidate_id": "linode/debian12"}, False,
     "golden_image_candidate_id must be a private image id, private/<number> (got 'linode/debian12')"),
    ({"stage": "verify", "candidate_id": "linode/debian12"}, True, "golden_image_candidate_id must be a private image id"),
    ({"stage": "promote", "verified_id": "private/12; rm"}, False, "golden_image_verified_id must be a private image id"),
    ({"stage": "promote", "verified_id": 12}, False, "golden_image_verified_id must be a private image id, private/<number> (got 12)"),
    ({"stage": "bake", "provision_role": None}, False, "a bake needs exactly one of golden_image_provision_role"),
    ({"stage": "verify", "candidate_id": CANDIDATE, "region": ""}, False, "golden_image_region is required"),
])
def test_a_stage_refuses_a_missing_or_invalid_image_naming_the_variable(changes, check_mode, message):
    with pytest.raises(EngineError) as raised:
        engine.start(dict(BAKE, **changes), check_mode=check_mode)
    assert message in str(raised.value)


@pytest.mark.parametrize("stage, changes", [
    ("verify", {"provision_role": None}),  # the bake's settings are the bake node's business
    ("promote", {"provision_role": None, "region": ""}),  # promotion creates no instance
])
def test_a_stage_checks_only_what_it_uses(stage, changes):
    assert engine.start(dict(BAKE, stage=stage, **dict(STAGE_INPUTS[stage], **changes)))["stage"] == stage


def test_the_default_stage_is_the_whole_pipeline():
    assert engine.start(dict(BAKE, stage=""))["steps"] == engine.start(BAKE)["steps"]
    assert engine.start(BAKE)["stage"] == "all" and engine.start(BAKE)["image_id"] is None


@pytest.mark.parametrize("read_back, problem", [
    (READ_BACK, None),
    ({"images": [dict(READ_BACK["images"][0], tags=["golden", engine.VERIFY_FAILED_TAG])]},
     "golden_image_verified_id private/100001 cannot be promoted: private/100001 is available, without the "
     "golden_image.linode:verified tag"),
    ({"images": []}, "private/100001 does not exist any more"),
    ({"images": [dict(READ_BACK["images"][0], status="pending_upload")]}, "private/100001 is pending_upload"),
    ({"failed": True, "msg": "404 Not found"}, "reading private/100001 back: 404 Not found"),
])
def test_only_an_available_verified_image_is_promoted(read_back, problem):
    state = engine.start(dict(BAKE, stage="promote", **STAGE_INPUTS["promote"]))
    problems = engine.promote_problems(state, read_back)
    assert problems == ([] if problem is None else problems[:1]) and len(problems) == (0 if problem is None else 1)
    if problem:
        assert problem in problems[0]


@pytest.mark.parametrize("stage, check_mode", [("all", False), ("verify", False), ("promote", True)])
def test_promote_problems_check_nothing_outside_a_promotion_with_an_image(stage, check_mode):
    settings = dict(BAKE, stage=stage, **(STAGE_INPUTS[stage] if stage != "promote" else {}))
    assert engine.promote_problems(engine.start(settings, check_mode=check_mode), {"images": []}) == []
