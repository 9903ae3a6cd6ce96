"""Table-driven tests of the image_capture role's engine: every step from every result it can meet."""

from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.plugin_utils import capture_engine as engine

RUN = "r1"
DF_HEADER = "Filesystem Type 1-blocks Used Available Capacity Mounted on"


def df(fstype="ext4", used_mib=1000, mount="/", rc=0, **extra):
    line = "/dev/sda %s 25000000000 %d 20000000000 10%% %s" % (fstype, int(used_mib * engine.MIB), mount)
    return dict({"rc": rc, "stdout": DF_HEADER + "\n" + line, "stderr": ""}, **extra)


def outcome(result="pending", **changes):
    """One host's outcome, as the steps before would have left it: resolved, preflighted, running."""
    base = engine.start({"web-1": {"linode": 1001, "label": "web-1"}}, now=100.0)["web-1"]
    base.update(linode_label="web-1", linode_status="running", disk_id=2001, disk_label="boot", device="/dev/sda",
                new_capture=True, source={"linode_id": 1001, "disk_id": 2001}, result=result)
    base.update(changes)
    return base


def image(status="creating", image_id="private/9", size=0):
    return {"id": image_id, "status": status, "size": size, "label": "web-1"}


def power(status, changed=False, tags=(), **extra):
    return dict({"id": 1001, "status": status, "changed": changed, "restore_status": "running",
                 "instance": {"id": 1001, "tags": list(tags)}}, **extra)


MINE = "golden_image:%s:1700000000:running" % RUN
CLAIMED = {"error": "claimed by run other until later", "claimed_by": "other"}

# (name, step, host's outcome before, the step's answer, context, expected changes of the outcome)
CASES = [
    # preflight: applies to pending hosts only
    ("preflight: a new capture stays pending", "preflight", outcome(new_capture=False, source=None),
     {"captures": {"web-1": {"changed": True, "source": {"linode_id": 1001, "linode_label": "web-1", "linode_status": "running",
                                                         "disk_id": 2001, "disk_label": "boot", "device": "/dev/sda"},
                             "image": {"id": None, "label": "web-1", "size": 900, "status": None}}}}, {},
     {"result": "pending", "new_capture": True, "disk_id": 2001, "size": 900}),
    ("preflight: an available image as asked is unchanged", "preflight", outcome(),
     {"captures": {"web-1": {"changed": False, "source": {"linode_id": 1001, "disk_id": 2001},
                             "image": image("available", size=800)}}}, {},
     {"result": "unchanged", "image_id": "private/9", "new_capture": False}),
    ("preflight: an image still being made is pending (a killed run's)", "preflight", outcome(),
     {"captures": {"web-1": {"changed": False, "source": {"linode_id": 1001, "disk_id": 2001}, "image": image()}}}, {},
     {"result": "pending", "new_capture": False}),
    ("preflight: an entry's error refuses the host, on one line", "preflight", outcome(linode_id=None, linode_label="web-1"),
     {"captures": {"web-1": {"error": "disk 2001 is swap:\r\n  Linode captures\text3/ext4 only"}}},
     {"known_instances": [{"id": 1001, "label": "web-1"}]},
     {"result": "refused", "reason": "disk 2001 is swap: Linode captures ext3/ext4 only", "linode_id": 1001}),
    ("preflight: no answer for the host refuses it with the module's msg", "preflight", outcome(),
     {"msg": "token invalid", "captures": {}}, {}, {"result": "refused", "reason": "token invalid"}),
    ("preflight: no answer at all", "preflight", outcome(), {}, {},
     {"result": "refused", "reason": "the preflight gave no answer for this host"}),
    ("preflight: leaves a refused host alone", "preflight", outcome("refused", reason="x"), {}, {}, {"result": "refused", "reason": "x"}),
    # host checks: pending new captures of running instances with checks on
    ("host checks: ext4 well below the limit passes", "host_checks", outcome(), {"web-1": df()}, {}, {"result": "pending"}),
    ("host checks: xfs is refused", "host_checks", outcome(), {"web-1": df("xfs")}, {},
     {"result": "refused", "reason": "host checks: / is xfs, and Linode captures only ext3/ext4 disks"}),
    ("host checks: used at 90% of the limit is refused", "host_checks", outcome(), {"web-1": df(used_mib=5529.6)}, {},
     {"result": "refused", "reason": 'host checks: df "Used" of / is 5529.6 MiB, not below 5529.6 MiB, 90.0% of the 6144 MiB '
                                     "image size limit: Linode would delete the image"}),
    ("host checks: just below 90% passes", "host_checks", outcome(), {"web-1": df(used_mib=5529.5)}, {}, {"result": "pending"}),
    ("host checks: a smaller limit and margin", "host_checks", outcome(), {"web-1": df(used_mib=900)},
     {"size_limit": 1000, "margin": 0.2}, {"result": "refused"}),
    ("host checks: unreachable", "host_checks", outcome(), {"web-1": {"unreachable": True, "msg": "ssh: timed out"}}, {},
     {"result": "refused", "reason": "host checks: does not answer over SSH: ssh: timed out"}),
    ("host checks: df failed", "host_checks", outcome(mount="/data"), {"web-1": {"rc": 1, "stdout": "", "stderr": "no such dir"}}, {},
     {"result": "refused", "reason": "host checks: df /data failed: no such dir"}),
    ("host checks: a checked host with no answer is refused", "host_checks", outcome(), {}, {},
     {"result": "refused", "reason": "host checks: the disk was not checked (no answer from the host)"}),
    ("host checks: an offline instance is not checked", "host_checks", outcome(linode_status="offline"), {}, {}, {"result": "pending"}),
    ("host checks: checks off", "host_checks", outcome(host_checks=False), {"web-1": {"skipped": True}}, {}, {"result": "pending"}),
    ("host checks: an existing image is not checked", "host_checks", outcome(new_capture=False), {}, {}, {"result": "pending"}),
    # record: to_stop hosts
    ("record: keeps the state to restore", "record", outcome(), {"instances": {"1001": power("running")}}, {},
     {"result": "pending", "restore_status": "running"}),
    ("record: another run's claim fails the host with the take-over hint", "record", outcome(),
     {"instances": {"1001": power("offline", **CLAIMED)}}, {},
     {"result": "failed", "reason": "power state: claimed by run other until later" + engine.TAKE_OVER_HINT % "other"}),
    ("record: the module failed as a whole", "record", outcome(), {"msg": "503 from the API"}, {},
     {"result": "failed", "reason": "power state: 503 from the API"}),
    ("record: not shut down (shutdown off)", "record", outcome(shutdown=False), {}, {}, {"result": "pending", "restore_status": None}),
    ("record: an instance refused for its status is refused, not failed, and records nothing", "record", outcome(),
     {"instances": {"1001": power("migrating", restore_status=None, refused_status="migrating",
                                  error="migrating: try again when it is running or offline")}}, {},
     {"result": "refused", "reason": "Linode web-1 (1001) is migrating: try again when it is running or offline",
      "restore_status": None}),
    ("record: someone else's shutdown under way is refused", "record", outcome(),
     {"instances": {"1001": power("shutting_down", refused_status="shutting_down", error="shutting_down: try again")}}, {},
     {"result": "refused", "reason": "Linode web-1 (1001) is shutting_down: try again", "restore_status": None}),
    # shutdown
    ("shutdown: offline with this run's claim", "shutdown", outcome(), {"instances": {"1001": power("offline", True, [MINE])}},
     {"run_id": RUN}, {"result": "pending", "acted": ["shutdown"]}),
    ("shutdown: still running", "shutdown", outcome(), {"instances": {"1001": power("running", False, [MINE])}}, {"run_id": RUN},
     {"result": "failed", "reason": "shutdown: Linode 1001 is running, not offline"}),
    ("shutdown: a later run's claim over ours", "shutdown", outcome(),
     {"instances": {"1001": power("offline", True, ["golden_image:late:1:running"])}}, {"run_id": RUN},
     {"result": "failed", "reason": "shutdown: another run claimed the instance after this one (its tags: golden_image:late:1:running)",
      "acted": ["shutdown"]}),
    ("shutdown: an error", "shutdown", outcome(), {"instances": {"1001": power("running", error="Linode busy.")}}, {"run_id": RUN},
     {"result": "failed", "reason": "shutdown: Linode busy."}),
    ("shutdown: found migrating since the record, refused before any write", "shutdown", outcome(restore_status="running"),
     {"instances": {"1001": power("migrating", refused_status="migrating", error="migrating: try again")},
      "msg": "Linode 1001: migrating: try again"}, {"run_id": RUN},
     {"result": "refused", "reason": "Linode web-1 (1001) is migrating: try again", "acted": []}),
    ("shutdown: the module failed as a whole", "shutdown", outcome(), {"msg": "timeout"}, {"run_id": RUN},
     {"result": "failed", "reason": "shutdown: timeout"}),
    # check mode
    ("check mode: a new capture", "check_mode", outcome(), {}, {}, {"result": "would_capture"}),
    ("check mode: a killed run's capture", "check_mode", outcome(new_capture=False, image=image()), {}, {}, {"result": "would_resume"}),
    ("check mode: new tags", "check_mode", outcome(new_capture=False, image=image("available")), {}, {}, {"result": "would_update"}),
    ("check mode: refused", "check_mode", outcome("refused", reason="r"), {}, {}, {"result": "would_refuse", "reason": "r"}),
    ("check mode: failed", "check_mode", outcome("failed", reason="f"), {}, {}, {"result": "would_fail"}),
    ("check mode: unchanged stays", "check_mode", outcome("unchanged"), {}, {}, {"result": "unchanged"}),
    # capture
    ("capture: started", "capture", outcome(), {"captures": {"web-1": {"changed": True, "image": image()}}}, {},
     {"result": "capturing", "image_id": "private/9", "acted": ["capture"]}),
    ("capture: found a killed run's", "capture", outcome(new_capture=False), {"captures": {"web-1": {"changed": False, "image": image()}}},
     {}, {"result": "capturing", "acted": []}),
    ("capture: tags updated", "capture", outcome(new_capture=False),
     {"captures": {"web-1": {"changed": True, "image": image("available", size=5)}}}, {},
     {"result": "updated", "acted": ["update"], "size": 5}),
    ("capture: an entry's error", "capture", outcome(), {"captures": {"web-1": {"error": "Linode 1001 is running"}}}, {},
     {"result": "failed", "reason": "capture: Linode 1001 is running"}),
    ("capture: no answer", "capture", outcome(), {"msg": "boom"}, {}, {"result": "failed", "reason": "capture: boom"}),
    # wait
    ("wait: available", "wait", outcome("capturing", image_id="private/9", image=image()),
     {"available": {"private/9": image("available", size=1500)}, "errors": {}}, {}, {"result": "captured", "size": 1500}),
    ("wait: a killed run's, available", "wait", outcome("capturing", image_id="private/9", new_capture=False),
     {"available": {"private/9": image("available", size=10)}}, {}, {"result": "resumed"}),
    ("wait: failed", "wait", outcome("capturing", image_id="private/9"), {"available": {}, "errors": {"private/9": "deleted by Linode"}},
     {}, {"result": "failed", "reason": "capture: deleted by Linode"}),
    ("wait: timed out", "wait", outcome("capturing", image_id="private/9"), {"msg": "not available within 60 s"}, {},
     {"result": "failed", "reason": "capture: not available within 60 s"}),
    ("wait: leaves a pending host alone", "wait", outcome(), {"available": {}}, {}, {"result": "pending"}),
    # error (the rescue)
    ("error: a pending host fails", "error", outcome(), {"msg": "unexpected\nfailure"}, {},
     {"result": "failed", "reason": "unexpected failure"}),
    ("error: a captured host stays captured", "error", outcome("captured"), {"msg": "x"}, {}, {"result": "captured"}),
    # restore: every host
    ("restore: booted back", "restore", outcome("captured", restore_status="running"),
     {"instances": {"1001": power("running", True)}}, {"now": 160.0},
     {"result": "captured", "acted": ["boot"], "booted": True, "duration_s": 60.0}),
    ("restore: not back running fails the host", "restore", outcome("captured", restore_status="running"),
     {"instances": {"1001": power("offline", error="Linode busy.")}}, {},
     {"result": "failed", "reason": "power back on: Linode busy."}),
    ("restore: appends to an earlier reason", "restore", outcome("failed", reason="capture: x", restore_status="running"),
     {"instances": {"1001": power("offline")}}, {},
     {"result": "failed", "reason": "capture: x; power back on: Linode 1001 is offline, not running"}),
    ("restore: the module failed as a whole", "restore", outcome("captured", restore_status="running"), {"msg": "401"}, {},
     {"result": "failed", "reason": "power back on: 401"}),
    ("restore: another run's instance is not failed twice", "restore",
     outcome("failed", reason="power state: claimed", restore_status=None),
     {"instances": {"1001": power("offline", **CLAIMED)}}, {}, {"result": "failed", "reason": "power state: claimed"}),
    ("restore: an instance left offline by its owner stays so", "restore", outcome("captured", restore_status="offline"),
     {"instances": {"1001": power("offline")}}, {}, {"result": "captured", "booted": False}),
    ("restore: a refused host has nothing to restore", "restore", outcome("refused", reason="r"), {"instances": {}}, {},
     {"result": "refused", "reason": "r"}),
    # ssh
    ("ssh: answered", "ssh", outcome("captured", booted=True), {"web-1": {"elapsed": 3}}, {"timeout": 300}, {"result": "captured"}),
    ("ssh: did not answer", "ssh", outcome("captured", booted=True), {"web-1": {"msg": "timed out waiting for ping"}},
     {"timeout": 300}, {"result": "failed", "reason": "SSH did not answer within 300 s of the boot: timed out waiting for ping"}),
    ("ssh: skipped", "ssh", outcome("captured", booted=False), {"web-1": {"skipped": True}}, {}, {"result": "captured"}),
    # replicate
    ("replicate: done", "replicate", outcome("captured"), {"web-1": {"image": image("available")}}, {}, {"result": "captured"}),
    ("replicate: failed", "replicate", outcome("captured"), {"web-1": {"msg": "region xx-yy unknown"}}, {},
     {"result": "failed", "reason": "replication: region xx-yy unknown"}),
]


@pytest.mark.parametrize("name, step, before, answer, context, expected", CASES, ids=[case[0] for case in CASES])
def test_step(name, step, before, answer, context, expected):
    state = {"web-1": before}
    after = engine.advance(state, step, answer, **context)["web-1"]
    assert dict((key, after[key]) for key in expected) == expected
    assert state["web-1"] is before and state["web-1"]["result"] == before["result"], "the state given is never changed"


def test_every_step_and_every_result_is_in_the_table():
    assert set(case[1] for case in CASES) == set(engine.STEPS)
    reached = set(case[5].get("result") for case in CASES) | set(case[2]["result"] for case in CASES)
    assert reached == engine.RESULTS - {engine.PENDING} | {engine.PENDING}


ILLEGAL = [
    ("an unknown step", "bake", outcome(), {}, "unknown step 'bake'"),
    ("an unknown result", "wait", outcome("done"), {}, "unknown result 'done'"),
    ("a capture answer for a host that is not pending", "capture", outcome("refused"),
     {"captures": {"web-1": {"changed": True, "image": image()}}}, "capture: answer for web-1"),
    ("a preflight answer for a host that was not asked", "preflight", outcome(), {"captures": {"web-9": {}}}, "answer for web-9"),
    ("a shutdown answer for an instance not to stop", "shutdown", outcome(shutdown=False),
     {"instances": {"1001": power("offline")}}, "shutdown: answer for 1001"),
    ("a power answer as a list (the old shape)", "record", outcome(), {"instances": [power("running")]}, "must be a dict"),
    ("a df answer for a host whose disk is not checked", "host_checks", outcome(linode_status="offline"), {"web-1": df()},
     "whose disk is not to be checked"),
    ("an SSH answer for a host not booted", "ssh", outcome("captured", booted=False), {"web-1": {"elapsed": 1}}, "did not boot"),
    ("a replication for a failed host", "replicate", outcome("failed"), {"web-1": {"image": {}}}, "no image to replicate"),
]


@pytest.mark.parametrize("name, step, before, answer, message", ILLEGAL, ids=[case[0] for case in ILLEGAL])
def test_illegal_transition_is_refused(name, step, before, answer, message):
    with pytest.raises(engine.EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.advance({"web-1": before}, step, answer)


def test_start_parses_ids_and_labels():
    state = engine.start({"a": {"linode": "1001", "disk": "boot", "label": "a", "tags": ["t1"]},
                          "b": {"linode": "web-b", "disk": 7, "label": "b", "description": ""}}, now=5)
    assert state["a"]["entry"] == {"name": "a", "linode_id": 1001, "disk_label": "boot", "label": "a", "description": None,
                                   "tags": ["t1"], "cloud_init": False}
    assert state["b"]["entry"]["linode_label"] == "web-b" and state["b"]["entry"]["disk_id"] == 7
    assert (state["a"]["linode_id"], state["b"]["linode_label"], state["a"]["result"]) == (1001, "web-b", "pending")
    with pytest.raises(engine.EngineError, match="image_capture_linode of c is empty"):
        engine.start({"c": {"linode": " "}}, now=0)


def test_views_select_what_each_step_acts_on():
    state = {
        "a": outcome(linode_id=1, host="a", entry={"name": "a"}),
        "b": outcome(linode_id=2, host="b", shutdown=False, entry={"name": "b"}),
        "c": outcome("capturing", linode_id=3, host="c", image=image(image_id="private/3")),
        "d": outcome("refused", linode_id=None, host="d", host_checks=False),
        "e": outcome(linode_id=5, host="e", linode_status="offline", booted=True, entry={"name": "e"}),
    }
    assert engine.to_stop(state) == [1, 5]
    assert engine.to_check(state) == ["a", "b"]
    assert [i["id"] for i in engine.capturing_images(state)] == ["private/3"]
    assert engine.linode_ids(state) == [1, 2, 3, 5]
    assert engine.booted(state) == ["e"] and engine.unchecked(state) == ["d"]
    assert [e["name"] for e in engine.capture_entries(state)] == ["a", "b", "e"]


def test_report_rows_changed_and_table():
    first = {"a": outcome("captured", host="a", image_id="private/1", size=900, duration_s=61.0, acted=["shutdown", "capture", "boot"])}
    second = {"b": outcome("refused", host="b", reason="host checks: / is xfs"), "c": outcome("would_capture", host="c")}
    rows = engine.report([first, second, first])
    expected = [("a", "captured", True), ("b", "refused", False), ("c", "would_capture", True)]
    assert [(r["host"], r["result"], r["changed"]) for r in rows] == expected
    assert set(rows[0]) == set(engine.REPORT_KEYS) | {"changed", "fails"}
    assert [r["fails"] for r in rows] == [False, True, False]
    assert engine.report({"d": outcome("would_refuse", host="d")}, host="d")["fails"]
    assert engine.report(second, host="b")["reason"] == "host checks: / is xfs"
    with pytest.raises(engine.EngineError):
        engine.report(second, host="zz")
    lines = engine.table(rows)
    assert lines[0].split() == ["HOST", "INSTANCE", "DISK", "IMAGE", "SIZE", "MB", "SECONDS", "RESULT"]
    assert lines[2].endswith("refused: host checks: / is xfs") and "would capture" in lines[3]
    assert lines[-1] == "3 hosts: 1 captured, 1 refused, 1 would capture"
    assert all("\n" not in line for line in lines)
