"""End to end: ``ansible-playbook golden_image.linode.golden_image_pipeline`` with real SSH hosts.

Every instance the pipeline creates gets a real host (attach_host.py, the emulator's ``instance_hook``):
its own sshd, chrooted into its own ext4 disk. A builder's disk is a fresh base system; a test instance's
disk is a copy of the disk the image was captured from, as it was when the capture copied it (the
builder's power-off). The reference instance is a host of the same kind, from the fleet file.

Five runs on one account, one after the other, each recorded (output, requests, host events, state)
before the next one starts:

* ``good``: the provisioning writes a marker file; the verification's command finds it on the test
  instance; the image is replicated and published.
* ``no-sshd``: the same marker, and a first-boot script (cloud-init's per-instance scripts: they run on
  every new instance from the image, not on the builder, which booted before) that purges the SSH server:
  the builder comes back after its capture, the test instance never answers SSH.
* ``builder-no-sshd``: the provisioning takes the builder's own SSH server config away: the builder booted
  back after its capture has no SSH, which the bake does not wait for (the builder is deleted next); the
  image has none either, and the verification fails and marks it, rather than the bake failing and leaving
  an image neither verified nor marked failed.
* ``full-disk``: a first-boot script that writes 70 MiB of logs: the test instance's root filesystem is
  over the limit (``image_verify_size_limit``); ``golden_image_delete_failed`` deletes the image.
* ``reference``: ``golden_image_source=reference``, the image captured from the running reference
  instance (a marker written on it over SSH first), verified on a test instance.

After every run: no temporary instance, no host (sshd, mount) of one, the reference running with SSH
answering. The table of the five runs goes to pytest's terminal summary (conftest.py).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import harness
from conftest import built_or_unavailable

TEMPORARY_TAG = "golden_image.linode:temporary"
VERIFIED_TAG = "golden_image.linode:verified"
FAILED_TAG = "golden_image.linode:verify-failed"
MARKER = harness.PIPELINE_MARKER_FILE
REFERENCE = harness.PIPELINE_REFERENCE_LABEL
REFERENCE_ID = harness.PIPELINE_REFERENCE_ID
MIB = 1024 * 1024
# The verification's rule: df "Used" below (1 - 0.10) x the limit.
PASS_BELOW = 0.9 * harness.SIZE_LIMIT_MIB * MIB
FILL_MIB = 70
INSTANCES_PATH = r"^/v4(beta)?/linode/instances$"
INSTANCE_PATH = r"^/v4(beta)?/linode/instances/(\d+)$"
REPLICATE_PATH = r"^/v4(beta)?/images/private/\d+/regions$"
IMAGE_PATH = r"^/v4(beta)?/images/(private/\d+)$"
REFERENCE_POWER_PATH = rf"^/v4(beta)?/linode/instances/{REFERENCE_ID}/(shutdown|boot|reboot)$"

# First-boot scripts a provisioning installs; they run as root, chrooted into the new instance's disk.
PURGE_SSH = "#!/bin/sh\n# A hardening step gone wrong: the SSH server goes on every new instance's first boot.\nrm -rf /etc/ssh\n"
# Changes a provisioning makes on the builder itself. Without its config the SSH server does not start at the next
# boot (the running one keeps the config it read), so the builder booted back after its capture has no SSH.
BUILDER_CHANGES = {"builder-no-sshd": "mv /etc/ssh/sshd_config /etc/ssh/sshd_config.disabled"}
FILL_DISK = f"#!/bin/sh\n# Logs written on every new instance's first boot, past the image size limit.\nfallocate -l {FILL_MIB}M /var/log/first-boot.log\n"


@dataclass
class Scenario:
    name: str
    prefix: str
    extra: dict
    nonce: str


@dataclass
class PipelineRun:
    """A run of the pipeline and what it left: its output, requests and host events, the state after it."""

    scenario: Scenario
    run: harness.Run
    state: dict
    stats: dict
    reference_answers: bool
    mounts: list[str]
    sshd_pids: dict[int, set[int]]

    @property
    def name(self) -> str:
        return self.scenario.name

    def context(self) -> str:
        return f"run {self.name} (exit {self.run.returncode}, {self.run.seconds:.0f} s)\n{self.run.tail(60)}"

    def events(self, label_prefix: str) -> list[dict]:
        return [event for event in self.run.hook_events if event.get("label", "").startswith(label_prefix)]

    def builder_events(self) -> list[dict]:
        return self.events(f"bake-{self.scenario.prefix}-")

    def tester_events(self) -> list[dict]:
        return self.events(f"verify-{self.scenario.prefix}-")

    def writes(self, method: str, pattern: str) -> list[dict]:
        return [entry for entry in self.run.requests if entry["method"] == method and re.search(pattern, entry["path"])]

    def images(self) -> list[dict]:
        return [image for image in self.state["images"] if image["label"].startswith(f"{self.scenario.prefix}-")]


def provisioning(root: Path, name: str, first_boot_script: str | None, on_builder: str | None = None) -> Path:
    """A provisioning tasks file as a user writes it: it runs on the builder, over SSH, as root."""
    tasks = [{
        "name": "Leave the marker the verification looks for",
        "ansible.builtin.copy": {"dest": MARKER, "content": "{{ e2e_nonce }} baked on {{ inventory_hostname }}\n", "mode": "0644"},
    }]
    if on_builder is not None:
        tasks.append({"name": "Change the builder itself", "ansible.builtin.command": on_builder, "changed_when": True})
    if first_boot_script is not None:
        tasks.append({
            "name": "Install a first-boot script",
            "ansible.builtin.copy": {"dest": "/var/lib/cloud/scripts/per-instance/50-first-boot", "content": first_boot_script, "mode": "0755"},
        })
    path = root / "provisioning" / f"{name}.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(tasks, sort_keys=False), encoding="utf-8")
    return path


def scenarios(world: harness.PipelineWorld) -> list[Scenario]:
    found = []
    for name, prefix, script, extra in (
        ("good", "e2e-good", None, {"golden_image_regions": ["us-central"], "golden_image_keep": 2}),
        ("no-sshd", "e2e-nossh", PURGE_SSH, {"golden_image_regions": ["us-central"]}),
        ("builder-no-sshd", "e2e-bnossh", None, {"golden_image_regions": ["us-central"]}),
        ("full-disk", "e2e-full", FILL_DISK, {"golden_image_regions": ["us-central"], "golden_image_delete_failed": True}),
        ("reference", "e2e-ref", None, {"golden_image_source": "reference", "golden_image_host": REFERENCE}),
    ):
        nonce = uuid.uuid4().hex[:12]
        written_by = f"written on {REFERENCE}" if name == "reference" else f"baked on bake-{prefix}-"
        settings = {
            "golden_image_region": "us-east",
            "golden_image_prefix": prefix,
            "golden_image_authorized_keys": [world.public_key],
            # Found on the test instance's own disk (its /): the marker of this run, written by this run's builder.
            "golden_image_check_commands": [f"grep -q '^{nonce} {written_by}' {MARKER}"],
            "e2e_nonce": nonce,
            **extra,
        }
        if name != "reference":
            settings["golden_image_provision_tasks"] = str(provisioning(world.root, name, script, BUILDER_CHANGES.get(name)))
        found.append(Scenario(name, prefix, settings, nonce))
    return found


def published(run: harness.Run) -> dict:
    """The set_stats data, from the "RUN: {...}" line (ANSIBLE_SHOW_CUSTOM_STATS)."""
    match = re.search(r"^\s*RUN: (\{.*\})\s*$", run.output, re.MULTILINE)
    return json.loads(match.group(1)) if match else {}


def run_scenario(world: harness.PipelineWorld, scenario: Scenario) -> PipelineRun:
    if scenario.name == "reference":
        written = world.ssh(world.reference_address, f"printf '%s\\n' '{scenario.nonce} written on {REFERENCE}' > {MARKER}")
        assert written.returncode == 0, f"writing the marker on {REFERENCE}: {written.stderr}"
    run = world.run_playbook(scenario.name, scenario.extra)
    return PipelineRun(scenario, run, world.emulator.state(), published(run), world.reference_answers(), world.mounts(), world.sshd_pids())


@pytest.fixture(scope="module")
def pipeline_world():
    playbook = harness.collections_path() / "ansible_collections" / "golden_image" / "linode" / "playbooks" / "golden_image_pipeline.yml"
    if not playbook.is_file():
        pytest.fail(f"{playbook} is missing: refresh the collection copy with `make collection`", pytrace=False)
    yield from built_or_unavailable(harness.build_pipeline_world)


@pytest.fixture(scope="module")
def runs(pipeline_world) -> dict[str, PipelineRun]:
    done: dict[str, PipelineRun] = {}
    try:
        for scenario in scenarios(pipeline_world):
            done[scenario.name] = run_scenario(pipeline_world, scenario)
    finally:
        # Whatever was measured, also when a run could not be made.
        harness.add_summary_section("golden-image pipeline, end to end (measured)", table(done))
    return done


# --------------------------------------------------------------------------- the table


def table(done: dict[str, PipelineRun]) -> str:
    header = ("run", "exit", "secs", "builder", "image", "verification (test instance)", "promotion", "temporaries left", "reference")
    rows = [header]
    for pipeline in done.values():
        rows.append((pipeline.name, str(pipeline.run.returncode), f"{pipeline.run.seconds:.0f}", describe_builder(pipeline),
                     describe_image(pipeline), describe_verification(pipeline), describe_promotion(pipeline),
                     str(len(temporaries(pipeline.state))), describe_reference(pipeline)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def describe_builder(pipeline: PipelineRun) -> str:
    """The builder's instance id and what its host went through, from the hook's events and the API's answer."""
    events = pipeline.builder_events()
    if not events:
        return "none (reference)" if pipeline.name == "reference" else "none"
    linode_id = events[0]["linode"]
    steps = ">".join(event["event"].replace("running", "on").replace("offline", "off") for event in events)
    deletes = [str(entry["status"]) for entry in pipeline.writes("DELETE", rf"^/v4(beta)?/linode/instances/{linode_id}$")]
    return f"#{linode_id} {steps} (DELETE {','.join(deletes) or 'none'})"


def describe_image(pipeline: PipelineRun) -> str:
    captured = [entry for entry in pipeline.writes("POST", r"^/v4(beta)?/images$") if entry["status"] == 200]
    images = pipeline.images()
    if not images:
        deleted = [entry["path"].split("/images/")[1] for entry in pipeline.writes("DELETE", IMAGE_PATH)]
        return f"{len(captured)} captured, none left" + (f" ({', '.join(deleted)} deleted)" if deleted else "")
    parts = []
    for image in images:
        mark = "verified" if VERIFIED_TAG in image["tags"] else "verify-failed" if FAILED_TAG in image["tags"] else "unmarked"
        regions = "+".join(sorted(region["region"] for region in image.get("regions") or []))
        parts.append(f"{image['id']} {mark} {regions}")
    return "; ".join(parts)


def describe_verification(pipeline: PipelineRun) -> str:
    """The verdict, and what the test instance's host saw: its sshd, its disk, the marker on it, root logins."""
    verification = pipeline.stats.get("golden_image_verification") or {}
    tester = pipeline.tester_events()
    if not tester:
        return verification.get("result", "none")
    running = next((event for event in tester if event["event"] == "running"), {})
    deleted = next((event for event in tester if event["event"] == "deleted"), {})
    marker = (deleted.get("files") or {}).get(MARKER) or ""
    found = "marker found" if marker.startswith(pipeline.scenario.nonce) else "marker NOT found"
    sshd = "sshd up" if running.get("sshd") == "answers" else "no sshd"
    text = (f"{verification.get('result', 'none')} on #{tester[0]['linode']}: {found}, {sshd}, "
            f"{deleted.get('root_logins', 0)} root logins, {running.get('used_bytes', 0) / MIB:.2f} MiB used")
    reason = verification.get("reason") or ""
    return text + (f"; {reason[:48]}..." if len(reason) > 48 else f"; {reason}" if reason else "")


def describe_promotion(pipeline: PipelineRun) -> str:
    image_id = pipeline.stats.get("golden_image_id")
    replicated = len(pipeline.writes("POST", REPLICATE_PATH))
    return f"golden_image_id={image_id} ({replicated} replication)" if image_id else f"none ({replicated} replication)"


def describe_reference(pipeline: PipelineRun) -> str:
    status = next(linode["status"] for linode in pipeline.state["linodes"] if linode["id"] == REFERENCE_ID)
    powered = [entry["path"].rsplit("/", 1)[1] for entry in pipeline.writes("POST", REFERENCE_POWER_PATH)]
    return f"{status}, SSH {'up' if pipeline.reference_answers else 'DOWN'}" + (f" ({'>'.join(powered)})" if powered else "")


# --------------------------------------------------------------------------- checks


def temporaries(state: dict) -> list[dict]:
    return [linode for linode in state["linodes"] if TEMPORARY_TAG in linode["tags"]]


def assert_instance_created_and_deleted(pipeline: PipelineRun, events: list[dict], image: str) -> int:
    """One instance, created from ``image`` and deleted through the API, its host made and removed."""
    ids = {event["linode"] for event in events}
    assert len(ids) == 1, f"{events}\n{pipeline.context()}"
    linode_id = ids.pop()
    assert events[0]["event"] == "created" and events[0]["image"] == image, f"{events[0]}\n{pipeline.context()}"
    assert events[-1]["event"] == "deleted", f"{events}\n{pipeline.context()}"
    assert not [event for event in events if "error" in event], f"host errors: {events}"
    assert [entry["status"] for entry in pipeline.writes("DELETE", rf"^/v4(beta)?/linode/instances/{linode_id}$")] == [200]
    return linode_id


def assert_nothing_temporary_left(pipeline: PipelineRun) -> None:
    assert temporaries(pipeline.state) == [], f"temporary instances left: {temporaries(pipeline.state)}\n{pipeline.context()}"
    assert [linode["id"] for linode in pipeline.state["linodes"]] == [REFERENCE_ID], pipeline.context()
    # The hosts of the temporary instances are gone with them: no sshd, no mount but the reference's.
    assert set(pipeline.sshd_pids) == {REFERENCE_ID}, f"sshd still running for {pipeline.sshd_pids}"
    assert {mount.split("/")[0] for mount in pipeline.mounts} == {str(REFERENCE_ID)}, pipeline.mounts


def assert_reference_back(pipeline: PipelineRun) -> None:
    reference = next(linode for linode in pipeline.state["linodes"] if linode["id"] == REFERENCE_ID)
    assert reference["status"] == "running", f"{reference['status']}\n{pipeline.context()}"
    assert pipeline.reference_answers, f"{REFERENCE} does not answer SSH after run {pipeline.name}"
    assert not [tag for tag in reference["tags"] if tag.startswith("golden_image")], reference["tags"]


def assert_verification_failed_and_nothing_promoted(pipeline: PipelineRun) -> None:
    assert pipeline.run.returncode not in (0, None), pipeline.context()
    steps = {step["step"]: step["result"] for step in pipeline.stats.get("golden_image_pipeline", [])}
    assert steps.get("bake") == "done" and steps.get("verify") == "failed", f"{steps}\n{pipeline.context()}"
    assert all(steps.get(step) != "done" for step in ("replicate", "retention", "publish")), steps
    assert pipeline.stats["golden_image_verification"]["result"] == "failed", pipeline.stats
    assert "golden_image_id" not in pipeline.stats, pipeline.stats
    assert pipeline.writes("POST", REPLICATE_PATH) == [], pipeline.context()
    assert re.search(r"failed at verify", pipeline.run.output), pipeline.context()


@pytest.mark.parametrize("name", ["good", "no-sshd", "builder-no-sshd", "full-disk", "reference"])
def test_every_run_leaves_no_temporary_instance_and_the_reference_as_it_was(runs, name):
    pipeline = runs[name]
    assert_nothing_temporary_left(pipeline)
    assert_reference_back(pipeline)
    # Every host event of the run did what it says (a hook that failed records its error).
    assert [event for event in pipeline.run.hook_events if "error" in event] == [], pipeline.run.hook_events


def test_good_bake_is_verified_with_the_marker_and_published(runs):
    pipeline = runs["good"]
    assert pipeline.run.returncode == 0, pipeline.context()
    builder = pipeline.builder_events()
    builder_id = assert_instance_created_and_deleted(pipeline, builder, "linode/debian12")
    # The builder: booted, provisioned, powered off for the capture (the marker on its disk), booted back, deleted.
    assert [event["event"] for event in builder] == ["created", "running", "offline", "running", "deleted"], builder
    offline = builder[2]
    assert offline["files"][MARKER] == f"{pipeline.scenario.nonce} baked on {builder[0]['label']}\n", offline
    # Logged in for the provisioning and the host checks; nobody needs it after the boot back (builder-no-sshd shows why).
    assert builder[3]["sshd"] == "answers" and builder[4]["root_logins"] >= 1, builder

    images = pipeline.images()
    assert len(images) == 1, f"{images}\n{pipeline.context()}"
    image = images[0]
    assert image["status"] == "available" and VERIFIED_TAG in image["tags"], image
    assert sorted(region["region"] for region in image["regions"]) == ["us-central", "us-east"], image
    assert pipeline.stats.get("golden_image_id") == image["id"], f"{pipeline.stats}\n{pipeline.context()}"
    assert pipeline.stats["golden_image_verification"]["result"] == "verified", pipeline.stats
    assert [step["result"] for step in pipeline.stats["golden_image_pipeline"]] == ["done"] * 5, pipeline.stats
    assert len(pipeline.writes("POST", REPLICATE_PATH)) == 1

    # The test instance: its disk a copy of the builder's at the capture, the marker found there over SSH.
    tester = pipeline.tester_events()
    tester_id = assert_instance_created_and_deleted(pipeline, tester, image["id"])
    assert tester_id != builder_id
    assert tester[0]["image_source"].startswith(f"{builder_id}:") and tester[0]["disk_sha256"] == offline["snapshot_sha256"], tester[0]
    assert [event["event"] for event in tester] == ["created", "running", "deleted"], tester
    assert tester[1]["first_boot_scripts"] == [] and tester[1]["sshd"] == "answers", tester[1]
    assert tester[2]["files"][MARKER].startswith(f"{pipeline.scenario.nonce} baked on bake-e2e-good-"), tester[2]
    assert tester[2]["root_logins"] >= 1, tester[2]
    assert re.search(rf"passed\s+command: grep -q '\^{pipeline.scenario.nonce} baked on bake-e2e-good-' {MARKER}: exited 0",
                     pipeline.run.output), pipeline.context()
    assert re.search(r"passed\s+root filesystem: ext4, [0-9.]+ MiB used, /", pipeline.run.output), pipeline.context()
    # Two instances made through the API, no more, and nothing of the reference powered.
    assert len(pipeline.writes("POST", INSTANCES_PATH)) == 2
    assert pipeline.writes("POST", REFERENCE_POWER_PATH) == []


def assert_builder_deleted_and_image_marked_failed(pipeline: PipelineRun) -> tuple[list[dict], list[dict]]:
    """The verification failed; the builder went created, on, off (the capture), on, deleted; the one image is marked
    failed. Returns the builder's events and the images."""
    assert_verification_failed_and_nothing_promoted(pipeline)
    builder = pipeline.builder_events()
    assert_instance_created_and_deleted(pipeline, builder, "linode/debian12")
    assert [event["event"] for event in builder] == ["created", "running", "offline", "running", "deleted"], builder
    images = pipeline.images()
    assert len(images) == 1 and FAILED_TAG in images[0]["tags"] and VERIFIED_TAG not in images[0]["tags"], images
    return builder, images


def test_an_image_without_ssh_fails_its_verification_and_is_not_promoted(runs):
    pipeline = runs["no-sshd"]
    builder, images = assert_builder_deleted_and_image_marked_failed(pipeline)
    # The builder came back with SSH after its capture: only a new instance from the image runs the script.
    assert builder[3]["sshd"] == "answers" and "first_boot_scripts" not in builder[3], builder[3]
    assert [region["region"] for region in images[0]["regions"]] == ["us-east"], images
    tester = pipeline.tester_events()
    assert_instance_created_and_deleted(pipeline, tester, images[0]["id"])
    running = tester[1]
    assert running["event"] == "running" and running["sshd"] == "not installed on its disk", running
    assert [(script["script"], script["rc"]) for script in running["first_boot_scripts"]] == [
        ("/var/lib/cloud/scripts/per-instance/50-first-boot", 0)], running
    assert tester[-1]["root_logins"] == 0 and tester[-1]["files"][MARKER].startswith(pipeline.scenario.nonce), tester[-1]
    assert re.search(r"(?i)ssh", pipeline.stats["golden_image_verification"]["reason"]), pipeline.stats


def test_a_builder_without_ssh_after_its_capture_leaves_an_image_marked_failed_not_an_unmarked_one(runs):
    # The bake does not wait for the builder's SSH after booting it back: the builder is deleted next, and the image,
    # which has no SSH server either, is judged on the test instance. Were the bake to fail there, the image would be
    # left neither verified nor marked failed, and no retention would ever look at it.
    pipeline = runs["builder-no-sshd"]
    builder, images = assert_builder_deleted_and_image_marked_failed(pipeline)
    assert builder[3]["sshd"] == "not installed on its disk", builder[3]
    tester = pipeline.tester_events()
    assert_instance_created_and_deleted(pipeline, tester, images[0]["id"])
    assert tester[1]["sshd"] == "not installed on its disk" and tester[-1]["root_logins"] == 0, tester
    assert re.search(r"(?i)ssh", pipeline.stats["golden_image_verification"]["reason"]), pipeline.stats


def test_an_image_that_fills_its_disk_fails_its_verification_and_is_deleted(runs):
    pipeline = runs["full-disk"]
    assert_verification_failed_and_nothing_promoted(pipeline)
    tester = pipeline.tester_events()
    captured = [entry for entry in pipeline.writes("POST", r"^/v4(beta)?/images$") if entry["status"] == 200]
    assert len(captured) == 1, pipeline.context()
    running = tester[1]
    assert running["sshd"] == "answers" and running["used_bytes"] > PASS_BELOW, running
    assert running["first_boot_scripts"][0]["rc"] == 0, running
    # The builder's disk, the one captured, was under the limit: only the new instance filled its own.
    offline = next(event for event in pipeline.builder_events() if event["event"] == "offline")
    assert offline["used_bytes"] < PASS_BELOW, offline
    assert tester[-1]["root_logins"] >= 1 and tester[-1]["files"][MARKER].startswith(pipeline.scenario.nonce), tester[-1]
    assert re.search(r'FAILED\s+root filesystem: df \\?"Used\\?" of / is 7\d\.\d MiB, not below 57\.6 MiB', pipeline.run.output), pipeline.context()
    # golden_image_delete_failed: the image is gone, deleted by the run.
    assert pipeline.images() == [], pipeline.images()
    deleted = [entry["path"] for entry in pipeline.writes("DELETE", IMAGE_PATH)]
    assert len(deleted) == 1, deleted
    assert_instance_created_and_deleted(pipeline, tester, "private/" + deleted[0].rsplit("/", 1)[1])


def test_a_reference_capture_powers_the_reference_back_and_is_published(runs):
    pipeline = runs["reference"]
    assert pipeline.run.returncode == 0, pipeline.context()
    assert pipeline.builder_events() == [] and len(pipeline.writes("POST", INSTANCES_PATH)) == 1
    powered = [entry["path"].rsplit("/", 1)[1] for entry in pipeline.writes("POST", REFERENCE_POWER_PATH)]
    assert powered == ["shutdown", "boot"], powered
    reference = pipeline.events(REFERENCE)
    assert [event["event"] for event in reference] == ["offline", "running"], reference
    images = pipeline.images()
    assert len(images) == 1 and VERIFIED_TAG in images[0]["tags"], images
    assert pipeline.stats.get("golden_image_id") == images[0]["id"], pipeline.stats
    tester = pipeline.tester_events()
    assert_instance_created_and_deleted(pipeline, tester, images[0]["id"])
    assert tester[0]["image_source"].startswith(f"{REFERENCE_ID}:") and tester[0]["disk_sha256"] == reference[0]["snapshot_sha256"]
    assert tester[-1]["files"][MARKER] == f"{pipeline.scenario.nonce} written on {REFERENCE}\n", tester[-1]
