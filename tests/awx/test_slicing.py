"""The capture playbook under AWX job slicing: the same fleet whole, then as 3 slices, same images.

A job template with "job slicing" 3 runs as 3 jobs, each with the inventory cut down to one
slice of the hosts (AWX orders the hosts by name and gives slice k hosts k, k+3, k+6, ...). Here
a fleet of 9 emulated instances is captured once by one job, and once by the 3 slice jobs one
after the other, each through ansible-runner as in test_runner.py. Each of the two runs starts
from the fleet's state with an emulator of its own (the two runs go on side by side to keep the
test short; the slices of a run share theirs, as slices share one account).

Checked: every job is successful; the sliced run leaves the same images (label, source tag,
size, status) as the whole run; each slice lists images (GET /v4/images) a bounded number of
times however many hosts it has, as the whole run does; each slice's ``set_stats`` names exactly
its own hosts' images, and together they name the whole run's.
"""

from __future__ import annotations

import concurrent.futures
import sys

import pytest

import awx_support
import with_emulator
from awx_env import JOB_TIMEOUT_S, load_survey, new_token, running_emulator

FLEET_SIZE = 9
SLICES = 3
SPEED = 200
# The job template's forks: enough for the whole fleet at once, as a fleet job template would have.
FORKS = FLEET_SIZE
# Image listings one capture job may send, whatever its number of hosts (2 as measured): the role's API
# preflight reads the account's images once for the whole batch, and waiting for the batch's
# captures reads them once a round.
MAX_LISTINGS_PER_JOB = 3
HOSTS = ["node-%04d" % (index + 1) for index in range(FLEET_SIZE)]


def list_image_requests(requests: list) -> int:
    return sum(1 for request in requests if request["method"] == "GET" and request["path"].rstrip("/") in ("/v4/images", "/v4beta/images"))


def images_of(state: dict) -> set:
    return set((image["label"], tuple(sorted(tag for tag in image["tags"] if tag.startswith("source="))), image["size"], image["status"])
               for image in state["images"])


def run_jobs(workdir, name: str, slice_numbers: list, job_envvars: dict, credential_type: dict) -> dict:
    """Capture the fleet with one job per slice number (0: the whole inventory), one after the other.

    Each run has an emulator of its own, started from the fleet's state, so the two runs can go
    on side by side; within a run the jobs share the emulator (one account), and each job's API
    requests are the request log's entries between its start and its end.
    """
    token = new_token()
    jobs, listings = [], {}
    rundir = workdir / name
    rundir.mkdir()
    with running_emulator(rundir, token, SPEED, ["--fleet-size", str(FLEET_SIZE)], linodes=[], images=[]) as started:
        with open(started["ca_file"], encoding="utf-8") as ca_file:
            inputs = {"api_token": token, "api_url": started["api_url"], "ca_cert": ca_file.read()}
        hostvars = dict((host, {"linode_id": 1001 + index}) for index, host in enumerate(HOSTS))
        all_vars = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "image_capture_host_checks": False}
        for slice_number in slice_numbers:
            job = awx_support.Job(str(rundir / ("job-%d" % slice_number)), ident=str(100 + slice_number))
            envvars = dict(job_envvars)
            envvars.update(awx_support.inject_credential(credential_type, inputs, job.private_data_dir))
            envvars["LINODE_POLL_INTERVAL"] = with_emulator.poll_interval(SPEED)
            inventory = awx_support.inventory_script_data({"linodes": HOSTS}, hostvars, all_vars, slice_number,
                                                          SLICES if slice_number else 1)
            extra_vars = awx_support.survey_extra_vars(load_survey("capture"), {})
            job.prepare("golden_image.linode.capture", inventory, envvars, extra_vars, sys.executable)
            before = len(with_emulator.control(started, "requests")["requests"])
            job.run("golden_image.linode.capture", JOB_TIMEOUT_S, forks=FORKS)
            requests = with_emulator.control(started, "requests")["requests"][before:]
            listings[job.ident] = list_image_requests(requests)
            job.summary = "%-6s job %s: %s, rc %s, %.1f s, %d hosts, %d API requests, %d image listings (GET /v4/images)" % (
                name, job.ident, job.status, job.rc, job.seconds, len(job.hosts), len(requests), listings[job.ident])
            jobs.append(job)
        state = with_emulator.control(started, "state")
    return {"jobs": jobs, "state": state, "listings": listings}


@pytest.fixture(scope="module")
def slicing(tmp_path_factory, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    workdir = tmp_path_factory.mktemp("awx-slicing")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        whole = pool.submit(run_jobs, workdir, "whole", [0], job_envvars, credential_type)
        sliced = pool.submit(run_jobs, workdir, "sliced", list(range(1, SLICES + 1)), job_envvars, credential_type)
        runs = {"whole": whole.result(), "sliced": sliced.result()}
    runs["listings"] = dict(runs["whole"]["listings"], **runs["sliced"]["listings"])
    for job in runs["whole"]["jobs"] + runs["sliced"]["jobs"]:
        print("\n" + job.summary, end="")
    print()
    return runs


def explain(job) -> str:
    return "job %s (%s): status %s, rc %s\n%s" % (job.ident, ", ".join(job.hosts), job.status, job.rc, job.stdout_tail())


def test_every_job_successful(slicing):
    for job in slicing["whole"]["jobs"] + slicing["sliced"]["jobs"]:
        assert (job.status, job.rc) == ("successful", 0), explain(job)
        assert set(job.stats.get("ok", {})) == set(job.hosts) and not job.stats.get("failures"), explain(job)


def test_slices_are_awx_slices(slicing):
    """3 slices of 3 hosts, strided by name as AWX slices, covering the fleet once."""
    slices = [job.hosts for job in slicing["sliced"]["jobs"]]
    assert slices == [HOSTS[0::3], HOSTS[1::3], HOSTS[2::3]]
    assert sorted(sum(slices, [])) == slicing["whole"]["jobs"][0].hosts == HOSTS


def test_same_images(slicing):
    whole, sliced = images_of(slicing["whole"]["state"]), images_of(slicing["sliced"]["state"])
    assert len(whole) == FLEET_SIZE and all(image[3] == "available" for image in whole), whole
    assert sliced == whole


def test_image_listings_per_slice_bounded(slicing):
    """O(1) listings per job: a slice of 3 hosts lists no more than the whole fleet's job does, within the bound."""
    listings = slicing["listings"]
    whole = listings[slicing["whole"]["jobs"][0].ident]
    per_slice = [listings[job.ident] for job in slicing["sliced"]["jobs"]]
    assert whole <= MAX_LISTINGS_PER_JOB, "the whole run listed images %d times" % whole
    assert max(per_slice) <= MAX_LISTINGS_PER_JOB, "image listings per slice: %s" % per_slice
    assert max(per_slice) <= whole + 1, "image listings per slice %s, whole run %d" % (per_slice, whole)


def test_set_stats_per_slice(slicing):
    """Each slice publishes its own hosts' images; together they are the whole run's (a workflow keeps only the last)."""
    whole = slicing["whole"]["jobs"][0].artifacts()
    per_slice = [job.artifacts() for job in slicing["sliced"]["jobs"]]
    for job, artifacts in zip(slicing["sliced"]["jobs"], per_slice):
        assert sorted(artifacts["image_capture_images"]) == job.hosts
    union = {}
    for artifacts in per_slice:
        union.update(artifacts["image_capture_images"])
    assert sorted(union) == sorted(whole["image_capture_images"]) == HOSTS
    # A workflow node after the sliced job gets AWX's merge of the slices' artifacts: key by key,
    # so image_capture_images is the last slice's alone (see docs/awx.md, "Job slicing").
    merged = awx_support.merge_artifacts(per_slice)
    assert merged["image_capture_images"] == per_slice[-1]["image_capture_images"]
