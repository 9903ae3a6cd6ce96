"""A long linode_image_wait run as an AWX job: its progress lines are in the job output while the task runs.

AWX shows a job's output from the events ansible-runner records; a line a plugin prints with
``display.display`` becomes a ``verbose`` event. The job below (the credential injected as AWX
injects it, AWX's inventory script) starts one capture that takes about 30 s and waits for it with
``progress_interval: 5``. Checked: at least one progress line is an event recorded after the wait's
task started and before its result, and the job's API requests are the capture's and the wait's own.
"""

from __future__ import annotations

import os
import re
import sys

import awx_support
import with_emulator
from awx_env import JOB_TIMEOUT_S, new_token, running_emulator

# At speed 30 the capture of the 2900 MB disk takes (30 + 2900 / 3.2) / 30 = 31 s.
SPEED = 30
LINODE = {
    "id": 1001, "label": "web-1", "region": "us-east", "status": "offline",
    "disks": [{"id": 2001, "label": "Ubuntu 24.04 Disk", "filesystem": "ext4", "size": 25088, "used_mb": 2900, "status": "ready"}],
    "configs": [{"id": 3001, "label": "Boot Config", "root_device": "/dev/sda", "devices": {"sda": 2001}}],
}
PLAYBOOK = """\
---
- name: Capture one image and wait for it, with progress
  hosts: web-1
  gather_facts: false
  tasks:
    - name: Start the capture
      golden_image.linode.linode_image_capture:
        linode_id: 1001
        label: progress-golden
        wait: false
      register: started
      delegate_to: localhost

    - name: Wait for it
      golden_image.linode.linode_image_wait:
        images: ["{{ started.image }}"]
        progress_interval: 5
      register: waited
      run_once: true
      delegate_to: localhost

    - name: Show the image
      ansible.builtin.debug:
        msg: "{{ waited.available[started.image.id].status }} after {{ waited.api_requests.total }} requests"
"""
STARTING = re.compile(r"^linode_image_wait: starting, \d+ s elapsed$")
LINE = re.compile(r"^linode_image_wait: [01] of 1 done, 0 failed(, 1 running \([^)]+\))?(, 1 finished, image not read yet)?; "
                  r"\d+ s elapsed, \d+ polls?(, last \d+ s ago)?, \d+ API requests$")


def test_progress_lines_are_job_output_while_the_wait_runs(
        tmp_path, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    token = new_token()
    with running_emulator(tmp_path, token, SPEED, ["--no-rate-limits"], linodes=[LINODE], images=[]) as started:
        with open(started["ca_file"], encoding="utf-8") as ca_file:
            inputs = {"api_token": token, "api_url": started["api_url"], "ca_cert": ca_file.read()}
        job = awx_support.Job(str(tmp_path / "job"), ident="7")
        envvars = dict(job_envvars)
        envvars.update(awx_support.inject_credential(credential_type, inputs, job.private_data_dir))
        envvars["LINODE_POLL_INTERVAL"] = with_emulator.poll_interval(SPEED)
        inventory = awx_support.inventory_script_data(
            groups={"linodes": ["web-1"]}, hostvars={"web-1": {"linode_id": 1001}},
            all_vars={"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"})
        job.prepare("progress", inventory, envvars, {}, sys.executable)
        with open(os.path.join(job.private_data_dir, "project", "progress.yml"), "w", encoding="utf-8") as play:
            play.write(PLAYBOOK)
        runner = job.run("progress", JOB_TIMEOUT_S)
        requests = with_emulator.control(started, "requests")["requests"]
    events = list(runner.events)
    assert job.status == "successful" and job.rc == 0, job.stdout_tail()
    wait_start = [e["counter"] for e in events
                  if e["event"] == "playbook_on_task_start" and e["event_data"].get("task") == "Wait for it"]
    wait_end = [e["counter"] for e in events if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Wait for it"]
    assert len(wait_start) == 1 and len(wait_end) == 1
    progress = [e for e in events if "linode_image_wait:" in (e.get("stdout") or "")]
    assert progress, job.stdout_tail()
    for event in progress:
        assert event["event"] == "verbose"
        assert wait_start[0] < event["counter"] < wait_end[0], "shown while the wait runs"
        # Before the module's first snapshot (a loaded machine starts it late) the line says only the time.
        assert LINE.match(event["stdout"]) or STARTING.match(event["stdout"]), event["stdout"]
    assert [e for e in progress if LINE.match(e["stdout"])], [e["stdout"] for e in progress]
    waited = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Wait for it"][0]
    result = waited["event_data"]["res"]
    capture = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Start the capture"][0]
    # The emulator got the capture's requests and the wait's, nothing for the progress.
    assert len(requests) == capture["event_data"]["res"]["api_requests"]["total"] + result["api_requests"]["total"]
    assert list(result["available"].values())[0]["status"] == "available"
    assert result["errors"] == {}
