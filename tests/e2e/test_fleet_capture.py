"""End to end: ``ansible-playbook golden_image.linode.capture`` over real SSH hosts and the emulator.

Five hosts, each a real sshd on 127.0.0.1 with a loop-mounted disk (see harness.PLANS): two good
ones, one whose ext4 disk is over the image size limit, one whose mount is not ext3/ext4 (tmpfs),
and one whose Linode root disk is raw. Powering a Linode off in the emulator kills its sshd.

Each scenario starts from the fleet file's state (emulator reset, every sshd up) and records what
it needs (report, request log slice, power hook events, final state, SSH logins) before the next
one runs, so the assertions below read snapshots and do not depend on test order.

A run claims the instances it shuts down with a tag ``golden_image:<run id>:<time>:<status>``; the
runs killed below are given a known run id, so that the reruns can be checked against it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

import harness

REASON_PATTERNS = {
    "over_limit": r"(?i)limit|used|size|space|MiB",
    "not_ext": r"(?i)ext3|ext4|filesystem|tmpfs",
    "raw_disk": r"(?i)raw|ext3|ext4|filesystem",
}
POWER_PATH = r"^/v4(beta)?/linode/instances/{id}/(shutdown|boot|reboot)$"
INSTANCE_PATH = r"^/v4(beta)?/linode/instances/{id}$"
CAPTURE_PATH = harness.CAPTURE_PATH
CLAIM_TAG = r"^golden_image:{run_id}:\d+:running$"
# Run ids (1-12 letters, digits, . _ -) of the runs the scenarios kill or race.
KILLED_DURING_CAPTURE = "killed-cap"
KILLED_DURING_RESTORE = "killed-boot"
SIDE_BY_SIDE = ("race-first", "race-second")


@dataclass
class Snapshot:
    """What a scenario left: the run, the emulator's state after it, which hosts answer SSH."""

    run: harness.Run
    state: dict
    answers: dict[str, bool]


def snapshot(world: harness.World, run: harness.Run) -> Snapshot:
    return Snapshot(run, world.emulator.state(), {host.name: host.answers() for host in world.hosts})


@pytest.fixture(scope="module")
def checked(world, capture_playbook):  # pylint: disable=unused-argument
    """``--check`` on a fresh account, as the README says to run first."""
    world.prepare()
    return snapshot(world, world.run_playbook("check", args=("--check",)))


@pytest.fixture(scope="module")
def capture_then_rerun(world, capture_playbook):  # pylint: disable=unused-argument
    """A first run on a fresh account, then the same run again."""
    world.prepare()
    first = snapshot(world, world.run_playbook("first"))
    second = snapshot(world, world.run_playbook("rerun"))
    return first, second


@dataclass
class KilledThenRerun:
    """A run SIGKILLed at some point, a plain rerun (optional), then a rerun that takes its claims over."""

    killed: harness.Run
    state_at_kill: dict
    answers_at_kill: dict[str, bool]
    plain: Snapshot | None
    take_over: Snapshot


def kill_then_rerun(world: harness.World, run_id: str, kill, plain_rerun: bool) -> KilledThenRerun:
    """``kill(name, extra_vars)`` runs and kills the first run; the reruns follow as a user would."""
    world.prepare()
    killed, state_at_kill = kill(run_id, {"image_capture_run_id": run_id})
    answers_at_kill = {host.name: host.answers() for host in world.hosts}
    plain = snapshot(world, world.run_playbook(f"{run_id}-plain-rerun")) if plain_rerun else None
    take_over = snapshot(world, world.run_playbook(f"{run_id}-take-over", {"image_capture_take_over": [run_id]}))
    return KilledThenRerun(killed, state_at_kill, answers_at_kill, plain, take_over)


@pytest.fixture(scope="module")
def killed_then_rerun(world, capture_playbook):  # pylint: disable=unused-argument
    """A run SIGKILLed while a good host's image is being captured, a plain rerun, then one with take_over."""
    good_labels = {host.image_label for host in world.of_kind("good")}
    return kill_then_rerun(world, KILLED_DURING_CAPTURE,
                           lambda name, extra: world.run_killed_during_capture(name, good_labels, extra), plain_rerun=True)


@pytest.fixture(scope="module")
def killed_during_restore(world, capture_playbook):  # pylint: disable=unused-argument
    """A run SIGKILLed once its first boot request reached the API, then a rerun with take_over."""
    return kill_then_rerun(world, KILLED_DURING_RESTORE, world.run_killed_during_restore, plain_rerun=False)


@pytest.fixture(scope="module")
def side_by_side(world, capture_playbook):  # pylint: disable=unused-argument
    """Two runs on the same fleet started 2 s apart (two AWX jobs, two operators), each with its own token."""
    world.prepare()
    first, second = world.run_side_by_side(*((run_id, {"image_capture_run_id": run_id}) for run_id in SIDE_BY_SIDE), delay_s=2.0)
    # Both runs' requests and hook events are in each slice: the whole log since the reset is the record.
    return first, snapshot(world, second)


def images_labelled(state: dict, label: str) -> list[dict]:
    return [image for image in state["images"] if image["label"] == label]


def linode_status(state: dict, linode_id: int) -> str:
    return next(linode["status"] for linode in state["linodes"] if linode["id"] == linode_id)


def power_posts(run: harness.Run, host: harness.Host) -> list[dict]:
    return run.posts(POWER_PATH.format(id=host.linode_id))


def assert_all_back(world: harness.World, snap: Snapshot) -> None:
    """Every instance ends running (its original state) and its sshd lets root in."""
    statuses = {host.name: linode_status(snap.state, host.linode_id) for host in world.hosts}
    assert statuses == {host.name: "running" for host in world.hosts}, f"{statuses}\n{snap.run.tail()}"
    assert all(snap.answers.values()), f"SSH does not answer: {snap.answers}\n{snap.run.tail()}"


def assert_refused_untouched(world: harness.World, *runs: harness.Run) -> None:
    for run in runs:
        for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
            assert power_posts(run, host) == [], f"{run.name}: {host.name} was powered: {power_posts(run, host)}"
            assert [event for event in run.hook_events if event["host"] == host.name] == [], f"{run.name}: {host.name}'s sshd was stopped"


def golden_tags(state: dict, host: harness.Host) -> list[str]:
    """The instance's claim or restore tags (``golden_image:...``, ``golden_image.linode:restore=running``)."""
    return [tag for tag in next(linode for linode in state["linodes"] if linode["id"] == host.linode_id)["tags"]
            if tag.startswith("golden_image")]


def assert_no_claim_left(world: harness.World, snap: Snapshot) -> None:
    left = {host.name: golden_tags(snap.state, host) for host in world.hosts if golden_tags(snap.state, host)}
    assert left == {}, f"{snap.run.name} left claim or restore tags: {left}\n{snap.run.tail()}"


def assert_one_image_per_good_host(world: harness.World, snap: Snapshot) -> None:
    for host in world.of_kind("good"):
        images = images_labelled(snap.state, host.image_label)
        assert len(images) == 1, f"{snap.run.name}: {host.name}: {images}\n{snap.run.tail()}"
        assert images[0]["status"] == "available", images
        assert f"source=linode:{host.linode_id},disk:{host.disk_id}" in images[0]["tags"], images[0]
    for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
        assert images_labelled(snap.state, host.image_label) == []


def power_events(state: dict, linode_id: int) -> list[dict]:
    return [event for event in state["events"] if event["entity"]["id"] == linode_id
            and event["action"] in ("linode_shutdown", "linode_boot", "linode_reboot")]


def assert_captured_offline(state: dict) -> None:
    """Every capture the emulator started found its instance shut down, by the same API user.

    The emulator refuses a capture while a power job runs ("Linode busy."), so the power event just
    before a capture (events are numbered in order) says how the instance was: a finished
    ``linode_shutdown`` means offline; a boot, or none at all, means it was captured running.
    """
    for capture in (event for event in state["events"] if event["action"] == "disk_imagize"):
        before = [event for event in power_events(state, capture["entity"]["id"]) if event["id"] < capture["id"]]
        last = max(before, key=lambda event: event["id"], default=None)
        assert last is not None and last["action"] == "linode_shutdown" and last["status"] == "finished", (
            f"capture {capture} of an instance that was not shut down; its power events before: {before}")
        assert last["username"] == capture["username"], f"captured by one user, shut down by another: {capture}, {last}"


def assert_refused_for_claim(run: harness.Run, host: harness.Host, claimant: str, way_out: bool) -> None:
    """The host failed, in the report, the play's recap and its own fatal line, with a reason naming the claiming
    run (and, ``way_out``, the role variable that takes a killed run's claims over) on the host's line of the
    table, the one place a reason is shown."""
    needles = [f"run {claimant}"] + (["image_capture_take_over"] if way_out else [])
    row = run.rows()[host.name]
    assert row["result"] in ("failed", "refused"), row
    assert all(needle in row["reason"] for needle in needles), (needles, row)
    assert run.recap()[host.name]["failed"] >= 1, run.recap()
    fatal = [line for line in run.output.splitlines() if line.startswith(f"fatal: [{host.name}]")]
    assert fatal and all("table above" in line for line in fatal), f"{fatal}\n{run.tail()}"
    table = [line for line in run.output.splitlines() if re.match(rf'^\s*"{re.escape(host.name)} ', line)]
    assert len(table) == 1 and all(needle in table[0] for needle in needles), f"{needles}: {table}\n{run.tail()}"
    # The table is a list printed as JSON: the reason appears there, JSON-escaped, and nowhere else (hosts
    # refused for the same claim share a reason: once on each one's line).
    shown = json.dumps(row["reason"])[1:-1]
    lines = [line for line in run.output.splitlines() if re.match(r'^\s*"\S+ ', line) and shown in line]
    assert run.output.count(shown) == len(lines) and any(line.strip().startswith(f'"{host.name} ') for line in lines), (
        f"the reason is shown outside the table\n{run.tail()}")


# --------------------------------------------------------------------------- check mode

def test_check_mode_writes_nothing_and_leaves_every_host_up(world, checked):
    writes = [entry for entry in checked.run.requests if entry["method"] != "GET"]
    assert writes == [], writes
    assert checked.run.hook_events == [], "check mode powered an instance"
    assert [image for image in checked.state["images"] if image["label"] in {h.image_label for h in world.hosts}] == []
    assert_all_back(world, checked)


def test_check_mode_says_what_would_happen_to_each_host(world, checked):
    rows = checked.run.rows()
    for host in world.of_kind("good"):
        assert rows[host.name]["result"] == "would_capture", rows[host.name]
    for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
        assert rows[host.name]["result"] == "would_refuse", rows[host.name]
        assert re.search(REASON_PATTERNS[host.plan.kind], rows[host.name]["reason"]), rows[host.name]
        line = [line for line in checked.run.output.splitlines() if re.match(rf'^\s*"{re.escape(host.name)} ', line)]
        assert len(line) == 1 and "would refuse: " in line[0], line
    # Hosts would be refused, so the check fails, each refused host once, the others not at all.
    assert checked.run.returncode == 2, checked.run.tail()
    recap = checked.run.recap()
    assert {name for name, counts in recap.items() if counts.get("failed")} == {
        host.name for host in world.of_kind("over_limit", "not_ext", "raw_disk")}, recap
    assert all(recap[host.name]["changed"] == 1 for host in world.of_kind("good")), recap


# --------------------------------------------------------------------------- first run


def test_first_run_exits_non_zero_because_hosts_were_refused(world, capture_then_rerun):
    first = capture_then_rerun[0].run
    assert first.returncode not in (0, None), first.tail()
    recap = first.recap()
    for host in world.hosts:
        assert recap[host.name]["unreachable"] == 0, (host.name, recap)
        failed = recap[host.name]["failed"]
        assert (failed == 0) if host.plan.kind == "good" else (failed >= 1), f"{host.name}: {recap}\n{first.tail()}"


def test_first_run_gives_each_good_host_exactly_one_image(world, capture_then_rerun):
    first = capture_then_rerun[0]
    rows = first.run.rows()
    for host in world.of_kind("good"):
        images = images_labelled(first.state, host.image_label)
        assert len(images) == 1, (host.name, images)
        image = images[0]
        assert image["status"] == "available", image
        row = rows[host.name]
        assert row["result"] == "captured", row
        assert row["image_id"] == image["id"], (row, image)
        assert (row["linode_id"], row["disk_id"]) == (host.linode_id, host.disk_id), row
    # One capture request per good host, none for the others.
    captures = [entry for entry in first.run.posts(CAPTURE_PATH) if entry["status"] == 200]
    assert len(captures) == len(world.of_kind("good")), captures


def test_first_run_powers_good_hosts_off_for_real_and_back(world, capture_then_rerun):
    first = capture_then_rerun[0].run
    for host in world.of_kind("good"):
        paths = [entry["path"].rsplit("/", 1)[-1] for entry in power_posts(first, host) if entry["status"] == 200]
        assert paths == ["shutdown", "boot"], (host.name, power_posts(first, host))
        events = [(event["action"], event["outcome"]) for event in first.hook_events if event["host"] == host.name]
        assert events == [("stop", "ok"), ("start", "ok")], (host.name, events)


def test_first_run_never_powers_refused_hosts_and_reports_why(world, capture_then_rerun):
    first = capture_then_rerun[0]
    assert_refused_untouched(world, first.run)
    rows = first.run.rows()
    assert set(rows) == {host.name for host in world.hosts}, rows
    for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
        row = rows[host.name]
        assert row["result"] == "refused", row
        assert re.search(REASON_PATTERNS[host.plan.kind], row["reason"] or ""), row
        assert row["image_id"] in (None, "", "-"), row
        assert images_labelled(first.state, host.image_label) == []
        # The play's table shows the refusal too.
        assert any(host.name in line and "refused" in line for line in first.run.output.splitlines()), first.run.tail()


def test_first_run_leaves_every_instance_as_it_found_it(world, capture_then_rerun):
    assert_all_back(world, capture_then_rerun[0])


def test_first_run_lists_images_a_constant_number_of_times(world, capture_then_rerun):
    first = capture_then_rerun[0].run
    lists = [entry for entry in first.requests if entry["method"] == "GET" and re.search(CAPTURE_PATH, entry["path"])]
    assert len(lists) < len(world.hosts), f"{len(lists)} GET /images for {len(world.hosts)} hosts"


# --------------------------------------------------------------------------- rerun


def test_rerun_changes_nothing_and_shuts_nothing_down(world, capture_then_rerun):
    first, second = capture_then_rerun
    posts = second.run.posts(r"/(shutdown|boot|reboot)$") + second.run.posts(CAPTURE_PATH)
    assert posts == [], posts
    assert second.run.hook_events == [], second.run.hook_events
    assert second.state["images"] == first.state["images"]
    # Nothing reports a change, except writing the report file this run was asked for (a new file each run).
    changed = [(task, host) for task, host in second.run.changed_tasks() if not re.search(r"(?i)\breport\b", task)]
    assert changed == [], f"tasks that changed something on a rerun: {changed}"
    recap = second.run.recap()
    assert set(recap) == {host.name for host in world.hosts}, second.run.tail()
    rows, first_rows = second.run.rows(), first.run.rows()
    for host in world.of_kind("good"):
        assert rows[host.name]["result"] == "unchanged", rows[host.name]
        assert rows[host.name]["image_id"] == first_rows[host.name]["image_id"]
    for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
        assert rows[host.name]["result"] == "refused", rows[host.name]
    assert second.run.returncode not in (0, None)


def test_rerun_leaves_every_instance_as_it_found_it(world, capture_then_rerun):
    assert_all_back(world, capture_then_rerun[1])


# --------------------------------------------------------------------------- killed run


def test_run_was_killed_while_a_good_host_was_offline_and_capturing(world, killed_then_rerun):
    killed, state_at_kill = killed_then_rerun.killed, killed_then_rerun.state_at_kill
    answers_at_kill = killed_then_rerun.answers_at_kill
    assert killed.returncode == -9, killed.returncode
    creating = [image["label"] for image in state_at_kill["images"] if image["status"] == "creating"]
    capturing = [host for host in world.of_kind("good") if host.image_label in creating]
    assert capturing, state_at_kill["images"]
    for host in capturing:
        # Captured offline: the emulator says so, and the host really is down.
        assert linode_status(state_at_kill, host.linode_id) == "offline"
        assert not answers_at_kill[host.name]
    # The second capture request hung (harness.World.run_killed_during_capture): one good host had no image yet.
    assert len(capturing) < len(world.of_kind("good")), state_at_kill["images"]
    # Every good host is off under the killed run's claim, which records that it ran.
    for host in world.of_kind("good"):
        assert linode_status(state_at_kill, host.linode_id) == "offline", host.name
        tags = golden_tags(state_at_kill, host)
        assert len(tags) == 1 and re.match(CLAIM_TAG.format(run_id=KILLED_DURING_CAPTURE), tags[0]), (host.name, tags)


def test_plain_rerun_after_kill_refuses_the_claimed_hosts_loudly(world, killed_then_rerun):
    plain, state_at_kill = killed_then_rerun.plain, killed_then_rerun.state_at_kill
    assert plain.run.returncode not in (0, None), plain.run.tail()
    captures = plain.run.posts(CAPTURE_PATH)
    assert captures == [], f"a capture while another run claims the instances: {captures}"
    for host in world.of_kind("good"):
        assert_refused_for_claim(plain.run, host, KILLED_DURING_CAPTURE, way_out=True)
        assert power_posts(plain.run, host) == [], (host.name, power_posts(plain.run, host))
        # The claim is left exactly as the killed run wrote it: no tag write, no power hook.
        writes = [entry for entry in plain.run.requests
                  if entry["method"] == "PUT" and re.search(INSTANCE_PATH.format(id=host.linode_id), entry["path"])]
        assert writes == [], (host.name, writes)
        assert golden_tags(plain.state, host) == golden_tags(state_at_kill, host), host.name
        assert [event for event in plain.run.hook_events if event["host"] == host.name] == [], host.name
        assert linode_status(plain.state, host.linode_id) == "offline", host.name
        # The capture the killed run started may finish meanwhile; none is added.
        assert len(images_labelled(plain.state, host.image_label)) <= 1, images_labelled(plain.state, host.image_label)


def test_take_over_after_kill_ends_with_one_image_per_good_host(world, killed_then_rerun):
    after = killed_then_rerun.take_over
    assert_one_image_per_good_host(world, after)
    rows = after.run.rows()
    for host in world.of_kind("good"):
        image = images_labelled(after.state, host.image_label)[0]
        assert rows[host.name]["result"] in ("captured", "resumed", "unchanged"), rows[host.name]
        assert rows[host.name]["image_id"] == image["id"], (rows[host.name], image)
    for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
        assert rows[host.name]["result"] == "refused", rows[host.name]
    assert_captured_offline(after.state)


def test_take_over_after_kill_powers_every_instance_back(world, killed_then_rerun):
    after = killed_then_rerun.take_over
    assert_all_back(world, after)
    assert_no_claim_left(world, after)
    assert_refused_untouched(world, killed_then_rerun.killed, killed_then_rerun.plain.run, after.run)


# --------------------------------------------------------------------------- killed during the restore


def test_run_was_killed_during_the_restore_with_every_good_host_off(world, killed_during_restore):
    killed, state_at_kill = killed_during_restore.killed, killed_during_restore.state_at_kill
    answers_at_kill = killed_during_restore.answers_at_kill
    assert killed.returncode == -9, killed.returncode
    boots = killed.posts(harness.BOOT_PATH)
    assert len(boots) == 1 and boots[0]["status"] == 0, f"the first boot request should hang unanswered: {boots}"
    hung = int(boots[0]["path"].rsplit("/", 2)[-2])
    assert hung in {host.linode_id for host in world.of_kind("good")}, boots
    for host in world.of_kind("good"):
        # Captured, then killed before any boot was performed: off, claimed, its image there.
        assert [image["status"] for image in images_labelled(state_at_kill, host.image_label)] == ["available"], host.name
        status = linode_status(state_at_kill, host.linode_id)
        assert (status == "offline") if host.linode_id == hung else (status in ("offline", "booting")), (host.name, status)
        tags = golden_tags(state_at_kill, host)
        assert len(tags) == 1 and re.match(CLAIM_TAG.format(run_id=KILLED_DURING_RESTORE), tags[0]), (host.name, tags)
        if status == "offline":
            assert not answers_at_kill[host.name], host.name


def test_take_over_after_kill_during_restore_boots_every_instance_back(world, killed_during_restore):
    after = killed_during_restore.take_over
    assert_all_back(world, after)
    assert_no_claim_left(world, after)
    assert_refused_untouched(world, killed_during_restore.killed, after.run)
    for host in world.of_kind("good"):
        # Booted once by the rerun, unless the killed run's boot of it was already under way.
        expected = ["boot"] if linode_status(killed_during_restore.state_at_kill, host.linode_id) == "offline" else []
        booted = [entry["path"].rsplit("/", 1)[-1] for entry in power_posts(after.run, host) if entry["status"] == 200]
        assert booted == expected, (host.name, power_posts(after.run, host))
        hooks = [(event["action"], event["outcome"]) for event in after.run.hook_events if event["host"] == host.name]
        assert hooks == [("start", "ok")] * len(expected), (host.name, hooks)


def test_take_over_after_kill_during_restore_captures_nothing_again(world, killed_during_restore):
    after, state_at_kill = killed_during_restore.take_over, killed_during_restore.state_at_kill
    assert after.run.posts(CAPTURE_PATH) == [], after.run.posts(CAPTURE_PATH)
    assert_one_image_per_good_host(world, after)
    assert after.state["images"] == state_at_kill["images"]
    rows = after.run.rows()
    for host in world.of_kind("good"):
        assert rows[host.name]["result"] == "unchanged", rows[host.name]
        assert rows[host.name]["image_id"] == images_labelled(state_at_kill, host.image_label)[0]["id"]
    assert_captured_offline(after.state)


# --------------------------------------------------------------------------- two runs side by side


def test_side_by_side_runs_capture_each_good_host_once_and_offline(world, side_by_side):
    first, second = side_by_side
    assert_one_image_per_good_host(world, second)
    # One shutdown, one capture and one boot per good host, from the same run (the same API user).
    assert_captured_offline(second.state)
    for host in world.of_kind("good"):
        events = power_events(second.state, host.linode_id)
        captures = [event for event in second.state["events"]
                    if event["action"] == "disk_imagize" and event["entity"]["id"] == host.linode_id]
        assert [event["action"] for event in events] == ["linode_shutdown", "linode_boot"], (host.name, events)
        assert len(captures) == 1, (host.name, captures)
        assert {event["username"] for event in events + captures} == {captures[0]["username"]}, (host.name, events, captures)
    # Exactly one of the two runs reports each good host captured, with the image that exists.
    for host in world.of_kind("good"):
        image = images_labelled(second.state, host.image_label)[0]
        captured_by = [run.name for run in (first, second.run) if run.rows()[host.name]["result"] == "captured"]
        assert len(captured_by) == 1, (host.name, first.rows()[host.name], second.run.rows()[host.name])
        assert next(run for run in (first, second.run) if run.name == captured_by[0]).rows()[host.name]["image_id"] == image["id"]


def test_side_by_side_runs_refuse_what_the_other_claims_and_name_it(world, side_by_side):
    first, second = side_by_side
    runs = {SIDE_BY_SIDE[0]: first, SIDE_BY_SIDE[1]: second.run}
    for host in world.of_kind("good"):
        for run_id, run in runs.items():
            other = next(other_id for other_id in runs if other_id != run_id)
            row = run.rows()[host.name]
            if row["result"] not in ("captured", "resumed", "unchanged"):
                assert_refused_for_claim(run, host, other, way_out=False)
    for run in runs.values():
        assert run.returncode not in (0, None), run.tail()
        for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
            assert run.rows()[host.name]["result"] == "refused", run.rows()[host.name]


def test_side_by_side_runs_leave_every_instance_running_and_unclaimed(world, side_by_side):
    first, second = side_by_side
    assert_all_back(world, second)
    assert_no_claim_left(world, second)
    # The second run's slice holds both runs' requests from its start on; the first's holds them all.
    assert_refused_untouched(world, first)
