"""extensions/awx/register_credential_type.yml hands AWX the credential type exactly as the YAML file has it.

awx.awx is not installed here (and AWX is not running): a stand-in ``awx.awx.credential_type``
module in a collections root of the test's own records the arguments the playbook gives it. The
injector templates must reach it unrendered: they are AWX's to render, not Ansible's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from awx_env import JOB_TIMEOUT_S, REPO

STAND_IN = '''#!/usr/bin/python
"""Stand-in for awx.awx.credential_type: record the arguments."""
import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        name=dict(required=True), description=dict(), kind=dict(), inputs=dict(type="dict"),
        injectors=dict(type="dict"), state=dict(default="present")))
    with open(os.environ["AWX_STAND_IN_RECORD"], "w") as record:
        json.dump(module.params, record)
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()
'''


def test_playbook_passes_the_definition_unrendered(tmp_path, credential_type, job_envvars):
    modules = tmp_path / "collections" / "ansible_collections" / "awx" / "awx" / "plugins" / "modules"
    modules.mkdir(parents=True)
    (modules / "credential_type.py").write_text(STAND_IN, encoding="utf-8")
    record = tmp_path / "record.json"
    env = dict(os.environ, **job_envvars)
    env.update(ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(tmp_path / "collections"), job_envvars["ANSIBLE_COLLECTIONS_PATH"]]),
               AWX_STAND_IN_RECORD=str(record))
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(REPO / "extensions" / "awx" / "register_credential_type.yml"),
         "-e", json.dumps({"ansible_python_interpreter": sys.executable})],
        env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(record, encoding="utf-8") as recorded:
        params = json.load(recorded)
    assert params == {"name": credential_type["name"], "description": credential_type["description"], "kind": "cloud",
                      "inputs": credential_type["inputs"], "injectors": credential_type["injectors"], "state": "present"}
    assert params["injectors"]["file"]["template.token"] == "{{ api_token }}"
    assert params["injectors"]["env"]["LINODE_TOKEN_FILE"] == "{{ tower.filename.token }}"
