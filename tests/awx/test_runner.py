"""The golden_image playbook run through ansible-runner the way AWX runs a job, against the emulator.

The job's private data dir is laid out as AWX lays it out: the credential of the "Linode API"
credential type (extensions/awx/credential_type.yml) injected as AWX injects it (environment
variables in ``env/envvars``, the CA certificate as a file in ``env/`` that LINODE_CA names), the
survey's answers and defaults (extensions/awx/survey_golden_image.json) in ``env/extravars``,
AWX's inventory script in ``inventory/hosts``, and a project playbook importing
``golden_image.linode.golden_image``.

Checked: the job is ``successful`` with rc 0; the ``set_stats`` data (``golden_image_id``,
``golden_image_label``) is in the artifacts where AWX reads it (``artifact_data`` of the
``playbook_on_stats`` event) and names the image the emulator now holds; retention kept the
newest images; no artifact holds the token but ansible-runner's own record of the job's
environment (``artifacts/<ident>/command``, see test_token_in_no_artifact). Run with ``-s`` to see
the artifacts listing.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

import awx_support
import with_emulator
from awx_env import JOB_TIMEOUT_S, load_survey, new_token, running_emulator

SPEED = 40
REFERENCE = {
    "id": 1001, "label": "web-1", "region": "us-east", "status": "running",
    "disks": [{"id": 2001, "label": "Ubuntu 24.04 Disk", "filesystem": "ext4", "size": 25088, "used_mb": 2900, "status": "ready"}],
    "configs": [{"id": 3001, "label": "Boot Config", "root_device": "/dev/sda", "devices": {"sda": 2001}}],
}
OTHER = dict(REFERENCE, id=1002, label="web-2", disks=[dict(REFERENCE["disks"][0], id=2002)],
             configs=[dict(REFERENCE["configs"][0], id=3002, devices={"sda": 2002})])
# Two older golden images: with golden_image_keep 2, the older one goes.
OLD_GOLDEN = [
    {"id": "private/4001", "label": "golden-20250101-000000", "size": 2900, "tags": ["golden"], "created": "2025-01-01T00:00:00",
     "regions": [{"region": "us-east", "status": "available"}]},
    {"id": "private/4002", "label": "golden-20250201-000000", "size": 2900, "tags": ["golden"], "created": "2025-02-01T00:00:00",
     "regions": [{"region": "us-east", "status": "available"}]},
]
# The survey's answers; the job gets them and the defaults of the other questions as extra vars.
ANSWERS = {"golden_image_host": "web-1", "golden_image_keep": 2}


@pytest.fixture(scope="module")
def golden_job(tmp_path_factory, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    """The job, run once; what the tests below read from it."""
    workdir = tmp_path_factory.mktemp("awx-runner")
    token = new_token()
    with running_emulator(workdir, token, SPEED, [], linodes=[REFERENCE, OTHER], images=OLD_GOLDEN) as started:
        with open(started["ca_file"], encoding="utf-8") as ca_file:
            inputs = {"api_token": token, "api_url": started["api_url"], "ca_cert": ca_file.read()}
        job = awx_support.Job(str(workdir / "job"), ident="42")
        envvars = dict(job_envvars)
        envvars.update(awx_support.inject_credential(credential_type, inputs, job.private_data_dir))
        envvars["LINODE_POLL_INTERVAL"] = with_emulator.poll_interval(SPEED)
        inventory = awx_support.inventory_script_data(
            groups={"golden_image_reference": ["web-1"], "linodes": ["web-1", "web-2"]},
            hostvars={"web-1": {"linode_id": 1001}, "web-2": {"linode_id": 1002}},
            all_vars={"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                      "image_capture_host_checks": False})
        extra_vars = awx_support.survey_extra_vars(load_survey("golden_image"), ANSWERS)
        job.prepare("golden_image.linode.golden_image", inventory, envvars, extra_vars, sys.executable)
        job.run("golden_image.linode.golden_image", JOB_TIMEOUT_S)
        state = with_emulator.control(started, "state")
    listing = job.listing()
    print("\nansible-runner job %s: %s, rc %s, %.1f s\nartifacts (find artifacts -type f, with sizes; job events folded), in %s:\n%s"
          "\nset_stats in the artifacts: %s\nfiles holding the token: %s"
          % (job.ident, job.status, job.rc, job.seconds, job.private_data_dir, listing, json.dumps(job.artifacts()) if job.rc == 0 else "-",
             job.files_containing(token)))
    return {"job": job, "token": token, "state": state, "envvars": envvars, "listing": listing}


def explain(golden_job: dict) -> str:
    job = golden_job["job"]
    return "job %s: status %s, rc %s\nartifacts:\n%s\nstdout (end):\n%s" % (
        job.ident, job.status, job.rc, golden_job["listing"], job.stdout_tail())


def test_job_successful(golden_job):
    job = golden_job["job"]
    assert (job.status, job.rc) == ("successful", 0), explain(golden_job)
    assert "web-1" in job.stats.get("ok", {}) and not job.stats.get("failures"), explain(golden_job)


def test_set_stats_in_artifacts(golden_job):
    """AWX passes these to the next node of a workflow: they must be in the job's artifacts."""
    artifacts = golden_job["job"].artifacts()
    assert set(artifacts) >= {"golden_image_id", "golden_image_label", "image_capture_images", "image_capture_new_image_ids"}, \
        explain(golden_job)
    images = dict((image["id"], image) for image in golden_job["state"]["images"])
    golden = images.get(artifacts["golden_image_id"])
    assert golden is not None, "%s is not in the emulator: %s" % (artifacts["golden_image_id"], sorted(images))
    assert golden["label"] == artifacts["golden_image_label"] and golden["label"].startswith("golden-")
    assert golden["status"] == "available"
    assert "source=linode:1001,disk:2001" in golden["tags"] and "golden" in golden["tags"]
    assert artifacts["image_capture_images"] == {"web-1": artifacts["golden_image_id"]}
    assert artifacts["image_capture_new_image_ids"] == [artifacts["golden_image_id"]]


def test_token_in_no_artifact(golden_job):
    """No file under artifacts/ carries the token: the credential type hands it over in a file.

    ansible-runner records the job's whole environment in ``artifacts/<ident>/command``, so a
    token injected as an environment variable would be there; LINODE_TOKEN_FILE only names the
    file AWX writes into the private data dir (outside artifacts/) and removes after the job.
    """
    job, token = golden_job["job"], golden_job["token"]
    assert job.files_containing(token) == [], "the token is in %s\n%s" % (job.files_containing(token), explain(golden_job))
    envvars = golden_job["envvars"]
    assert "LINODE_TOKEN" not in envvars
    with open(envvars["LINODE_TOKEN_FILE"], encoding="utf-8") as token_file:
        assert token_file.read() == token


def test_credential_reached_the_modules(golden_job):
    """The CA went through a file AWX writes into env/, and LINODE_CA named it (TLS to the emulator worked)."""
    envvars = golden_job["envvars"]
    job = golden_job["job"]
    assert os.path.dirname(envvars["LINODE_CA"]) == os.path.join(job.private_data_dir, "env")
    with open(envvars["LINODE_CA"], encoding="utf-8") as ca_file:
        assert "BEGIN CERTIFICATE" in ca_file.read()
    assert (job.status, job.rc) == ("successful", 0), explain(golden_job)


def test_retention_kept_the_newest(golden_job):
    """golden_image_keep 2: the new image and the newest older one stay, the oldest went."""
    labels = sorted(image["label"] for image in golden_job["state"]["images"] if image["label"].startswith("golden-"))
    artifacts = golden_job["job"].artifacts()
    assert labels == ["golden-20250201-000000", artifacts["golden_image_label"]], explain(golden_job)
