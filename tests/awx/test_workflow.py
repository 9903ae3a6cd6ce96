"""The golden-image workflow (extensions/awx/golden_image_workflow.yml), run node by node the way AWX runs it.

The shipped playbook runs first, with the real awx.awx modules recording their arguments (awx_modules.py):
the job templates, the workflow template and its survey, the nodes and their edges are read from what the
playbook hands to awx.awx, so the workflow run here is the shipped one, not a copy. Then
``awx_support.run_workflow`` runs its nodes as AWX's workflow manager does: each node's job is a private data
dir handed to ansible-runner (the credential injected as AWX injects it, AWX's inventory script, a project
playbook importing the collection's playbook), its extra vars its job template's, under the parents'
``set_stats`` artifacts, under the workflow's variables (its extra vars and the survey's answers); success
edges after a successful job, failure edges after a failed one.

Two runs against the emulator: (a) the success path, bake -> verify -> promote, each node's artifacts giving
the next its image; (b) a check that fails: verify fails, promote never runs, the clean-up node runs and
deletes what a killed run left behind. Each asserts the artifacts node by node, the emulator's state, the
temporary instances the API still lists, and the requests each node sent. Run with ``-s`` to see the
node-by-node table of artifacts (also written to tests/output/awx/).
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import sys
import urllib.request
from pathlib import Path

import pytest

import awx_modules
import awx_support
import with_emulator
from awx_env import JOB_TIMEOUT_S, REPO, new_token, running_emulator

SPEED = 100
HTTP_TIMEOUT_S = 10
TEMPORARY_TAG = "golden_image.linode:temporary"
WORKFLOW = REPO / "extensions" / "awx" / "golden_image_workflow.yml"
OUTPUT = REPO / "tests" / "output" / "awx"
PREFIX = "wf"
# A test instance a killed verify job left behind: young, so the verify node's own cleanup (older than
# golden_image_cleanup_older_than minutes) leaves it; the clean-up node, after a failure, does not.
LEFTOVER = "verify-%s-20000101-000000" % PREFIX
FAILING_CHECK = "echo 'nginx is down' >&2; exit 3"
# Two verified images of the prefix from earlier runs: with golden_image_keep 2, the older one goes.
OLDER = [
    {"id": "private/4001", "label": "%s-20250101-000000" % PREFIX, "size": 2900, "created": "2025-01-01T00:00:00",
     "tags": ["golden", "golden_image.linode:verified"], "regions": [{"region": "us-east", "status": "available"}]},
    {"id": "private/4002", "label": "%s-20250201-000000" % PREFIX, "size": 2900, "created": "2025-02-01T00:00:00",
     "tags": ["golden", "golden_image.linode:verified"], "regions": [{"region": "us-east", "status": "available"}]},
]
IDS = ("golden_image_candidate_id", "golden_image_verified_id", "golden_image_id")


def definition(tmp_path: Path, job_envvars: dict, workflow_vars: dict) -> dict:
    """What the shipped playbook hands to awx.awx, with ``workflow_vars`` as its golden_image_awx_extra_vars."""
    records = awx_modules.run_recorded(WORKFLOW, tmp_path / "definition", job_envvars, {"golden_image_awx_extra_vars": workflow_vars})
    by_module = {}
    for record in records:
        by_module.setdefault(record["module"], []).append(record["params"])
    (workflow,) = by_module["awx.awx.workflow_job_template"]
    return {"job_templates": dict((jt["name"], jt) for jt in by_module["awx.awx.job_template"]), "workflow": workflow,
            "nodes": dict((node["identifier"], node) for node in by_module["awx.awx.workflow_job_template_node"])}


def api_get(started: dict, token: str, path: str) -> dict:
    """A GET of the Linode API, as a user would check: the token in the header, never printed."""
    request = urllib.request.Request(started["api_url"] + path, headers={"Authorization": "Bearer " + token})
    context = ssl.create_default_context(cafile=started["ca_file"])
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=context) as answer:
        return json.load(answer)


def leave_test_instance_behind(started: dict, token: str) -> int:
    """A temporary test instance of the prefix, as a killed verify job leaves it (created through the API)."""
    body = {"label": LEFTOVER, "region": "us-east", "type": "g6-nanode-1", "image": "linode/debian12", "booted": False,
            "root_pass": "Aa1-" + secrets.token_hex(16), "tags": [TEMPORARY_TAG]}
    request = urllib.request.Request(started["api_url"] + "/linode/instances", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=ssl.create_default_context(cafile=started["ca_file"])) as answer:
        return json.load(answer)["id"]


def folded(request: dict) -> str:
    """``POST /v4/linode/instances``, ids folded, so a node's requests compare whatever ids the emulator gave."""
    path = re.sub(r"/private/\d+", "/private/N", re.sub(r"/\d+(?=/|$)", "/N", request["path"]))
    return "%s %s" % (request["method"], path)


def run_the_workflow(tmp_path: Path, job_envvars: dict, credential_type: dict, workflow_vars: dict, leftover: bool) -> dict:
    """The shipped workflow, defined with ``workflow_vars``, launched with the survey's answers, run node by node."""
    shipped = definition(tmp_path, job_envvars, workflow_vars)
    token = new_token()
    provision = tmp_path / "provision.yml"
    provision.write_text("---\n- name: Leave the provisioning's mark\n  ansible.builtin.copy:\n    dest: %s\n"
                         "    content: \"{{ inventory_hostname }}\\n\"\n    mode: \"0644\"\n" % (tmp_path / "provisioned"),
                         encoding="utf-8")
    answers = {"golden_image_region": "us-east", "golden_image_prefix": PREFIX, "golden_image_keep": 2,
               "golden_image_provision_tasks": str(provision), "golden_image_cleanup_older_than": 600}
    survey = shipped["workflow"]["survey_spec"]
    awx_support.validate_survey_spec(survey)
    workflow_extra_vars = dict(shipped["workflow"]["extra_vars"], **awx_support.survey_extra_vars(survey, answers))
    inventory = awx_support.inventory_script_data(
        groups={"golden_image_builders": [], "golden_image_testers": []},
        hostvars={"localhost": {"ansible_connection": "local"}},
        # The temporary instances are emulated: nothing to SSH into, so their tasks run here.
        all_vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  "image_bake_host_checks": False, "image_verify_host_checks": False})
    jobs, requests_by_node = {}, {}
    with running_emulator(tmp_path, token, SPEED, [], linodes=[], images=OLDER) as started:
        with open(started["ca_file"], encoding="utf-8") as ca_file:
            inputs = {"api_token": token, "api_url": started["api_url"], "ca_cert": ca_file.read()}
        leftover_id = leave_test_instance_behind(started, token) if leftover else None

        def launch(identifier: str, extra_vars: dict) -> tuple:
            job_template = shipped["job_templates"][shipped["nodes"][identifier]["unified_job_template"]]
            playbook = "golden_image.linode." + job_template["playbook"].rsplit(".", 1)[0]
            assert awx_support.Job.playbook_file(playbook) == job_template["playbook"]
            job = awx_support.Job(str(tmp_path / "jobs" / identifier), ident=str(len(jobs) + 1))
            envvars = dict(job_envvars, LINODE_POLL_INTERVAL=with_emulator.poll_interval(SPEED))
            envvars.update(awx_support.inject_credential(credential_type, inputs, job.private_data_dir))
            job.prepare(playbook, inventory, envvars, awx_support.job_extra_vars(job_template.get("extra_vars"), extra_vars),
                        sys.executable)
            before = len(with_emulator.control(started, "requests")["requests"])
            job.run(playbook, JOB_TIMEOUT_S)
            requests_by_node[identifier] = with_emulator.control(started, "requests")["requests"][before:]
            jobs[identifier] = job
            return job.status, job.artifacts()

        runs = awx_support.run_workflow(shipped["nodes"], workflow_extra_vars, launch)
        state = with_emulator.control(started, "state")
        instances = api_get(started, token, "/linode/instances?page_size=500")["data"]
    result = {"runs": runs, "jobs": jobs, "requests": requests_by_node, "state": state, "instances": instances,
              "token": token, "shipped": shipped, "leftover_id": leftover_id, "workflow_extra_vars": workflow_extra_vars}
    show(result, tmp_path.name)
    return result


def show(result: dict, name: str) -> None:
    """The node-by-node table: status, the ids each node was given and published, its API writes."""
    lines = ["%-9s %-11s %s" % ("NODE", "STATUS", "GIVEN (ids among its extra vars, from the parents' artifacts)")]
    for run in result["runs"]:
        given = ", ".join("%s=%s" % (k, run["extra_vars"][k]) for k in IDS if k in (run["extra_vars"] or {})) or "-"
        artifacts = run["artifacts"] or {}
        published = dict((k, v) for k, v in artifacts.items() if not k.endswith("_steps"))
        steps = [v for k, v in artifacts.items() if k.endswith("_steps")]
        if steps:
            published["steps"] = " ".join("%s:%s" % (s["step"], s["result"]) for s in steps[0])
        lines.append("%-9s %-11s %s" % (run["node"], run["status"], given))
        if run["status"] != awx_support.DO_NOT_RUN:
            writes = [folded(r) for r in result["requests"].get(run["node"], []) if r["method"] != "GET"]
            lines.append("%21s published: %s" % ("", json.dumps(published, sort_keys=True)))
            lines.append("%21s API writes: %s" % ("", ", ".join(writes) or "none"))
    text = "\n".join(lines)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / ("workflow-%s.txt" % name)).write_text(text + "\n", encoding="utf-8")
    print("\nworkflow %s, node by node:\n%s" % (name, text))


def explain(result: dict) -> str:
    return "\n".join("--- %s: %s, rc %s\n%s" % (name, job.status, job.rc, job.stdout_tail(30)) for name, job in result["jobs"].items())


def by_node(result: dict) -> dict:
    return dict((run["node"], run) for run in result["runs"])


@pytest.fixture(scope="module")
def success(tmp_path_factory, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    return run_the_workflow(tmp_path_factory.mktemp("success"), job_envvars, credential_type,
                            {"golden_image_regions": ["eu-west"], "golden_image_check_commands": ["true"]}, leftover=False)


@pytest.fixture(scope="module")
def failure(tmp_path_factory, ansible_runner_module, job_envvars, credential_type):  # pylint: disable=unused-argument
    return run_the_workflow(tmp_path_factory.mktemp("failure"), job_envvars, credential_type,
                            {"golden_image_check_commands": ["true", FAILING_CHECK]}, leftover=True)


def test_the_shipped_definition(job_envvars, tmp_path):
    """bake -> verify -> promote on success, each to the clean-up on failure; a job template a stage; the survey."""
    shipped = definition(tmp_path, job_envvars, {})
    nodes = shipped["nodes"]
    assert dict((name, (node["success_nodes"], node["failure_nodes"], node.get("always_nodes", []))) for name, node in nodes.items()) == {
        "bake": (["verify"], ["clean-up"], []), "verify": (["promote"], ["clean-up"], []),
        "promote": ([], ["clean-up"], []), "clean-up": ([], [], [])}
    stages = {}
    for name, node in nodes.items():
        job_template = shipped["job_templates"][node["unified_job_template"]]
        stages[name] = (job_template["playbook"], job_template["extra_vars"].get("golden_image_pipeline_stage"))
        assert job_template["ask_variables_on_launch"] is True and node["workflow_job_template"] == shipped["workflow"]["name"]
    assert stages == {"bake": ("golden_image_pipeline.yml", "bake"), "verify": ("golden_image_pipeline.yml", "verify"),
                      "promote": ("golden_image_pipeline.yml", "promote"), "clean-up": ("golden_image_cleanup.yml", None)}
    with open(REPO / "extensions" / "awx" / "survey_golden_image_workflow.json", encoding="utf-8") as survey:
        assert shipped["workflow"]["survey_spec"] == json.load(survey) and shipped["workflow"]["survey_enabled"] is True
    assert shipped["workflow"]["allow_simultaneous"] is False
    # Each project playbook the job templates name is the collection's playbook of that name.
    for job_template in shipped["job_templates"].values():
        assert (REPO / "playbooks" / job_template["playbook"]).is_file(), job_template["playbook"]


def test_awx_refuses_an_option_its_module_does_not_have(job_envvars, tmp_path):
    """The recording modules validate against awx.awx's own argument specs: a wrong option fails as against AWX."""
    playbook = tmp_path / "wrong.yml"
    playbook.write_text("---\n- name: Wrong\n  hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: A node with a typo\n"
                        "      awx.awx.workflow_job_template_node:\n        identifier: bake\n        workflow_job_template: W\n"
                        "        unified_job_template: J\n        sucess_nodes: [verify]\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="Unsupported parameters for \\(awx.awx.workflow_job_template_node\\) module: sucess_nodes"):
        awx_modules.run_recorded(playbook, tmp_path, job_envvars, {})


def test_success_path_artifacts_node_by_node(success):
    nodes = by_node(success)
    assert [(run["node"], run["status"]) for run in success["runs"]] == [
        ("bake", "successful"), ("verify", "successful"), ("promote", "successful"), ("clean-up", "do_not_run")], explain(success)
    bake, verify, promote = nodes["bake"], nodes["verify"], nodes["promote"]
    candidate = bake["artifacts"]["golden_image_candidate_id"]
    assert re.match(r"^private/\d+$", candidate) and not set(IDS[1:]) & set(bake["artifacts"])
    assert bake["artifacts"]["golden_image_candidate_label"].startswith(PREFIX + "-")
    assert [s["result"] for s in bake["artifacts"]["golden_image_bake_steps"]] == ["done"] + ["skipped"] * 4
    # AWX gave each node its parent's artifacts as extra vars; the stage came from its job template.
    assert verify["extra_vars"]["golden_image_candidate_id"] == candidate and "golden_image_pipeline_stage" not in verify["extra_vars"]
    assert verify["artifacts"]["golden_image_verified_id"] == candidate and "golden_image_id" not in verify["artifacts"]
    assert verify["artifacts"]["golden_image_verification"]["result"] == "verified"
    assert promote["extra_vars"]["golden_image_verified_id"] == candidate
    assert promote["artifacts"]["golden_image_id"] == candidate
    assert promote["artifacts"]["golden_image_label"] == bake["artifacts"]["golden_image_candidate_label"]
    assert [s["result"] for s in promote["artifacts"]["golden_image_promote_steps"]] == ["skipped"] * 2 + ["done"] * 3


def test_success_path_emulator_state_and_requests(success):
    candidate = by_node(success)["bake"]["artifacts"]["golden_image_candidate_id"]
    images = dict((image["id"], image) for image in success["state"]["images"])
    image = images[candidate]
    assert image["status"] == "available" and "golden_image.linode:verified" in image["tags"]
    assert sorted(r["region"] for r in image["regions"]) == ["eu-west", "us-east"]
    # golden_image_keep 2: the new image and the newer earlier one stay.
    assert sorted(images) == sorted([candidate, "private/4002"])
    assert [i["label"] for i in success["instances"] if TEMPORARY_TAG in i["tags"]] == []
    writes = dict((node, [folded(r) for r in requests if r["method"] != "GET"]) for node, requests in success["requests"].items())
    # The builder created, provisioned, shut down, captured, deleted; the test instance created and deleted, the
    # image tagged; no instance during the promotion, which replicated and deleted the older verified image.
    assert writes["bake"][0] == "POST /v4/linode/instances" and writes["bake"].count("POST /v4/images") == 1
    assert writes["bake"][-1] == "DELETE /v4/linode/instances/N" and writes["bake"].count("DELETE /v4/linode/instances/N") == 1
    assert writes["verify"][0] == "POST /v4/linode/instances" and writes["verify"].count("DELETE /v4/linode/instances/N") == 1
    assert "PUT /v4/images/private/N" in writes["verify"]
    assert not [w for w in writes["promote"] if "/linode/instances" in w]
    assert writes["promote"] == ["POST /v4/images/private/N/regions", "DELETE /v4/images/private/N"]
    assert [r["path"] for r in success["requests"]["promote"] if r["method"] == "DELETE"] == ["/v4/images/private/4001"]


def test_failure_path_takes_the_failure_edge(failure):
    nodes = by_node(failure)
    assert [(run["node"], run["status"]) for run in failure["runs"]] == [
        ("bake", "successful"), ("verify", "failed"), ("promote", "do_not_run"), ("clean-up", "successful")], explain(failure)
    candidate = nodes["bake"]["artifacts"]["golden_image_candidate_id"]
    assert nodes["verify"]["extra_vars"]["golden_image_candidate_id"] == candidate
    verification = nodes["verify"]["artifacts"]["golden_image_verification"]
    assert verification["result"] == "failed" and "exited 3: nginx is down" in verification["reason"]
    assert not [run for run in failure["runs"] if set(IDS[1:]) & set(run["artifacts"] or {})]
    # The clean-up got what the parents published, and deleted what the killed run left behind.
    assert nodes["clean-up"]["extra_vars"]["golden_image_candidate_id"] == candidate
    assert nodes["clean-up"]["artifacts"] == {"golden_image_cleanup_deleted": [LEFTOVER]}
    assert [folded(r) for r in failure["requests"]["clean-up"] if r["method"] != "GET"] == ["DELETE /v4/linode/instances/N"]
    assert [r["path"] for r in failure["requests"]["clean-up"] if r["method"] == "DELETE"] == [
        "/v4/linode/instances/%d" % failure["leftover_id"]]


def test_failure_path_emulator_state(failure):
    candidate = by_node(failure)["bake"]["artifacts"]["golden_image_candidate_id"]
    images = dict((image["id"], image) for image in failure["state"]["images"])
    assert "golden_image.linode:verify-failed" in images[candidate]["tags"]
    assert "golden_image.linode:verified" not in images[candidate]["tags"]
    # Nothing was promoted: no replication, the earlier verified images kept.
    assert sorted(images) == sorted([candidate, "private/4001", "private/4002"])
    assert [r["region"] for r in images[candidate]["regions"]] == ["us-east"]
    assert [i["label"] for i in failure["instances"] if TEMPORARY_TAG in i["tags"]] == []


@pytest.mark.parametrize("scenario", ["success", "failure"])
def test_token_in_no_artifact_of_any_node(scenario, request):
    result = request.getfixturevalue(scenario)
    for name, job in result["jobs"].items():
        assert job.files_containing(result["token"]) == [], name
