"""End to end: ``ansible-playbook golden_image.linode.capture`` over real SSH hosts and the emulator.

Five hosts, each a real sshd on 127.0.0.1 with a loop-mounted disk (see harness.PLANS): two good
ones, one whose ext4 disk is over the image size limit, one whose mount is not ext3/ext4 (tmpfs),
and one whose Linode root disk is raw. Powering a Linode off in the emulator kills its sshd.

Each scenario starts from the fleet file's state (emulator reset, every sshd up) and records what
it needs (report, request log slice, power hook events, final state, SSH logins) before the next
one runs, so the assertions below read snapshots and do not depend on test order.
"""

from __future__ import annotations

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
CAPTURE_PATH = r"^/v4(beta)?/images$"


@dataclass
class Snapshot:
    """What a scenario left: the run, the emulator's state after it, which hosts answer SSH."""

    run: harness.Run
    state: dict
    answers: dict[str, bool]


def snapshot(world: harness.World, run: harness.Run) -> Snapshot:
    return Snapshot(run, world.emulator.state(), {host.name: host.answers() for host in world.hosts})


@pytest.fixture(scope="module")
def capture_then_rerun(world, capture_playbook):  # pylint: disable=unused-argument
    """A first run on a fresh account, then the same run again."""
    world.prepare()
    first = snapshot(world, world.run_playbook("first"))
    second = snapshot(world, world.run_playbook("rerun"))
    return first, second


@pytest.fixture(scope="module")
def killed_then_rerun(world, capture_playbook):  # pylint: disable=unused-argument
    """A run SIGKILLed while a good host's image is being captured, then a normal run."""
    world.prepare()
    good_labels = {host.image_label for host in world.of_kind("good")}
    killed, state_at_kill = world.run_killed_during_capture("killed", good_labels)
    answers_at_kill = {host.name: host.answers() for host in world.hosts}
    after = snapshot(world, world.run_playbook("after-kill"))
    return killed, state_at_kill, answers_at_kill, after


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


# --------------------------------------------------------------------------- first run


def test_first_run_exits_non_zero_because_hosts_were_refused(world, capture_then_rerun):
    first = capture_then_rerun[0].run
    assert first.returncode not in (0, None), first.tail()
    recap = first.recap()
    for host in world.hosts:
        assert recap[host.name]["unreachable"] == 0, (host.name, recap)
        failed = recap[host.name]["failed"]
        assert (failed == 0) if host.plan.kind == "good" else (failed >= 1), (host.name, recap, first.tail())


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
    killed, state_at_kill, answers_at_kill, _after = killed_then_rerun
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


def test_rerun_after_kill_ends_with_one_image_per_good_host(world, killed_then_rerun):
    after = killed_then_rerun[3]
    rows = after.run.rows()
    for host in world.of_kind("good"):
        images = images_labelled(after.state, host.image_label)
        assert len(images) == 1, f"{host.name}: {images}; after the kill: {rows[host.name]}\n{after.run.tail()}"
        assert images[0]["status"] == "available", images
        assert rows[host.name]["result"] in ("captured", "resumed", "unchanged"), rows[host.name]
        assert rows[host.name]["image_id"] == images[0]["id"], (rows[host.name], images)
    for host in world.of_kind("over_limit", "not_ext", "raw_disk"):
        assert rows[host.name]["result"] == "refused", rows[host.name]
        assert images_labelled(after.state, host.image_label) == []


def test_rerun_after_kill_powers_every_instance_back(world, killed_then_rerun):
    killed, _state, _answers, after = killed_then_rerun
    assert_all_back(world, after)
    assert_refused_untouched(world, killed, after.run)
