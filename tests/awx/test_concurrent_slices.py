"""The capture playbook as AWX runs a sliced job: 4 slices at the same time, one credential, one emulator.

A job template with "job slicing" 4 runs as 4 jobs that AWX starts together (on one or several
execution nodes), each with the inventory cut down to its slice of the hosts (ordered by name,
every 4th: awx_support.sliced_hosts), all with the same credential and so the same API token. Here
the 4 jobs run at once through ansible-runner against one emulator, twice, side by side:

- ``documented``: Linode's documented per-token rate limits (800 requests per 2 minutes, 400 per
  operation and 200 paginated lists a minute, 20 ``GET /images`` a minute), what AWX meets; a
  fleet this small stays within them;
- ``tight``: the same limits divided by 100 (8 requests per 2 minutes, 4 per operation and 2 lists
  a minute, 1 ``GET /images`` a minute), so that the 4 jobs do run out of the token's budget
  together, as 4 slices of a fleet a hundred times this size would: they meet 429s and pace
  themselves on ``X-RateLimit-Remaining``/``-Reset``.

Checked for both: every job successful with no failed host, so no 429 left a host failed; the
images are the ones a whole job makes (what test_slicing.py shows a whole job and sequential
slices make): exactly one per host, labelled with its name, tagged with its instance and disk,
of its disk's size, available, and no other; every instance back in its power state (a third of
the fleet was offline and stays so); each slice publishes its own hosts' images. For ``tight``:
the limits did bite (429s in the request log), or the run would prove nothing about them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import sys

import pytest
import yaml

import awx_support
import with_emulator
from awx_env import JOB_TIMEOUT_S, load_survey, new_token

SLICES = 4
HOSTS_PER_SLICE = 4
FLEET_SIZE = SLICES * HOSTS_PER_SLICE
SPEED = 200
HOSTS = ["node-%04d" % (index + 1) for index in range(FLEET_SIZE)]
DOCUMENTED_LIMITS = {"overall_per_2min": 800, "per_operation_per_min": 400, "list_per_min": 200, "list_images_per_min": 20}
TIGHT_LIMITS = dict((key, max(1, value // 100)) for key, value in DOCUMENTED_LIMITS.items())


def linode(index: int) -> dict:
    """Host ``index`` (0-based): a root disk of its own size, a swap disk, one config; every third one offline."""
    root, swap = 2001 + 2 * index, 2002 + 2 * index
    return {
        "id": 1001 + index, "label": HOSTS[index], "region": "us-east",
        "status": "offline" if index % 3 == 2 else "running",
        "disks": [{"id": root, "label": "Ubuntu 24.04 Disk", "filesystem": "ext4", "size": 25088,
                   "used_mb": 400 + (index * 613) % 3000, "status": "ready"},
                  {"id": swap, "label": "512 MB Swap Image", "filesystem": "swap", "size": 512, "used_mb": 0, "status": "ready"}],
        "configs": [{"id": 3001 + index, "label": "Boot Config", "root_device": "/dev/sda", "devices": {"sda": root, "sdb": swap}}],
    }


LINODES = [linode(index) for index in range(FLEET_SIZE)]


def expected_images() -> set:
    """What a whole job makes of the fleet: per host one available image, its name, its source tag, its disk's size."""
    return set((spec["label"], ("source=linode:%d,disk:%d" % (spec["id"], spec["disks"][0]["id"]),), spec["disks"][0]["used_mb"],
                "available") for spec in LINODES)


def run_slices_at_once(workdir, name: str, rate_limits: dict, job_envvars: dict, credential_type: dict) -> dict:
    """The 4 slice jobs of one sliced job, started together against one emulator of their own; its state and log after."""
    token = new_token()
    rundir = workdir / name
    rundir.mkdir()
    fleet_file = rundir / "fleet.yml"
    fleet_file.write_text(yaml.safe_dump({"tokens": [{"token": token, "scopes": "*"}], "rate_limits": rate_limits,
                                          "linodes": LINODES, "images": []}), encoding="utf-8")
    process, started = with_emulator.start_emulator(str(fleet_file), SPEED, [])
    try:
        with open(started["ca_file"], encoding="utf-8") as ca_file:
            inputs = {"api_token": token, "api_url": started["api_url"], "ca_cert": ca_file.read()}
        hostvars = dict((spec["label"], {"linode_id": spec["id"]}) for spec in LINODES)
        all_vars = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "image_capture_host_checks": False}
        jobs = []
        for slice_number in range(1, SLICES + 1):
            job = awx_support.Job(str(rundir / ("job-%d" % slice_number)), ident=str(200 + slice_number))
            envvars = dict(job_envvars)
            envvars.update(awx_support.inject_credential(credential_type, inputs, job.private_data_dir))
            envvars["LINODE_POLL_INTERVAL"] = with_emulator.poll_interval(SPEED)
            inventory = awx_support.inventory_script_data({"linodes": HOSTS}, hostvars, all_vars, slice_number, SLICES)
            job.prepare("golden_image.linode.capture", inventory, envvars,
                        awx_support.survey_extra_vars(load_survey("capture"), {}), sys.executable)
            jobs.append(job)
        # Every job waits at most JOB_TIMEOUT_S (ansible-runner's timeout), so the pool ends within it.
        with concurrent.futures.ThreadPoolExecutor(max_workers=SLICES) as pool:
            for future in [pool.submit(job.run, "golden_image.linode.capture", JOB_TIMEOUT_S, HOSTS_PER_SLICE) for job in jobs]:
                future.result()
        requests = with_emulator.control(started, "requests")["requests"]
        state = with_emulator.control(started, "state")
    finally:
        with_emulator.stop_emulator(process)
    statuses = collections.Counter(request["status"] for request in requests)
    for job in jobs:
        job.summary = "%-10s job %s: %s, rc %s, %.1f s, hosts %s" % (
            name, job.ident, job.status, job.rc, job.seconds, ", ".join(job.hosts))
    return {"jobs": jobs, "state": state, "requests": len(requests), "statuses": statuses}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    workdir = tmp_path_factory.mktemp("awx-concurrent-slices")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = dict((name, pool.submit(run_slices_at_once, workdir, name, limits, job_envvars, credential_type))
                       for name, limits in (("documented", DOCUMENTED_LIMITS), ("tight", TIGHT_LIMITS)))
        done = dict((name, future.result()) for name, future in futures.items())
    for name, run in done.items():
        for job in run["jobs"]:
            print("\n" + job.summary, end="")
        print("\n%-10s %d API requests, answers %s" % (name, run["requests"], dict(sorted(run["statuses"].items()))), end="")
    print()
    return done


def explain(job) -> str:
    return "job %s (%s): status %s, rc %s\n%s" % (job.ident, ", ".join(job.hosts), job.status, job.rc, job.stdout_tail())


@pytest.mark.parametrize("name", ["documented", "tight"])
def test_every_slice_successful_with_no_failed_host(runs, name):
    jobs = runs[name]["jobs"]
    assert [job.hosts for job in jobs] == [HOSTS[number::SLICES] for number in range(SLICES)]
    for job in jobs:
        assert (job.status, job.rc) == ("successful", 0), explain(job)
        assert set(job.stats.get("ok", {})) == set(job.hosts), explain(job)
        assert not job.stats.get("failures") and not job.stats.get("dark"), explain(job)


@pytest.mark.parametrize("name", ["documented", "tight"])
def test_the_images_of_a_whole_job_one_per_host(runs, name):
    images = runs[name]["state"]["images"]
    made = [(image["label"], tuple(sorted(tag for tag in image["tags"] if tag.startswith("source="))), image["size"], image["status"])
            for image in images]
    assert len(made) == FLEET_SIZE, "%d images for %d hosts: %s" % (len(made), FLEET_SIZE, sorted(made))
    assert set(made) == expected_images()
    captures = collections.Counter(event["entity"]["id"] for event in runs[name]["state"]["events"]
                                   if event["action"] == "disk_imagize")
    assert captures == collections.Counter(spec["id"] for spec in LINODES), "one capture per instance"


@pytest.mark.parametrize("name", ["documented", "tight"])
def test_every_instance_back_in_its_power_state(runs, name):
    power = dict((item["id"], item["status"]) for item in runs[name]["state"]["linodes"])
    assert power == dict((spec["id"], spec["status"]) for spec in LINODES)
    assert list(power.values()).count("offline") == FLEET_SIZE // 3


@pytest.mark.parametrize("name", ["documented", "tight"])
def test_each_slice_publishes_its_own_hosts_images(runs, name):
    union = {}
    for job in runs[name]["jobs"]:
        published = job.artifacts()["image_capture_images"]
        assert sorted(published) == job.hosts
        union.update(published)
    assert sorted(union) == HOSTS


def test_the_tight_limits_did_bite(runs):
    """The slices ran out of the token's budget together and were refused: the run above says how they coped."""
    assert runs["tight"]["statuses"][429] > 0, runs["tight"]["statuses"]
