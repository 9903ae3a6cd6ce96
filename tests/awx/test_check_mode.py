"""A job template of type "check" (ansible-playbook --check), run as AWX runs it, on the capture playbook.

Two hosts that can be captured and one whose disk is raw: the check job must send no write
request, say per host what a real job would do, and fail (only) the host a real job would refuse.
A second check job over the two good hosts alone is successful: nothing would fail.
"""

from __future__ import annotations

import sys

import pytest

import awx_support
import with_emulator
from awx_env import JOB_TIMEOUT_S, load_survey, new_token, running_emulator

SPEED = 40
DISK = {"label": "Ubuntu 24.04 Disk", "filesystem": "ext4", "size": 25088, "used_mb": 1500, "status": "ready"}
LINODES = [
    {"id": 1000 + n, "label": "web-%d" % n, "region": "us-east", "status": "running",
     "disks": [dict(DISK, id=2000 + n, filesystem="raw" if n == 3 else "ext4")],
     "configs": [{"id": 3000 + n, "label": "Boot Config", "root_device": "/dev/sda", "devices": {"sda": 2000 + n}}]}
    for n in (1, 2, 3)
]


@pytest.fixture(scope="module")
def check_jobs(tmp_path_factory, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    workdir = tmp_path_factory.mktemp("awx-check")
    token = new_token()
    jobs = {}
    with running_emulator(workdir, token, SPEED, [], linodes=LINODES, images=[]) as started:
        with open(started["ca_file"], encoding="utf-8") as ca_file:
            inputs = {"api_token": token, "api_url": started["api_url"], "ca_cert": ca_file.read()}
        for ident, hosts in (("51", ["web-1", "web-2", "web-3"]), ("52", ["web-1", "web-2"])):
            job = awx_support.Job(str(workdir / ("job" + ident)), ident=ident)
            envvars = dict(job_envvars)
            envvars.update(awx_support.inject_credential(credential_type, inputs, job.private_data_dir))
            envvars["LINODE_POLL_INTERVAL"] = with_emulator.poll_interval(SPEED)
            inventory = awx_support.inventory_script_data(
                groups={"linodes": hosts}, hostvars=dict((host, {"linode_id": 1000 + int(host[-1])}) for host in hosts),
                all_vars={"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                          "image_capture_host_checks": False})
            extra_vars = awx_support.survey_extra_vars(load_survey("capture"), {})
            job.prepare("golden_image.linode.capture", inventory, envvars, extra_vars, sys.executable)
            before = len(with_emulator.control(started, "requests")["requests"])
            job.run("golden_image.linode.capture", JOB_TIMEOUT_S, job_type="check")
            requests = with_emulator.control(started, "requests")["requests"][before:]
            jobs[ident] = {"job": job, "requests": requests, "stdout": job.stdout_tail(400)}
        state = with_emulator.control(started, "state")
    return jobs, state


def test_check_jobs_write_nothing(check_jobs):
    jobs, state = check_jobs
    for ident, found in jobs.items():
        assert found["requests"], "job %s sent no request at all: %s" % (ident, found["stdout"])
        writes = [r for r in found["requests"] if r["method"] != "GET"]
        assert writes == [], "job %s: %s" % (ident, writes)
    assert [image["id"] for image in state["images"] if image["id"].startswith("private/")] == []
    assert sorted(linode["status"] for linode in state["linodes"]) == ["running"] * 3


def test_check_job_says_what_would_happen_and_fails_only_the_refused_host(check_jobs):
    job, stdout = check_jobs[0]["51"]["job"], check_jobs[0]["51"]["stdout"]
    assert (job.status, job.rc) == ("failed", 2), stdout
    assert set(job.stats.get("failures", {})) == {"web-3"}, (job.stats, stdout)
    assert "3 hosts: 2 would capture, 1 would refuse" in stdout, stdout
    assert set(job.stats.get("changed", {})) == {"web-1", "web-2"}, job.stats


def test_check_job_with_nothing_to_refuse_is_successful(check_jobs):
    job, stdout = check_jobs[0]["52"]["job"], check_jobs[0]["52"]["stdout"]
    assert (job.status, job.rc) == ("successful", 0), stdout
    assert "2 hosts: 2 would capture" in stdout, stdout
